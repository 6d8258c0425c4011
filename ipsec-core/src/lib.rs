//! `ipsec-core`: the sans-IO IKEv1/IPsec engine.
//!
//! This crate never touches sockets, threads, the clock or netlink. Callers hand it
//! bytes and times; it answers with bytes to send and events to act upon.
//!
//! - [`wire`]: ISAKMP (RFC 2408) / IKEv1 (RFC 2409) messages and payloads, parsed from
//!   borrowed bytes into typed values and emitted back.
//! - [`crypto`]: the IKEv1 cryptographic suite (PRFs, ciphers, Diffie-Hellman groups,
//!   SKEYID/KEYMAT derivation, IV chains) as a thin typed layer over ring and RustCrypto.
//! - [`config`]: the operator's configuration (TOML, the manual's `/ip ipsec` objects),
//!   validated once into an immutable [`config::Snapshot`].
//! - [`proposal`]: SA proposals from the configuration, choices by our preference, lifetimes
//!   and `proposal-check`.
//! - [`esp`]: ESP (RFC 4303) encapsulation and decapsulation with anti-replay and
//!   lifetimes, for a userspace dataplane and embedders.
//! - [`engine`]: the sans-IO IKEv1 engine that owns every SA; the only public driver. Its
//!   protocol state machines live in the crate-private `phase1` (main and aggressive mode)
//!   and `phase2` (quick mode) modules.
//! - [`pki`]: phase-1 authentication by signatures: X.509 certificates and CRLs, chain
//!   validation to the configured CAs, the peer's ID against its certificate, and the RSA/ECDSA
//!   signatures of SIG payloads (RFC 2409 §5.1, RFC 4945, RFC 4754).
#![forbid(unsafe_code)]

pub mod config;
pub mod crypto;
pub mod engine;
pub mod esp;
mod phase1;
mod phase2;
pub mod pki;
pub mod proposal;
pub mod wire;
