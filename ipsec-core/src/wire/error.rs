//! Typed rejections of the codec.
//!
//! Every way in which bytes from the network can be refused is one [`WireError`] variant.
//! Each variant knows the RFC 2408 §3.14.1 Notify Message Type that an implementation may send
//! back ([`WireError::notify_type`]; whether to send it at all is a policy question for the
//! engine, RFC 2408 §5 says "MAY"), and a stable short label for counters and logs
//! ([`WireError::kind`]).
//!
//! Building messages can fail too (a length that does not fit its field, a value that the
//! parser would refuse): that is an [`EmitError`], a bug of the caller rather than an attack.

use super::notify::NotifyType;

/// Why received bytes were rejected.
///
/// The variants carry only small `Copy` data so that an error can be counted, logged once with
/// the peer's address, and mapped to a notification without touching the input again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// A fixed-size field or structure did not fit in what was left of its enclosing buffer.
    #[error("truncated {what}: {needed} bytes needed, {available} available")]
    Truncated {
        /// The structure being read.
        what: &'static str,
        /// How many bytes it needs.
        needed: usize,
        /// How many were left.
        available: usize,
    },
    /// The ISAKMP header's major version is not 1 (RFC 2408 §3.1, §5.2 step 3). IKEv2
    /// messages (major version 2) end up here.
    #[error("invalid ISAKMP major version {0}")]
    InvalidMajorVersion(u8),
    /// The ISAKMP header's minor version is not 0 (RFC 2408 §3.1: "SHOULD never accept
    /// packets with a minor version number larger than its own").
    #[error("invalid ISAKMP minor version {0}")]
    InvalidMinorVersion(u8),
    /// Flag bits other than Encryption, Commit and Authentication Only are set (RFC 2408 §3.1:
    /// "The remaining bits of the Flags field MUST be set to 0"; §5.2 step 5).
    #[error("invalid ISAKMP flags {0:#04x}")]
    InvalidFlags(u8),
    /// The header's Length field is smaller than the 28-byte header itself.
    #[error("ISAKMP length field {0} is smaller than the header")]
    MessageLengthTooSmall(u32),
    /// The header's Length field differs from the size of the datagram (RFC 2408 §5.1: "If
    /// the ISAKMP message length and the value in the Payload Length field of the ISAKMP
    /// Header are not the same, then the ISAKMP message MUST be rejected").
    #[error("ISAKMP length field {header} differs from the datagram's {datagram} bytes")]
    MessageLengthMismatch {
        /// The header's Length field.
        header: u32,
        /// The size of the datagram (after any non-ESP marker).
        datagram: usize,
    },
    /// The Encryption flag is set but nothing follows the header.
    #[error("encrypted message has an empty body")]
    EmptyEncryptedBody,
    /// A payload type that cannot appear where it was announced: Proposal (2) or Transform
    /// (3) in a top-level chain (they exist only inside an SA payload), or NONE/Proposal/
    /// Transform given to [`super::Payload::decode`] (RFC 2408 §5.2 step 2, §5.3 step 1).
    /// Wrong Next Payload values inside an SA payload are
    /// [`WireError::ProposalNextPayload`]/[`WireError::TransformNextPayload`].
    #[error("invalid payload type {0} in a payload chain")]
    InvalidPayloadType(u8),
    /// A generic payload header whose Payload Length is below the minimum for its type.
    #[error("payload {payload} has length {length}, below its minimum {min}")]
    PayloadTooShort {
        /// Payload type number.
        payload: u8,
        /// The Payload Length field.
        length: u16,
        /// The smallest valid length for this payload type.
        min: u16,
    },
    /// A Payload Length that runs past the end of the message (or of the decrypted body).
    #[error("payload {payload} claims {length} bytes but only {available} remain")]
    PayloadOverrun {
        /// Payload type number.
        payload: u8,
        /// The Payload Length field.
        length: u16,
        /// Bytes left in the message.
        available: usize,
    },
    /// Bytes follow the last payload of a plaintext message (RFC 2408 §5.1,
    /// UNEQUAL-PAYLOAD-LENGTHS).
    #[error("{count} bytes follow the last payload")]
    TrailingBytes {
        /// How many bytes follow the chain.
        count: usize,
    },
    /// A payload body has bytes left over after its last field, where its format ends at a
    /// fixed point (e.g. a 4-byte DPD sequence number followed by more).
    #[error("{what} has {count} unexpected trailing bytes")]
    TrailingData {
        /// The structure being read.
        what: &'static str,
        /// How many bytes are left over.
        count: usize,
    },
    /// A RESERVED field is not zero (RFC 2408 §2.5.2 "The receiver SHOULD check the RESERVED
    /// fields for a zero (0) value and discard the packet if other values are found", §5.3
    /// step 2).
    #[error("non-zero RESERVED field in {what}")]
    NonZeroReserved {
        /// Where the field is.
        what: &'static str,
    },
    /// More payloads than [`super::MAX_PAYLOADS`] in one chain.
    #[error("more than {limit} payloads in one message")]
    TooManyPayloads {
        /// The limit.
        limit: usize,
    },
    /// A field that must not be empty is (a KE, HASH, SIG, NAT-D, certificate, ...).
    #[error("empty {what}")]
    Empty {
        /// The field.
        what: &'static str,
    },
    /// A Nonce outside 8..=256 bytes (RFC 2409 §5: "The length of nonce payload MUST be
    /// between 8 and 256 bytes inclusive").
    #[error("nonce of {0} bytes, not within 8..=256")]
    InvalidNonceLength(usize),
    /// The SA payload's DOI is not the IPsec DOI (1); only its Situation format is known
    /// (RFC 2408 §5.4 step 1).
    #[error("unsupported DOI {0}")]
    UnsupportedDoi(u32),
    /// The Situation has bits other than SIT_IDENTITY_ONLY, SIT_SECRECY, SIT_INTEGRITY
    /// (RFC 2407 §4.2), so its length cannot be known (RFC 2408 §5.4 step 2).
    #[error("unsupported situation {0:#010x}")]
    UnsupportedSituation(u32),
    /// An SA payload without any proposal.
    #[error("SA payload without proposals")]
    NoProposals,
    /// A proposal without any transform.
    #[error("proposal without transforms")]
    NoTransforms,
    /// A proposal's generic header has a Next Payload other than 0 or 2 (RFC 2408 §3.5:
    /// "This field MUST only contain the value "2" or "0"").
    #[error("proposal next payload {0}, not 0 or 2")]
    ProposalNextPayload(u8),
    /// A transform's generic header has a Next Payload other than 0 or 3 (RFC 2408 §3.6).
    #[error("transform next payload {0}, not 0 or 3")]
    TransformNextPayload(u8),
    /// A proposal's "# of Transforms" differs from the transforms found in it.
    #[error("proposal declares {declared} transforms, contains {found}")]
    TransformCountMismatch {
        /// The "# of Transforms" field.
        declared: u8,
        /// Transforms actually present.
        found: usize,
    },
    /// A proposal or transform length that is too small or overruns its container.
    #[error("{what} length {length} is invalid with {available} bytes available")]
    SubstructureLength {
        /// "proposal" or "transform".
        what: &'static str,
        /// The length field.
        length: u16,
        /// Bytes left in the container.
        available: usize,
    },
    /// More proposals than [`super::MAX_PROPOSALS`].
    #[error("more than {limit} proposals")]
    TooManyProposals {
        /// The limit.
        limit: usize,
    },
    /// More transforms than [`super::MAX_TRANSFORMS`] in one SA payload.
    #[error("more than {limit} transforms")]
    TooManyTransforms {
        /// The limit.
        limit: usize,
    },
    /// A TLV data attribute whose length runs past its container (RFC 2408 §3.3).
    #[error("attribute {ty} claims {length} bytes but only {available} remain")]
    AttributeOverrun {
        /// Attribute type (AF bit cleared).
        ty: u16,
        /// The Attribute Length field.
        length: u16,
        /// Bytes left.
        available: usize,
    },
    /// More data attributes in one transform or attribute payload than
    /// [`super::MAX_ATTRIBUTES`].
    #[error("more than {limit} data attributes")]
    TooManyAttributes {
        /// The limit.
        limit: usize,
    },
    /// An attribute defined as Basic was sent in the TLV form, or one defined as Variable
    /// was sent in a form it cannot take (RFC 2409 Appendix A: "Attributes described as
    /// basic MUST NOT be encoded as variable").
    #[error("attribute {ty} in the wrong format")]
    AttributeFormat {
        /// Attribute type.
        ty: u16,
    },
    /// An attribute value of a length its type does not allow (e.g. a Life Duration of more
    /// than 8 bytes, an IPv4 address of 5).
    #[error("attribute {ty} has an invalid length {length}")]
    AttributeLength {
        /// Attribute type.
        ty: u16,
        /// The value's length.
        length: usize,
    },
    /// An ID payload whose data does not match its ID type (RFC 2407 §4.6.2).
    #[error("identification of type {id_type} with {length} data bytes is invalid")]
    InvalidIdData {
        /// ID type.
        id_type: u8,
        /// Data length.
        length: usize,
    },
    /// A Delete payload with an SPI size of zero or an SPI count of zero (RFC 2408 §3.15).
    #[error("invalid SPI size {spi_size} / count {count}")]
    InvalidSpi {
        /// SPI Size field.
        spi_size: u8,
        /// Number of SPIs.
        count: u16,
    },
    /// A Delete payload whose "# of SPIs" times "SPI Size" differs from the bytes that
    /// follow (RFC 2408 §3.15).
    #[error("delete payload: {count} SPIs of {spi_size} bytes but {available} bytes follow")]
    DeleteSpiCount {
        /// "# of SPIs".
        count: u16,
        /// "SPI Size".
        spi_size: u8,
        /// Bytes present.
        available: usize,
    },
    /// Notification data that does not fit its notify message type (e.g. DPD R-U-THERE
    /// without its 4-byte sequence number, RFC 3706 §5.1).
    #[error("notification {notify} has malformed data")]
    InvalidNotifyData {
        /// Notify Message Type.
        notify: u16,
    },
    /// A NAT-OA payload whose ID type is not ID_IPV4_ADDR or ID_IPV6_ADDR, or whose address
    /// length does not match it (RFC 3947 §5.2).
    #[error("NAT-OA with ID type {id_type} and {length} address bytes")]
    InvalidNatOa {
        /// ID type.
        id_type: u8,
        /// Address length.
        length: usize,
    },
    /// A Cisco IKE fragment numbered 0 (numbers start at 1).
    #[error("IKE fragment number 0")]
    InvalidFragmentNumber,
    /// A UDP payload on port 4500 that is neither a NAT-keepalive, nor a non-ESP marker
    /// followed by IKE, nor ESP (RFC 3948 §2).
    #[error("UDP-encapsulated datagram of {0} bytes cannot be classified")]
    InvalidEncapsulation(usize),
}

impl WireError {
    /// The RFC 2408 §3.14.1 Notify Message Type an implementation may answer this error with.
    ///
    /// The mapping follows RFC 2408 §5: header problems map to the header notifications
    /// (INVALID-MAJOR-VERSION, INVALID-FLAGS, ...), length disagreements to
    /// UNEQUAL-PAYLOAD-LENGTHS (§5.1), proposal and transform structure to BAD-PROPOSAL-SYNTAX
    /// (§5.5/§5.6), unusable attribute values to ATTRIBUTES-NOT-SUPPORTED (§5.6), and the rest
    /// to PAYLOAD-MALFORMED.
    pub fn notify_type(&self) -> NotifyType {
        use WireError::*;
        match self {
            InvalidMajorVersion(_) => NotifyType::InvalidMajorVersion,
            InvalidMinorVersion(_) => NotifyType::InvalidMinorVersion,
            InvalidFlags(_) => NotifyType::InvalidFlags,
            InvalidPayloadType(_) => NotifyType::InvalidPayloadType,
            MessageLengthTooSmall(_)
            | MessageLengthMismatch { .. }
            | PayloadOverrun { .. }
            | TrailingBytes { .. } => NotifyType::UnequalPayloadLengths,
            UnsupportedDoi(_) => NotifyType::DoiNotSupported,
            UnsupportedSituation(_) => NotifyType::SituationNotSupported,
            NoProposals
            | NoTransforms
            | ProposalNextPayload(_)
            | TransformNextPayload(_)
            | TransformCountMismatch { .. }
            | SubstructureLength { .. }
            | TooManyProposals { .. }
            | TooManyTransforms { .. } => NotifyType::BadProposalSyntax,
            AttributeLength { .. } => NotifyType::AttributesNotSupported,
            InvalidIdData { .. } | InvalidNatOa { .. } => NotifyType::InvalidIdInformation,
            InvalidSpi { .. } => NotifyType::InvalidSpi,
            Truncated { .. }
            | EmptyEncryptedBody
            | PayloadTooShort { .. }
            | TrailingData { .. }
            | NonZeroReserved { .. }
            | TooManyPayloads { .. }
            | Empty { .. }
            | InvalidNonceLength(_)
            | AttributeOverrun { .. }
            | TooManyAttributes { .. }
            | AttributeFormat { .. }
            | DeleteSpiCount { .. }
            | InvalidNotifyData { .. }
            | InvalidFragmentNumber
            | InvalidEncapsulation(_) => NotifyType::PayloadMalformed,
        }
    }

    /// A stable, short, snake_case label for this kind of error, for counters and logs. It
    /// never includes the variant's data, so label cardinality stays bounded.
    pub fn kind(&self) -> &'static str {
        use WireError::*;
        match self {
            Truncated { .. } => "truncated",
            InvalidMajorVersion(_) => "invalid_major_version",
            InvalidMinorVersion(_) => "invalid_minor_version",
            InvalidFlags(_) => "invalid_flags",
            MessageLengthTooSmall(_) => "message_length_too_small",
            MessageLengthMismatch { .. } => "message_length_mismatch",
            EmptyEncryptedBody => "empty_encrypted_body",
            InvalidPayloadType(_) => "invalid_payload_type",
            PayloadTooShort { .. } => "payload_too_short",
            PayloadOverrun { .. } => "payload_overrun",
            TrailingBytes { .. } => "trailing_bytes",
            TrailingData { .. } => "trailing_data",
            NonZeroReserved { .. } => "non_zero_reserved",
            TooManyPayloads { .. } => "too_many_payloads",
            Empty { .. } => "empty",
            InvalidNonceLength(_) => "invalid_nonce_length",
            UnsupportedDoi(_) => "unsupported_doi",
            UnsupportedSituation(_) => "unsupported_situation",
            NoProposals => "no_proposals",
            NoTransforms => "no_transforms",
            ProposalNextPayload(_) => "proposal_next_payload",
            TransformNextPayload(_) => "transform_next_payload",
            TransformCountMismatch { .. } => "transform_count_mismatch",
            SubstructureLength { .. } => "substructure_length",
            TooManyProposals { .. } => "too_many_proposals",
            TooManyTransforms { .. } => "too_many_transforms",
            AttributeOverrun { .. } => "attribute_overrun",
            TooManyAttributes { .. } => "too_many_attributes",
            AttributeFormat { .. } => "attribute_format",
            AttributeLength { .. } => "attribute_length",
            InvalidIdData { .. } => "invalid_id_data",
            InvalidSpi { .. } => "invalid_spi",
            DeleteSpiCount { .. } => "delete_spi_count",
            InvalidNotifyData { .. } => "invalid_notify_data",
            InvalidNatOa { .. } => "invalid_nat_oa",
            InvalidFragmentNumber => "invalid_fragment_number",
            InvalidEncapsulation(_) => "invalid_encapsulation",
        }
    }
}

/// Why a value could not be emitted: it would not fit its length field, or the parser would
/// refuse it. Emission never produces bytes that [`super::Message::parse`] rejects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// A length or count does not fit its field, or exceeds a codec limit.
    #[error("{what} too long: {length} > {max}")]
    TooLong {
        /// The field.
        what: &'static str,
        /// The length or count.
        length: usize,
        /// The largest value allowed.
        max: usize,
    },
    /// A value that the parser would reject (an empty KE, a TV attribute type above 0x7fff,
    /// a Proposal payload in a top-level chain, ...).
    #[error("invalid {what}")]
    Invalid {
        /// The field.
        what: &'static str,
    },
}
