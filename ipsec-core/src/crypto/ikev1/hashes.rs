//! The values carried in HASH payloads: HASH_I/HASH_R (RFC 2409 §5), the quick-mode
//! HASH(1), HASH(2), HASH(3) (§5.5), the informational HASH(1) (§5.7) and the
//! mode-config/XAuth transaction hash (draft-dukes-ike-mode-cfg §3.x; the same form as
//! informational).
//!
//! "rest-of-message" is everything after the HASH payload, generic payload headers
//! included, as it appears on the wire (decrypted, without the ISAKMP padding). It is given
//! as a list of slices so that a caller can pass the payloads it emits without
//! concatenating them. Received values must be compared with [`ct_eq`](crate::crypto::ct_eq).

use super::Cookie;
use crate::crypto::{HashAlgorithm, Prf, Secret};

/// What both sides of phase 1 have seen, and which HASH_I, HASH_R and the phase-1 IV are
/// computed over (main and aggressive mode alike).
#[derive(Debug, Clone, Copy)]
pub struct Phase1Transcript<'a> {
    /// g^xi: the initiator's KE payload body (the DH public value).
    pub g_xi: &'a [u8],
    /// g^xr: the responder's KE payload body.
    pub g_xr: &'a [u8],
    /// CKY-I, the initiator cookie.
    pub cky_i: Cookie,
    /// CKY-R, the responder cookie.
    pub cky_r: Cookie,
    /// SAi_b: the entire body of the initiator's SA payload (DOI, situation and all
    /// proposals), as sent by the initiator, generic header excluded.
    pub sai_b: &'a [u8],
}

impl Phase1Transcript<'_> {
    /// HASH_I = prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b), where `idii_b` is
    /// the body of the initiator's ID payload (ID type, protocol, port, data).
    pub fn hash_i(&self, prf: Prf, skeyid: &Secret, idii_b: &[u8]) -> Vec<u8> {
        prf.compute(
            skeyid.as_bytes(),
            &[
                self.g_xi,
                self.g_xr,
                &self.cky_i,
                &self.cky_r,
                self.sai_b,
                idii_b,
            ],
        )
    }

    /// HASH_R = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b). Note the swapped
    /// order of the KE values and cookies, and that SAi_b is still the *initiator's* SA.
    pub fn hash_r(&self, prf: Prf, skeyid: &Secret, idir_b: &[u8]) -> Vec<u8> {
        prf.compute(
            skeyid.as_bytes(),
            &[
                self.g_xr,
                self.g_xi,
                &self.cky_r,
                &self.cky_i,
                self.sai_b,
                idir_b,
            ],
        )
    }

    /// The initial phase-1 IV, hash(g^xi | g^xr) truncated to `block_len`
    /// (see [`phase1_iv`](super::phase1_iv)).
    pub fn phase1_iv(&self, hash: HashAlgorithm, block_len: usize) -> Vec<u8> {
        super::phase1_iv(hash, self.g_xi, self.g_xr, block_len)
    }
}

fn with_message_id<'a>(
    prf: Prf,
    skeyid_a: &Secret,
    prefix: &[&'a [u8]],
    rest: &[&'a [u8]],
) -> Vec<u8> {
    let mut pieces: Vec<&[u8]> = Vec::with_capacity(prefix.len() + rest.len());
    pieces.extend_from_slice(prefix);
    pieces.extend_from_slice(rest);
    prf.compute(skeyid_a.as_bytes(), &pieces)
}

/// Quick-mode HASH(1) = prf(SKEYID_a, M-ID | rest-of-message), sent by the initiator in
/// message 1 (RFC 2409 §5.5).
pub fn qm_hash1(prf: Prf, skeyid_a: &Secret, message_id: u32, rest: &[&[u8]]) -> Vec<u8> {
    let mid = message_id.to_be_bytes();
    with_message_id(prf, skeyid_a, &[&mid], rest)
}

/// Quick-mode HASH(2) = prf(SKEYID_a, M-ID | Ni_b | rest-of-message), sent by the responder
/// in message 2; `ni_b` is the body of the initiator's nonce payload from message 1.
pub fn qm_hash2(
    prf: Prf,
    skeyid_a: &Secret,
    message_id: u32,
    ni_b: &[u8],
    rest: &[&[u8]],
) -> Vec<u8> {
    let mid = message_id.to_be_bytes();
    with_message_id(prf, skeyid_a, &[&mid, ni_b], rest)
}

/// Quick-mode HASH(3) = prf(SKEYID_a, 0 | M-ID | Ni_b | Nr_b), sent by the initiator in
/// message 3 (the leading 0 is one octet).
pub fn qm_hash3(prf: Prf, skeyid_a: &Secret, message_id: u32, ni_b: &[u8], nr_b: &[u8]) -> Vec<u8> {
    let mid = message_id.to_be_bytes();
    prf.compute(skeyid_a.as_bytes(), &[&[0], &mid, ni_b, nr_b])
}

/// Informational HASH(1) = prf(SKEYID_a, M-ID | N/D) (RFC 2409 §5.7), where N/D is the
/// Notification or Delete payload(s) following the HASH payload, headers included.
pub fn informational_hash(
    prf: Prf,
    skeyid_a: &Secret,
    message_id: u32,
    payloads: &[&[u8]],
) -> Vec<u8> {
    qm_hash1(prf, skeyid_a, message_id, payloads)
}

/// The HASH of a mode-config / XAuth transaction message: prf(SKEYID_a, M-ID | Attribute
/// payload) (draft-dukes-ike-mode-cfg §3.x, which borrows the informational form), the
/// attribute payload with its generic header.
pub fn transaction_hash(
    prf: Prf,
    skeyid_a: &Secret,
    message_id: u32,
    payloads: &[&[u8]],
) -> Vec<u8> {
    qm_hash1(prf, skeyid_a, message_id, payloads)
}
