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
#![forbid(unsafe_code)]

pub mod config;
pub mod crypto;
pub mod wire;
