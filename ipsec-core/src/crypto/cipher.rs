//! [`Cipher`]: the phase-1 (ISAKMP) encryption algorithms, all in CBC mode.
//!
//! IKEv1 encrypts every message after the key exchange with the negotiated cipher in CBC
//! mode, the IV chaining across messages (RFC 2409 Appendix B; see
//! [`IvChain`](super::ikev1::IvChain)). The ISAKMP layer pads to a whole number of blocks
//! before encrypting, so this module only ever sees whole blocks and refuses anything else.
//!
//! Backend: RustCrypto `aes`, `des` and `cbc`.
//!
//! Weak keys: DES-CBC refuses the 4 weak and 12 semi-weak DES keys; 3DES-CBC refuses keys
//! whose first two or last two 8-byte parts are equal (the operation would collapse to
//! single DES; RFC 2451 §2.3 says implementers MUST reject them). Both comparisons ignore
//! the parity bits, which DES does not use. Derived keys hit these with probability about
//! 2^-52 or less; the exchange then fails with [`CryptoError::WeakKey`] and is retried with
//! new nonces. Other DES "possibly weak" keys are not refused (RFC 2451 §2.3: no known need
//! for 3DES).

use cbc::cipher::{
    Array, BlockCipherDecrypt, BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt, KeyInit,
    KeyIvInit,
};
use subtle::ConstantTimeEq;

use super::CryptoError;

/// A phase-1 CBC cipher (RFC 2409 Appendix A "Encryption Algorithm", class 1, with the
/// "Key Length" attribute, class 14, for AES, RFC 3602 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cipher {
    /// DES-CBC (value 1, RFC 2405). 56-bit keys: broken. It must only be used when the
    /// configuration names it explicitly, and then with a warning.
    DesCbc,
    /// 3DES-CBC (value 5, RFC 2451), EDE with three keys.
    TripleDesCbc,
    /// AES-CBC (value 7, RFC 3602) with a 128-bit key.
    AesCbc128,
    /// AES-CBC with a 192-bit key.
    AesCbc192,
    /// AES-CBC with a 256-bit key.
    AesCbc256,
}

impl Cipher {
    /// All supported ciphers.
    pub const ALL: [Cipher; 5] = [
        Cipher::DesCbc,
        Cipher::TripleDesCbc,
        Cipher::AesCbc128,
        Cipher::AesCbc192,
        Cipher::AesCbc256,
    ];

    /// Maps the phase-1 "Encryption Algorithm" value and the "Key Length" attribute (bits).
    ///
    /// AES needs the key length (RFC 3602 §5: it MUST be specified); DES and 3DES have a fixed
    /// key length and must come without one (RFC 2409 Appendix A: the attribute "MUST NOT be
    /// used" with fixed-length ciphers).
    pub const fn from_ike(algorithm: u16, key_bits: Option<u16>) -> Option<Self> {
        match (algorithm, key_bits) {
            (1, None) => Some(Cipher::DesCbc),
            (5, None) => Some(Cipher::TripleDesCbc),
            (7, Some(128)) => Some(Cipher::AesCbc128),
            (7, Some(192)) => Some(Cipher::AesCbc192),
            (7, Some(256)) => Some(Cipher::AesCbc256),
            _ => None,
        }
    }

    /// The phase-1 "Encryption Algorithm" value.
    pub const fn ike_id(self) -> u16 {
        match self {
            Cipher::DesCbc => 1,
            Cipher::TripleDesCbc => 5,
            Cipher::AesCbc128 | Cipher::AesCbc192 | Cipher::AesCbc256 => 7,
        }
    }

    /// The "Key Length" attribute to send (AES only).
    pub const fn ike_key_bits(self) -> Option<u16> {
        match self {
            Cipher::DesCbc | Cipher::TripleDesCbc => None,
            Cipher::AesCbc128 => Some(128),
            Cipher::AesCbc192 => Some(192),
            Cipher::AesCbc256 => Some(256),
        }
    }

    /// Key length in bytes (including the DES parity bits: 8 and 24).
    pub const fn key_len(self) -> usize {
        match self {
            Cipher::DesCbc => 8,
            Cipher::TripleDesCbc => 24,
            Cipher::AesCbc128 => 16,
            Cipher::AesCbc192 => 24,
            Cipher::AesCbc256 => 32,
        }
    }

    /// Block length in bytes, which is also the IV length.
    pub const fn block_len(self) -> usize {
        match self {
            Cipher::DesCbc | Cipher::TripleDesCbc => 8,
            Cipher::AesCbc128 | Cipher::AesCbc192 | Cipher::AesCbc256 => 16,
        }
    }

    /// DES is weak and works only where the configuration asks for it.
    pub const fn is_weak(self) -> bool {
        matches!(self, Cipher::DesCbc)
    }

    /// A short name for logs and errors.
    pub const fn name(self) -> &'static str {
        match self {
            Cipher::DesCbc => "DES-CBC",
            Cipher::TripleDesCbc => "3DES-CBC",
            Cipher::AesCbc128 => "AES-128-CBC",
            Cipher::AesCbc192 => "AES-192-CBC",
            Cipher::AesCbc256 => "AES-256-CBC",
        }
    }

    /// Checks the key length and refuses weak DES/3DES keys (see the module docs).
    pub fn check_key(self, key: &[u8]) -> Result<(), CryptoError> {
        if key.len() != self.key_len() {
            return Err(CryptoError::InvalidLength {
                what: self.key_what(),
                expected: self.key_len(),
                got: key.len(),
            });
        }
        match self {
            Cipher::DesCbc if is_weak_des_key(key) => Err(CryptoError::WeakKey(self.name())),
            Cipher::TripleDesCbc if is_degenerate_3des_key(key) => {
                Err(CryptoError::WeakKey(self.name()))
            }
            _ => Ok(()),
        }
    }

    /// Encrypts `buf` in place in CBC mode. `buf` must be a whole number of blocks; `iv` must
    /// be one block. The last block of `buf` afterwards is the next IV of the chain.
    pub fn encrypt(self, key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError> {
        self.check(key, iv, buf)?;
        match self {
            Cipher::DesCbc => cbc_encrypt::<des::Des>(key, iv, buf),
            Cipher::TripleDesCbc => cbc_encrypt::<des::TdesEde3>(key, iv, buf),
            Cipher::AesCbc128 => cbc_encrypt::<aes::Aes128>(key, iv, buf),
            Cipher::AesCbc192 => cbc_encrypt::<aes::Aes192>(key, iv, buf),
            Cipher::AesCbc256 => cbc_encrypt::<aes::Aes256>(key, iv, buf),
        }
    }

    /// Decrypts `buf` in place in CBC mode; same rules as [`Cipher::encrypt`]. Save the last
    /// ciphertext block first if it is needed as the next IV.
    pub fn decrypt(self, key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError> {
        self.check(key, iv, buf)?;
        match self {
            Cipher::DesCbc => cbc_decrypt::<des::Des>(key, iv, buf),
            Cipher::TripleDesCbc => cbc_decrypt::<des::TdesEde3>(key, iv, buf),
            Cipher::AesCbc128 => cbc_decrypt::<aes::Aes128>(key, iv, buf),
            Cipher::AesCbc192 => cbc_decrypt::<aes::Aes192>(key, iv, buf),
            Cipher::AesCbc256 => cbc_decrypt::<aes::Aes256>(key, iv, buf),
        }
    }

    fn key_what(self) -> &'static str {
        match self {
            Cipher::DesCbc => "DES-CBC key",
            Cipher::TripleDesCbc => "3DES-CBC key",
            Cipher::AesCbc128 => "AES-128-CBC key",
            Cipher::AesCbc192 => "AES-192-CBC key",
            Cipher::AesCbc256 => "AES-256-CBC key",
        }
    }

    fn check(self, key: &[u8], iv: &[u8], buf: &[u8]) -> Result<(), CryptoError> {
        self.check_key(key)?;
        if iv.len() != self.block_len() {
            return Err(CryptoError::InvalidLength {
                what: "CBC IV",
                expected: self.block_len(),
                got: iv.len(),
            });
        }
        if !buf.len().is_multiple_of(self.block_len()) {
            return Err(CryptoError::NotBlockAligned {
                len: buf.len(),
                block: self.block_len(),
            });
        }
        Ok(())
    }
}

fn backend_refused() -> CryptoError {
    CryptoError::Unsupported("CBC key or IV length refused by the cipher backend")
}

fn cbc_encrypt<C>(key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError>
where
    C: BlockCipherEncrypt + KeyInit,
{
    // `Cipher::check` validated both lengths; the backend cannot refuse them.
    let mut enc = cbc::Encryptor::<C>::new_from_slices(key, iv).map_err(|_| backend_refused())?;
    let (blocks, tail) = Array::slice_as_chunks_mut(buf);
    debug_assert!(tail.is_empty(), "length checked by Cipher::check");
    enc.encrypt_blocks(blocks);
    Ok(())
}

fn cbc_decrypt<C>(key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError>
where
    C: BlockCipherDecrypt + KeyInit,
{
    // `Cipher::check` validated both lengths; the backend cannot refuse them.
    let mut dec = cbc::Decryptor::<C>::new_from_slices(key, iv).map_err(|_| backend_refused())?;
    let (blocks, tail) = Array::slice_as_chunks_mut(buf);
    debug_assert!(tail.is_empty(), "length checked by Cipher::check");
    dec.decrypt_blocks(blocks);
    Ok(())
}

/// The 4 weak and 12 semi-weak DES keys (FIPS 74 §3.6), with odd parity.
const DES_WEAK_KEYS: [[u8; 8]; 16] = [
    [0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01],
    [0xFE, 0xFE, 0xFE, 0xFE, 0xFE, 0xFE, 0xFE, 0xFE],
    [0xE0, 0xE0, 0xE0, 0xE0, 0xF1, 0xF1, 0xF1, 0xF1],
    [0x1F, 0x1F, 0x1F, 0x1F, 0x0E, 0x0E, 0x0E, 0x0E],
    [0x01, 0x1F, 0x01, 0x1F, 0x01, 0x0E, 0x01, 0x0E],
    [0x1F, 0x01, 0x1F, 0x01, 0x0E, 0x01, 0x0E, 0x01],
    [0x01, 0xE0, 0x01, 0xE0, 0x01, 0xF1, 0x01, 0xF1],
    [0xE0, 0x01, 0xE0, 0x01, 0xF1, 0x01, 0xF1, 0x01],
    [0x01, 0xFE, 0x01, 0xFE, 0x01, 0xFE, 0x01, 0xFE],
    [0xFE, 0x01, 0xFE, 0x01, 0xFE, 0x01, 0xFE, 0x01],
    [0x1F, 0xE0, 0x1F, 0xE0, 0x0E, 0xF1, 0x0E, 0xF1],
    [0xE0, 0x1F, 0xE0, 0x1F, 0xF1, 0x0E, 0xF1, 0x0E],
    [0x1F, 0xFE, 0x1F, 0xFE, 0x0E, 0xFE, 0x0E, 0xFE],
    [0xFE, 0x1F, 0xFE, 0x1F, 0xFE, 0x0E, 0xFE, 0x0E],
    [0xE0, 0xFE, 0xE0, 0xFE, 0xF1, 0xFE, 0xF1, 0xFE],
    [0xFE, 0xE0, 0xFE, 0xE0, 0xFE, 0xF1, 0xFE, 0xF1],
];

/// Compares two 8-byte DES keys ignoring the parity bit (the low bit of each byte), in
/// constant time.
fn des_keys_equal(a: &[u8], b: &[u8]) -> subtle::Choice {
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= (x ^ y) & 0xFE;
    }
    diff.ct_eq(&0)
}

fn is_weak_des_key(key: &[u8]) -> bool {
    let mut weak = subtle::Choice::from(0);
    for candidate in &DES_WEAK_KEYS {
        weak |= des_keys_equal(key, candidate);
    }
    bool::from(weak)
}

/// RFC 2451 §2.3: k1 = k2 or k2 = k3 makes EDE3 equal to single DES.
fn is_degenerate_3des_key(key: &[u8]) -> bool {
    let (k1, k2, k3) = (&key[0..8], &key[8..16], &key[16..24]);
    bool::from(des_keys_equal(k1, k2) | des_keys_equal(k2, k3))
}
