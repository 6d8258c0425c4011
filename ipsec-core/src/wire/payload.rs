//! Payload types, the generic payload header (RFC 2408 §3.2) and payload chains.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ! Next Payload  !   RESERVED    !         Payload Length        !
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Parsing happens in two steps. [`PayloadChain::parse`] walks the generic headers only: it
//! checks every RESERVED byte, every Payload Length and the payload count, and records each
//! payload as a [`RawPayload`] (type, bytes with header, body). [`RawPayload::decode`] then
//! turns one payload into a typed [`Payload`]. The engine needs both views: IKEv1 hashes are
//! computed over raw bytes (HASH_I over SAi_b and IDii_b, the bodies; quick-mode HASH(1) over
//! every payload after the HASH payload, headers included: [`PayloadChain::bytes_from`]).
//!
//! **RESERVED.** IKEv1 has no critical bit. RFC 2408 §2.5.2 says the receiver "SHOULD check
//! the RESERVED fields for a zero (0) value and discard the packet if other values are
//! found", and §5.3 step 2 that the message "is discarded" with BAD-PROPOSAL-SYNTAX or
//! PAYLOAD-MALFORMED. This codec follows that: any non-zero RESERVED field, in any payload or
//! substructure, is [`WireError::NonZeroReserved`] (PAYLOAD-MALFORMED). A consequence the
//! fuzzer relies on: everything the parser accepts re-emits to the identical bytes.
//!
//! **Unknown payload types.** RFC 2408 §5.3 step 1 has the message discarded with
//! INVALID-PAYLOAD-TYPE when a Next Payload is not valid, but "valid" depends on the exchange
//! and on which extensions were negotiated (private-use 128-255 included). Since every
//! payload carries its length, the chain can be walked past any type: unknown ones become
//! [`Payload::Unknown`] and the engine decides. Only Proposal (2) and Transform (3), which
//! exist solely inside an SA payload, are refused in a chain
//! ([`WireError::InvalidPayloadType`]).

use super::MAX_PAYLOADS;
use super::attribute_payload::AttributePayload;
use super::cert::{Certificate, CertificateRequest};
use super::codec::{Reader, wire_enum, with_generic_header};
use super::delete::Delete;
use super::error::{EmitError, WireError};
use super::fragment::Fragment;
use super::id::Identification;
use super::nat::{NatD, NatOa};
use super::notify::Notification;
use super::sa::SecurityAssociation;
use super::vendor_id::VendorId;

/// Size of the generic payload header.
pub const GENERIC_HEADER_LEN: usize = 4;

wire_enum! {
    /// Next Payload / payload type numbers (RFC 2408 §3.1 and the extensions in use with
    /// IKEv1).
    pub enum PayloadType: u8 {
        /// No next payload: the end of a chain.
        None = 0,
        /// Security Association (RFC 2408 §3.4).
        SecurityAssociation = 1,
        /// Proposal (RFC 2408 §3.5), only inside an SA payload.
        Proposal = 2,
        /// Transform (RFC 2408 §3.6), only inside a proposal.
        Transform = 3,
        /// Key Exchange (RFC 2408 §3.7).
        KeyExchange = 4,
        /// Identification (RFC 2408 §3.8, RFC 2407 §4.6.2).
        Identification = 5,
        /// Certificate (RFC 2408 §3.9).
        Certificate = 6,
        /// Certificate Request (RFC 2408 §3.10).
        CertificateRequest = 7,
        /// Hash (RFC 2408 §3.11).
        Hash = 8,
        /// Signature (RFC 2408 §3.12).
        Signature = 9,
        /// Nonce (RFC 2408 §3.13).
        Nonce = 10,
        /// Notification (RFC 2408 §3.14).
        Notification = 11,
        /// Delete (RFC 2408 §3.15).
        Delete = 12,
        /// Vendor ID (RFC 2408 §3.16).
        VendorId = 13,
        /// Attribute payload of mode-config and XAuth (draft-dukes-ike-mode-cfg-02 §3.2).
        Attribute = 14,
        /// NAT-Discovery (RFC 3947 §3.2).
        NatD = 20,
        /// NAT-Original Address (RFC 3947 §5.2).
        NatOa = 21,
        /// NAT-D as numbered by draft-ietf-ipsec-nat-t-ike-02/03.
        NatDDraft = 130,
        /// NAT-OA as numbered by draft-ietf-ipsec-nat-t-ike-02/03.
        NatOaDraft = 131,
        /// Cisco/Microsoft IKE fragment.
        Fragment = 132,
    }
}

impl PayloadType {
    /// Proposal or Transform: types that only exist inside an SA payload.
    pub fn is_substructure(self) -> bool {
        matches!(self, PayloadType::Proposal | PayloadType::Transform)
    }
}

/// One payload as found in a chain: its type (announced by the previous header), its bytes
/// including the generic header, and where it sits in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawPayload<'a> {
    ty: PayloadType,
    next: PayloadType,
    raw: &'a [u8],
    body: &'a [u8],
    offset: usize,
}

impl<'a> RawPayload<'a> {
    /// The payload's type.
    pub fn ty(&self) -> PayloadType {
        self.ty
    }

    /// The Next Payload field of this payload's generic header.
    pub fn next_payload(&self) -> PayloadType {
        self.next
    }

    /// The payload's bytes, generic header included.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The payload's body, after the 4-byte generic header: what RFC 2409 §5 calls
    /// `SAi_b`/`IDii_b` when this is the initiator's SA/ID payload.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// Offset of this payload's generic header from the start of the chain.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Decode the body into a typed [`Payload`].
    pub fn decode(&self) -> Result<Payload<'a>, WireError> {
        Payload::decode(self.ty, self.body)
    }
}

/// What to do with bytes after the payload whose Next Payload is 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrailingBytes {
    /// Refuse them ([`WireError::TrailingBytes`]): a plaintext message must end with its last
    /// payload (RFC 2408 §5.1).
    Forbidden,
    /// Keep them aside as [`PayloadChain::trailing`]: a decrypted body carries cipher padding
    /// after its last payload (RFC 2409 Appendix B), which is not part of any payload.
    Allowed,
    /// Keep aside at most [`MAX_ALIGNMENT_PADDING`] zero bytes, refuse anything else. RFC 2408
    /// §5.1 has a plaintext message end with its last payload, but libreswan pads a plaintext
    /// message to a multiple of 4 bytes inside the header's Length (seen in main mode message 2
    /// when a transform's attributes leave the SA payload unaligned); refusing that breaks
    /// interop while accepting it costs nothing.
    AlignmentPadding,
}

/// The most zero bytes [`TrailingBytes::AlignmentPadding`] accepts: padding to 4 bytes.
pub const MAX_ALIGNMENT_PADDING: usize = 3;

/// A parsed chain of payloads: the plaintext part of a message, or a decrypted body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadChain<'a> {
    first: PayloadType,
    bytes: &'a [u8],
    trailing: &'a [u8],
    payloads: Vec<RawPayload<'a>>,
}

impl<'a> PayloadChain<'a> {
    /// Walk the chain that starts with a payload of type `first` at the start of `buf`
    /// (`first` is the Next Payload of the ISAKMP header).
    ///
    /// Checks for every payload: that a 4-byte generic header is there, that RESERVED is zero,
    /// that Payload Length is at least 4 and does not run past `buf`, that the type is not
    /// Proposal/Transform, and that there are at most [`MAX_PAYLOADS`]. Bodies are not
    /// decoded. What follows the last payload is handled as `trailing` says.
    pub fn parse(
        first: PayloadType,
        buf: &'a [u8],
        trailing: TrailingBytes,
    ) -> Result<Self, WireError> {
        let mut payloads = Vec::new();
        let mut ty = first;
        let mut r = Reader::new(buf, "generic payload header");
        while ty != PayloadType::None {
            if payloads.len() >= MAX_PAYLOADS {
                return Err(WireError::TooManyPayloads {
                    limit: MAX_PAYLOADS,
                });
            }
            if ty.is_substructure() {
                return Err(WireError::InvalidPayloadType(ty.value()));
            }
            let offset = buf.len().saturating_sub(r.remaining());
            let mut header = r;
            let next = PayloadType::from(header.u8()?);
            header.reserved(1, "generic payload header")?;
            let length = header.u16()?;
            if usize::from(length) < GENERIC_HEADER_LEN {
                return Err(WireError::PayloadTooShort {
                    payload: ty.value(),
                    length,
                    min: GENERIC_HEADER_LEN as u16,
                });
            }
            let available = r.remaining();
            let raw = r
                .take(usize::from(length))
                .map_err(|_| WireError::PayloadOverrun {
                    payload: ty.value(),
                    length,
                    available,
                })?;
            let body = raw.get(GENERIC_HEADER_LEN..).unwrap_or_default();
            payloads.push(RawPayload {
                ty,
                next,
                raw,
                body,
                offset,
            });
            ty = next;
        }
        let end = buf.len().saturating_sub(r.remaining());
        let rest = r.rest();
        let refused = match trailing {
            TrailingBytes::Forbidden => !rest.is_empty(),
            TrailingBytes::Allowed => false,
            TrailingBytes::AlignmentPadding => {
                rest.len() > MAX_ALIGNMENT_PADDING || rest.iter().any(|&b| b != 0)
            }
        };
        if refused {
            return Err(WireError::TrailingBytes { count: rest.len() });
        }
        Ok(PayloadChain {
            first,
            bytes: buf.get(..end).unwrap_or_default(),
            trailing: rest,
            payloads,
        })
    }

    /// The type of the first payload (`None` for an empty chain).
    pub fn first(&self) -> PayloadType {
        self.first
    }

    /// The payloads in order.
    pub fn payloads(&self) -> &[RawPayload<'a>] {
        &self.payloads
    }

    /// Iterate over the payloads in order.
    pub fn iter(&self) -> std::slice::Iter<'_, RawPayload<'a>> {
        self.payloads.iter()
    }

    /// Number of payloads.
    pub fn len(&self) -> usize {
        self.payloads.len()
    }

    /// Whether the chain has no payload.
    pub fn is_empty(&self) -> bool {
        self.payloads.is_empty()
    }

    /// The `k`-th payload.
    pub fn get(&self, k: usize) -> Option<&RawPayload<'a>> {
        self.payloads.get(k)
    }

    /// The first payload of type `ty`.
    pub fn find(&self, ty: PayloadType) -> Option<&RawPayload<'a>> {
        self.payloads.iter().find(|p| p.ty == ty)
    }

    /// Every payload of type `ty`, in order.
    pub fn filter(&self, ty: PayloadType) -> impl Iterator<Item = &RawPayload<'a>> {
        self.payloads.iter().filter(move |p| p.ty == ty)
    }

    /// The bytes of the whole chain, from the first generic header to the end of the last
    /// payload (padding excluded).
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The bytes from the generic header of payload `k` to the end of the chain (padding
    /// excluded): what quick-mode HASH(1) and HASH(2) and the informational HASH are computed
    /// over when `k` is the payload after the HASH payload (RFC 2409 §5.5, §5.7). `Some(&[])`
    /// when `k` is the number of payloads; `None` past that.
    pub fn bytes_from(&self, k: usize) -> Option<&'a [u8]> {
        if k == self.payloads.len() {
            return Some(&[]);
        }
        let offset = self.payloads.get(k)?.offset;
        self.bytes.get(offset..)
    }

    /// What followed the last payload: cipher padding of a decrypted body, empty otherwise.
    pub fn trailing(&self) -> &'a [u8] {
        self.trailing
    }

    /// Decode every payload.
    pub fn decode(&self) -> Result<Vec<Payload<'a>>, WireError> {
        self.payloads.iter().map(RawPayload::decode).collect()
    }
}

impl<'a, 'c> IntoIterator for &'c PayloadChain<'a> {
    type Item = &'c RawPayload<'a>;
    type IntoIter = std::slice::Iter<'c, RawPayload<'a>>;
    fn into_iter(self) -> Self::IntoIter {
        self.payloads.iter()
    }
}

/// A typed payload, borrowing from the message it was parsed from (or from the caller's
/// buffers when built for emission).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload<'a> {
    /// Security Association (1).
    SecurityAssociation(SecurityAssociation<'a>),
    /// Key Exchange (4): the public DH value, never empty.
    KeyExchange(&'a [u8]),
    /// Identification (5).
    Identification(Identification<'a>),
    /// Certificate (6).
    Certificate(Certificate<'a>),
    /// Certificate Request (7).
    CertificateRequest(CertificateRequest<'a>),
    /// Hash (8), never empty.
    Hash(&'a [u8]),
    /// Signature (9), never empty.
    Signature(&'a [u8]),
    /// Nonce (10), 8..=256 bytes (RFC 2409 §5).
    Nonce(&'a [u8]),
    /// Notification (11).
    Notification(Notification<'a>),
    /// Delete (12).
    Delete(Delete<'a>),
    /// Vendor ID (13).
    VendorId(VendorId<'a>),
    /// Mode-config / XAuth attribute payload (14).
    Attribute(AttributePayload<'a>),
    /// NAT-D (20, or 130 in the drafts).
    NatD(NatD<'a>),
    /// NAT-OA (21, or 131 in the drafts).
    NatOa(NatOa),
    /// IKE fragment (132).
    Fragment(Fragment<'a>),
    /// A payload type this codec does not interpret, kept raw for the engine to judge.
    Unknown {
        /// The payload type number.
        ty: u8,
        /// The body after the generic header.
        body: &'a [u8],
    },
}

impl<'a> Payload<'a> {
    /// Decode the body of a payload of type `ty`.
    pub fn decode(ty: PayloadType, body: &'a [u8]) -> Result<Self, WireError> {
        Ok(match ty {
            PayloadType::SecurityAssociation => {
                Payload::SecurityAssociation(SecurityAssociation::parse(body)?)
            }
            PayloadType::KeyExchange => Payload::KeyExchange(non_empty(body, "KE data")?),
            PayloadType::Identification => Payload::Identification(Identification::parse(body)?),
            PayloadType::Certificate => Payload::Certificate(Certificate::parse(body)?),
            PayloadType::CertificateRequest => {
                Payload::CertificateRequest(CertificateRequest::parse(body)?)
            }
            PayloadType::Hash => Payload::Hash(non_empty(body, "hash data")?),
            PayloadType::Signature => Payload::Signature(non_empty(body, "signature data")?),
            PayloadType::Nonce => Payload::Nonce(check_nonce(body)?),
            PayloadType::Notification => Payload::Notification(Notification::parse(body)?),
            PayloadType::Delete => Payload::Delete(Delete::parse(body)?),
            PayloadType::VendorId => Payload::VendorId(VendorId::parse(body)?),
            PayloadType::Attribute => Payload::Attribute(AttributePayload::parse(body)?),
            PayloadType::NatD => Payload::NatD(NatD::parse(body, false)?),
            PayloadType::NatDDraft => Payload::NatD(NatD::parse(body, true)?),
            PayloadType::NatOa => Payload::NatOa(NatOa::parse(body, false)?),
            PayloadType::NatOaDraft => Payload::NatOa(NatOa::parse(body, true)?),
            PayloadType::Fragment => Payload::Fragment(Fragment::parse(body)?),
            PayloadType::None | PayloadType::Proposal | PayloadType::Transform => {
                return Err(WireError::InvalidPayloadType(ty.value()));
            }
            PayloadType::Unknown(n) => Payload::Unknown { ty: n, body },
        })
    }

    /// This payload's type number.
    pub fn ty(&self) -> PayloadType {
        match self {
            Payload::SecurityAssociation(_) => PayloadType::SecurityAssociation,
            Payload::KeyExchange(_) => PayloadType::KeyExchange,
            Payload::Identification(_) => PayloadType::Identification,
            Payload::Certificate(_) => PayloadType::Certificate,
            Payload::CertificateRequest(_) => PayloadType::CertificateRequest,
            Payload::Hash(_) => PayloadType::Hash,
            Payload::Signature(_) => PayloadType::Signature,
            Payload::Nonce(_) => PayloadType::Nonce,
            Payload::Notification(_) => PayloadType::Notification,
            Payload::Delete(_) => PayloadType::Delete,
            Payload::VendorId(_) => PayloadType::VendorId,
            Payload::Attribute(_) => PayloadType::Attribute,
            Payload::NatD(n) => n.payload_type(),
            Payload::NatOa(n) => n.payload_type(),
            Payload::Fragment(_) => PayloadType::Fragment,
            Payload::Unknown { ty, .. } => PayloadType::from(*ty),
        }
    }

    /// Write the body (without the generic header).
    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), EmitError> {
        match self {
            Payload::SecurityAssociation(sa) => sa.emit(out),
            Payload::KeyExchange(data) => emit_non_empty(out, data, "KE data"),
            Payload::Identification(id) => id.emit(out),
            Payload::Certificate(c) => c.emit(out),
            Payload::CertificateRequest(c) => {
                c.emit(out);
                Ok(())
            }
            Payload::Hash(data) => emit_non_empty(out, data, "hash data"),
            Payload::Signature(data) => emit_non_empty(out, data, "signature data"),
            Payload::Nonce(data) => {
                check_nonce(data).map_err(|_| EmitError::Invalid {
                    what: "nonce length (8..=256)",
                })?;
                out.extend_from_slice(data);
                Ok(())
            }
            Payload::Notification(n) => n.emit(out),
            Payload::Delete(d) => d.emit(out),
            Payload::VendorId(v) => {
                v.emit(out);
                Ok(())
            }
            Payload::Attribute(a) => a.emit(out),
            Payload::NatD(n) => n.emit(out),
            Payload::NatOa(n) => {
                n.emit(out);
                Ok(())
            }
            Payload::Fragment(f) => f.emit(out),
            Payload::Unknown { ty, body } => {
                let ty = PayloadType::from(*ty);
                if !matches!(ty, PayloadType::Unknown(_)) {
                    return Err(EmitError::Invalid {
                        what: "Payload::Unknown with a known payload type",
                    });
                }
                out.extend_from_slice(body);
                Ok(())
            }
        }
    }

    /// Write the payload with its generic header; `next` is the type of the payload that
    /// follows (`PayloadType::None` for the last).
    pub fn emit(&self, next: PayloadType, out: &mut Vec<u8>) -> Result<(), EmitError> {
        with_generic_header(out, next.value(), "payload length", |out| {
            self.emit_body(out)
        })
    }
}

fn non_empty<'a>(body: &'a [u8], what: &'static str) -> Result<&'a [u8], WireError> {
    if body.is_empty() {
        Err(WireError::Empty { what })
    } else {
        Ok(body)
    }
}

fn emit_non_empty(out: &mut Vec<u8>, data: &[u8], what: &'static str) -> Result<(), EmitError> {
    if data.is_empty() {
        return Err(EmitError::Invalid { what });
    }
    out.extend_from_slice(data);
    Ok(())
}

/// RFC 2409 §5: "The length of nonce payload MUST be between 8 and 256 bytes inclusive."
fn check_nonce(body: &[u8]) -> Result<&[u8], WireError> {
    if (8..=256).contains(&body.len()) {
        Ok(body)
    } else {
        Err(WireError::InvalidNonceLength(body.len()))
    }
}

/// Emit `payloads` as a chain, each Next Payload pointing at its successor and the last at
/// 0. Returns the type of the first payload (for the ISAKMP header's Next Payload). This is
/// the plaintext that the engine pads and encrypts for messages with the E flag.
pub fn emit_chain(payloads: &[Payload<'_>], out: &mut Vec<u8>) -> Result<PayloadType, EmitError> {
    if payloads.len() > MAX_PAYLOADS {
        return Err(EmitError::TooLong {
            what: "payload chain",
            length: payloads.len(),
            max: MAX_PAYLOADS,
        });
    }
    let mut iter = payloads.iter().peekable();
    while let Some(p) = iter.next() {
        let next = iter.peek().map_or(PayloadType::None, |n| n.ty());
        p.emit(next, out)?;
    }
    Ok(payloads.first().map_or(PayloadType::None, Payload::ty))
}
