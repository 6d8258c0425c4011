//! NAT traversal payloads: NAT-D (RFC 3947 §3.2) and NAT-OA (RFC 3947 §5.2), under their RFC
//! payload numbers (20, 21) and the numbers of draft-ietf-ipsec-nat-t-ike-02/03 (130, 131),
//! which older clients still use when they negotiated a draft Vendor ID.
//!
//! ```text
//! NAT-D body:   HASH of (cookies, address, port) ...
//! NAT-OA body:  ID Type (1) | RESERVED (1) | RESERVED (2) | IPv4 (4) or IPv6 (16) address
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::codec::{Reader, Writer};
use super::error::{EmitError, WireError};
use super::id::IdType;
use super::payload::PayloadType;

/// Which payload numbering a NAT-T payload was sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NatNumbering {
    /// RFC 3947: NAT-D 20, NAT-OA 21.
    Rfc3947,
    /// draft-ietf-ipsec-nat-t-ike-02/03: NAT-D 130, NAT-OA 131.
    Draft,
}

/// The NAT-D payload body: a hash, HASH(CKY-I | CKY-R | IP | Port) with the negotiated hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NatD<'a> {
    /// The hash, never empty.
    pub hash: &'a [u8],
    /// The payload number in use.
    pub numbering: NatNumbering,
}

impl<'a> NatD<'a> {
    /// Parse a NAT-D body (`draft`: it came as payload 130).
    pub fn parse(body: &'a [u8], draft: bool) -> Result<Self, WireError> {
        if body.is_empty() {
            return Err(WireError::Empty { what: "NAT-D hash" });
        }
        Ok(NatD {
            hash: body,
            numbering: if draft {
                NatNumbering::Draft
            } else {
                NatNumbering::Rfc3947
            },
        })
    }

    /// The payload type to announce.
    pub fn payload_type(&self) -> PayloadType {
        match self.numbering {
            NatNumbering::Rfc3947 => PayloadType::NatD,
            NatNumbering::Draft => PayloadType::NatDDraft,
        }
    }

    /// Write the body.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), EmitError> {
        if self.hash.is_empty() {
            return Err(EmitError::Invalid {
                what: "empty NAT-D hash",
            });
        }
        out.put_slice(self.hash);
        Ok(())
    }
}

/// The NAT-OA payload body: the original address of the sender as it knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NatOa {
    /// The original address (ID_IPV4_ADDR or ID_IPV6_ADDR on the wire).
    pub address: IpAddr,
    /// The payload number in use.
    pub numbering: NatNumbering,
}

impl NatOa {
    /// Parse a NAT-OA body (`draft`: it came as payload 131). The ID type must be
    /// ID_IPV4_ADDR with 4 address bytes or ID_IPV6_ADDR with 16 (RFC 3947 §5.2), else
    /// [`WireError::InvalidNatOa`].
    pub fn parse(body: &[u8], draft: bool) -> Result<Self, WireError> {
        let mut r = Reader::new(body, "NAT-OA payload");
        let id_type = r.u8()?;
        r.reserved(3, "NAT-OA")?;
        let addr = r.rest();
        let invalid = WireError::InvalidNatOa {
            id_type,
            length: addr.len(),
        };
        let address = match IdType::from(id_type) {
            IdType::Ipv4Addr => IpAddr::V4(Ipv4Addr::from(
                <[u8; 4]>::try_from(addr).map_err(|_| invalid)?,
            )),
            IdType::Ipv6Addr => IpAddr::V6(Ipv6Addr::from(
                <[u8; 16]>::try_from(addr).map_err(|_| invalid)?,
            )),
            _ => return Err(invalid),
        };
        Ok(NatOa {
            address,
            numbering: if draft {
                NatNumbering::Draft
            } else {
                NatNumbering::Rfc3947
            },
        })
    }

    /// The payload type to announce.
    pub fn payload_type(&self) -> PayloadType {
        match self.numbering {
            NatNumbering::Rfc3947 => PayloadType::NatOa,
            NatNumbering::Draft => PayloadType::NatOaDraft,
        }
    }

    /// Write the body.
    pub fn emit(&self, out: &mut Vec<u8>) {
        match self.address {
            IpAddr::V4(a) => {
                out.put_u8(IdType::Ipv4Addr.value());
                out.put_slice(&[0, 0, 0]);
                out.put_slice(&a.octets());
            }
            IpAddr::V6(a) => {
                out.put_u8(IdType::Ipv6Addr.value());
                out.put_slice(&[0, 0, 0]);
                out.put_slice(&a.octets());
            }
        }
    }
}
