//! Shared helpers for the integration tests (capture reading, vector files).
