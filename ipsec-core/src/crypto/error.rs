//! The one error type of the crypto layer.

/// Why a cryptographic operation was refused.
///
/// Every variant can be caused by a peer (lengths, public values, derived weak keys) or by
/// a programming error in the caller (wrong key length for the negotiated cipher); none of
/// them is a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// A key, IV, SPI or public value does not have the length the algorithm requires.
    #[error("{what}: expected {expected} bytes, got {got}")]
    InvalidLength {
        /// What had the wrong length ("AES-128-CBC key", "IV", ...).
        what: &'static str,
        /// The required length in bytes.
        expected: usize,
        /// The length that was given.
        got: usize,
    },
    /// CBC data must be a whole number of blocks (ISAKMP pads before encrypting,
    /// RFC 2409 Appendix B; ESP pads too, RFC 4303 §2.4).
    #[error("data length {len} is not a multiple of the {block}-byte block size")]
    NotBlockAligned {
        /// The length of the data.
        len: usize,
        /// The cipher's block size.
        block: usize,
    },
    /// A (derived or configured) key is a known weak key of the cipher
    /// (DES weak/semi-weak keys; 3DES with k1 = k2 or k2 = k3, RFC 2451 §2.3).
    #[error("weak key for {0}")]
    WeakKey(&'static str),
    /// The peer's Diffie-Hellman public value is not acceptable (wrong length, out of range,
    /// not on the curve).
    #[error("invalid Diffie-Hellman public value for group {group}: {reason}")]
    InvalidPublicValue {
        /// The IKE group number.
        group: u16,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// The key agreement produced a degenerate shared secret (all-zero X25519 output,
    /// RFC 7748 §6.1 / RFC 8031 §2.3, or a MODP result of 1).
    #[error("degenerate Diffie-Hellman shared secret for group {group}")]
    DegenerateSharedSecret {
        /// The IKE group number.
        group: u16,
    },
    /// A private value given to [`KeyPair::from_private`](super::KeyPair::from_private) is not
    /// usable for the group.
    #[error("invalid private value for Diffie-Hellman group {group}: {reason}")]
    InvalidPrivateValue {
        /// The IKE group number.
        group: u16,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// The group cannot do this (e.g. inject a private value into a *ring* key).
    #[error("Diffie-Hellman group {group}: {what} is not supported")]
    UnsupportedGroupOperation {
        /// The IKE group number.
        group: u16,
        /// What was asked.
        what: &'static str,
    },
    /// The backend refused the key agreement (*ring* gives no reason).
    #[error("Diffie-Hellman key agreement failed for group {group}")]
    KeyAgreement {
        /// The IKE group number.
        group: u16,
    },
    /// The system random number generator failed.
    #[error("random number generator failed")]
    Rng,
    /// More derived key material was requested than this layer will produce.
    #[error("requested {requested} bytes of derived key material, at most {max} are allowed")]
    DerivedLengthTooLong {
        /// The requested length in bytes.
        requested: usize,
        /// The limit.
        max: usize,
    },
    /// The KEYMAT given to [`split_keymat`](super::esp::split_keymat) is shorter than the
    /// transforms need.
    #[error("KEYMAT too short: {needed} bytes needed, {got} given")]
    KeymatTooShort {
        /// Bytes needed for the encryption key, salt and integrity key.
        needed: usize,
        /// Bytes given.
        got: usize,
    },
    /// A negotiated attribute names an algorithm this layer does not implement.
    #[error("unsupported algorithm: {0}")]
    Unsupported(&'static str),
    /// The operation does not apply to this algorithm (e.g. CBC on an AEAD transform).
    #[error("{operation} does not apply to {algorithm}")]
    WrongAlgorithm {
        /// What was asked.
        operation: &'static str,
        /// The algorithm it was asked of.
        algorithm: &'static str,
    },
    /// An AEAD tag did not verify.
    #[error("authentication failed")]
    AuthenticationFailed,
}
