//! A sans-IO RADIUS client for iked (issue "7 · RADIUS"). Being written.
