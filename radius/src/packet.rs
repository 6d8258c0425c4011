//! The packet format (RFC 2865 §3): Code, Identifier, Length, Authenticator, attributes.
//!
//! Decoding takes hostile bytes: every length is checked, nothing panics, and the attribute
//! list is bounded by the packet's 4096 octets.

use crate::attr::Attribute;

/// Header size: Code, Identifier, Length (2), Authenticator (16).
pub const HEADER_LEN: usize = 20;
/// The largest packet (RFC 2865 §3).
pub const MAX_LEN: usize = 4096;
/// The largest attribute value (RFC 2865 §5: Length is one octet and counts the 2-octet header).
pub const MAX_VALUE_LEN: usize = 253;

/// Packet types (RFC 2865 §4, RFC 2866 §4, RFC 5176 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Code {
    AccessRequest,
    AccessAccept,
    AccessReject,
    AccountingRequest,
    AccountingResponse,
    AccessChallenge,
    DisconnectRequest,
    DisconnectAck,
    DisconnectNak,
    CoaRequest,
    CoaAck,
    CoaNak,
    /// Anything else: decoded so that it can be counted, never acted on.
    Other(u8),
}

impl Code {
    /// The wire value.
    pub fn value(self) -> u8 {
        match self {
            Code::AccessRequest => 1,
            Code::AccessAccept => 2,
            Code::AccessReject => 3,
            Code::AccountingRequest => 4,
            Code::AccountingResponse => 5,
            Code::AccessChallenge => 11,
            Code::DisconnectRequest => 40,
            Code::DisconnectAck => 41,
            Code::DisconnectNak => 42,
            Code::CoaRequest => 43,
            Code::CoaAck => 44,
            Code::CoaNak => 45,
            Code::Other(v) => v,
        }
    }

    /// From the wire value.
    pub fn from_value(v: u8) -> Code {
        match v {
            1 => Code::AccessRequest,
            2 => Code::AccessAccept,
            3 => Code::AccessReject,
            4 => Code::AccountingRequest,
            5 => Code::AccountingResponse,
            11 => Code::AccessChallenge,
            40 => Code::DisconnectRequest,
            41 => Code::DisconnectAck,
            42 => Code::DisconnectNak,
            43 => Code::CoaRequest,
            44 => Code::CoaAck,
            45 => Code::CoaNak,
            v => Code::Other(v),
        }
    }
}

/// Why bytes are not a RADIUS packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("shorter than the 20-octet header")]
    Truncated,
    #[error("Length field {0} outside 20..=4096")]
    BadLength(u16),
    #[error("Length field {field} exceeds the {received} octets received")]
    LengthExceedsDatagram { field: u16, received: usize },
    #[error("attribute with Length {0} (must be 2 or more)")]
    BadAttributeLength(u8),
    #[error("attribute runs past the end of the packet")]
    AttributeOverrun,
}

/// Why a packet cannot be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("attribute {0} longer than 253 octets")]
    ValueTooLong(u8),
    #[error("packet longer than 4096 octets")]
    TooLong,
}

/// A decoded packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// Code.
    pub code: Code,
    /// Identifier: matches replies to requests.
    pub identifier: u8,
    /// Request or Response Authenticator.
    pub authenticator: [u8; 16],
    /// Attributes in wire order.
    pub attributes: Vec<Attribute>,
}

impl Packet {
    /// Parses a datagram. Octets past the Length field are padding and ignored (RFC 2865 §3).
    pub fn decode(data: &[u8]) -> Result<Packet, DecodeError> {
        if data.len() < HEADER_LEN {
            return Err(DecodeError::Truncated);
        }
        let length = u16::from_be_bytes([data[2], data[3]]);
        if !(HEADER_LEN..=MAX_LEN).contains(&usize::from(length)) {
            return Err(DecodeError::BadLength(length));
        }
        if usize::from(length) > data.len() {
            return Err(DecodeError::LengthExceedsDatagram {
                field: length,
                received: data.len(),
            });
        }
        let mut authenticator = [0u8; 16];
        authenticator.copy_from_slice(&data[4..20]);
        let mut attributes = Vec::new();
        let mut rest = &data[HEADER_LEN..usize::from(length)];
        while !rest.is_empty() {
            let [ty, len, ..] = *rest else {
                return Err(DecodeError::AttributeOverrun);
            };
            if len < 2 {
                return Err(DecodeError::BadAttributeLength(len));
            }
            let len = usize::from(len);
            let Some(value) = rest.get(2..len) else {
                return Err(DecodeError::AttributeOverrun);
            };
            attributes.push(Attribute {
                ty,
                value: value.to_vec(),
            });
            rest = &rest[len..];
        }
        Ok(Packet {
            code: Code::from_value(data[0]),
            identifier: data[1],
            authenticator,
            attributes,
        })
    }

    /// The wire form, with the authenticator as it is (see [`crate::crypto`] to fill it in).
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(HEADER_LEN + 16 * self.attributes.len());
        out.push(self.code.value());
        out.push(self.identifier);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.authenticator);
        for a in &self.attributes {
            if a.value.len() > MAX_VALUE_LEN {
                return Err(EncodeError::ValueTooLong(a.ty));
            }
            out.push(a.ty);
            out.push(a.value.len() as u8 + 2);
            out.extend_from_slice(&a.value);
        }
        if out.len() > MAX_LEN {
            return Err(EncodeError::TooLong);
        }
        let len = (out.len() as u16).to_be_bytes();
        out[2..4].copy_from_slice(&len);
        Ok(out)
    }

    /// The first attribute of this type.
    pub fn attribute(&self, ty: u8) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.ty == ty)
    }

    /// Every attribute of this type, in order.
    pub fn all(&self, ty: u8) -> impl Iterator<Item = &Attribute> {
        self.attributes.iter().filter(move |a| a.ty == ty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let p = Packet {
            code: Code::AccessRequest,
            identifier: 7,
            authenticator: [9; 16],
            attributes: vec![
                Attribute::bytes(crate::attr::USER_NAME, "alice"),
                Attribute::u32(crate::attr::NAS_PORT_TYPE, 5),
            ],
        };
        let b = p.encode().unwrap();
        assert_eq!(b.len(), 20 + 7 + 6);
        assert_eq!(Packet::decode(&b).unwrap(), p);
    }

    #[test]
    fn hostile_lengths_are_errors() {
        assert_eq!(Packet::decode(&[1; 10]), Err(DecodeError::Truncated));
        let mut b = vec![1, 0, 0, 19];
        b.extend([0; 16]);
        assert_eq!(Packet::decode(&b), Err(DecodeError::BadLength(19)));
        b[3] = 30;
        assert!(matches!(
            Packet::decode(&b),
            Err(DecodeError::LengthExceedsDatagram { .. })
        ));
        b[3] = 22;
        b.extend([1, 1]);
        assert_eq!(Packet::decode(&b), Err(DecodeError::BadAttributeLength(1)));
        b[21] = 5;
        assert_eq!(Packet::decode(&b), Err(DecodeError::AttributeOverrun));
        b[3] = 21;
        b.truncate(21);
        assert_eq!(Packet::decode(&b), Err(DecodeError::AttributeOverrun));
    }

    #[test]
    fn too_long_values_are_refused() {
        let p = Packet {
            code: Code::AccessRequest,
            identifier: 0,
            authenticator: [0; 16],
            attributes: vec![Attribute::bytes(1, vec![b'a'; 254])],
        };
        assert_eq!(p.encode(), Err(EncodeError::ValueTooLong(1)));
    }
}
