//! Linux XFRM client used by `iked` to install SAs and policies.
//!
//! Empty until the daemon issue (#3 in the roadmap) lands: the crate exists now so the
//! workspace has its final shape and CI builds every member from the start.
#![forbid(unsafe_code)]
