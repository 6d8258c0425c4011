//! The ESP transforms negotiated in quick mode, their key lengths, the split of KEYMAT into
//! their keys, and minimal CBC/GCM/HMAC helpers over those keys.
//!
//! Full ESP processing (sequence numbers, anti-replay, padding, ESP-in-UDP) belongs to the
//! `esp` module of the engine; this is what the key derivation and tests need: given KEYMAT,
//! which bytes are which key, and a way to decrypt and authenticate a captured ESP packet.
//!
//! KEYMAT layout (RFC 2409 §5.5: "the encryption key is taken from the first bits and the
//! integrity key from the remaining bits"; RFC 4106 §8.1: for AES-GCM the 4-byte salt
//! follows the key):
//!
//! ```text
//! | encryption key | [salt (GCM)] | integrity key |
//! ```

use ring::aead;

use super::{Cipher, CryptoError, Prf, Secret, ct_eq};

/// ESP encryption transform (RFC 2407 §4.4.4 transform IDs, with the "Key Length"
/// attribute for AES).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub enum EspEncryption {
    /// ESP_3DES (3), RFC 2451.
    TripleDesCbc,
    /// ESP_AES (12) with a 128-bit key, RFC 3602.
    AesCbc128,
    /// ESP_AES with a 192-bit key.
    AesCbc192,
    /// ESP_AES with a 256-bit key.
    AesCbc256,
    /// ESP_AES_GCM_16 (20) with a 128-bit key and a 16-byte ICV, RFC 4106.
    AesGcm16_128,
    /// ESP_AES_GCM_16 with a 256-bit key.
    AesGcm16_256,
    /// ESP_NULL (11), RFC 2410: integrity only.
    Null,
}

impl EspEncryption {
    /// Maps an ESP transform ID and its "Key Length" attribute (bits). AES needs the key
    /// length; 3DES and NULL must come without one.
    pub const fn from_ike(transform_id: u8, key_bits: Option<u16>) -> Option<Self> {
        match (transform_id, key_bits) {
            (3, None) => Some(EspEncryption::TripleDesCbc),
            (11, None) => Some(EspEncryption::Null),
            (12, Some(128)) => Some(EspEncryption::AesCbc128),
            (12, Some(192)) => Some(EspEncryption::AesCbc192),
            (12, Some(256)) => Some(EspEncryption::AesCbc256),
            (20, Some(128)) => Some(EspEncryption::AesGcm16_128),
            (20, Some(256)) => Some(EspEncryption::AesGcm16_256),
            _ => None,
        }
    }

    /// The ESP transform ID.
    pub const fn transform_id(self) -> u8 {
        match self {
            EspEncryption::TripleDesCbc => 3,
            EspEncryption::Null => 11,
            EspEncryption::AesCbc128 | EspEncryption::AesCbc192 | EspEncryption::AesCbc256 => 12,
            EspEncryption::AesGcm16_128 | EspEncryption::AesGcm16_256 => 20,
        }
    }

    /// The "Key Length" attribute to send (AES only).
    pub const fn key_bits(self) -> Option<u16> {
        match self {
            EspEncryption::TripleDesCbc | EspEncryption::Null => None,
            EspEncryption::AesCbc128 | EspEncryption::AesGcm16_128 => Some(128),
            EspEncryption::AesCbc192 => Some(192),
            EspEncryption::AesCbc256 | EspEncryption::AesGcm16_256 => Some(256),
        }
    }

    /// Encryption key length in bytes, without the GCM salt.
    pub const fn key_len(self) -> usize {
        match self {
            EspEncryption::TripleDesCbc => 24,
            EspEncryption::AesCbc128 | EspEncryption::AesGcm16_128 => 16,
            EspEncryption::AesCbc192 => 24,
            EspEncryption::AesCbc256 | EspEncryption::AesGcm16_256 => 32,
            EspEncryption::Null => 0,
        }
    }

    /// Salt length in bytes taken from KEYMAT after the key (4 for GCM, RFC 4106 §8.1).
    pub const fn salt_len(self) -> usize {
        if self.is_aead() { 4 } else { 0 }
    }

    /// Length of the per-packet IV field in bytes (block size for CBC, 8 for GCM,
    /// RFC 4106 §3.1).
    pub const fn iv_len(self) -> usize {
        match self {
            EspEncryption::TripleDesCbc => 8,
            EspEncryption::AesCbc128 | EspEncryption::AesCbc192 | EspEncryption::AesCbc256 => 16,
            EspEncryption::AesGcm16_128 | EspEncryption::AesGcm16_256 => 8,
            EspEncryption::Null => 0,
        }
    }

    /// Whether this transform authenticates by itself (then no integrity transform).
    pub const fn is_aead(self) -> bool {
        matches!(
            self,
            EspEncryption::AesGcm16_128 | EspEncryption::AesGcm16_256
        )
    }

    /// The CBC cipher of this transform, if it is a CBC transform.
    pub const fn cbc_cipher(self) -> Option<Cipher> {
        match self {
            EspEncryption::TripleDesCbc => Some(Cipher::TripleDesCbc),
            EspEncryption::AesCbc128 => Some(Cipher::AesCbc128),
            EspEncryption::AesCbc192 => Some(Cipher::AesCbc192),
            EspEncryption::AesCbc256 => Some(Cipher::AesCbc256),
            _ => None,
        }
    }

    /// A short name for logs and errors.
    pub const fn name(self) -> &'static str {
        match self {
            EspEncryption::TripleDesCbc => "3DES-CBC",
            EspEncryption::AesCbc128 => "AES-128-CBC",
            EspEncryption::AesCbc192 => "AES-192-CBC",
            EspEncryption::AesCbc256 => "AES-256-CBC",
            EspEncryption::AesGcm16_128 => "AES-128-GCM-16",
            EspEncryption::AesGcm16_256 => "AES-256-GCM-16",
            EspEncryption::Null => "NULL",
        }
    }

    /// Encrypts whole blocks in place with a CBC transform (the caller has added the ESP
    /// trailer and padding, RFC 4303 §2.4).
    pub fn encrypt_cbc(self, key: &Secret, iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError> {
        self.require_cbc("CBC encryption")?
            .encrypt(key.as_bytes(), iv, buf)
    }

    /// Decrypts whole blocks in place with a CBC transform.
    pub fn decrypt_cbc(self, key: &Secret, iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError> {
        self.require_cbc("CBC decryption")?
            .decrypt(key.as_bytes(), iv, buf)
    }

    /// AES-GCM seal (RFC 4106): nonce = salt | iv, `aad` = SPI | sequence number (or the
    /// 64-bit ESN form); returns the 16-byte ICV to append after `buf`.
    pub fn seal_gcm(
        self,
        keys: &EspKeys,
        iv: &[u8; 8],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; 16], CryptoError> {
        let (key, nonce) = self.gcm_key_nonce(keys, iv)?;
        let tag = key
            .seal_in_place_separate_tag(nonce, aead::Aad::from(aad), buf)
            .map_err(|_| CryptoError::AuthenticationFailed)?;
        let mut icv = [0u8; 16];
        icv.copy_from_slice(tag.as_ref());
        Ok(icv)
    }

    /// AES-GCM open (RFC 4106): `buf` is ciphertext | 16-byte ICV; on success returns the
    /// plaintext prefix of `buf`.
    pub fn open_gcm<'b>(
        self,
        keys: &EspKeys,
        iv: &[u8; 8],
        aad: &[u8],
        buf: &'b mut [u8],
    ) -> Result<&'b mut [u8], CryptoError> {
        let (key, nonce) = self.gcm_key_nonce(keys, iv)?;
        key.open_in_place(nonce, aead::Aad::from(aad), buf)
            .map_err(|_| CryptoError::AuthenticationFailed)
    }

    fn require_cbc(self, operation: &'static str) -> Result<Cipher, CryptoError> {
        self.cbc_cipher().ok_or(CryptoError::WrongAlgorithm {
            operation,
            algorithm: self.name(),
        })
    }

    fn gcm_key_nonce(
        self,
        keys: &EspKeys,
        iv: &[u8; 8],
    ) -> Result<(aead::LessSafeKey, aead::Nonce), CryptoError> {
        let alg = match self {
            EspEncryption::AesGcm16_128 => &aead::AES_128_GCM,
            EspEncryption::AesGcm16_256 => &aead::AES_256_GCM,
            _ => {
                return Err(CryptoError::WrongAlgorithm {
                    operation: "AES-GCM",
                    algorithm: self.name(),
                });
            }
        };
        let salt = keys.salt.as_ref().map_or(&[][..], Secret::as_bytes);
        let salt: [u8; 4] = salt.try_into().map_err(|_| CryptoError::InvalidLength {
            what: "AES-GCM salt",
            expected: 4,
            got: salt.len(),
        })?;
        let key = aead::UnboundKey::new(alg, keys.encryption.as_bytes()).map_err(|_| {
            CryptoError::InvalidLength {
                what: "AES-GCM key",
                expected: self.key_len(),
                got: keys.encryption.len(),
            }
        })?;
        let mut nonce = [0u8; 12];
        nonce[..4].copy_from_slice(&salt);
        nonce[4..].copy_from_slice(iv);
        Ok((
            aead::LessSafeKey::new(key),
            aead::Nonce::assume_unique_for_key(nonce),
        ))
    }
}

/// ESP integrity transform (phase-2 "Authentication Algorithm" attribute, class 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub enum EspIntegrity {
    /// No separate integrity (only with an AEAD transform).
    None,
    /// HMAC-MD5-96 (1), RFC 2403. Weak: only where configured.
    HmacMd5_96,
    /// HMAC-SHA1-96 (2), RFC 2404.
    HmacSha1_96,
    /// HMAC-SHA2-256-128 (5), RFC 4868.
    HmacSha256_128,
    /// HMAC-SHA2-256 truncated to 96 bits (also 5 on the wire): not a standard transform,
    /// what Linux before 2.6.33 (after draft-ietf-ipsec-ciph-sha-256-00) and the Android
    /// releases built on it compute. Never negotiated: a peer configured with `sha256-96`
    /// gets it in place of [`EspIntegrity::HmacSha256_128`].
    HmacSha256_96,
    /// HMAC-SHA2-384-192 (6), RFC 4868.
    HmacSha384_192,
    /// HMAC-SHA2-512-256 (7), RFC 4868.
    HmacSha512_256,
}

impl EspIntegrity {
    /// Maps the phase-2 "Authentication Algorithm" attribute; `None` (absent) maps to
    /// [`EspIntegrity::None`].
    pub const fn from_ike(auth_algorithm: Option<u16>) -> Option<Self> {
        match auth_algorithm {
            None => Some(EspIntegrity::None),
            Some(1) => Some(EspIntegrity::HmacMd5_96),
            Some(2) => Some(EspIntegrity::HmacSha1_96),
            Some(5) => Some(EspIntegrity::HmacSha256_128),
            Some(6) => Some(EspIntegrity::HmacSha384_192),
            Some(7) => Some(EspIntegrity::HmacSha512_256),
            Some(_) => None,
        }
    }

    /// The "Authentication Algorithm" attribute value to send (absent for `None`).
    pub const fn ike_id(self) -> Option<u16> {
        match self {
            EspIntegrity::None => None,
            EspIntegrity::HmacMd5_96 => Some(1),
            EspIntegrity::HmacSha1_96 => Some(2),
            EspIntegrity::HmacSha256_128 | EspIntegrity::HmacSha256_96 => Some(5),
            EspIntegrity::HmacSha384_192 => Some(6),
            EspIntegrity::HmacSha512_256 => Some(7),
        }
    }

    /// The HMAC used (None for `None`).
    pub const fn prf(self) -> Option<Prf> {
        match self {
            EspIntegrity::None => None,
            EspIntegrity::HmacMd5_96 => Some(Prf::HmacMd5),
            EspIntegrity::HmacSha1_96 => Some(Prf::HmacSha1),
            EspIntegrity::HmacSha256_128 | EspIntegrity::HmacSha256_96 => Some(Prf::HmacSha256),
            EspIntegrity::HmacSha384_192 => Some(Prf::HmacSha384),
            EspIntegrity::HmacSha512_256 => Some(Prf::HmacSha512),
        }
    }

    /// Key length in bytes (the hash output length, RFC 2403/2404/4868).
    pub const fn key_len(self) -> usize {
        match self.prf() {
            Some(prf) => prf.output_len(),
            None => 0,
        }
    }

    /// ICV (truncated MAC) length in bytes.
    pub const fn icv_len(self) -> usize {
        match self {
            EspIntegrity::None => 0,
            EspIntegrity::HmacMd5_96 | EspIntegrity::HmacSha1_96 | EspIntegrity::HmacSha256_96 => {
                12
            }
            EspIntegrity::HmacSha256_128 => 16,
            EspIntegrity::HmacSha384_192 => 24,
            EspIntegrity::HmacSha512_256 => 32,
        }
    }

    /// A short name for logs and errors.
    pub const fn name(self) -> &'static str {
        match self {
            EspIntegrity::None => "none",
            EspIntegrity::HmacMd5_96 => "HMAC-MD5-96",
            EspIntegrity::HmacSha1_96 => "HMAC-SHA1-96",
            EspIntegrity::HmacSha256_128 => "HMAC-SHA2-256-128",
            EspIntegrity::HmacSha256_96 => "HMAC-SHA2-256-96",
            EspIntegrity::HmacSha384_192 => "HMAC-SHA2-384-192",
            EspIntegrity::HmacSha512_256 => "HMAC-SHA2-512-256",
        }
    }

    /// The ICV over `data` (SPI through the end of the ESP trailer, RFC 4303 §2.8): the HMAC
    /// truncated to [`EspIntegrity::icv_len`]. Empty for `None`.
    pub fn compute(self, key: &Secret, data: &[&[u8]]) -> Vec<u8> {
        match self.prf() {
            None => Vec::new(),
            Some(prf) => {
                let mut mac = prf.compute(key.as_bytes(), data);
                mac.truncate(self.icv_len());
                mac
            }
        }
    }

    /// Checks a received ICV in constant time.
    pub fn verify(self, key: &Secret, data: &[&[u8]], icv: &[u8]) -> bool {
        ct_eq(&self.compute(key, data), icv)
    }
}

/// A negotiated ESP transform: encryption plus integrity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EspTransform {
    /// The encryption transform.
    pub encryption: EspEncryption,
    /// The integrity transform.
    pub integrity: EspIntegrity,
}

impl EspTransform {
    /// Checks the combination: an AEAD has no separate integrity (RFC 4106 §5), and
    /// NULL encryption needs integrity (RFC 4303 §3.2.2: ESP must not have neither).
    pub fn new(encryption: EspEncryption, integrity: EspIntegrity) -> Result<Self, CryptoError> {
        match (encryption.is_aead(), encryption, integrity) {
            (true, _, i) if i != EspIntegrity::None => Err(CryptoError::Unsupported(
                "AES-GCM combined with a separate integrity algorithm",
            )),
            (false, _, EspIntegrity::None) => {
                Err(CryptoError::Unsupported("ESP without integrity protection"))
            }
            _ => Ok(EspTransform {
                encryption,
                integrity,
            }),
        }
    }

    /// KEYMAT bytes needed for one direction: key, salt, integrity key.
    pub const fn keymat_len(&self) -> usize {
        self.encryption.key_len() + self.encryption.salt_len() + self.integrity.key_len()
    }
}

/// The keys of one direction of an ESP SA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspKeys {
    /// The encryption key (empty for NULL).
    pub encryption: Secret,
    /// The AES-GCM salt (RFC 4106 §4), `None` for other transforms.
    pub salt: Option<Secret>,
    /// The integrity key (empty for AEAD transforms).
    pub integrity: Secret,
}

/// Splits one direction's KEYMAT into its keys: encryption key first, then the GCM salt,
/// then the integrity key (RFC 2409 §5.5, RFC 4106 §8.1). KEYMAT longer than needed is fine
/// (the rest is unused); shorter is an error. Weak 3DES keys are refused (RFC 2451 §2.3).
pub fn split_keymat(keymat: &Secret, transform: &EspTransform) -> Result<EspKeys, CryptoError> {
    let needed = transform.keymat_len();
    let km = keymat.as_bytes();
    if km.len() < needed {
        return Err(CryptoError::KeymatTooShort {
            needed,
            got: km.len(),
        });
    }
    let enc = transform.encryption;
    let (key, rest) = km.split_at(enc.key_len());
    let (salt, rest) = rest.split_at(enc.salt_len());
    let integrity = &rest[..transform.integrity.key_len()];
    if let Some(cipher) = enc.cbc_cipher() {
        cipher.check_key(key)?;
    }
    Ok(EspKeys {
        encryption: Secret::from_slice(key),
        salt: enc.is_aead().then(|| Secret::from_slice(salt)),
        integrity: Secret::from_slice(integrity),
    })
}
