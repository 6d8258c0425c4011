//! The fixed 28-byte ISAKMP header (RFC 2408 §3.1).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! !                          Initiator Cookie                     !
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! !                          Responder Cookie                     !
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! !  Next Payload ! MjVer ! MnVer ! Exchange Type !     Flags     !
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! !                          Message ID                           !
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! !                            Length                             !
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::codec::{Reader, Writer, wire_enum};
use super::error::WireError;
use super::payload::PayloadType;

/// Size of the ISAKMP header in bytes.
pub const HEADER_LEN: usize = 28;

/// An 8-byte anti-clogging cookie (RFC 2408 §2.5.3); IKEv1 uses the pair as the ISAKMP SPI.
pub type Cookie = [u8; 8];

/// The version byte this codec speaks and accepts: major 1, minor 0 (RFC 2408 §3.1).
pub const ISAKMP_VERSION: u8 = 0x10;

wire_enum! {
    /// The Exchange Type field (RFC 2408 §3.1 and §4; RFC 2409 §5, §9; mode-config drafts).
    /// Values this codec does not know are kept as [`ExchangeType::Unknown`]: whether to
    /// answer INVALID-EXCHANGE-TYPE is the engine's decision (RFC 2408 §5.2 step 4).
    pub enum ExchangeType: u8 {
        /// Base exchange (RFC 2408 §4.4).
        Base = 1,
        /// Identity Protection, IKEv1 Main Mode (RFC 2408 §4.5, RFC 2409 §5).
        IdentityProtection = 2,
        /// Authentication Only (RFC 2408 §4.6).
        AuthenticationOnly = 3,
        /// Aggressive (RFC 2408 §4.7, RFC 2409 §5).
        Aggressive = 4,
        /// Informational (RFC 2408 §4.8, RFC 2409 §5.7).
        Informational = 5,
        /// ISAKMP Transaction, used by mode-config and XAuth
        /// (draft-dukes-ike-mode-cfg-02 §3.1).
        Transaction = 6,
        /// Quick Mode (RFC 2409 §5.5).
        QuickMode = 32,
        /// New Group Mode (RFC 2409 §6).
        NewGroupMode = 33,
    }
}

/// The Flags field (RFC 2408 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flags(u8);

impl Flags {
    /// E(ncryption): the payloads after the header are encrypted.
    pub const ENCRYPTION: Flags = Flags(0x01);
    /// C(ommit): key exchange synchronisation.
    pub const COMMIT: Flags = Flags(0x02);
    /// A(uthentication Only): an Informational exchange with integrity but no encryption.
    pub const AUTHENTICATION_ONLY: Flags = Flags(0x04);
    /// No flag set.
    pub const NONE: Flags = Flags(0);
    /// The bits RFC 2408 defines; the others "MUST be set to 0".
    pub const DEFINED_BITS: u8 = 0x07;

    /// Flags from their wire value; `None` if an undefined bit is set.
    pub fn from_bits(bits: u8) -> Option<Flags> {
        if bits & !Self::DEFINED_BITS == 0 {
            Some(Flags(bits))
        } else {
            None
        }
    }

    /// The wire value.
    pub fn bits(self) -> u8 {
        self.0
    }

    /// Whether every flag in `other` is set.
    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// These flags with `other` added.
    pub fn with(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    /// These flags with `other` removed.
    pub fn without(self, other: Flags) -> Flags {
        Flags(self.0 & !other.0)
    }

    /// Whether the Encryption flag is set.
    pub fn encrypted(self) -> bool {
        self.contains(Flags::ENCRYPTION)
    }
}

/// A parsed (or to-be-emitted) ISAKMP header.
///
/// When emitting a whole message with [`super::emit_message`], `next_payload` and `length`
/// are computed and the values here are ignored; [`Header::emit`] writes them as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// Initiator cookie.
    pub initiator_cookie: Cookie,
    /// Responder cookie (all zero in the first message of an exchange).
    pub responder_cookie: Cookie,
    /// Type of the first payload.
    pub next_payload: PayloadType,
    /// Exchange type.
    pub exchange_type: ExchangeType,
    /// Flags.
    pub flags: Flags,
    /// Message ID: zero in phase 1, random in phase 2 (RFC 2408 §3.1).
    pub message_id: u32,
    /// Length of the whole message, header included.
    pub length: u32,
}

impl Header {
    /// Parse and validate the header at the start of `buf` (which may be longer).
    ///
    /// Checks, in order: that 28 bytes are there; the version (major 1 → else
    /// [`WireError::InvalidMajorVersion`], so IKEv2 is recognised early; minor 0); undefined
    /// flag bits; that Length is at least 28. Whether Length matches the datagram is checked
    /// by [`super::Message::parse`]. Proposal (2) and Transform (3) as first payload are
    /// rejected with [`WireError::InvalidPayloadType`].
    pub fn parse(buf: &[u8]) -> Result<Header, WireError> {
        let mut r = Reader::new(buf, "ISAKMP header");
        let initiator_cookie = r.array::<8>()?;
        let responder_cookie = r.array::<8>()?;
        let next_payload = r.u8()?;
        let version = r.u8()?;
        let exchange_type = r.u8()?;
        let flags = r.u8()?;
        let message_id = r.u32()?;
        let length = r.u32()?;

        let major = version >> 4;
        let minor = version & 0x0f;
        if major != 1 {
            return Err(WireError::InvalidMajorVersion(major));
        }
        if minor != 0 {
            return Err(WireError::InvalidMinorVersion(minor));
        }
        let flags = Flags::from_bits(flags).ok_or(WireError::InvalidFlags(flags))?;
        if usize::try_from(length).is_ok_and(|l| l < HEADER_LEN) {
            return Err(WireError::MessageLengthTooSmall(length));
        }
        let next_payload = PayloadType::from(next_payload);
        if next_payload.is_substructure() {
            return Err(WireError::InvalidPayloadType(next_payload.value()));
        }
        Ok(Header {
            initiator_cookie,
            responder_cookie,
            next_payload,
            exchange_type: ExchangeType::from(exchange_type),
            flags,
            message_id,
            length,
        })
    }

    /// Write the 28 header bytes exactly as they are in `self`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_slice(&self.initiator_cookie);
        out.put_slice(&self.responder_cookie);
        out.put_u8(self.next_payload.value());
        out.put_u8(ISAKMP_VERSION);
        out.put_u8(self.exchange_type.value());
        out.put_u8(self.flags.bits());
        out.put_u32(self.message_id);
        out.put_u32(self.length);
    }
}
