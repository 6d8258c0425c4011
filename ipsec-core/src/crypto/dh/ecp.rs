//! Elliptic-curve groups: 19 (P-256), 20 (P-384) and 31 (Curve25519) through *ring*; 21
//! (P-521) through RustCrypto `p521`, because *ring* has no P-521 key agreement.

use p521::elliptic_curve::sec1::ToSec1Point;
use ring::agreement;
use ring::rand::SecureRandom;
use subtle::ConstantTimeEq;

use super::DhGroup;
use crate::crypto::{CryptoError, Secret};

fn ring_algorithm(group: DhGroup) -> &'static agreement::Algorithm {
    match group {
        DhGroup::Ecp256 => &agreement::ECDH_P256,
        DhGroup::Ecp384 => &agreement::ECDH_P384,
        _ => &agreement::X25519,
    }
}

/// SEC1 uncompressed points carry a 0x04 tag that IKE leaves out (RFC 5903 §7).
const SEC1_UNCOMPRESSED: u8 = 0x04;

pub(super) fn ring_generate(
    group: DhGroup,
    rng: &dyn SecureRandom,
) -> Result<(Vec<u8>, agreement::EphemeralPrivateKey), CryptoError> {
    let key = agreement::EphemeralPrivateKey::generate(ring_algorithm(group), rng)
        .map_err(|_| CryptoError::Rng)?;
    let public = key.compute_public_key().map_err(|_| CryptoError::Rng)?;
    let public = match group {
        DhGroup::Curve25519 => public.as_ref().to_vec(),
        // ring returns 0x04 || x || y.
        _ => public.as_ref()[1..].to_vec(),
    };
    Ok((public, key))
}

pub(super) fn ring_agree(
    group: DhGroup,
    key: agreement::EphemeralPrivateKey,
    peer_public: &[u8],
) -> Result<Secret, CryptoError> {
    let peer = match group {
        DhGroup::Curve25519 => peer_public.to_vec(),
        _ => {
            let mut sec1 = Vec::with_capacity(1 + peer_public.len());
            sec1.push(SEC1_UNCOMPRESSED);
            sec1.extend_from_slice(peer_public);
            sec1
        }
    };
    let peer = agreement::UnparsedPublicKey::new(ring_algorithm(group), peer);
    let shared = agreement::agree_ephemeral(key, &peer, Secret::from_slice).map_err(|_| {
        match group {
            // ring accepts every 32-byte u-coordinate and fails only on an all-zero result
            // (a small-order point), RFC 7748 §6.1.
            DhGroup::Curve25519 => CryptoError::DegenerateSharedSecret { group: group.id() },
            _ => CryptoError::InvalidPublicValue {
                group: group.id(),
                reason: "not a point on the curve",
            },
        }
    })?;
    if group == DhGroup::Curve25519 && is_all_zero(shared.as_bytes()) {
        // RFC 8031 §2.3: MUST check; ring already does, this keeps the rule visible here.
        return Err(CryptoError::DegenerateSharedSecret { group: group.id() });
    }
    Ok(shared)
}

fn is_all_zero(bytes: &[u8]) -> bool {
    let mut acc = 0u8;
    for b in bytes {
        acc |= b;
    }
    bool::from(acc.ct_eq(&0))
}

const P521_FIELD_LEN: usize = 66;
const GROUP_21: u16 = 21;

/// Decodes and validates a P-521 public value x ‖ y (on the curve, not the identity).
pub(super) fn p521_public(public: &[u8]) -> Result<p521::PublicKey, CryptoError> {
    let mut sec1 = Vec::with_capacity(1 + public.len());
    sec1.push(SEC1_UNCOMPRESSED);
    sec1.extend_from_slice(public);
    p521::PublicKey::from_sec1_bytes(&sec1).map_err(|_| CryptoError::InvalidPublicValue {
        group: GROUP_21,
        reason: "not a point on the curve",
    })
}

fn p521_encode(secret: &p521::SecretKey) -> Vec<u8> {
    let point = secret.public_key().to_sec1_point(false);
    // Uncompressed SEC1: 0x04 || x || y, 1 + 2 * 66 bytes.
    point.as_bytes()[1..].to_vec()
}

pub(super) fn p521_generate(
    rng: &dyn SecureRandom,
) -> Result<(Vec<u8>, p521::SecretKey), CryptoError> {
    let mut bytes = zeroize::Zeroizing::new([0u8; P521_FIELD_LEN]);
    // Rejection sampling: 521 random bits, retried if >= n or zero. n is just below 2^521,
    // so a retry happens with probability about 2^-260; 64 attempts only bound the loop.
    for _ in 0..64 {
        rng.fill(&mut bytes[..]).map_err(|_| CryptoError::Rng)?;
        bytes[0] &= 0x01;
        if let Ok(secret) = p521::SecretKey::from_slice(&bytes[..]) {
            return Ok((p521_encode(&secret), secret));
        }
    }
    Err(CryptoError::Rng)
}

pub(super) fn p521_from_private(private: &[u8]) -> Result<(Vec<u8>, p521::SecretKey), CryptoError> {
    if private.is_empty() || private.len() > P521_FIELD_LEN {
        return Err(CryptoError::InvalidPrivateValue {
            group: GROUP_21,
            reason: "expected 1 to 66 bytes",
        });
    }
    let mut bytes = zeroize::Zeroizing::new([0u8; P521_FIELD_LEN]);
    bytes[P521_FIELD_LEN - private.len()..].copy_from_slice(private);
    let secret =
        p521::SecretKey::from_slice(&bytes[..]).map_err(|_| CryptoError::InvalidPrivateValue {
            group: GROUP_21,
            reason: "not in 1..n-1",
        })?;
    Ok((p521_encode(&secret), secret))
}

pub(super) fn p521_agree(
    secret: &p521::SecretKey,
    peer_public: &[u8],
) -> Result<Secret, CryptoError> {
    let peer = p521_public(peer_public)?;
    let shared = secret.diffie_hellman(&peer);
    // The x coordinate, 66 bytes big-endian (RFC 5903 §7).
    Ok(Secret::from_slice(shared.raw_secret_bytes()))
}
