//! [`Prf`]: the pseudo-random function of phase 1.
//!
//! RFC 2409 §4: "... if no PRF is negotiated, the HMAC version of the negotiated hash
//! function is used as the pseudo-random function". No deployed peer negotiates the PRF
//! attribute (class 13; its only defined value, PRF_3DES_CBC_MAC, is unused), so
//! [`Prf::negotiated`] refuses it.
//!
//! Backends: *ring* for HMAC-SHA1 and HMAC-SHA2 (SHA-1 through
//! `HMAC_SHA1_FOR_LEGACY_USE_ONLY`: HMAC-SHA1 is still sound as a PRF), RustCrypto
//! `hmac` + `md-5` for HMAC-MD5, which *ring* does not have.

use ::hmac::Mac as _;
use ring::hmac;

use super::{HashAlgorithm, Secret};

/// A phase-1 PRF: HMAC with one of the supported hashes (RFC 2104; RFC 4868 for SHA-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prf {
    /// HMAC-MD5. Weak: only where the configuration asks for it.
    HmacMd5,
    /// HMAC-SHA1.
    HmacSha1,
    /// HMAC-SHA2-256.
    HmacSha256,
    /// HMAC-SHA2-384.
    HmacSha384,
    /// HMAC-SHA2-512.
    HmacSha512,
}

impl Prf {
    /// All supported PRFs.
    pub const ALL: [Prf; 5] = [
        Prf::HmacMd5,
        Prf::HmacSha1,
        Prf::HmacSha256,
        Prf::HmacSha384,
        Prf::HmacSha512,
    ];

    /// The HMAC of the negotiated hash: the PRF when none is negotiated (RFC 2409 §4).
    pub const fn hmac(hash: HashAlgorithm) -> Self {
        match hash {
            HashAlgorithm::Md5 => Prf::HmacMd5,
            HashAlgorithm::Sha1 => Prf::HmacSha1,
            HashAlgorithm::Sha256 => Prf::HmacSha256,
            HashAlgorithm::Sha384 => Prf::HmacSha384,
            HashAlgorithm::Sha512 => Prf::HmacSha512,
        }
    }

    /// The PRF for the value of the phase-1 "Hash Algorithm" attribute when no PRF
    /// attribute was negotiated (the usual case): HMAC with that hash.
    pub const fn from_ike_hash_id(hash_id: u16) -> Option<Self> {
        match HashAlgorithm::from_ike_id(hash_id) {
            Some(hash) => Some(Prf::hmac(hash)),
            None => None,
        }
    }

    /// The PRF for a phase-1 SA with hash algorithm `hash` and, if present, the value of the
    /// PRF attribute (class 13). A PRF attribute is refused: its only registered value
    /// (1, PRF_3DES_CBC_MAC) is implemented by nobody.
    pub fn negotiated(
        hash: HashAlgorithm,
        prf_attribute: Option<u16>,
    ) -> Result<Self, super::CryptoError> {
        match prf_attribute {
            None => Ok(Prf::hmac(hash)),
            Some(_) => Err(super::CryptoError::Unsupported(
                "phase-1 PRF attribute (only HMAC of the negotiated hash is supported)",
            )),
        }
    }

    /// The underlying hash.
    pub const fn hash(self) -> HashAlgorithm {
        match self {
            Prf::HmacMd5 => HashAlgorithm::Md5,
            Prf::HmacSha1 => HashAlgorithm::Sha1,
            Prf::HmacSha256 => HashAlgorithm::Sha256,
            Prf::HmacSha384 => HashAlgorithm::Sha384,
            Prf::HmacSha512 => HashAlgorithm::Sha512,
        }
    }

    /// Output length in bytes (= the hash's digest length).
    pub const fn output_len(self) -> usize {
        self.hash().output_len()
    }

    /// A short name for logs and errors.
    pub const fn name(self) -> &'static str {
        match self {
            Prf::HmacMd5 => "HMAC-MD5",
            Prf::HmacSha1 => "HMAC-SHA1",
            Prf::HmacSha256 => "HMAC-SHA2-256",
            Prf::HmacSha384 => "HMAC-SHA2-384",
            Prf::HmacSha512 => "HMAC-SHA2-512",
        }
    }

    /// `prf(key, data[0] | data[1] | ...)`. Keys of any length are accepted (HMAC hashes long
    /// keys and pads short ones, RFC 2104 §2), so this never fails.
    ///
    /// The result is a plain `Vec` because most PRF outputs in IKE are public (HASH_I,
    /// HASH(1), ...). Key derivations wrap theirs with [`Prf::compute_secret`].
    pub fn compute(self, key: &[u8], data: &[&[u8]]) -> Vec<u8> {
        let alg = match self {
            Prf::HmacMd5 => return hmac_md5(key, data),
            Prf::HmacSha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Prf::HmacSha256 => hmac::HMAC_SHA256,
            Prf::HmacSha384 => hmac::HMAC_SHA384,
            Prf::HmacSha512 => hmac::HMAC_SHA512,
        };
        let key = hmac::Key::new(alg, key);
        let mut ctx = hmac::Context::with_key(&key);
        for piece in data {
            ctx.update(piece);
        }
        ctx.sign().as_ref().to_vec()
    }

    /// [`Prf::compute`] for key material: the output goes straight into a [`Secret`].
    pub fn compute_secret(self, key: &[u8], data: &[&[u8]]) -> Secret {
        Secret::new(self.compute(key, data))
    }
}

fn hmac_md5(key: &[u8], data: &[&[u8]]) -> Vec<u8> {
    // `Hmac::new_from_slice` accepts every key length (hmac 0.13 `HmacCore::new_from_slice`
    // hashes or pads, it has no error path), so the `Err` arm cannot be reached; it returns
    // the HMAC of an empty key rather than panicking all the same.
    let mut mac = match <::hmac::Hmac<md5::Md5> as ::hmac::KeyInit>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => <::hmac::Hmac<md5::Md5> as ::hmac::KeyInit>::new(&Default::default()),
    };
    for piece in data {
        mac.update(piece);
    }
    mac.finalize().into_bytes().to_vec()
}
