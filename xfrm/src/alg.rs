//! ESP algorithms and their keys, and the Linux crypto API names they map to.
//!
//! The names are the kernel's (`cbc(aes)`, `hmac(sha256)`, `rfc4106(gcm(aes))`); truncation
//! lengths follow RFC 2403/2404 (96 bits) and RFC 4868 (half the hash). For AES-GCM the
//! key handed to the kernel is the AES key followed by the 4-byte salt (RFC 4106 §8.1), and
//! the ICV is 16 bytes (ESP_AES_GCM_16).

use std::fmt;

use netlink_packet_xfrm as nl;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// ESP encryption algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub enum Encryption {
    /// 3DES-CBC (RFC 2451), 24-byte key. Weak: only where configured.
    TripleDesCbc,
    /// AES-CBC with a 128-bit key (RFC 3602).
    AesCbc128,
    /// AES-CBC with a 192-bit key.
    AesCbc192,
    /// AES-CBC with a 256-bit key.
    AesCbc256,
    /// AES-GCM with a 16-byte ICV and a 128-bit key (RFC 4106); key = 16 bytes + 4-byte salt.
    AesGcm16_128,
    /// AES-GCM-16 with a 192-bit key; key = 24 bytes + salt.
    AesGcm16_192,
    /// AES-GCM-16 with a 256-bit key; key = 32 bytes + salt.
    AesGcm16_256,
    /// NULL encryption (RFC 2410): integrity only.
    Null,
}

impl Encryption {
    /// The Linux crypto API name.
    pub fn kernel_name(self) -> &'static str {
        match self {
            Encryption::TripleDesCbc => "cbc(des3_ede)",
            Encryption::AesCbc128 | Encryption::AesCbc192 | Encryption::AesCbc256 => "cbc(aes)",
            Encryption::AesGcm16_128 | Encryption::AesGcm16_192 | Encryption::AesGcm16_256 => {
                "rfc4106(gcm(aes))"
            }
            Encryption::Null => "ecb(cipher_null)",
        }
    }

    /// Key length in bytes as the kernel takes it (for AES-GCM including the 4-byte salt).
    pub fn key_len(self) -> usize {
        match self {
            Encryption::TripleDesCbc => 24,
            Encryption::AesCbc128 => 16,
            Encryption::AesCbc192 => 24,
            Encryption::AesCbc256 => 32,
            Encryption::AesGcm16_128 => 16 + 4,
            Encryption::AesGcm16_192 => 24 + 4,
            Encryption::AesGcm16_256 => 32 + 4,
            Encryption::Null => 0,
        }
    }

    /// True for the combined-mode (AEAD) algorithms.
    pub fn is_aead(self) -> bool {
        matches!(
            self,
            Encryption::AesGcm16_128 | Encryption::AesGcm16_192 | Encryption::AesGcm16_256
        )
    }

    /// ICV length in bits for AEAD algorithms.
    pub fn icv_bits(self) -> u32 {
        if self.is_aead() { 128 } else { 0 }
    }

    fn label(self) -> &'static str {
        match self {
            Encryption::TripleDesCbc => "3des-cbc",
            Encryption::AesCbc128 => "aes-128-cbc",
            Encryption::AesCbc192 => "aes-192-cbc",
            Encryption::AesCbc256 => "aes-256-cbc",
            Encryption::AesGcm16_128 => "aes-128-gcm16",
            Encryption::AesGcm16_192 => "aes-192-gcm16",
            Encryption::AesGcm16_256 => "aes-256-gcm16",
            Encryption::Null => "null",
        }
    }

    /// From a kernel name and key length in bits (as dumped by the kernel).
    pub fn from_kernel(name: &str, key_bits: u32) -> Option<Self> {
        Some(match (name, key_bits) {
            ("cbc(des3_ede)", 192) => Encryption::TripleDesCbc,
            ("cbc(aes)", 128) => Encryption::AesCbc128,
            ("cbc(aes)", 192) => Encryption::AesCbc192,
            ("cbc(aes)", 256) => Encryption::AesCbc256,
            ("rfc4106(gcm(aes))", 160) => Encryption::AesGcm16_128,
            ("rfc4106(gcm(aes))", 224) => Encryption::AesGcm16_192,
            ("rfc4106(gcm(aes))", 288) => Encryption::AesGcm16_256,
            ("ecb(cipher_null)", 0) | ("cipher_null", 0) => Encryption::Null,
            _ => return None,
        })
    }
}

impl fmt::Display for Encryption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// ESP integrity algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub enum Integrity {
    /// None (only with an AEAD encryption algorithm).
    None,
    /// HMAC-MD5-96 (RFC 2403). Weak: only where configured.
    HmacMd5_96,
    /// HMAC-SHA1-96 (RFC 2404).
    HmacSha1_96,
    /// HMAC-SHA2-256-128 (RFC 4868).
    HmacSha256_128,
    /// HMAC-SHA2-256 truncated to 96 bits: not a standard transform, what Linux before
    /// 2.6.33 (draft-ietf-ipsec-ciph-sha-256-00) and the Android releases built on it use
    /// for SHA-256; only for peers configured with it.
    HmacSha256_96,
    /// HMAC-SHA2-384-192 (RFC 4868).
    HmacSha384_192,
    /// HMAC-SHA2-512-256 (RFC 4868).
    HmacSha512_256,
}

impl Integrity {
    /// The Linux crypto API name (`None` for [`Integrity::None`]).
    pub fn kernel_name(self) -> Option<&'static str> {
        Some(match self {
            Integrity::None => return None,
            Integrity::HmacMd5_96 => "hmac(md5)",
            Integrity::HmacSha1_96 => "hmac(sha1)",
            Integrity::HmacSha256_128 | Integrity::HmacSha256_96 => "hmac(sha256)",
            Integrity::HmacSha384_192 => "hmac(sha384)",
            Integrity::HmacSha512_256 => "hmac(sha512)",
        })
    }

    /// Key length in bytes (the hash output length).
    pub fn key_len(self) -> usize {
        match self {
            Integrity::None => 0,
            Integrity::HmacMd5_96 => 16,
            Integrity::HmacSha1_96 => 20,
            Integrity::HmacSha256_128 | Integrity::HmacSha256_96 => 32,
            Integrity::HmacSha384_192 => 48,
            Integrity::HmacSha512_256 => 64,
        }
    }

    /// Truncated ICV length in bits.
    pub fn trunc_bits(self) -> u32 {
        match self {
            Integrity::None => 0,
            Integrity::HmacMd5_96 | Integrity::HmacSha1_96 | Integrity::HmacSha256_96 => 96,
            Integrity::HmacSha256_128 => 128,
            Integrity::HmacSha384_192 => 192,
            Integrity::HmacSha512_256 => 256,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Integrity::None => "none",
            Integrity::HmacMd5_96 => "hmac-md5-96",
            Integrity::HmacSha1_96 => "hmac-sha1-96",
            Integrity::HmacSha256_128 => "hmac-sha256-128",
            Integrity::HmacSha256_96 => "hmac-sha256-96",
            Integrity::HmacSha384_192 => "hmac-sha384-192",
            Integrity::HmacSha512_256 => "hmac-sha512-256",
        }
    }

    /// From a kernel name and truncation length in bits (as dumped by the kernel).
    pub fn from_kernel(name: &str, trunc_bits: u32) -> Option<Self> {
        Some(match (name, trunc_bits) {
            ("hmac(md5)", 96) => Integrity::HmacMd5_96,
            ("hmac(sha1)", 96) => Integrity::HmacSha1_96,
            ("hmac(sha256)", 128) => Integrity::HmacSha256_128,
            ("hmac(sha256)", 96) => Integrity::HmacSha256_96,
            ("hmac(sha384)", 192) => Integrity::HmacSha384_192,
            ("hmac(sha512)", 256) => Integrity::HmacSha512_256,
            _ => return None,
        })
    }
}

impl fmt::Display for Integrity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Key material, wiped from memory when dropped; its `Debug` never shows the bytes.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Key(Zeroizing<Vec<u8>>);

impl Key {
    /// Wraps key bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Key(Zeroizing::new(bytes.into()))
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&[u8]> for Key {
    fn from(b: &[u8]) -> Self {
        Key::new(b.to_vec())
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key(<{} bytes>)", self.0.len())
    }
}

/// An ESP transform with its keys: what one SA encrypts and authenticates with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspTransform {
    /// Encryption algorithm.
    pub encryption: Encryption,
    /// Encryption key (for AES-GCM: key then 4-byte salt).
    pub enc_key: Key,
    /// Integrity algorithm ([`Integrity::None`] with AES-GCM).
    pub integrity: Integrity,
    /// Integrity key.
    pub auth_key: Key,
}

impl EspTransform {
    /// A transform; checks that the keys fit the algorithms and that the combination
    /// protects something (AEAD without a separate integrity algorithm; NULL encryption only
    /// with integrity, RFC 4303 §3.2).
    pub fn new(
        encryption: Encryption,
        enc_key: Key,
        integrity: Integrity,
        auth_key: Key,
    ) -> Result<Self> {
        let t = EspTransform {
            encryption,
            enc_key,
            integrity,
            auth_key,
        };
        t.check()?;
        Ok(t)
    }

    pub(crate) fn check(&self) -> Result<()> {
        if self.enc_key.len() != self.encryption.key_len() {
            return Err(Error::KeyLength {
                alg: self.encryption.label(),
                got: self.enc_key.len(),
                expected: self.encryption.key_len(),
            });
        }
        if self.auth_key.len() != self.integrity.key_len() {
            return Err(Error::KeyLength {
                alg: self.integrity.label(),
                got: self.auth_key.len(),
                expected: self.integrity.key_len(),
            });
        }
        if self.encryption.is_aead() && self.integrity != Integrity::None {
            return Err(Error::Invalid(format!(
                "{} is an AEAD and takes no separate integrity algorithm ({})",
                self.encryption, self.integrity
            )));
        }
        if !self.encryption.is_aead() && self.integrity == Integrity::None {
            return Err(Error::Invalid(format!(
                "{} without an integrity algorithm leaves ESP unauthenticated",
                self.encryption
            )));
        }
        Ok(())
    }

    /// The netlink attributes carrying the algorithms and keys.
    ///
    /// The attributes hold plain copies of the keys (`netlink-packet-xfrm` has `Vec<u8>` keys),
    /// and the request is serialised and dropped inside the netlink connection task, where it
    /// cannot be wiped: the one place key bytes outlive a [`Key`].
    pub(crate) fn to_attrs(&self) -> Result<Vec<nl::XfrmAttrs>> {
        self.check()?;
        let mut attrs = Vec::with_capacity(2);
        let key_bits = |k: &Key| (k.len() * 8) as u32;
        if self.encryption.is_aead() {
            attrs.push(nl::XfrmAttrs::EncryptionAlgAead(nl::AlgAead {
                alg_name: alg_name(self.encryption.kernel_name()),
                alg_key_len: key_bits(&self.enc_key),
                alg_icv_len: self.encryption.icv_bits(),
                alg_key: self.enc_key.as_bytes().to_vec(),
            }));
        } else {
            attrs.push(nl::XfrmAttrs::EncryptionAlg(nl::Alg {
                alg_name: alg_name(self.encryption.kernel_name()),
                alg_key_len: key_bits(&self.enc_key),
                alg_key: self.enc_key.as_bytes().to_vec(),
            }));
        }
        if let Some(name) = self.integrity.kernel_name() {
            attrs.push(nl::XfrmAttrs::AuthenticationAlgTrunc(nl::AlgAuth {
                alg_name: alg_name(name),
                alg_key_len: key_bits(&self.auth_key),
                alg_trunc_len: self.integrity.trunc_bits(),
                alg_key: self.auth_key.as_bytes().to_vec(),
            }));
        }
        Ok(attrs)
    }
}

/// A NUL-padded algorithm name field (`char alg_name[64]`). Our names are short constants.
fn alg_name(name: &str) -> [u8; nl::XFRM_ALG_NAME_LEN] {
    let mut out = [0u8; nl::XFRM_ALG_NAME_LEN];
    let n = name.len().min(nl::XFRM_ALG_NAME_LEN - 1);
    out[..n].copy_from_slice(&name.as_bytes()[..n]);
    out
}

/// Reads a NUL-terminated algorithm name from the kernel.
pub(crate) fn name_str(raw: &[u8]) -> String {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end]).into_owned()
}

/// The algorithms of an installed SA, as read back from the kernel (keys are not kept).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SaAlgorithms {
    /// Encryption, when it is one we know.
    pub encryption: Option<Encryption>,
    /// Integrity, when it is one we know ([`Integrity::None`] for AEAD SAs).
    pub integrity: Option<Integrity>,
    /// The kernel's encryption (or AEAD) algorithm name and key bits, as dumped.
    pub enc_name: Option<(String, u32)>,
    /// The kernel's integrity algorithm name and truncation bits, as dumped.
    pub auth_name: Option<(String, u32)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: usize) -> Key {
        Key::new(vec![0x42; n])
    }

    #[test]
    fn every_transform_of_the_suite_builds_with_right_keys() {
        let cbc = [
            Encryption::AesCbc128,
            Encryption::AesCbc192,
            Encryption::AesCbc256,
            Encryption::TripleDesCbc,
            Encryption::Null,
        ];
        let macs = [
            Integrity::HmacMd5_96,
            Integrity::HmacSha1_96,
            Integrity::HmacSha256_128,
            Integrity::HmacSha384_192,
            Integrity::HmacSha512_256,
        ];
        for e in cbc {
            for i in macs {
                let t = EspTransform::new(e, key(e.key_len()), i, key(i.key_len())).unwrap();
                let attrs = t.to_attrs().unwrap();
                assert_eq!(attrs.len(), 2);
                match &attrs[1] {
                    nl::XfrmAttrs::AuthenticationAlgTrunc(a) => {
                        assert_eq!(a.alg_trunc_len, i.trunc_bits());
                        assert_eq!(a.alg_key_len as usize, i.key_len() * 8);
                        let name = name_str(&a.alg_name);
                        assert_eq!(Integrity::from_kernel(&name, a.alg_trunc_len), Some(i));
                    }
                    other => panic!("unexpected {other:?}"),
                }
                match &attrs[0] {
                    nl::XfrmAttrs::EncryptionAlg(a) => {
                        let name = name_str(&a.alg_name);
                        assert_eq!(Encryption::from_kernel(&name, a.alg_key_len), Some(e));
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        for e in [
            Encryption::AesGcm16_128,
            Encryption::AesGcm16_192,
            Encryption::AesGcm16_256,
        ] {
            let t =
                EspTransform::new(e, key(e.key_len()), Integrity::None, Key::default()).unwrap();
            let attrs = t.to_attrs().unwrap();
            assert_eq!(attrs.len(), 1);
            match &attrs[0] {
                nl::XfrmAttrs::EncryptionAlgAead(a) => {
                    assert_eq!(a.alg_icv_len, 128);
                    assert_eq!(name_str(&a.alg_name), "rfc4106(gcm(aes))");
                    assert_eq!(a.alg_key.len(), e.key_len());
                    assert_eq!(
                        Encryption::from_kernel("rfc4106(gcm(aes))", a.alg_key_len),
                        Some(e)
                    );
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn wrong_keys_and_combinations_are_refused() {
        let e = EspTransform::new(
            Encryption::AesCbc128,
            key(15),
            Integrity::HmacSha1_96,
            key(20),
        );
        assert!(matches!(e, Err(Error::KeyLength { expected: 16, .. })));
        // GCM without the salt.
        let e = EspTransform::new(Encryption::AesGcm16_128, key(16), Integrity::None, key(0));
        assert!(matches!(e, Err(Error::KeyLength { expected: 20, .. })));
        let e = EspTransform::new(
            Encryption::AesGcm16_256,
            key(36),
            Integrity::HmacSha256_128,
            key(32),
        );
        assert!(matches!(e, Err(Error::Invalid(_))));
        let e = EspTransform::new(Encryption::Null, key(0), Integrity::None, key(0));
        assert!(matches!(e, Err(Error::Invalid(_))));
    }

    #[test]
    fn key_debug_hides_bytes() {
        let k = Key::new(vec![0xde, 0xad]);
        assert_eq!(format!("{k:?}"), "Key(<2 bytes>)");
    }
}
