//! The IKEv1 cryptographic suite: a thin, typed layer over *ring* and RustCrypto.
//!
//! Every module owns one concept and uses the names of RFC 2409 so that the code can be
//! read next to the RFC:
//!
//! - [`secret`]: [`Secret`], the zeroizing byte string that carries every key in this crate
//!   (PSKs, DH private values, g^xy, SKEYID*, KEYMAT, ESP keys), and [`ct_eq`] for comparing
//!   received hashes in constant time.
//! - [`hash`] and [`prf`]: the negotiated phase-1 hash ([`HashAlgorithm`], used for IVs) and the
//!   pseudo-random function ([`Prf`], HMAC with that hash, RFC 2409 §4).
//! - [`cipher`]: the phase-1 (ISAKMP) CBC ciphers, [`Cipher`].
//! - [`dh`]: the Diffie-Hellman groups, [`DhGroup`] and [`KeyPair`].
//! - [`ikev1`]: SKEYID and its descendants, the Appendix B key expansion, IVs and the
//!   [`IvChain`](ikev1::IvChain), HASH_I/HASH_R, the quick-mode and informational hashes,
//!   KEYMAT.
//! - [`esp`]: the ESP transforms negotiated in quick mode and the split of KEYMAT into
//!   their keys.
//!
//! Nothing here panics on input from the network: every rejection is a [`CryptoError`].

pub mod cipher;
pub mod dh;
mod error;
pub mod esp;
pub mod hash;
pub mod ikev1;
pub mod prf;
pub mod secret;

pub use cipher::Cipher;
pub use dh::{DhGroup, KeyPair};
pub use error::CryptoError;
pub use hash::HashAlgorithm;
pub use prf::Prf;
pub use secret::{Secret, ct_eq};
