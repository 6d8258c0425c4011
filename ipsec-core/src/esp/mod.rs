//! ESP (RFC 4303) encapsulation and decapsulation, sans-IO: for the userspace dataplane and
//! for embedders.
//!
//! One [`Outbound`] or [`Inbound`] per SA direction, built from a [`SaConfig`] (SPI,
//! [`EspTransform`](crate::crypto::esp::EspTransform), [`EspKeys`](crate::crypto::esp::EspKeys),
//! [`Mode`], replay window, ESN, [`LifetimeLimits`]); [`SaConfig::from_install`] takes
//! what the engine's [`InstallSa`](crate::engine::InstallSa) event says. Keys are expanded
//! once per SA; per packet nothing is allocated when the output `Vec` has the capacity
//! (keep one MTU-sized buffer and reuse it). Nothing here reads a clock or touches a socket.
//!
//! ```text
//! Outbound::new(&SaConfig, &dyn SecureRandom) -> Result<Outbound, EspError>
//! Outbound::encapsulate(&mut self, packet: &[u8], out: &mut Vec<u8>) -> Result<Encapsulated, EspError>
//! Outbound::encapsulate_payload(&mut self, payload: &[u8], next_header: u8, out) -> Result<Encapsulated, EspError>
//! Outbound::encapsulate_dummy(&mut self, len: usize, out) -> Result<Encapsulated, EspError>
//! Inbound::new(&SaConfig) -> Result<Inbound, EspError>
//! Inbound::decapsulate(&mut self, esp: &[u8], out: &mut Vec<u8>) -> Result<Decapsulated, EspError>
//! counters() -> &Counters, expiry() -> Option<Expiry>, spi(), mode()
//! ```
//!
//! - **Packets.** `encapsulate` takes a whole IPv4/IPv6 packet. Tunnel mode protects all of
//!   it (Next Header 4 or 41); transport mode protects what follows the IP header (IPv4
//!   options skipped by IHL; IPv6 only without extension headers, else
//!   [`EspError::UnsupportedExtensionHeader`]) with the original protocol as Next Header, and
//!   the caller writes the outer header. `out` receives exactly the ESP packet from the SPI
//!   to the ICV, for a raw protocol-50 socket or as the whole payload of a UDP 4500 datagram
//!   (RFC 3948: the non-ESP marker is for IKE only). `decapsulate` takes the same bytes and
//!   gives back the inner packet (tunnel) or the payload with its protocol (transport).
//! - **Sequence numbers.** 32-bit, or 64-bit with `esn` (only the low half is sent; the high
//!   half is in the ICV, RFC 4303 §2.2.1, or the GCM AAD, RFC 4106 §5; the receiver infers
//!   it, Appendix A2). They never wrap: the last one reports [`Expiry::Hard`], the next
//!   call fails with [`EspError::SequenceExhausted`]. Without ESN the soft expiry is also
//!   reported at 15/16 of the space.
//! - **IVs.** AES-GCM: the 64-bit sequence number (RFC 4106 §3.1, unique per key). CBC:
//!   AES-128 under a per-SA random key (drawn from the `SecureRandom` given to
//!   [`Outbound::new`], the only randomness used) applied to the sequence number: distinct
//!   and unpredictable IVs (RFC 3602 §3, NIST SP 800-38A Appendix C) without a system call
//!   per packet.
//! - **Padding.** To the cipher block and a 4-byte boundary, bytes 1, 2, 3, ... (RFC 4303
//!   §2.4); checked on receipt ([`EspError::Padding`]).
//! - **Anti-replay.** [`ReplayWindow`], 64 packets by default, up to 4096, 0 = off; checked
//!   before the ICV, updated after it verified (RFC 4303 §3.4.3). With ESN a number left of
//!   the window is taken for the next 2^32 cycle (Appendix A2.2) and then fails the ICV
//!   ([`EspError::Authentication`]); the resynchronization of Appendix A3 is not done.
//! - **Dummy packets** (Next Header 59, RFC 4303 §2.6) are authenticated, counted and
//!   reported with [`Decapsulated::dummy`] and an empty `out`.
//! - **Lifetimes.** Byte and packet counts against soft and hard [`LifetimeLimits`];
//!   [`Encapsulated::expiry`] / [`Decapsulated::expiry`] report each limit once, when first
//!   reached, for `Engine::sa_expired(now, spi, hard)`. After a hard limit every call
//!   fails with [`EspError::Expired`].
//! - **Errors and counters.** Every rejection is an [`EspError`] and is counted in
//!   [`Counters`].
//!
//! Transforms: AES-GCM-16 (128/256) via ring; AES-CBC (128/192/256) and 3DES-CBC via
//! RustCrypto with HMAC-MD5-96, HMAC-SHA1-96, HMAC-SHA2-256-128/384-192/512-256 (ring, and
//! RustCrypto for MD5); NULL encryption with any of those integrity algorithms.
//!
//! ```
//! use ipsec_core::crypto::Secret;
//! use ipsec_core::crypto::esp::{EspEncryption, EspIntegrity, EspTransform, split_keymat};
//! use ipsec_core::esp::{Inbound, Mode, Outbound, SaConfig};
//!
//! let transform = EspTransform::new(EspEncryption::AesGcm16_128, EspIntegrity::None)?;
//! let keys = split_keymat(&Secret::new(vec![7; 20]), &transform)?;
//! let config = SaConfig::new(0x1234_5678, transform, keys, Mode::Tunnel);
//! let mut tx = Outbound::new(&config, &ring::rand::SystemRandom::new())?;
//! let mut rx = Inbound::new(&config)?;
//!
//! // An IPv4 packet: version/IHL, total length 28, protocol 17, 8 bytes of payload.
//! let mut packet = vec![0u8; 28];
//! packet[0] = 0x45;
//! packet[3] = 28;
//! packet[9] = 17;
//!
//! let (mut wire, mut inner) = (Vec::with_capacity(2048), Vec::with_capacity(2048));
//! let sent = tx.encapsulate(&packet, &mut wire)?; // SPI | seq | IV | ciphertext | ICV
//! assert_eq!(sent.sequence, 1);
//! let got = rx.decapsulate(&wire, &mut inner)?;
//! assert_eq!((got.next_header, &inner), (4, &packet));
//! // The same packet again is a replay.
//! assert!(rx.decapsulate(&wire, &mut inner).is_err());
//! assert_eq!(rx.counters().replay, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod counters;
mod error;
mod inbound;
mod ip;
mod keys;
mod lifetime;
mod outbound;
mod replay;
mod trailer;

pub use crate::proposal::phase2::Mode;
pub use config::{DEFAULT_REPLAY_WINDOW, MAX_REPLAY_WINDOW, SaConfig};
pub use counters::Counters;
pub use error::EspError;
pub use inbound::{Decapsulated, Inbound};
pub use lifetime::{Expiry, LifetimeLimits};
pub use outbound::{Encapsulated, Outbound};
pub use replay::ReplayWindow;
