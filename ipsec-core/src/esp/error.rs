//! [`EspError`]: every reason an ESP packet is refused, on either side of an SA.

use thiserror::Error;

/// Why [`Outbound::encapsulate`](super::Outbound::encapsulate),
/// [`Inbound::decapsulate`](super::Inbound::decapsulate) or the construction of an SA failed.
///
/// Every rejection of a packet is also counted in the SA's [`Counters`](super::Counters)
/// (construction errors are not: there is no SA yet). Received bytes are hostile, so the
/// inbound variants carry only what was read from the header, never decrypted data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
pub enum EspError {
    /// The packet is shorter than the ESP header, IV, minimal trailer and ICV together.
    #[error("ESP packet truncated ({len} bytes)")]
    Truncated {
        /// Length of what was received.
        len: usize,
    },
    /// The ciphertext is not a whole number of cipher blocks (RFC 4303 §2.4: the sender pads
    /// it to the block size).
    #[error("ESP ciphertext of {len} bytes is not a whole number of {block}-byte blocks")]
    BadLength {
        /// Ciphertext length.
        len: usize,
        /// Block size of the cipher.
        block: usize,
    },
    /// The SPI is not this SA's.
    #[error("ESP SPI {got:08x} is not this SA's ({expected:08x})")]
    WrongSpi {
        /// This SA's SPI.
        expected: u32,
        /// The packet's SPI.
        got: u32,
    },
    /// A sequence number already received (RFC 4303 §3.4.3).
    #[error("ESP sequence number {sequence} replayed")]
    Replay {
        /// The (inferred, with ESN) sequence number.
        sequence: u64,
    },
    /// A sequence number to the left of the anti-replay window, or one whose ESN high bits
    /// cannot be inferred (RFC 4303 §3.4.3, Appendix A2).
    #[error("ESP sequence number {sequence} outside the anti-replay window")]
    OutsideWindow {
        /// The (inferred, with ESN) sequence number, or the 32 bits received.
        sequence: u64,
    },
    /// The ICV did not verify (RFC 4303 §3.4.4): corrupted, forged, or the wrong keys.
    #[error("ESP integrity check failed")]
    Authentication,
    /// Pad Length beyond the payload, or padding bytes other than 1, 2, 3, ... (RFC 4303 §2.4).
    #[error("ESP padding malformed")]
    Padding,
    /// A Next Header value this SA cannot deliver (tunnel mode carries IPv4 (4) or IPv6 (41)).
    #[error("ESP next header {0} not acceptable")]
    BadNextHeader(u8),
    /// The decrypted tunnel-mode packet is not a consistent IPv4/IPv6 packet of the version
    /// the Next Header announced.
    #[error("ESP inner packet malformed")]
    BadInnerPacket,
    /// Outbound: the packet handed in is not a consistent IPv4/IPv6 packet.
    #[error("not an IPv4 or IPv6 packet with consistent lengths")]
    InvalidPacket,
    /// Transport mode, IPv6: an extension header follows the fixed header (only an upper
    /// layer directly after the fixed header is supported).
    #[error("IPv6 extension header {0} not supported in transport mode")]
    UnsupportedExtensionHeader(u8),
    /// Transport mode: an IPv4 fragment (transport mode protects whole datagrams).
    #[error("IPv4 fragment in transport mode")]
    Fragment,
    /// Every sequence number of the SA was used (RFC 4303 §3.3.3: the counter must not
    /// cycle); the SA is hard-expired, a new one is needed.
    #[error("ESP sequence numbers exhausted")]
    SequenceExhausted,
    /// The SA reached a hard lifetime (bytes, packets or sequence numbers).
    #[error("ESP SA expired")]
    Expired,
    /// The [`SaConfig`](super::SaConfig) is not usable (key lengths, transform, SPI 0, window).
    #[error("invalid ESP SA configuration: {0}")]
    InvalidConfig(&'static str),
}
