//! [`HashAlgorithm`]: the phase-1 "hash algorithm" attribute.
//!
//! IKEv1 uses the negotiated hash directly (not through HMAC) in exactly one place: the
//! phase-1 IV, hash(g^xi | g^xr), and the initial IV of each later exchange,
//! hash(last phase-1 CBC block | M-ID) (RFC 2409 Appendix B). It also selects the PRF when
//! no PRF attribute is negotiated ([`Prf::hmac`](super::Prf::hmac), RFC 2409 §4).

use md5::Digest as _;
use ring::digest;

/// A phase-1 hash algorithm (RFC 2409 Appendix A "Hash Algorithm", class 2; the SHA-2 values
/// from the IANA "IPSEC Hash Algorithms" registry, RFC 4868 for their use as PRFs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// MD5 (value 1). Weak: only where the configuration asks for it.
    Md5,
    /// SHA-1 (value 2, "SHA").
    Sha1,
    /// SHA2-256 (value 4).
    Sha256,
    /// SHA2-384 (value 5).
    Sha384,
    /// SHA2-512 (value 6).
    Sha512,
}

impl HashAlgorithm {
    /// All supported algorithms, strongest last.
    pub const ALL: [HashAlgorithm; 5] = [
        HashAlgorithm::Md5,
        HashAlgorithm::Sha1,
        HashAlgorithm::Sha256,
        HashAlgorithm::Sha384,
        HashAlgorithm::Sha512,
    ];

    /// Maps the value of the phase-1 "Hash Algorithm" attribute. Tiger (3) is not supported.
    pub const fn from_ike_id(id: u16) -> Option<Self> {
        match id {
            1 => Some(HashAlgorithm::Md5),
            2 => Some(HashAlgorithm::Sha1),
            4 => Some(HashAlgorithm::Sha256),
            5 => Some(HashAlgorithm::Sha384),
            6 => Some(HashAlgorithm::Sha512),
            _ => None,
        }
    }

    /// The value of the phase-1 "Hash Algorithm" attribute.
    pub const fn ike_id(self) -> u16 {
        match self {
            HashAlgorithm::Md5 => 1,
            HashAlgorithm::Sha1 => 2,
            HashAlgorithm::Sha256 => 4,
            HashAlgorithm::Sha384 => 5,
            HashAlgorithm::Sha512 => 6,
        }
    }

    /// Digest length in bytes.
    pub const fn output_len(self) -> usize {
        match self {
            HashAlgorithm::Md5 => 16,
            HashAlgorithm::Sha1 => 20,
            HashAlgorithm::Sha256 => 32,
            HashAlgorithm::Sha384 => 48,
            HashAlgorithm::Sha512 => 64,
        }
    }

    /// MD5 is weak (collisions are practical); it works only when configured explicitly.
    pub const fn is_weak(self) -> bool {
        matches!(self, HashAlgorithm::Md5)
    }

    /// A short name for logs and errors.
    pub const fn name(self) -> &'static str {
        match self {
            HashAlgorithm::Md5 => "MD5",
            HashAlgorithm::Sha1 => "SHA1",
            HashAlgorithm::Sha256 => "SHA2-256",
            HashAlgorithm::Sha384 => "SHA2-384",
            HashAlgorithm::Sha512 => "SHA2-512",
        }
    }

    /// `hash(data[0] | data[1] | ...)`: the pieces are fed in order, never concatenated.
    pub fn digest(self, data: &[&[u8]]) -> Vec<u8> {
        let alg = match self {
            HashAlgorithm::Md5 => {
                let mut h = md5::Md5::new();
                for piece in data {
                    h.update(piece);
                }
                return h.finalize().to_vec();
            }
            HashAlgorithm::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            HashAlgorithm::Sha256 => &digest::SHA256,
            HashAlgorithm::Sha384 => &digest::SHA384,
            HashAlgorithm::Sha512 => &digest::SHA512,
        };
        let mut ctx = digest::Context::new(alg);
        for piece in data {
            ctx.update(piece);
        }
        ctx.finish().as_ref().to_vec()
    }
}
