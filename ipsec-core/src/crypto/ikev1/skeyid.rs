//! SKEYID and its descendants (RFC 2409 §5), and the phase-1 encryption key (Appendix B).

use super::{Cookie, check_len};
use crate::crypto::{Cipher, CryptoError, Prf, Secret};

/// How phase 1 authenticates, which decides how SKEYID is computed (RFC 2409 §5).
#[derive(Debug, Clone, Copy)]
pub enum Phase1Auth<'a> {
    /// Pre-shared key (also XAuth-PSK): SKEYID = prf(pre-shared-key, Ni_b | Nr_b).
    PreSharedKey(&'a Secret),
    /// Signatures (RSA, DSS, ECDSA) and hybrid authentication
    /// (draft-ietf-ipsec-isakmp-hybrid-auth, where the responder signs):
    /// SKEYID = prf(Ni_b | Nr_b, g^xy).
    Signature,
}

/// SKEYID (RFC 2409 §5). `ni_b`/`nr_b` are the bodies of the initiator's and responder's
/// nonce payloads; `g_xy` is the Diffie-Hellman shared secret as produced by
/// [`KeyPair::agree`](crate::crypto::KeyPair::agree) (fixed length, left-padded).
///
/// Public-key-encryption authentication (SKEYID = prf(hash(Ni_b | Nr_b), CKY-I | CKY-R)) is
/// not implemented.
pub fn skeyid(prf: Prf, auth: Phase1Auth<'_>, ni_b: &[u8], nr_b: &[u8], g_xy: &Secret) -> Secret {
    match auth {
        Phase1Auth::PreSharedKey(psk) => prf.compute_secret(psk.as_bytes(), &[ni_b, nr_b]),
        Phase1Auth::Signature => {
            // The key is Ni_b | Nr_b; HMAC needs it contiguous. Nonces are public.
            let mut key = Vec::with_capacity(ni_b.len() + nr_b.len());
            key.extend_from_slice(ni_b);
            key.extend_from_slice(nr_b);
            prf.compute_secret(&key, &[g_xy.as_bytes()])
        }
    }
}

/// SKEYID and the three keys derived from it (RFC 2409 §5).
#[derive(Debug, Clone)]
pub struct Skeyids {
    /// SKEYID.
    pub skeyid: Secret,
    /// SKEYID_d: keys the quick-mode KEYMAT.
    pub skeyid_d: Secret,
    /// SKEYID_a: keys the quick-mode and informational HASHes.
    pub skeyid_a: Secret,
    /// SKEYID_e: expanded into the phase-1 encryption key.
    pub skeyid_e: Secret,
}

impl Skeyids {
    /// SKEYID_d = prf(SKEYID, g^xy | CKY-I | CKY-R | 0),
    /// SKEYID_a = prf(SKEYID, SKEYID_d | g^xy | CKY-I | CKY-R | 1),
    /// SKEYID_e = prf(SKEYID, SKEYID_a | g^xy | CKY-I | CKY-R | 2).
    pub fn derive(prf: Prf, skeyid: Secret, g_xy: &Secret, cky_i: &Cookie, cky_r: &Cookie) -> Self {
        let k = skeyid.as_bytes();
        let gxy = g_xy.as_bytes();
        let skeyid_d = prf.compute_secret(k, &[gxy, cky_i, cky_r, &[0]]);
        let skeyid_a = prf.compute_secret(k, &[skeyid_d.as_bytes(), gxy, cky_i, cky_r, &[1]]);
        let skeyid_e = prf.compute_secret(k, &[skeyid_a.as_bytes(), gxy, cky_i, cky_r, &[2]]);
        Skeyids {
            skeyid,
            skeyid_d,
            skeyid_a,
            skeyid_e,
        }
    }
}

/// RFC 2409 Appendix B: `len` bytes of key from SKEYID_e. If SKEYID_e is long enough its
/// first `len` bytes are used; otherwise Ka = K1 | K2 | ... truncated, with
/// K1 = prf(SKEYID_e, 0) (a single zero octet) and Ki = prf(SKEYID_e, Ki-1).
///
/// Note that K1 is *not* SKEYID_e itself: once expansion is needed, SKEYID_e is only the key.
/// (3DES with HMAC-SHA1 is the common case: 24 bytes > 20.)
pub fn expand_skeyid_e(prf: Prf, skeyid_e: &Secret, len: usize) -> Result<Secret, CryptoError> {
    check_len(len)?;
    if skeyid_e.len() >= len {
        let mut key = skeyid_e.clone();
        key.truncate(len);
        return Ok(key);
    }
    let mut out = Secret::with_capacity(len + prf.output_len());
    let mut k = prf.compute_secret(skeyid_e.as_bytes(), &[&[0]]);
    loop {
        out.extend_from_slice(k.as_bytes());
        if out.len() >= len {
            break;
        }
        k = prf.compute_secret(skeyid_e.as_bytes(), &[k.as_bytes()]);
    }
    out.truncate(len);
    Ok(out)
}

/// The phase-1 encryption key for `cipher`: [`expand_skeyid_e`] to the cipher's key length,
/// then refused if it is a weak key ([`Cipher::check_key`]).
pub fn encryption_key(prf: Prf, skeyid_e: &Secret, cipher: Cipher) -> Result<Secret, CryptoError> {
    let key = expand_skeyid_e(prf, skeyid_e, cipher.key_len())?;
    cipher.check_key(key.as_bytes())?;
    Ok(key)
}

/// Everything phase 1 derives from the key exchange, in one value.
#[derive(Debug, Clone)]
pub struct Phase1Keys {
    /// The negotiated PRF.
    pub prf: Prf,
    /// The negotiated cipher.
    pub cipher: Cipher,
    /// SKEYID, SKEYID_d, SKEYID_a, SKEYID_e.
    pub skeyids: Skeyids,
    /// The phase-1 encryption key (Appendix B), `cipher.key_len()` bytes.
    pub encryption_key: Secret,
}

impl Phase1Keys {
    /// Runs the whole chain: SKEYID, SKEYID_d/a/e, the encryption key.
    #[allow(clippy::too_many_arguments)] // the RFC's inputs, each named
    pub fn derive(
        prf: Prf,
        cipher: Cipher,
        auth: Phase1Auth<'_>,
        ni_b: &[u8],
        nr_b: &[u8],
        g_xy: &Secret,
        cky_i: &Cookie,
        cky_r: &Cookie,
    ) -> Result<Self, CryptoError> {
        let skeyid = skeyid(prf, auth, ni_b, nr_b, g_xy);
        let skeyids = Skeyids::derive(prf, skeyid, g_xy, cky_i, cky_r);
        let encryption_key = encryption_key(prf, &skeyids.skeyid_e, cipher)?;
        Ok(Phase1Keys {
            prf,
            cipher,
            skeyids,
            encryption_key,
        })
    }
}
