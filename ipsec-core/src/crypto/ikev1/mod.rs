//! IKEv1 key derivation and message protection values (RFC 2409 §5, §5.5, Appendix B).
//!
//! The derivation chain, with the RFC's names:
//!
//! ```text
//! SKEYID    = prf(pre-shared-key, Ni_b | Nr_b)              pre-shared keys       (§5)
//!           = prf(Ni_b | Nr_b, g^xy)                        signatures, hybrid
//! SKEYID_d  = prf(SKEYID, g^xy | CKY-I | CKY-R | 0)
//! SKEYID_a  = prf(SKEYID, SKEYID_d | g^xy | CKY-I | CKY-R | 1)
//! SKEYID_e  = prf(SKEYID, SKEYID_a | g^xy | CKY-I | CKY-R | 2)
//! Ka        = SKEYID_e truncated, or K1 | K2 | ... with K1 = prf(SKEYID_e, 0),
//!             Ki = prf(SKEYID_e, Ki-1)                                        (App. B)
//! IV        = hash(g^xi | g^xr), then the last CBC block of each message      (App. B)
//! IV(M-ID)  = hash(last phase-1 CBC block | M-ID), then chained per exchange  (App. B)
//! HASH_I    = prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b)       (§5)
//! HASH_R    = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b)
//! HASH(1)   = prf(SKEYID_a, M-ID | rest-of-message)                          (§5.5)
//! HASH(2)   = prf(SKEYID_a, M-ID | Ni_b | rest-of-message)
//! HASH(3)   = prf(SKEYID_a, 0 | M-ID | Ni_b | Nr_b)
//! HASH(1)   = prf(SKEYID_a, M-ID | N/D)                        informational  (§5.7)
//! KEYMAT    = prf(SKEYID_d, [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b), expanded
//!             Ki = prf(SKEYID_d, Ki-1 | [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b) (§5.5)
//! NAT-D     = hash(CKY-I | CKY-R | IP | Port)                       (RFC 3947 §3.2)
//! ```
//!
//! The literal `0`, `1`, `2` are single octets. `_b` means the body of a payload without its
//! generic header. CKY-I/CKY-R are the 8-byte cookies, M-ID the 4-byte message ID in network
//! byte order. Every derivation returns a [`Secret`](super::Secret); the hashes that travel
//! in HASH payloads are plain `Vec<u8>` and must be compared with
//! [`ct_eq`](super::ct_eq).
//!
//! No function here panics on any input length: nonces, identities and payloads of any size
//! (including empty) are hashed as they are; only the output length is bounded
//! ([`MAX_DERIVED_LEN`]).

mod hashes;
mod iv;
mod keymat;
mod nat_d;
mod skeyid;

pub use hashes::{
    Phase1Transcript, informational_hash, qm_hash1, qm_hash2, qm_hash3, transaction_hash,
};
pub use iv::{IvChain, phase1_iv, phase2_iv};
pub use keymat::keymat;
pub use nat_d::nat_d_hash;
pub use skeyid::{Phase1Auth, Phase1Keys, Skeyids, encryption_key, expand_skeyid_e, skeyid};

/// The most key material one derivation will produce, in bytes.
///
/// The largest real need is KEYMAT for AES-256-GCM (36) plus HMAC-SHA2-512 (64) = 100 bytes;
/// the bound only stops a caller bug from asking for gigabytes.
pub const MAX_DERIVED_LEN: usize = 1024;

/// Cookies (CKY-I, CKY-R) are 8 bytes (RFC 2408 §3.1).
pub type Cookie = [u8; 8];

fn check_len(requested: usize) -> Result<(), super::CryptoError> {
    if requested > MAX_DERIVED_LEN {
        Err(super::CryptoError::DerivedLengthTooLong {
            requested,
            max: MAX_DERIVED_LEN,
        })
    } else {
        Ok(())
    }
}
