//! The Notification payload (RFC 2408 §3.14) and the notify message types of RFC 2408
//! §3.14.1, RFC 2407 §4.6.3, RFC 3706 (DPD) and the vendor extensions seen with IKEv1.
//!
//! ```text
//! Notification body:  DOI (4) | Protocol-ID (1) | SPI Size (1) | Notify Message Type (2)
//!                     | SPI (SPI Size) | Notification Data ...
//! ```

use std::borrow::Cow;

use super::attributes::{DataAttribute, parse_attributes};
use super::codec::{Reader, Writer, len_u8, wire_enum};
use super::error::{EmitError, WireError};
use super::sa::ProtocolId;

wire_enum! {
    /// Notify Message Type.
    pub enum NotifyType: u16 {
        /// INVALID-PAYLOAD-TYPE (RFC 2408 §3.14.1).
        InvalidPayloadType = 1,
        /// DOI-NOT-SUPPORTED.
        DoiNotSupported = 2,
        /// SITUATION-NOT-SUPPORTED.
        SituationNotSupported = 3,
        /// INVALID-COOKIE.
        InvalidCookie = 4,
        /// INVALID-MAJOR-VERSION.
        InvalidMajorVersion = 5,
        /// INVALID-MINOR-VERSION.
        InvalidMinorVersion = 6,
        /// INVALID-EXCHANGE-TYPE.
        InvalidExchangeType = 7,
        /// INVALID-FLAGS.
        InvalidFlags = 8,
        /// INVALID-MESSAGE-ID.
        InvalidMessageId = 9,
        /// INVALID-PROTOCOL-ID.
        InvalidProtocolId = 10,
        /// INVALID-SPI.
        InvalidSpi = 11,
        /// INVALID-TRANSFORM-ID.
        InvalidTransformId = 12,
        /// ATTRIBUTES-NOT-SUPPORTED.
        AttributesNotSupported = 13,
        /// NO-PROPOSAL-CHOSEN.
        NoProposalChosen = 14,
        /// BAD-PROPOSAL-SYNTAX.
        BadProposalSyntax = 15,
        /// PAYLOAD-MALFORMED.
        PayloadMalformed = 16,
        /// INVALID-KEY-INFORMATION.
        InvalidKeyInformation = 17,
        /// INVALID-ID-INFORMATION.
        InvalidIdInformation = 18,
        /// INVALID-CERT-ENCODING.
        InvalidCertEncoding = 19,
        /// INVALID-CERTIFICATE.
        InvalidCertificate = 20,
        /// CERT-TYPE-UNSUPPORTED.
        CertTypeUnsupported = 21,
        /// INVALID-CERT-AUTHORITY.
        InvalidCertAuthority = 22,
        /// INVALID-HASH-INFORMATION.
        InvalidHashInformation = 23,
        /// AUTHENTICATION-FAILED.
        AuthenticationFailed = 24,
        /// INVALID-SIGNATURE.
        InvalidSignature = 25,
        /// ADDRESS-NOTIFICATION.
        AddressNotification = 26,
        /// NOTIFY-SA-LIFETIME.
        NotifySaLifetime = 27,
        /// CERTIFICATE-UNAVAILABLE.
        CertificateUnavailable = 28,
        /// UNSUPPORTED-EXCHANGE-TYPE.
        UnsupportedExchangeType = 29,
        /// UNEQUAL-PAYLOAD-LENGTHS.
        UnequalPayloadLengths = 30,
        /// CONNECTED (RFC 2408 §3.14.1, status; answer to the Commit bit).
        Connected = 16384,
        /// RESPONDER-LIFETIME (RFC 2407 §4.6.3.1): data is SA attributes (life type/duration).
        ResponderLifetime = 24576,
        /// REPLAY-STATUS (RFC 2407 §4.6.3.2): data is a 4-byte flag.
        ReplayStatus = 24577,
        /// INITIAL-CONTACT (RFC 2407 §4.6.3.3).
        InitialContact = 24578,
        /// R-U-THERE (RFC 3706 §5.1): data is a 4-byte sequence number.
        DpdRUThere = 36136,
        /// R-U-THERE-ACK (RFC 3706 §5.1): data echoes the sequence number.
        DpdRUThereAck = 36137,
        /// Cisco Unity load balancing (redirect), as named by strongSwan's notify_payload.h.
        UnityLoadBalance = 40501,
    }
}

impl NotifyType {
    /// RFC 2408 §3.14.1: values below 8192 are errors; 16384 and above are status messages.
    pub fn is_error(self) -> bool {
        self.value() < 16384
    }
}

/// The Notification payload body.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Notification<'a> {
    /// Domain of Interpretation (1 for IPsec; some implementations send 0).
    pub doi: u32,
    /// Protocol-ID the notification is about.
    pub protocol: ProtocolId,
    /// The SPI (16 bytes, both cookies, for ISAKMP in DPD; 4 for AH/ESP; may be empty).
    pub spi: &'a [u8],
    /// Notify Message Type.
    pub notify_type: NotifyType,
    /// Notification data.
    pub data: Cow<'a, [u8]>,
}

impl<'a> Notification<'a> {
    /// Parse a Notification payload body. The data of DPD and REPLAY-STATUS notifications
    /// must be 4 bytes (RFC 3706 §5.1, RFC 2407 §4.6.3.2) and that of RESPONDER-LIFETIME a
    /// list of data attributes (RFC 2407 §4.6.3.1); other types' data is opaque.
    pub fn parse(body: &'a [u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(body, "notification payload");
        let doi = r.u32()?;
        let protocol = ProtocolId::from(r.u8()?);
        let spi_size = r.u8()?;
        let notify_type = NotifyType::from(r.u16()?);
        let spi = r.take(usize::from(spi_size))?;
        let data = r.rest();
        let n = Notification {
            doi,
            protocol,
            spi,
            notify_type,
            data: Cow::Borrowed(data),
        };
        n.check_data()?;
        Ok(n)
    }

    fn check_data(&self) -> Result<(), WireError> {
        match self.notify_type {
            NotifyType::DpdRUThere | NotifyType::DpdRUThereAck | NotifyType::ReplayStatus => {
                self.u32_data().map(|_| ())
            }
            NotifyType::ResponderLifetime => self.responder_lifetime().map(|_| ()),
            _ => Ok(()),
        }
    }

    fn u32_data(&self) -> Result<u32, WireError> {
        <[u8; 4]>::try_from(&*self.data)
            .map(u32::from_be_bytes)
            .map_err(|_| WireError::InvalidNotifyData {
                notify: self.notify_type.value(),
            })
    }

    /// A DPD R-U-THERE / R-U-THERE-ACK (RFC 3706) about the ISAKMP SA `cookies` with
    /// `sequence`.
    pub fn dpd(ack: bool, cookies: &'a [u8; 16], sequence: u32) -> Self {
        Notification {
            doi: super::sa::DOI_IPSEC,
            protocol: ProtocolId::Isakmp,
            spi: cookies,
            notify_type: if ack {
                NotifyType::DpdRUThereAck
            } else {
                NotifyType::DpdRUThere
            },
            data: Cow::Owned(sequence.to_be_bytes().to_vec()),
        }
    }

    /// The DPD sequence number, for R-U-THERE and R-U-THERE-ACK.
    pub fn dpd_sequence(&self) -> Option<u32> {
        match self.notify_type {
            NotifyType::DpdRUThere | NotifyType::DpdRUThereAck => self.u32_data().ok(),
            _ => None,
        }
    }

    /// For REPLAY-STATUS: whether the sender enabled replay detection (RFC 2407 §4.6.3.2).
    pub fn replay_status(&self) -> Option<bool> {
        match self.notify_type {
            NotifyType::ReplayStatus => self.u32_data().ok().map(|v| v != 0),
            _ => None,
        }
    }

    /// For RESPONDER-LIFETIME: the SA attributes (life type/duration pairs) of the data.
    pub fn responder_lifetime(&self) -> Result<Vec<DataAttribute<'_>>, WireError> {
        parse_attributes(&self.data)
    }

    /// Write the body.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), EmitError> {
        self.check_data().map_err(|_| EmitError::Invalid {
            what: "notification data for its type",
        })?;
        out.put_u32(self.doi);
        out.put_u8(self.protocol.value());
        out.put_u8(len_u8("notification SPI size", self.spi.len())?);
        out.put_u16(self.notify_type.value());
        out.put_slice(self.spi);
        out.put_slice(&self.data);
        Ok(())
    }
}
