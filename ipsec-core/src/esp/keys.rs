//! The keys of one SA direction: AES-GCM keys (ring), CBC key schedules (RustCrypto
//! `aes`/`des`), HMAC keys (ring; RustCrypto for MD5). They are expanded on an SA's first
//! packet and kept while it carries traffic ([`Keyed`]); per packet nothing is expanded and
//! nothing is allocated.

use ::hmac::Mac as _;
use cbc::cipher::{
    Array, BlockCipherDecrypt, BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt, InnerIvInit,
    KeyInit,
};
use ring::{aead, hmac};

use crate::crypto::Secret;
use crate::crypto::esp::{EspEncryption, EspIntegrity, EspKeys, EspTransform, split_keymat};

use super::EspError;

/// Largest ICV of our integrity transforms (HMAC-SHA2-512-256).
pub(super) const MAX_ICV: usize = 32;

/// AES-GCM with its salt (RFC 4106 §4: nonce = salt | IV).
pub(super) struct Gcm {
    key: aead::LessSafeKey,
    salt: [u8; 4],
}

impl Gcm {
    fn new(encryption: EspEncryption, keys: &EspKeys) -> Result<Self, EspError> {
        let alg = match encryption {
            EspEncryption::AesGcm16_128 => &aead::AES_128_GCM,
            EspEncryption::AesGcm16_256 => &aead::AES_256_GCM,
            _ => return Err(EspError::InvalidConfig("not an AES-GCM transform")),
        };
        let key = aead::UnboundKey::new(alg, keys.encryption.as_bytes())
            .map_err(|_| EspError::InvalidConfig("AES-GCM key length"))?;
        let salt = keys
            .salt
            .as_ref()
            .and_then(|s| <[u8; 4]>::try_from(s.as_bytes()).ok())
            .ok_or(EspError::InvalidConfig("AES-GCM needs a 4-byte salt"))?;
        Ok(Gcm {
            key: aead::LessSafeKey::new(key),
            salt,
        })
    }

    fn nonce(&self, iv: &[u8; 8]) -> aead::Nonce {
        let mut nonce = [0u8; 12];
        nonce[..4].copy_from_slice(&self.salt);
        nonce[4..].copy_from_slice(iv);
        aead::Nonce::assume_unique_for_key(nonce)
    }

    /// Encrypts `buf` in place; returns the 16-byte ICV.
    pub(super) fn seal(&self, iv: &[u8; 8], aad: &[u8], buf: &mut [u8]) -> [u8; 16] {
        let mut icv = [0u8; 16];
        // ring refuses only inputs beyond 2^36 bytes, far above any IP packet; a refusal
        // leaves an all-zero ICV that the peer will reject, never a panic.
        if let Ok(tag) =
            self.key
                .seal_in_place_separate_tag(self.nonce(iv), aead::Aad::from(aad), buf)
        {
            icv.copy_from_slice(tag.as_ref());
        }
        icv
    }

    /// Verifies and decrypts `buf` (ciphertext | ICV) in place; returns the plaintext length.
    pub(super) fn open(&self, iv: &[u8; 8], aad: &[u8], buf: &mut [u8]) -> Result<usize, EspError> {
        self.key
            .open_in_place(self.nonce(iv), aead::Aad::from(aad), buf)
            .map(|plain| plain.len())
            .map_err(|_| EspError::Authentication)
    }
}

/// HMAC keyed once (RFC 2104; truncated per RFC 2403/2404/4868).
pub(super) enum Integrity {
    Ring { key: hmac::Key, icv_len: usize },
    Md5(::hmac::Hmac<md5::Md5>),
}

impl Integrity {
    fn new(integrity: EspIntegrity, key: &Secret) -> Result<Self, EspError> {
        if key.len() != integrity.key_len() {
            return Err(EspError::InvalidConfig("integrity key length"));
        }
        let alg = match integrity {
            EspIntegrity::None => return Err(EspError::InvalidConfig("no integrity transform")),
            EspIntegrity::HmacMd5_96 => {
                return ::hmac::Hmac::<md5::Md5>::new_from_slice(key.as_bytes())
                    .map(Integrity::Md5)
                    .map_err(|_| EspError::InvalidConfig("HMAC-MD5 key"));
            }
            EspIntegrity::HmacSha1_96 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            EspIntegrity::HmacSha256_128 | EspIntegrity::HmacSha256_96 => hmac::HMAC_SHA256,
            EspIntegrity::HmacSha384_192 => hmac::HMAC_SHA384,
            EspIntegrity::HmacSha512_256 => hmac::HMAC_SHA512,
        };
        Ok(Integrity::Ring {
            key: hmac::Key::new(alg, key.as_bytes()),
            icv_len: integrity.icv_len(),
        })
    }

    /// The ICV over `data | trailer_bits` (RFC 4303 §2.8: SPI through Next Header; with ESN
    /// the high 32 bits of the sequence number follow, §2.2.1, without being sent).
    /// Returns the buffer and the ICV length.
    pub(super) fn compute(&self, data: &[u8], esn_high: Option<u32>) -> ([u8; MAX_ICV], usize) {
        let mut icv = [0u8; MAX_ICV];
        let high = esn_high.map(u32::to_be_bytes);
        let high = high.as_ref().map_or(&[][..], |h| &h[..]);
        match self {
            Integrity::Ring { key, icv_len } => {
                let mut ctx = hmac::Context::with_key(key);
                ctx.update(data);
                ctx.update(high);
                let tag = ctx.sign();
                let n = (*icv_len).min(MAX_ICV);
                if let (Some(dst), Some(src)) = (icv.get_mut(..n), tag.as_ref().get(..n)) {
                    dst.copy_from_slice(src);
                }
                (icv, n)
            }
            Integrity::Md5(mac) => {
                let mut mac = mac.clone();
                mac.update(data);
                mac.update(high);
                let full = mac.finalize().into_bytes();
                let n = EspIntegrity::HmacMd5_96.icv_len();
                if let (Some(dst), Some(src)) = (icv.get_mut(..n), full.get(..n)) {
                    dst.copy_from_slice(src);
                }
                (icv, n)
            }
        }
    }

    /// Checks a received ICV in constant time.
    pub(super) fn verify(&self, data: &[u8], esn_high: Option<u32>, icv: &[u8]) -> bool {
        let (ours, n) = self.compute(data, esn_high);
        ours.get(..n)
            .is_some_and(|ours| crate::crypto::ct_eq(ours, icv))
    }
}

/// Encrypt-side schedules.
pub(super) enum CbcEncrypt {
    Aes128(aes::Aes128Enc),
    Aes192(aes::Aes192Enc),
    Aes256(aes::Aes256Enc),
    TripleDes(des::TdesEde3),
}

/// Decrypt-side schedules.
pub(super) enum CbcDecrypt {
    Aes128(aes::Aes128Dec),
    Aes192(aes::Aes192Dec),
    Aes256(aes::Aes256Dec),
    TripleDes(des::TdesEde3),
}

fn schedule<C: KeyInit>(key: &[u8]) -> Result<C, EspError> {
    C::new_from_slice(key).map_err(|_| EspError::InvalidConfig("CBC key length"))
}

fn check_cbc_key(encryption: EspEncryption, key: &Secret) -> Result<(), EspError> {
    let cipher = encryption
        .cbc_cipher()
        .ok_or(EspError::InvalidConfig("not a CBC transform"))?;
    cipher
        .check_key(key.as_bytes())
        .map_err(|_| EspError::InvalidConfig("CBC key length or weak 3DES key"))
}

impl CbcEncrypt {
    fn new(encryption: EspEncryption, key: &Secret) -> Result<Self, EspError> {
        check_cbc_key(encryption, key)?;
        let k = key.as_bytes();
        Ok(match encryption {
            EspEncryption::AesCbc128 => CbcEncrypt::Aes128(schedule(k)?),
            EspEncryption::AesCbc192 => CbcEncrypt::Aes192(schedule(k)?),
            EspEncryption::AesCbc256 => CbcEncrypt::Aes256(schedule(k)?),
            _ => CbcEncrypt::TripleDes(schedule(k)?),
        })
    }

    /// Encrypts whole blocks in place; `false` if `iv` or `buf` have the wrong length.
    pub(super) fn encrypt(&self, iv: &[u8], buf: &mut [u8]) -> bool {
        match self {
            CbcEncrypt::Aes128(c) => cbc_encrypt(c, iv, buf),
            CbcEncrypt::Aes192(c) => cbc_encrypt(c, iv, buf),
            CbcEncrypt::Aes256(c) => cbc_encrypt(c, iv, buf),
            CbcEncrypt::TripleDes(c) => cbc_encrypt(c, iv, buf),
        }
    }
}

impl CbcDecrypt {
    fn new(encryption: EspEncryption, key: &Secret) -> Result<Self, EspError> {
        check_cbc_key(encryption, key)?;
        let k = key.as_bytes();
        Ok(match encryption {
            EspEncryption::AesCbc128 => CbcDecrypt::Aes128(schedule(k)?),
            EspEncryption::AesCbc192 => CbcDecrypt::Aes192(schedule(k)?),
            EspEncryption::AesCbc256 => CbcDecrypt::Aes256(schedule(k)?),
            _ => CbcDecrypt::TripleDes(schedule(k)?),
        })
    }

    /// Decrypts whole blocks in place; `false` if `iv` or `buf` have the wrong length.
    pub(super) fn decrypt(&self, iv: &[u8], buf: &mut [u8]) -> bool {
        match self {
            CbcDecrypt::Aes128(c) => cbc_decrypt(c, iv, buf),
            CbcDecrypt::Aes192(c) => cbc_decrypt(c, iv, buf),
            CbcDecrypt::Aes256(c) => cbc_decrypt(c, iv, buf),
            CbcDecrypt::TripleDes(c) => cbc_decrypt(c, iv, buf),
        }
    }
}

fn cbc_encrypt<C: BlockCipherEncrypt + Clone>(cipher: &C, iv: &[u8], buf: &mut [u8]) -> bool {
    let Ok(iv) = Array::try_from(iv) else {
        return false;
    };
    // The schedule is copied (no allocation), not recomputed.
    let mut mode = cbc::Encryptor::<C>::inner_iv_init(cipher.clone(), &iv);
    let (blocks, tail) = Array::slice_as_chunks_mut(buf);
    if !tail.is_empty() {
        return false;
    }
    mode.encrypt_blocks(blocks);
    true
}

fn cbc_decrypt<C: BlockCipherDecrypt + Clone>(cipher: &C, iv: &[u8], buf: &mut [u8]) -> bool {
    let Ok(iv) = Array::try_from(iv) else {
        return false;
    };
    let mut mode = cbc::Decryptor::<C>::inner_iv_init(cipher.clone(), &iv);
    let (blocks, tail) = Array::slice_as_chunks_mut(buf);
    if !tail.is_empty() {
        return false;
    }
    mode.decrypt_blocks(blocks);
    true
}

/// The protection of one direction: what encapsulation or decapsulation runs per packet.
// Boxed whole by `Keyed` while expanded: the size difference between the variants costs
// nothing there, and boxing a variant would add a second indirection per packet.
#[allow(clippy::large_enum_variant)]
pub(super) enum Protection<C> {
    /// AES-GCM (RFC 4106): encryption and ICV in one.
    Gcm(Gcm),
    /// CBC (RFC 3602, RFC 2451) then HMAC over the ciphertext (RFC 4303 §3.3.2).
    Cbc { cipher: C, integrity: Integrity },
    /// NULL encryption (RFC 2410): HMAC only.
    Null { integrity: Integrity },
}

/// Validates the transform itself (the fields of [`EspTransform`] are public, so it may not
/// have come from [`EspTransform::new`]).
fn check_transform(t: &EspTransform) -> Result<(), EspError> {
    EspTransform::new(t.encryption, t.integrity)
        .map(|_| ())
        .map_err(|_| EspError::InvalidConfig("encryption/integrity combination"))
}

impl Protection<CbcEncrypt> {
    pub(super) fn sealing(t: &EspTransform, keys: &EspKeys) -> Result<Self, EspError> {
        check_transform(t)?;
        Ok(match t.encryption {
            e if e.is_aead() => Protection::Gcm(Gcm::new(e, keys)?),
            EspEncryption::Null => Protection::Null {
                integrity: Integrity::new(t.integrity, &keys.integrity)?,
            },
            e => Protection::Cbc {
                cipher: CbcEncrypt::new(e, &keys.encryption)?,
                integrity: Integrity::new(t.integrity, &keys.integrity)?,
            },
        })
    }
}

impl Protection<CbcDecrypt> {
    pub(super) fn opening(t: &EspTransform, keys: &EspKeys) -> Result<Self, EspError> {
        check_transform(t)?;
        Ok(match t.encryption {
            e if e.is_aead() => Protection::Gcm(Gcm::new(e, keys)?),
            EspEncryption::Null => Protection::Null {
                integrity: Integrity::new(t.integrity, &keys.integrity)?,
            },
            e => Protection::Cbc {
                cipher: CbcDecrypt::new(e, &keys.encryption)?,
                integrity: Integrity::new(t.integrity, &keys.integrity)?,
            },
        })
    }
}

/// The two directions' expansions.
pub(super) trait Direction: Sized {
    fn expand(t: &EspTransform, keys: &EspKeys) -> Result<Protection<Self>, EspError>;
}

impl Direction for CbcEncrypt {
    fn expand(t: &EspTransform, keys: &EspKeys) -> Result<Protection<Self>, EspError> {
        Protection::sealing(t, keys)
    }
}

impl Direction for CbcDecrypt {
    fn expand(t: &EspTransform, keys: &EspKeys) -> Result<Protection<Self>, EspError> {
        Protection::opening(t, keys)
    }
}

/// One direction's keys, expanded only while the SA carries traffic.
///
/// An expanded AES-GCM key (ring's AES key schedule and GHASH table) takes 560 bytes, a
/// CBC + HMAC one up to 600, and a concentrator holds most of its SAs idle most of the time
/// (100,000 road warriors, few of them sending at any moment). So an SA keeps its KEYMAT
/// (20 to 100 bytes, zeroized when dropped), expands it on its first packet, and
/// [`Keyed::drop_if_idle`] gives the expansion back once the SA has been idle for a whole
/// period of its owner's choosing. Expanding again costs well under a microsecond.
pub(super) struct Keyed<C> {
    transform: EspTransform,
    /// Encryption key, salt and integrity key, in KEYMAT order (RFC 2409 §5.5).
    keymat: Secret,
    expanded: Option<Box<Protection<C>>>,
    /// A packet used the keys since the last [`Keyed::drop_if_idle`].
    used: bool,
}

impl<C: Direction> Keyed<C> {
    /// Checks `keys` against `t` by expanding them once, and keeps them unexpanded.
    pub(super) fn new(t: &EspTransform, keys: &EspKeys) -> Result<Self, EspError> {
        // Each key's length is checked here, so that the KEYMAT below splits back into
        // exactly these keys.
        C::expand(t, keys)?;
        let parts = [
            Some(&keys.encryption),
            keys.salt.as_ref(),
            Some(&keys.integrity),
        ];
        let parts = parts.into_iter().flatten();
        if parts.clone().map(Secret::len).sum::<usize>() != t.keymat_len() {
            return Err(EspError::InvalidConfig("key lengths"));
        }
        // Exact capacity: extending never reallocates, so no copy escapes the zeroizing.
        let mut keymat = Vec::with_capacity(t.keymat_len());
        for part in parts {
            keymat.extend_from_slice(part.as_bytes());
        }
        let keyed = Keyed {
            transform: *t,
            keymat: Secret::new(keymat),
            expanded: None,
            used: false,
        };
        // Splitting refuses what expanding accepts (weak 3DES keys): find out now.
        keyed.split()?;
        Ok(keyed)
    }

    fn split(&self) -> Result<EspKeys, EspError> {
        split_keymat(&self.keymat, &self.transform).map_err(|_| EspError::InvalidConfig("keys"))
    }

    /// The expanded keys, expanding them if the SA was idle.
    pub(super) fn get(&mut self) -> Result<&Protection<C>, EspError> {
        self.used = true;
        let p = match self.expanded.take() {
            Some(p) => p,
            None => Box::new(C::expand(&self.transform, &self.split()?)?),
        };
        Ok(self.expanded.insert(p))
    }

    /// Drops the expansion if no packet used it since the previous call; whether it did.
    pub(super) fn drop_if_idle(&mut self) -> bool {
        let idle = !std::mem::replace(&mut self.used, false);
        idle && self.expanded.take().is_some()
    }

    /// Whether the keys are expanded now.
    pub(super) fn is_expanded(&self) -> bool {
        self.expanded.is_some()
    }
}

/// The CBC IV generator of an outbound SA: AES-128 under a random key of its own, applied
/// to the (unique) 64-bit sequence number.
///
/// RFC 3602 §3 and RFC 2451 §2.2 require CBC IVs that are unpredictable to an attacker.
/// NIST SP 800-38A Appendix C gives the construction used here: apply a block cipher to a
/// nonce. The sequence number never repeats within an SA (it may not wrap, RFC 4303
/// §3.3.3), the key is drawn from the caller's `SecureRandom` once per SA and used for
/// nothing else, so the IVs are distinct and indistinguishable from random without a
/// system call per packet. 3DES takes the first 8 bytes.
pub(super) struct IvGenerator(aes::Aes128Enc);

impl IvGenerator {
    pub(super) fn new(rng: &dyn ring::rand::SecureRandom) -> Result<Self, EspError> {
        let mut key = zeroize::Zeroizing::new([0u8; 16]);
        rng.fill(&mut key[..])
            .map_err(|_| EspError::InvalidConfig("random generator failed"))?;
        Ok(IvGenerator(schedule(&key[..])?))
    }

    pub(super) fn iv(&self, sequence: u64) -> [u8; 16] {
        let mut block = Array::from([0u8; 16]);
        block[..8].copy_from_slice(&sequence.to_be_bytes());
        self.0.encrypt_block(&mut block);
        block.into()
    }
}
