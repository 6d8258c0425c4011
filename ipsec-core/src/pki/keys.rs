//! Public and private keys, the IKEv1 SIG payload signatures, and the verification of
//! certificate and CRL signatures.
//!
//! # Which crate does what, and why
//!
//! - IKEv1 RSA signatures (RFC 2409 §5.1) are PKCS#1 v1.5 type-1 padding around HASH_I/HASH_R
//!   itself, with no DigestInfo (strongSwan `SIGN_RSA_EMSA_PKCS1_NULL`). *ring* cannot make or
//!   check those: its PKCS#1 v1.5 always encodes a DigestInfo for a named hash. So they use the
//!   RustCrypto `rsa` crate, `Pkcs1v15Sign::new_unprefixed()`, for both directions.
//!
//!   Version: `rsa` 0.9 is the newest stable release; it is built on the previous RustCrypto
//!   generation (digest 0.10, num-bigint-dig), not the digest 0.11 / crypto-bigint 0.7 one the
//!   rest of this crate uses. `rsa` 0.10 (on crypto-bigint, constant-time hardened) is still a
//!   release candidate; move to it once it is released.
//!
//!   Side channels: the private-key operation of `rsa` 0.9 is not constant time (RUSTSEC-2023-0071,
//!   the "Marvin" timing attack, which recovers a key from many timed *decryptions* of chosen
//!   ciphertexts). What mitigates it here: we only sign, never decrypt; the value we sign is a
//!   PRF output we computed ourselves (HASH_I/HASH_R), not attacker-chosen input; and signing uses
//!   `sign_with_rng`, so the exponentiation is blinded with a fresh random value each time. The
//!   crate also checks each signature against the public key before returning it (a fault in the
//!   CRT computation cannot leak the key).
//! - IKEv1 ECDSA signatures (RFC 4754 with RFC 2409 §5.1) sign HASH_I as the message digest and
//!   carry r | s with fixed-length fields. *ring* always hashes the message, so RustCrypto
//!   `p256`/`p384` do this through their prehash API (RFC 6979 deterministic nonces).
//! - Certificate and CRL signatures are ordinary X.509 signatures: *ring* verifies them.

use std::fmt;

use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_PKCS1_RSAENCRYPTION,
    OID_SIG_ED25519,
};
use x509_parser::public_key::PublicKey as ParsedKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use super::MAX_HASH_LEN;
use super::error::{PkiError, Result};
use crate::wire::AuthMethod;

/// Smallest RSA modulus accepted anywhere (certificates, SIG payloads, our key), in bits.
/// *ring* refuses smaller keys for every non-legacy RSA algorithm too.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits (as *ring*).
pub const MAX_RSA_BITS: usize = 8192;

/// The kind of key a certificate carries, which decides the IKEv1 authentication method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// RSA: RSA signatures (method 3, and the XAuth/hybrid RSA variants).
    Rsa,
    /// ECDSA on P-256: method 9 (ECDSA with SHA-256, RFC 4754).
    EcdsaP256,
    /// ECDSA on P-384: method 10 (ECDSA with SHA-384, RFC 4754).
    EcdsaP384,
    /// Ed25519: valid on certificates (as a CA key), no IKEv1 authentication method.
    Ed25519,
}

impl KeyType {
    /// Whether a peer (or we) with this key can authenticate under `method`.
    pub fn matches_auth_method(self, method: AuthMethod) -> bool {
        match self {
            KeyType::Rsa => matches!(
                method,
                AuthMethod::RsaSignatures
                    | AuthMethod::HybridInitRsa
                    | AuthMethod::HybridRespRsa
                    | AuthMethod::XauthInitRsa
                    | AuthMethod::XauthRespRsa
            ),
            KeyType::EcdsaP256 => method == AuthMethod::EcdsaP256,
            KeyType::EcdsaP384 => method == AuthMethod::EcdsaP384,
            KeyType::Ed25519 => false,
        }
    }

    /// The plain (non-XAuth) IKEv1 authentication method of this key type, if any.
    pub fn auth_method(self) -> Option<AuthMethod> {
        match self {
            KeyType::Rsa => Some(AuthMethod::RsaSignatures),
            KeyType::EcdsaP256 => Some(AuthMethod::EcdsaP256),
            KeyType::EcdsaP384 => Some(AuthMethod::EcdsaP384),
            KeyType::Ed25519 => None,
        }
    }
}

/// A public key from a certificate's subjectPublicKeyInfo, checked on parse (RSA size and
/// exponent, EC point on the curve).
#[derive(Clone)]
pub struct PublicKey {
    inner: Inner,
    /// What *ring* verifies with: the RSAPublicKey DER, the EC point, or the Ed25519 key.
    ring_bytes: Vec<u8>,
}

#[derive(Clone)]
enum Inner {
    Rsa(RsaPublicKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    Ed25519,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Rsa(k) => write!(f, "PublicKey(RSA-{})", k.n().bits()),
            Inner::P256(_) => f.write_str("PublicKey(ECDSA P-256)"),
            Inner::P384(_) => f.write_str("PublicKey(ECDSA P-384)"),
            Inner::Ed25519 => f.write_str("PublicKey(Ed25519)"),
        }
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.key_type() == other.key_type() && self.ring_bytes == other.ring_bytes
    }
}

impl Eq for PublicKey {}

fn unsupported(reason: &'static str) -> PkiError {
    PkiError::UnsupportedPublicKey { reason }
}

impl PublicKey {
    pub(crate) fn from_spki(spki: &SubjectPublicKeyInfo<'_>) -> Result<Self> {
        let alg = &spki.algorithm.algorithm;
        let bits = spki.subject_public_key.data.as_ref();
        if *alg == OID_PKCS1_RSAENCRYPTION {
            let Ok(ParsedKey::RSA(rsa)) = spki.parsed() else {
                return Err(unsupported("malformed RSA public key"));
            };
            let n = BigUint::from_bytes_be(rsa.modulus);
            let size = n.bits();
            if size < MIN_RSA_BITS {
                return Err(unsupported("RSA key shorter than 2048 bits"));
            }
            if size > MAX_RSA_BITS {
                return Err(unsupported("RSA key longer than 8192 bits"));
            }
            let e = BigUint::from_bytes_be(rsa.exponent);
            let key = RsaPublicKey::new_with_max_size(n, e, MAX_RSA_BITS)
                .map_err(|_| unsupported("invalid RSA public key"))?;
            Ok(PublicKey {
                inner: Inner::Rsa(key),
                ring_bytes: bits.to_vec(),
            })
        } else if *alg == OID_KEY_TYPE_EC_PUBLIC_KEY {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .ok_or(unsupported("EC key without a named curve"))?;
            let inner = if curve == OID_EC_P256 {
                Inner::P256(
                    p256::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                        .map_err(|_| unsupported("invalid P-256 point"))?,
                )
            } else if curve == OID_NIST_EC_P384 {
                Inner::P384(
                    p384::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                        .map_err(|_| unsupported("invalid P-384 point"))?,
                )
            } else {
                return Err(unsupported("EC curve other than P-256 or P-384"));
            };
            // ring takes only uncompressed points (0x04 | x | y).
            if bits.first() != Some(&4) {
                return Err(unsupported("compressed EC point"));
            }
            Ok(PublicKey {
                inner,
                ring_bytes: bits.to_vec(),
            })
        } else if *alg == OID_SIG_ED25519 {
            if bits.len() != 32 {
                return Err(unsupported("Ed25519 key is not 32 bytes"));
            }
            Ok(PublicKey {
                inner: Inner::Ed25519,
                ring_bytes: bits.to_vec(),
            })
        } else {
            Err(unsupported("algorithm other than RSA, EC or Ed25519"))
        }
    }

    /// RSA, ECDSA P-256/P-384 or Ed25519.
    pub fn key_type(&self) -> KeyType {
        match self.inner {
            Inner::Rsa(_) => KeyType::Rsa,
            Inner::P256(_) => KeyType::EcdsaP256,
            Inner::P384(_) => KeyType::EcdsaP384,
            Inner::Ed25519 => KeyType::Ed25519,
        }
    }

    /// The key size in bits (the modulus for RSA, the curve for ECDSA).
    pub fn bits(&self) -> usize {
        match &self.inner {
            Inner::Rsa(k) => k.n().bits(),
            Inner::P256(_) | Inner::Ed25519 => 256,
            Inner::P384(_) => 384,
        }
    }

    /// What *ring* needs for this key (see [`PublicKey`]).
    pub(crate) fn ring_bytes(&self) -> &[u8] {
        &self.ring_bytes
    }

    /// Verifies an IKEv1 SIG payload body `signature` over `hash` (HASH_I or HASH_R), RFC 2409
    /// §5.1: RSA PKCS#1 v1.5 without DigestInfo, or ECDSA over the hash with r | s.
    pub fn verify_ike_signature(&self, hash: &[u8], signature: &[u8]) -> Result<()> {
        check_hash_len(hash)?;
        let ok = match &self.inner {
            // An RSA signature is exactly as long as the modulus (RFC 8017 §8.2.2 step 1);
            // the crate checks that too.
            Inner::Rsa(k) => k
                .verify(Pkcs1v15Sign::new_unprefixed(), hash, signature)
                .is_ok(),
            Inner::P256(k) => p256::ecdsa::Signature::from_slice(signature)
                .is_ok_and(|s| k.verify_prehash(hash, &s).is_ok()),
            Inner::P384(k) => p384::ecdsa::Signature::from_slice(signature)
                .is_ok_and(|s| k.verify_prehash(hash, &s).is_ok()),
            Inner::Ed25519 => false,
        };
        if ok {
            Ok(())
        } else {
            Err(PkiError::BadSignature)
        }
    }
}

pub(crate) fn check_hash_len(hash: &[u8]) -> Result<()> {
    if hash.is_empty() || hash.len() > MAX_HASH_LEN {
        Err(PkiError::BadHashLength { len: hash.len() })
    } else {
        Ok(())
    }
}

/// Our private key. The key types zeroize themselves on drop.
pub(crate) enum PrivateKey {
    Rsa(Box<RsaPrivateKey>),
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key material.
        f.write_str(match self {
            PrivateKey::Rsa(_) => "PrivateKey(RSA)",
            PrivateKey::P256(_) => "PrivateKey(ECDSA P-256)",
            PrivateKey::P384(_) => "PrivateKey(ECDSA P-384)",
        })
    }
}

fn bad_key(reason: &'static str) -> PkiError {
    PkiError::UnsupportedPrivateKey { reason }
}

impl PrivateKey {
    /// A PKCS#8 PrivateKeyInfo holding an RSA, P-256 or P-384 key (unencrypted).
    pub(crate) fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        use p256::pkcs8::DecodePrivateKey as _;
        use rsa::pkcs8::DecodePrivateKey as _;
        if let Ok(k) = RsaPrivateKey::from_pkcs8_der(der) {
            return Self::rsa(k);
        }
        if let Ok(k) = p256::SecretKey::from_pkcs8_der(der) {
            return Ok(PrivateKey::P256(k.into()));
        }
        if let Ok(k) = p384::SecretKey::from_pkcs8_der(der) {
            return Ok(PrivateKey::P384(k.into()));
        }
        Err(bad_key("not an RSA, P-256 or P-384 key in PKCS#8"))
    }

    /// A PKCS#1 RSAPrivateKey ("RSA PRIVATE KEY").
    pub(crate) fn from_pkcs1_der(der: &[u8]) -> Result<Self> {
        use rsa::pkcs1::DecodeRsaPrivateKey as _;
        Self::rsa(RsaPrivateKey::from_pkcs1_der(der).map_err(|_| bad_key("invalid PKCS#1 key"))?)
    }

    /// A SEC1 ECPrivateKey ("EC PRIVATE KEY") on P-256 or P-384.
    pub(crate) fn from_sec1_der(der: &[u8]) -> Result<Self> {
        if let Ok(k) = p256::SecretKey::from_sec1_der(der) {
            return Ok(PrivateKey::P256(k.into()));
        }
        if let Ok(k) = p384::SecretKey::from_sec1_der(der) {
            return Ok(PrivateKey::P384(k.into()));
        }
        Err(bad_key("not a P-256 or P-384 key in SEC1"))
    }

    /// PKCS#8, then PKCS#1, then SEC1 (for DER input without a PEM label).
    pub(crate) fn from_der(der: &[u8]) -> Result<Self> {
        Self::from_pkcs8_der(der)
            .or_else(|_| Self::from_pkcs1_der(der))
            .or_else(|_| Self::from_sec1_der(der))
            .map_err(|_| bad_key("not an RSA, P-256 or P-384 key in PKCS#8, PKCS#1 or SEC1"))
    }

    fn rsa(k: RsaPrivateKey) -> Result<Self> {
        let bits = k.n().bits();
        if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
            return Err(bad_key("RSA key size outside 2048..8192 bits"));
        }
        k.validate().map_err(|_| bad_key("inconsistent RSA key"))?;
        Ok(PrivateKey::Rsa(Box::new(k)))
    }

    pub(crate) fn key_type(&self) -> KeyType {
        match self {
            PrivateKey::Rsa(_) => KeyType::Rsa,
            PrivateKey::P256(_) => KeyType::EcdsaP256,
            PrivateKey::P384(_) => KeyType::EcdsaP384,
        }
    }

    /// Whether `public` is the public half of this key.
    pub(crate) fn matches(&self, public: &PublicKey) -> bool {
        match (self, &public.inner) {
            (PrivateKey::Rsa(k), Inner::Rsa(p)) => k.n() == p.n() && k.e() == p.e(),
            (PrivateKey::P256(k), Inner::P256(p)) => k.verifying_key() == p,
            (PrivateKey::P384(k), Inner::P384(p)) => k.verifying_key() == p,
            _ => false,
        }
    }

    /// Signs `hash` for a SIG payload (RFC 2409 §5.1, see the module documentation).
    pub(crate) fn sign_ike(&self, hash: &[u8]) -> Result<Vec<u8>> {
        check_hash_len(hash)?;
        match self {
            PrivateKey::Rsa(k) => {
                // Blinded: sign_with_rng draws the blinding factor from the OS generator.
                let mut rng = rsa::rand_core::OsRng;
                k.sign_with_rng(&mut rng, Pkcs1v15Sign::new_unprefixed(), hash)
                    .map_err(|_| PkiError::SigningFailed)
            }
            PrivateKey::P256(k) => {
                let sig: p256::ecdsa::Signature =
                    k.sign_prehash(hash).map_err(|_| PkiError::SigningFailed)?;
                Ok(sig.to_bytes().to_vec())
            }
            PrivateKey::P384(k) => {
                let sig: p384::ecdsa::Signature =
                    k.sign_prehash(hash).map_err(|_| PkiError::SigningFailed)?;
                Ok(sig.to_bytes().to_vec())
            }
        }
    }
}
