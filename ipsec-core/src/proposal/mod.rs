//! SA proposals: building our SA payloads from the configuration and choosing from the
//! peer's, by our order of preference.
//!
//! - [`phase1`]: the ISAKMP SA (RFC 2409 Appendix A attributes): [`phase1::offer`] for the
//!   initiator, [`phase1::choose`] for the responder, [`phase1::accept`] for the initiator
//!   reading the responder's choice.
//! - [`phase2`]: ESP SAs in quick mode (RFC 2407 §4.5 attributes): the same three steps, with
//!   the PFS group, the encapsulation mode (UDP-encapsulated under NAT-T) and lifetimes.
//! - [`lifetime`]: Life Type/Duration pairs, `proposal-check` (obey/claim/strict/exact) and
//!   RESPONDER-LIFETIME.
//!
//! The responder always chooses by *its* preference: it walks its own list in order and
//! takes the first transform the peer offered too (the manual's proposals are ordered lists;
//! strongSwan does the same). Transforms carrying attributes we do not understand are never
//! chosen (RFC 2408 §5.3 lets us refuse them; choosing one would mean ignoring a term of it).

pub mod lifetime;
pub mod phase1;
pub mod phase2;

use crate::config::{self, EspAuth, IkeEncryption, IkeHash, ProposalCheck};
use crate::crypto::esp::{EspEncryption, EspIntegrity, EspTransform};
use crate::crypto::{Cipher, DhGroup, HashAlgorithm};

pub use lifetime::{Lifetime, LifetimeDecision};

/// Why a proposal was refused or could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ProposalError {
    /// Nothing offered is acceptable (NO-PROPOSAL-CHOSEN).
    #[error("no proposal chosen")]
    NoProposalChosen,
    /// The SA payload is not what the exchange allows.
    #[error("malformed proposal: {0}")]
    Malformed(&'static str),
    /// The responder's choice is not one of the transforms we offered.
    #[error("the responder's choice does not match our offer: {0}")]
    ReplyMismatch(&'static str),
    /// The proposed lifetime fails the responder's `proposal-check`.
    #[error("proposed lifetime refused by proposal-check {0}")]
    Lifetime(ProposalCheck),
    /// Our configuration yields no transform we can offer.
    #[error("nothing to offer: {0}")]
    NothingToOffer(&'static str),
}

/// The phase-1 cipher of a configured `enc-algorithm`.
pub fn ike_cipher(e: IkeEncryption) -> Cipher {
    match e {
        IkeEncryption::Des => Cipher::DesCbc,
        IkeEncryption::TripleDes => Cipher::TripleDesCbc,
        IkeEncryption::Aes128 => Cipher::AesCbc128,
        IkeEncryption::Aes192 => Cipher::AesCbc192,
        IkeEncryption::Aes256 => Cipher::AesCbc256,
    }
}

/// The phase-1 hash of a configured `hash-algorithm`.
pub fn ike_hash(h: IkeHash) -> HashAlgorithm {
    match h {
        IkeHash::Md5 => HashAlgorithm::Md5,
        IkeHash::Sha1 => HashAlgorithm::Sha1,
        IkeHash::Sha256 => HashAlgorithm::Sha256,
        IkeHash::Sha384 => HashAlgorithm::Sha384,
        IkeHash::Sha512 => HashAlgorithm::Sha512,
    }
}

/// The Diffie-Hellman group of a configured `dh-group` / `pfs-group` (every configurable
/// group is implemented; `None` would mean the two lists disagree).
pub fn dh_group(g: config::DhGroup) -> Option<DhGroup> {
    DhGroup::from_id(g.group_number())
}

/// The ESP cipher of a configured `enc-algorithms` entry; `None` for single DES, which the
/// crypto layer does not implement for ESP.
pub fn esp_encryption(e: config::EspEncryption) -> Option<EspEncryption> {
    Some(match e {
        config::EspEncryption::Des => return None,
        config::EspEncryption::TripleDes => EspEncryption::TripleDesCbc,
        config::EspEncryption::Aes128Cbc => EspEncryption::AesCbc128,
        config::EspEncryption::Aes192Cbc => EspEncryption::AesCbc192,
        config::EspEncryption::Aes256Cbc => EspEncryption::AesCbc256,
        config::EspEncryption::Aes128Gcm => EspEncryption::AesGcm16_128,
        config::EspEncryption::Aes256Gcm => EspEncryption::AesGcm16_256,
        config::EspEncryption::Null => EspEncryption::Null,
    })
}

/// The ESP integrity algorithm of a configured `auth-algorithms` entry (`None`: AEAD/null).
pub fn esp_integrity(a: Option<EspAuth>) -> EspIntegrity {
    match a {
        None | Some(EspAuth::Null) => EspIntegrity::None,
        Some(EspAuth::Md5) => EspIntegrity::HmacMd5_96,
        Some(EspAuth::Sha1) => EspIntegrity::HmacSha1_96,
        Some(EspAuth::Sha256) => EspIntegrity::HmacSha256_128,
        Some(EspAuth::Sha512) => EspIntegrity::HmacSha512_256,
    }
}

/// The ESP transforms of a configured proposal that the crypto layer implements, in the
/// proposal's order.
pub fn esp_transforms(p: &config::Proposal) -> Vec<EspTransform> {
    p.transforms()
        .iter()
        .filter_map(|t| {
            let enc = esp_encryption(t.enc)?;
            EspTransform::new(enc, esp_integrity(t.auth)).ok()
        })
        .collect()
}
