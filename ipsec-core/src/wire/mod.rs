//! ISAKMP wire codec (placeholder, being written).
