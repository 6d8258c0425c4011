//! Diffie-Hellman groups: [`DhGroup`] and [`KeyPair`].
//!
//! | IKE group | kind | public value | shared secret | backend |
//! |---|---|---|---|---|
//! | 1, 2 | MODP 768/1024 (RFC 2409 §6.1, §6.2) | modulus length | g^xy, modulus length | crypto-bigint |
//! | 5, 14-18 | MODP 1536-8192 (RFC 3526) | modulus length | g^xy, modulus length | crypto-bigint |
//! | 19, 20 | ECP P-256, P-384 (RFC 5903) | x ‖ y | x | *ring* |
//! | 21 | ECP P-521 (RFC 5903) | x ‖ y | x | RustCrypto `p521` |
//! | 31 | Curve25519 (RFC 8031) | 32 bytes | 32 bytes | *ring* |
//!
//! Formats (what goes in the KE payload and what feeds SKEYID):
//!
//! - MODP public values and shared secrets are big-endian and always exactly as long as the
//!   modulus, left-padded with zeros (RFC 2409 §5 treats g^x and g^xy as fixed-length
//!   strings; strongSwan pads the same way). A received value of any other length is refused
//!   rather than padded or trimmed.
//! - ECP public values are x ‖ y, each coordinate as long as the field, *without* the SEC1
//!   0x04 prefix (RFC 5903 §7); the shared secret is the x coordinate alone.
//! - Curve25519 public values and the shared secret are the 32-byte little-endian
//!   u-coordinates of RFC 7748; an all-zero shared secret is refused (RFC 8031 §2.3,
//!   RFC 7748 §6.1).
//!
//! Validation of the peer's value: MODP requires 1 < y < p-1 (RFC 2409 has no check; this is
//! the SP 800-56A "partial validation", enough for safe-prime groups); ECP points must be on
//! the curve and not the identity (*ring* and `p521` check this during the agreement).
//!
//! Weak groups: 1, 2 and 5 (768, 1024 and 1536 bits, below NIST's 112-bit minimum) work only
//! where the configuration names them ([`DhGroup::is_weak`]).
//!
//! Private values: generated here from the caller's `SecureRandom` (the engine passes
//! *ring*'s `SystemRandom`). [`KeyPair::from_private`] builds a pair from a known private
//! value for tests, for MODP and P-521 only: *ring* keeps its ephemeral keys sealed, so
//! groups 19, 20 and 31 cannot take an injected private value.

mod ecp;
mod modp;

use core::fmt;

use ring::rand::SecureRandom;

use super::{CryptoError, Secret};

/// A Diffie-Hellman group, by its IKE number (IANA "Group Description", phase-1 attribute
/// class 4 and the phase-2 "Group Description" attribute).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DhGroup {
    /// Group 1, 768-bit MODP. Weak.
    Modp768,
    /// Group 2, 1024-bit MODP. Weak (but iOS/macOS "Cisco IPsec" proposes it).
    Modp1024,
    /// Group 5, 1536-bit MODP. Weak.
    Modp1536,
    /// Group 14, 2048-bit MODP.
    Modp2048,
    /// Group 15, 3072-bit MODP.
    Modp3072,
    /// Group 16, 4096-bit MODP.
    Modp4096,
    /// Group 17, 6144-bit MODP.
    Modp6144,
    /// Group 18, 8192-bit MODP.
    Modp8192,
    /// Group 19, 256-bit random ECP (NIST P-256).
    Ecp256,
    /// Group 20, 384-bit random ECP (NIST P-384).
    Ecp384,
    /// Group 21, 521-bit random ECP (NIST P-521).
    Ecp521,
    /// Group 31, Curve25519 (RFC 8031).
    Curve25519,
}

impl DhGroup {
    /// Every supported group.
    pub const ALL: [DhGroup; 12] = [
        DhGroup::Modp768,
        DhGroup::Modp1024,
        DhGroup::Modp1536,
        DhGroup::Modp2048,
        DhGroup::Modp3072,
        DhGroup::Modp4096,
        DhGroup::Modp6144,
        DhGroup::Modp8192,
        DhGroup::Ecp256,
        DhGroup::Ecp384,
        DhGroup::Ecp521,
        DhGroup::Curve25519,
    ];

    /// The group with this IKE number, if supported.
    pub const fn from_id(id: u16) -> Option<Self> {
        Some(match id {
            1 => DhGroup::Modp768,
            2 => DhGroup::Modp1024,
            5 => DhGroup::Modp1536,
            14 => DhGroup::Modp2048,
            15 => DhGroup::Modp3072,
            16 => DhGroup::Modp4096,
            17 => DhGroup::Modp6144,
            18 => DhGroup::Modp8192,
            19 => DhGroup::Ecp256,
            20 => DhGroup::Ecp384,
            21 => DhGroup::Ecp521,
            31 => DhGroup::Curve25519,
            _ => return None,
        })
    }

    /// The IKE group number.
    pub const fn id(self) -> u16 {
        match self {
            DhGroup::Modp768 => 1,
            DhGroup::Modp1024 => 2,
            DhGroup::Modp1536 => 5,
            DhGroup::Modp2048 => 14,
            DhGroup::Modp3072 => 15,
            DhGroup::Modp4096 => 16,
            DhGroup::Modp6144 => 17,
            DhGroup::Modp8192 => 18,
            DhGroup::Ecp256 => 19,
            DhGroup::Ecp384 => 20,
            DhGroup::Ecp521 => 21,
            DhGroup::Curve25519 => 31,
        }
    }

    /// A short name for logs and configuration ("modp2048", "ecp256", "curve25519").
    pub const fn name(self) -> &'static str {
        match self {
            DhGroup::Modp768 => "modp768",
            DhGroup::Modp1024 => "modp1024",
            DhGroup::Modp1536 => "modp1536",
            DhGroup::Modp2048 => "modp2048",
            DhGroup::Modp3072 => "modp3072",
            DhGroup::Modp4096 => "modp4096",
            DhGroup::Modp6144 => "modp6144",
            DhGroup::Modp8192 => "modp8192",
            DhGroup::Ecp256 => "ecp256",
            DhGroup::Ecp384 => "ecp384",
            DhGroup::Ecp521 => "ecp521",
            DhGroup::Curve25519 => "curve25519",
        }
    }

    /// Length of the public value in the KE payload, in bytes.
    pub const fn public_len(self) -> usize {
        match self {
            DhGroup::Ecp256 => 64,
            DhGroup::Ecp384 => 96,
            DhGroup::Ecp521 => 132,
            DhGroup::Curve25519 => 32,
            _ => self.shared_secret_len(),
        }
    }

    /// Length of the shared secret g^xy, in bytes.
    pub const fn shared_secret_len(self) -> usize {
        match self {
            DhGroup::Modp768 => 96,
            DhGroup::Modp1024 => 128,
            DhGroup::Modp1536 => 192,
            DhGroup::Modp2048 => 256,
            DhGroup::Modp3072 => 384,
            DhGroup::Modp4096 => 512,
            DhGroup::Modp6144 => 768,
            DhGroup::Modp8192 => 1024,
            DhGroup::Ecp256 | DhGroup::Curve25519 => 32,
            DhGroup::Ecp384 => 48,
            DhGroup::Ecp521 => 66,
        }
    }

    /// Whether this is a MODP group.
    pub const fn is_modp(self) -> bool {
        !matches!(
            self,
            DhGroup::Ecp256 | DhGroup::Ecp384 | DhGroup::Ecp521 | DhGroup::Curve25519
        )
    }

    /// Groups 1, 2 and 5 are below 112-bit strength (NIST SP 800-57): usable only where
    /// the configuration names them, with a warning.
    pub const fn is_weak(self) -> bool {
        matches!(
            self,
            DhGroup::Modp768 | DhGroup::Modp1024 | DhGroup::Modp1536
        )
    }

    /// Generates an ephemeral key pair.
    pub fn generate(self, rng: &dyn SecureRandom) -> Result<KeyPair, CryptoError> {
        KeyPair::generate(self, rng)
    }

    /// Checks a received public value as far as possible without a private key: the exact
    /// length for every group, 1 < y < p-1 for MODP, the point for P-521. (*ring* checks
    /// P-256/P-384 points only inside [`KeyPair::agree`].) `agree` repeats these checks, so
    /// calling this is optional; it lets a responder refuse a bad KE payload before it
    /// spends time on its own key pair.
    pub fn check_public(self, public: &[u8]) -> Result<(), CryptoError> {
        check_len(self, public)?;
        if self.is_modp() {
            modp::check_public(self, public)
        } else if self == DhGroup::Ecp521 {
            ecp::p521_public(public).map(|_| ())
        } else {
            Ok(())
        }
    }
}

fn check_len(group: DhGroup, public: &[u8]) -> Result<(), CryptoError> {
    if public.len() != group.public_len() {
        return Err(CryptoError::InvalidPublicValue {
            group: group.id(),
            reason: "wrong length for the group",
        });
    }
    Ok(())
}

enum Private {
    Modp(modp::Exponent),
    Ring(ring::agreement::EphemeralPrivateKey),
    P521(p521::SecretKey),
}

/// An ephemeral Diffie-Hellman key pair. The private value is wiped on drop and used at most
/// once ([`KeyPair::agree`] consumes the pair).
pub struct KeyPair {
    group: DhGroup,
    /// Our public value, in the KE payload format of the group (see the module docs).
    pub public: Vec<u8>,
    private: Private,
}

impl KeyPair {
    /// Generates a key pair for `group` from `rng`.
    pub fn generate(group: DhGroup, rng: &dyn SecureRandom) -> Result<Self, CryptoError> {
        let (public, private) = match group {
            g if g.is_modp() => {
                let exponent = modp::Exponent::generate(g, rng)?;
                (modp::public_value(g, &exponent), Private::Modp(exponent))
            }
            DhGroup::Ecp521 => {
                let (public, secret) = ecp::p521_generate(rng)?;
                (public, Private::P521(secret))
            }
            g => {
                let (public, key) = ecp::ring_generate(g, rng)?;
                (public, Private::Ring(key))
            }
        };
        Ok(KeyPair {
            group,
            public,
            private,
        })
    }

    /// A key pair with a known private value, for tests and known-answer vectors.
    ///
    /// - MODP: the exponent x, big-endian, 1 to modulus-length bytes, with 1 < x < p-1. The
    ///   exponentiation runs over `8 * private.len()` exponent bits.
    /// - P-521: the scalar, big-endian, 66 bytes (shorter is left-padded), 0 < d < n.
    /// - Groups 19, 20, 31: [`CryptoError::UnsupportedGroupOperation`], since *ring* cannot
    ///   import an ephemeral private key.
    pub fn from_private(group: DhGroup, private: &[u8]) -> Result<Self, CryptoError> {
        let (public, private) = match group {
            g if g.is_modp() => {
                let exponent = modp::Exponent::from_bytes(g, private)?;
                (modp::public_value(g, &exponent), Private::Modp(exponent))
            }
            DhGroup::Ecp521 => {
                let (public, secret) = ecp::p521_from_private(private)?;
                (public, Private::P521(secret))
            }
            g => {
                return Err(CryptoError::UnsupportedGroupOperation {
                    group: g.id(),
                    what: "importing a private value (ring keys are ephemeral-only)",
                });
            }
        };
        Ok(KeyPair {
            group,
            public,
            private,
        })
    }

    /// The group of this pair.
    pub fn group(&self) -> DhGroup {
        self.group
    }

    /// Our public value (same as the `public` field).
    pub fn public(&self) -> &[u8] {
        &self.public
    }

    /// Computes the shared secret g^xy with the peer's public value, consuming the pair.
    ///
    /// Refuses a peer value of the wrong length, out of range (MODP) or not on the curve
    /// (ECP), and a degenerate result (all-zero X25519 output).
    pub fn agree(self, peer_public: &[u8]) -> Result<Secret, CryptoError> {
        check_len(self.group, peer_public)?;
        match self.private {
            Private::Modp(exponent) => modp::agree(self.group, &exponent, peer_public),
            Private::Ring(key) => ecp::ring_agree(self.group, key, peer_public),
            Private::P521(secret) => ecp::p521_agree(&secret, peer_public),
        }
    }
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("group", &self.group)
            .field("public_len", &self.public.len())
            .field("private", &"<redacted>")
            .finish()
    }
}
