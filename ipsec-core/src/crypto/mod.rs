//! IKEv1 crypto suite (placeholder, being written).
