//! [`Secret`]: the byte string that carries key material, and [`ct_eq`].
//!
//! The house rules (DESIGN.md) say that secrets live in zeroizing types, never reach a log,
//! and that MACs and hashes are compared in constant time. `Secret` does the first two by
//! construction: its memory is wiped on drop ([`zeroize::Zeroizing`]) and its `Debug` prints
//! only the length. Equality is constant-time ([`subtle`]) so that comparing secrets in a
//! test or a rekey check leaks nothing.

use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Zeroizing key material: PSKs, DH private values and shared secrets, SKEYID, SKEYID_d/a/e,
/// the phase-1 encryption key, KEYMAT and ESP keys.
///
/// The bytes are only reachable through [`Secret::as_bytes`], so every place that exposes a
/// key is visible in the code. Clones are independent and wiped on their own drop.
#[derive(Clone, Default)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Takes ownership of `bytes` (no copy is left behind).
    pub fn new(bytes: Vec<u8>) -> Self {
        Secret(Zeroizing::new(bytes))
    }

    /// Copies `bytes` into a new secret. The caller remains responsible for the original.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Secret(Zeroizing::new(bytes.to_vec()))
    }

    /// An empty secret with room for `capacity` bytes, so that it can be filled by
    /// [`Secret::extend_from_slice`] without reallocating (a reallocation would leave an
    /// unwiped copy behind).
    pub fn with_capacity(capacity: usize) -> Self {
        Secret(Zeroizing::new(Vec::with_capacity(capacity)))
    }

    /// Appends bytes. Reserve the final length with [`Secret::with_capacity`] first: growing
    /// the buffer copies it and the old allocation is not wiped.
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    /// Shortens the secret to `len` bytes, wiping the removed tail.
    pub fn truncate(&mut self, len: usize) {
        if len < self.0.len() {
            use zeroize::Zeroize;
            self.0[len..].zeroize();
            self.0.truncate(len);
        }
    }

    /// The key bytes. Every call site is a place where key material leaves this type.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes (not secret).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<u8>> for Secret {
    fn from(bytes: Vec<u8>) -> Self {
        Secret::new(bytes)
    }
}

impl From<&[u8]> for Secret {
    fn from(bytes: &[u8]) -> Self {
        Secret::from_slice(bytes)
    }
}

impl From<&str> for Secret {
    /// A pre-shared key or password given as text: its UTF-8 bytes, as every IKEv1
    /// implementation uses them.
    fn from(text: &str) -> Self {
        Secret::from_slice(text.as_bytes())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<redacted {} bytes>)", self.0.len())
    }
}

impl ConstantTimeEq for Secret {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.as_bytes().ct_eq(other.as_bytes())
    }
}

impl PartialEq for Secret {
    /// Constant time in the contents; the lengths are not secret.
    fn eq(&self, other: &Self) -> bool {
        ct_eq(self.as_bytes(), other.as_bytes())
    }
}

impl Eq for Secret {}

/// Compares two byte strings in time that depends only on their lengths.
///
/// Use it for every received hash or MAC (HASH_I/HASH_R, HASH(1..3), the informational
/// HASH(1), ICVs): an early-exit comparison would let a peer learn the expected value byte by
/// byte. Different lengths compare unequal (lengths are public).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    bool::from(a.ct_eq(b))
}
