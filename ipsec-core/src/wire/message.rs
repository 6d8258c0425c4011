//! Whole ISAKMP messages: the header and either a plaintext payload chain or, with the
//! Encryption flag, the ciphertext (RFC 2408 §3.1; RFC 2409 §5 and Appendix B).

use super::MAX_MESSAGE_LEN;
use super::codec::Writer;
use super::error::{EmitError, WireError};
use super::header::{Flags, HEADER_LEN, Header};
use super::payload::{Payload, PayloadChain, PayloadType, TrailingBytes, emit_chain};

/// What follows the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body<'a> {
    /// The payloads of a message without the Encryption flag.
    Plain(PayloadChain<'a>),
    /// The encrypted payloads, as received (header excluded). Decrypt, then parse with
    /// [`PayloadChain::parse`] (`first` = [`Header::next_payload`],
    /// [`TrailingBytes::Allowed`] for the padding).
    Encrypted(&'a [u8]),
}

/// A parsed ISAKMP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    /// The header.
    pub header: Header,
    /// The body.
    pub body: Body<'a>,
    /// The whole message: what RFC 2409 Appendix B takes the last ciphertext block from to
    /// chain IVs, and what retransmission detection compares.
    pub bytes: &'a [u8],
}

impl<'a> Message<'a> {
    /// Parse an ISAKMP message occupying all of `datagram` (after any Non-ESP Marker: see
    /// [`super::framing`]).
    ///
    /// The header is validated by [`Header::parse`]; its Length must equal the datagram's
    /// size (RFC 2408 §5.1 "MUST be rejected" otherwise: a longer datagram is not accepted
    /// with trailing bytes ignored, it is [`WireError::MessageLengthMismatch`]). Without the
    /// E flag the payload chain is walked ([`PayloadChain::parse`]; after the last payload only
    /// up to 3 zero bytes of alignment padding, [`TrailingBytes::AlignmentPadding`]);
    /// with it, the body must not be empty and is returned as is.
    pub fn parse(datagram: &'a [u8]) -> Result<Self, WireError> {
        let header = Header::parse(datagram)?;
        if usize::try_from(header.length).ok() != Some(datagram.len()) {
            return Err(WireError::MessageLengthMismatch {
                header: header.length,
                datagram: datagram.len(),
            });
        }
        let body_bytes = datagram.get(HEADER_LEN..).unwrap_or_default();
        let body = if header.flags.encrypted() {
            if body_bytes.is_empty() {
                return Err(WireError::EmptyEncryptedBody);
            }
            Body::Encrypted(body_bytes)
        } else {
            Body::Plain(PayloadChain::parse(
                header.next_payload,
                body_bytes,
                TrailingBytes::AlignmentPadding,
            )?)
        };
        Ok(Message {
            header,
            body,
            bytes: datagram,
        })
    }

    /// The plaintext payload chain, if the message is not encrypted.
    pub fn payloads(&self) -> Option<&PayloadChain<'a>> {
        match &self.body {
            Body::Plain(chain) => Some(chain),
            Body::Encrypted(_) => None,
        }
    }

    /// The ciphertext, if the message is encrypted.
    pub fn ciphertext(&self) -> Option<&'a [u8]> {
        match self.body {
            Body::Plain(_) => None,
            Body::Encrypted(c) => Some(c),
        }
    }
}

fn finish_length(out: &mut Vec<u8>, start: usize) -> Result<(), EmitError> {
    let length = out.len().saturating_sub(start);
    if length > MAX_MESSAGE_LEN {
        return Err(EmitError::TooLong {
            what: "message",
            length,
            max: MAX_MESSAGE_LEN,
        });
    }
    let length = u32::try_from(length).map_err(|_| EmitError::TooLong {
        what: "message",
        length,
        max: MAX_MESSAGE_LEN,
    })?;
    out.patch_u32(start.saturating_add(24), length)
}

/// Emit a plaintext message: `header` (with the E flag cleared, Next Payload set to the first
/// payload's type, Length computed) followed by `payloads` chained. Appends to `out`.
pub fn emit_message(
    header: &Header,
    payloads: &[Payload<'_>],
    out: &mut Vec<u8>,
) -> Result<(), EmitError> {
    let start = out.len();
    let mut h = *header;
    h.flags = h.flags.without(Flags::ENCRYPTION);
    h.next_payload = payloads.first().map_or(PayloadType::None, Payload::ty);
    h.length = 0;
    h.emit(out);
    emit_chain(payloads, out)?;
    finish_length(out, start)
}

/// Emit an encrypted message: `header` with the E flag set and Length computed, Next Payload
/// `first_payload` (the type of the first encrypted payload, as returned by
/// [`emit_chain`]), then `ciphertext`. Appends to `out`.
pub fn emit_encrypted_message(
    header: &Header,
    first_payload: PayloadType,
    ciphertext: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), EmitError> {
    if ciphertext.is_empty() {
        return Err(EmitError::Invalid {
            what: "empty ciphertext",
        });
    }
    if first_payload.is_substructure() {
        return Err(EmitError::Invalid {
            what: "first payload type",
        });
    }
    let start = out.len();
    let mut h = *header;
    h.flags = h.flags.with(Flags::ENCRYPTION);
    h.next_payload = first_payload;
    h.length = 0;
    h.emit(out);
    out.put_slice(ciphertext);
    finish_length(out, start)
}
