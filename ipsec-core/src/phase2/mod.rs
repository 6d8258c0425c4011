//! Phase 2: quick mode (RFC 2409 §5.5), initiator and responder, with and without PFS,
//! tunnel and transport, plain or UDP-encapsulated ESP.
//!
//! ```text
//!  I -> R  HDR*, HASH(1), SA, Ni [, KE] [, IDci, IDcr] [, NAT-OAi, NAT-OAr]
//!  R -> I  HDR*, HASH(2), SA, Nr [, KE] [, IDci, IDcr] [, NAT-OAi, NAT-OAr]
//!             [, N(RESPONDER-LIFETIME)]
//!  I -> R  HDR*, HASH(3)
//! ```
//!
//! The NAT-OA payloads (RFC 3947 §5.2) go only with UDP-encapsulated transport mode.
//!
//! [`quick_mode`] holds the two state machines; [`selector`] maps traffic selectors to and
//! from ID payloads; [`keys`] derives KEYMAT. Which policy a responder uses for the proposed
//! selectors is the engine's decision (it owns the configuration and the peer); this module
//! gets the resulting terms.

pub(crate) mod keys;
pub(crate) mod quick_mode;
pub(crate) mod selector;
