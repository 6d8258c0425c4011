//! The Identification payload (RFC 2408 §3.8) with the IPsec DOI content (RFC 2407 §4.6.2).
//!
//! ```text
//! ID body:  ID Type (1) | Protocol ID (1) | Port (2) | Identification Data ...
//! ```
//!
//! The body as a whole is what RFC 2409 §5 hashes as `IDii_b`/`IDir_b`: take it from
//! [`super::RawPayload::body`]. This module gives the fields and a typed [`IdValue`].

use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::codec::{Reader, Writer, wire_enum};
use super::error::{EmitError, WireError};

wire_enum! {
    /// Identification Type Values (RFC 2407 §4.6.2.1).
    pub enum IdType: u8 {
        /// ID_IPV4_ADDR: 4 bytes.
        Ipv4Addr = 1,
        /// ID_FQDN: a domain name, no terminator.
        Fqdn = 2,
        /// ID_USER_FQDN: user@domain.
        UserFqdn = 3,
        /// ID_IPV4_ADDR_SUBNET: address and mask, 8 bytes.
        Ipv4AddrSubnet = 4,
        /// ID_IPV6_ADDR: 16 bytes.
        Ipv6Addr = 5,
        /// ID_IPV6_ADDR_SUBNET: address and mask, 32 bytes.
        Ipv6AddrSubnet = 6,
        /// ID_IPV4_ADDR_RANGE: first and last address, 8 bytes.
        Ipv4AddrRange = 7,
        /// ID_IPV6_ADDR_RANGE: first and last address, 32 bytes.
        Ipv6AddrRange = 8,
        /// ID_DER_ASN1_DN: a DER-encoded X.500 distinguished name.
        DerAsn1Dn = 9,
        /// ID_DER_ASN1_GN: a DER-encoded X.500 general name.
        DerAsn1Gn = 10,
        /// ID_KEY_ID: opaque bytes.
        KeyId = 11,
    }
}

/// A typed view of the identification data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdValue<'a> {
    /// ID_IPV4_ADDR.
    Ipv4(Ipv4Addr),
    /// ID_FQDN (bytes as sent; not necessarily UTF-8).
    Fqdn(&'a [u8]),
    /// ID_USER_FQDN.
    UserFqdn(&'a [u8]),
    /// ID_IPV4_ADDR_SUBNET.
    Ipv4Subnet {
        /// Address.
        addr: Ipv4Addr,
        /// Mask.
        mask: Ipv4Addr,
    },
    /// ID_IPV6_ADDR.
    Ipv6(Ipv6Addr),
    /// ID_IPV6_ADDR_SUBNET.
    Ipv6Subnet {
        /// Address.
        addr: Ipv6Addr,
        /// Mask.
        mask: Ipv6Addr,
    },
    /// ID_IPV4_ADDR_RANGE.
    Ipv4Range {
        /// First address.
        start: Ipv4Addr,
        /// Last address.
        end: Ipv4Addr,
    },
    /// ID_IPV6_ADDR_RANGE.
    Ipv6Range {
        /// First address.
        start: Ipv6Addr,
        /// Last address.
        end: Ipv6Addr,
    },
    /// ID_DER_ASN1_DN.
    DerAsn1Dn(&'a [u8]),
    /// ID_DER_ASN1_GN.
    DerAsn1Gn(&'a [u8]),
    /// ID_KEY_ID.
    KeyId(&'a [u8]),
    /// An ID type this codec does not know.
    Unknown {
        /// ID type.
        id_type: u8,
        /// Data.
        data: &'a [u8],
    },
}

impl<'a> IdValue<'a> {
    /// The ID type of this value.
    pub fn id_type(&self) -> IdType {
        match self {
            IdValue::Ipv4(_) => IdType::Ipv4Addr,
            IdValue::Fqdn(_) => IdType::Fqdn,
            IdValue::UserFqdn(_) => IdType::UserFqdn,
            IdValue::Ipv4Subnet { .. } => IdType::Ipv4AddrSubnet,
            IdValue::Ipv6(_) => IdType::Ipv6Addr,
            IdValue::Ipv6Subnet { .. } => IdType::Ipv6AddrSubnet,
            IdValue::Ipv4Range { .. } => IdType::Ipv4AddrRange,
            IdValue::Ipv6Range { .. } => IdType::Ipv6AddrRange,
            IdValue::DerAsn1Dn(_) => IdType::DerAsn1Dn,
            IdValue::DerAsn1Gn(_) => IdType::DerAsn1Gn,
            IdValue::KeyId(_) => IdType::KeyId,
            IdValue::Unknown { id_type, .. } => IdType::from(*id_type),
        }
    }

    /// The identification data bytes for this value.
    pub fn to_data(&self) -> Cow<'a, [u8]> {
        fn cat(a: &[u8], b: &[u8]) -> Cow<'static, [u8]> {
            let mut v = Vec::with_capacity(a.len() + b.len());
            v.extend_from_slice(a);
            v.extend_from_slice(b);
            Cow::Owned(v)
        }
        match *self {
            IdValue::Ipv4(a) => Cow::Owned(a.octets().to_vec()),
            IdValue::Ipv6(a) => Cow::Owned(a.octets().to_vec()),
            IdValue::Ipv4Subnet { addr, mask } => cat(&addr.octets(), &mask.octets()),
            IdValue::Ipv6Subnet { addr, mask } => cat(&addr.octets(), &mask.octets()),
            IdValue::Ipv4Range { start, end } => cat(&start.octets(), &end.octets()),
            IdValue::Ipv6Range { start, end } => cat(&start.octets(), &end.octets()),
            IdValue::Fqdn(d)
            | IdValue::UserFqdn(d)
            | IdValue::DerAsn1Dn(d)
            | IdValue::DerAsn1Gn(d)
            | IdValue::KeyId(d)
            | IdValue::Unknown { data: d, .. } => Cow::Borrowed(d),
        }
    }
}

/// The Identification payload body.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identification<'a> {
    /// ID Type.
    pub id_type: IdType,
    /// Protocol ID (an IP protocol number; 0 = any; RFC 2407 §4.6.2: in phase 1, 0 or UDP).
    pub protocol: u8,
    /// Port (0 = any).
    pub port: u16,
    /// Identification data, matching `id_type` (checked on parse and emit).
    pub data: Cow<'a, [u8]>,
}

fn ipv4(b: &[u8]) -> Option<Ipv4Addr> {
    <[u8; 4]>::try_from(b).ok().map(Ipv4Addr::from)
}

fn ipv6(b: &[u8]) -> Option<Ipv6Addr> {
    <[u8; 16]>::try_from(b).ok().map(Ipv6Addr::from)
}

/// Decode `data` as an ID of type `id_type`, checking its length.
pub fn decode_id_value(id_type: IdType, data: &[u8]) -> Result<IdValue<'_>, WireError> {
    let invalid = || WireError::InvalidIdData {
        id_type: id_type.value(),
        length: data.len(),
    };
    let pair4 = || -> Option<(Ipv4Addr, Ipv4Addr)> {
        let (a, b) = data.split_at_checked(4)?;
        Some((ipv4(a)?, ipv4(b)?))
    };
    let pair6 = || -> Option<(Ipv6Addr, Ipv6Addr)> {
        let (a, b) = data.split_at_checked(16)?;
        Some((ipv6(a)?, ipv6(b)?))
    };
    let text = |d: &'_ [u8]| if d.is_empty() { Err(invalid()) } else { Ok(()) };
    Ok(match id_type {
        IdType::Ipv4Addr => IdValue::Ipv4(ipv4(data).ok_or_else(invalid)?),
        IdType::Ipv6Addr => IdValue::Ipv6(ipv6(data).ok_or_else(invalid)?),
        IdType::Ipv4AddrSubnet => {
            let (addr, mask) = pair4().ok_or_else(invalid)?;
            IdValue::Ipv4Subnet { addr, mask }
        }
        IdType::Ipv6AddrSubnet => {
            let (addr, mask) = pair6().ok_or_else(invalid)?;
            IdValue::Ipv6Subnet { addr, mask }
        }
        IdType::Ipv4AddrRange => {
            let (start, end) = pair4().ok_or_else(invalid)?;
            IdValue::Ipv4Range { start, end }
        }
        IdType::Ipv6AddrRange => {
            let (start, end) = pair6().ok_or_else(invalid)?;
            IdValue::Ipv6Range { start, end }
        }
        IdType::Fqdn => {
            text(data)?;
            IdValue::Fqdn(data)
        }
        IdType::UserFqdn => {
            text(data)?;
            IdValue::UserFqdn(data)
        }
        IdType::DerAsn1Dn => {
            text(data)?;
            IdValue::DerAsn1Dn(data)
        }
        IdType::DerAsn1Gn => {
            text(data)?;
            IdValue::DerAsn1Gn(data)
        }
        IdType::KeyId => {
            text(data)?;
            IdValue::KeyId(data)
        }
        IdType::Unknown(t) => IdValue::Unknown { id_type: t, data },
    })
}

impl<'a> Identification<'a> {
    /// An Identification payload for `value`.
    pub fn new(value: IdValue<'a>, protocol: u8, port: u16) -> Self {
        Identification {
            id_type: value.id_type(),
            protocol,
            port,
            data: value.to_data(),
        }
    }

    /// Parse an ID payload body; the data must match the ID type (addresses of the right
    /// size, names not empty), else [`WireError::InvalidIdData`] (INVALID-ID-INFORMATION).
    pub fn parse(body: &'a [u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(body, "ID payload");
        let id_type = IdType::from(r.u8()?);
        let protocol = r.u8()?;
        let port = r.u16()?;
        let data = r.rest();
        decode_id_value(id_type, data)?;
        Ok(Identification {
            id_type,
            protocol,
            port,
            data: Cow::Borrowed(data),
        })
    }

    /// The typed value.
    pub fn value(&self) -> Result<IdValue<'_>, WireError> {
        decode_id_value(self.id_type, &self.data)
    }

    /// Write the body.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), EmitError> {
        decode_id_value(self.id_type, &self.data).map_err(|_| EmitError::Invalid {
            what: "identification data for its type",
        })?;
        out.put_u8(self.id_type.value());
        out.put_u8(self.protocol);
        out.put_u16(self.port);
        out.put_slice(&self.data);
        Ok(())
    }
}
