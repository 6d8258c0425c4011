//! The Attribute payload (type 14) of mode-config (draft-dukes-ike-mode-cfg-02 §3.2) and
//! XAuth (draft-beaulieu-ike-xauth-02 §5), with the Cisco Unity attributes.
//!
//! ```text
//! Attribute body:  Type (1) | RESERVED (1) | Identifier (2) | Attributes (TV/TLV) ...
//! ```
//!
//! The attributes are kept raw ([`DataAttribute`]); [`ConfigAttribute::decode`] gives a typed
//! view. A request carries empty TLVs for what it asks for, so every typed value may be
//! [`ConfigValue::Empty`].

use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::MAX_SPLIT_NETWORKS;
use super::attributes::{AttributeValue, DataAttribute, emit_attributes, parse_attributes};
use super::codec::{Reader, Writer, wire_enum};
use super::error::{EmitError, WireError};

wire_enum! {
    /// The Attribute payload's Type (draft-dukes-ike-mode-cfg-02 §3.2).
    pub enum CfgType: u8 {
        /// ISAKMP_CFG_REQUEST.
        Request = 1,
        /// ISAKMP_CFG_REPLY.
        Reply = 2,
        /// ISAKMP_CFG_SET.
        Set = 3,
        /// ISAKMP_CFG_ACK.
        Ack = 4,
    }
}

wire_enum! {
    /// Configuration attribute types: mode-config (draft-dukes-ike-mode-cfg-02 §3.2, numbers
    /// shared with IKEv2's RFC 7296 §3.15.1), XAuth (draft-beaulieu-ike-xauth-02 §6.1), and
    /// Cisco Unity (numbers as in strongSwan's `attributes.h`).
    pub enum ConfigAttributeType: u16 {
        /// INTERNAL_IP4_ADDRESS.
        InternalIp4Address = 1,
        /// INTERNAL_IP4_NETMASK.
        InternalIp4Netmask = 2,
        /// INTERNAL_IP4_DNS.
        InternalIp4Dns = 3,
        /// INTERNAL_IP4_NBNS.
        InternalIp4Nbns = 4,
        /// INTERNAL_ADDRESS_EXPIRY (seconds).
        InternalAddressExpiry = 5,
        /// INTERNAL_IP4_DHCP.
        InternalIp4Dhcp = 6,
        /// APPLICATION_VERSION (a string).
        ApplicationVersion = 7,
        /// INTERNAL_IP6_ADDRESS.
        InternalIp6Address = 8,
        /// INTERNAL_IP6_NETMASK.
        InternalIp6Netmask = 9,
        /// INTERNAL_IP6_DNS.
        InternalIp6Dns = 10,
        /// INTERNAL_IP6_NBNS.
        InternalIp6Nbns = 11,
        /// INTERNAL_IP6_DHCP.
        InternalIp6Dhcp = 12,
        /// INTERNAL_IP4_SUBNET (address and mask).
        InternalIp4Subnet = 13,
        /// SUPPORTED_ATTRIBUTES (a list of 16-bit types).
        SupportedAttributes = 14,
        /// INTERNAL_IP6_SUBNET (address and prefix length).
        InternalIp6Subnet = 15,
        /// XAUTH-TYPE (basic): 0 generic, 1 RADIUS-CHAP, 2 OTP, 3 S/KEY.
        XauthType = 16520,
        /// XAUTH-USER-NAME.
        XauthUserName = 16521,
        /// XAUTH-USER-PASSWORD.
        XauthUserPassword = 16522,
        /// XAUTH-PASSCODE.
        XauthPasscode = 16523,
        /// XAUTH-MESSAGE.
        XauthMessage = 16524,
        /// XAUTH-CHALLENGE.
        XauthChallenge = 16525,
        /// XAUTH-DOMAIN.
        XauthDomain = 16526,
        /// XAUTH-STATUS (basic): 1 OK, 0 FAIL.
        XauthStatus = 16527,
        /// XAUTH-NEXT-PIN.
        XauthNextPin = 16528,
        /// XAUTH-ANSWER.
        XauthAnswer = 16529,
        /// MS proprietary INTERNAL_IP4_SERVER.
        InternalIp4Server = 23456,
        /// MS proprietary INTERNAL_IP6_SERVER.
        InternalIp6Server = 23457,
        /// UNITY_BANNER (text).
        UnityBanner = 28672,
        /// UNITY_SAVE_PASSWD (basic).
        UnitySavePasswd = 28673,
        /// UNITY_DEF_DOMAIN (text).
        UnityDefDomain = 28674,
        /// UNITY_SPLITDNS_NAME (comma-separated domains).
        UnitySplitDnsName = 28675,
        /// UNITY_SPLIT_INCLUDE (networks, [`UnitySplitNetwork`]).
        UnitySplitInclude = 28676,
        /// UNITY_NATT_PORT (basic).
        UnityNattPort = 28677,
        /// UNITY_LOCAL_LAN, split exclude (networks).
        UnityLocalLan = 28678,
        /// UNITY_PFS (basic).
        UnityPfs = 28679,
        /// UNITY_FW_TYPE.
        UnityFwType = 28680,
        /// UNITY_BACKUP_SERVERS (text).
        UnityBackupServers = 28681,
        /// UNITY_DDNS_HOSTNAME (text).
        UnityDdnsHostname = 28682,
    }
}

/// One network of a Cisco Unity split-include or local-LAN attribute.
///
/// The Cisco format is 14 bytes: address (4), mask (4), then 6 bytes that strongSwan's unity
/// plugin writes as zeros and documents as "the Cisco client parses the "padding" as
/// protocol, src and dst port". strongSwan's parser accepts the last entry without those 6
/// bytes ("the padding is optional"), so an attribute may end with an 8-byte entry:
/// [`UnitySplitNetwork::extra`] is `None` for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UnitySplitNetwork {
    /// Network address.
    pub addr: Ipv4Addr,
    /// Netmask.
    pub mask: Ipv4Addr,
    /// The 6 trailing bytes (protocol, ports for the Cisco client), or `None` for a final
    /// 8-byte entry.
    pub extra: Option<[u8; 6]>,
}

impl UnitySplitNetwork {
    /// The Cisco 14-byte entry size.
    pub const CISCO_LEN: usize = 14;
    /// The short 8-byte entry, allowed last.
    pub const SHORT_LEN: usize = 8;

    /// A network with zero padding, as strongSwan sends it.
    pub fn new(addr: Ipv4Addr, mask: Ipv4Addr) -> Self {
        UnitySplitNetwork {
            addr,
            mask,
            extra: Some([0; 6]),
        }
    }

    /// Parse a split-include/local-LAN value: 14-byte entries, the last of which may be 8
    /// bytes; anything else is [`WireError::AttributeLength`]. At most [`MAX_SPLIT_NETWORKS`].
    pub fn parse_list(ty: u16, value: &[u8]) -> Result<Vec<Self>, WireError> {
        let bad = || WireError::AttributeLength {
            ty,
            length: value.len(),
        };
        let mut r = Reader::new(value, "split network");
        let mut out =
            Vec::with_capacity((value.len() / Self::CISCO_LEN + 1).min(MAX_SPLIT_NETWORKS));
        while !r.is_empty() {
            if out.len() >= MAX_SPLIT_NETWORKS {
                return Err(bad());
            }
            let addr = Ipv4Addr::from(r.array::<4>().map_err(|_| bad())?);
            let mask = Ipv4Addr::from(r.array::<4>().map_err(|_| bad())?);
            let extra = if r.is_empty() {
                None
            } else {
                Some(r.array::<6>().map_err(|_| bad())?)
            };
            out.push(UnitySplitNetwork { addr, mask, extra });
        }
        Ok(out)
    }

    /// Encode a list; only the last entry may lack its 6 extra bytes.
    pub fn emit_list(list: &[Self], out: &mut Vec<u8>) -> Result<(), EmitError> {
        if list.len() > MAX_SPLIT_NETWORKS {
            return Err(EmitError::TooLong {
                what: "split networks",
                length: list.len(),
                max: MAX_SPLIT_NETWORKS,
            });
        }
        let last = list.len().saturating_sub(1);
        for (i, n) in list.iter().enumerate() {
            out.put_slice(&n.addr.octets());
            out.put_slice(&n.mask.octets());
            match n.extra {
                Some(extra) => out.put_slice(&extra),
                None if i == last => {}
                None => {
                    return Err(EmitError::Invalid {
                        what: "short split network entry before the last",
                    });
                }
            }
        }
        Ok(())
    }
}

/// A typed configuration attribute value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConfigValue<'a> {
    /// An empty TLV (what a request asks for).
    Empty,
    /// A 16-bit basic value (XAUTH-TYPE, XAUTH-STATUS, UNITY_SAVE_PASSWD, ...).
    U16(u16),
    /// A 32-bit value (INTERNAL_ADDRESS_EXPIRY).
    U32(u32),
    /// An IPv4 address (INTERNAL_IP4_ADDRESS/NETMASK/DNS/NBNS/DHCP).
    Ipv4(Ipv4Addr),
    /// An IPv4 subnet (INTERNAL_IP4_SUBNET).
    Ipv4Subnet {
        /// Address.
        addr: Ipv4Addr,
        /// Mask.
        mask: Ipv4Addr,
    },
    /// An IPv6 address (INTERNAL_IP6_NETMASK/DNS/NBNS/DHCP).
    Ipv6(Ipv6Addr),
    /// An IPv6 address with prefix length (INTERNAL_IP6_ADDRESS, INTERNAL_IP6_SUBNET).
    Ipv6Prefix {
        /// Address.
        addr: Ipv6Addr,
        /// Prefix length.
        prefix_len: u8,
    },
    /// A list of attribute types (SUPPORTED_ATTRIBUTES).
    TypeList(Vec<u16>),
    /// Split-include / local-LAN networks.
    Networks(Vec<UnitySplitNetwork>),
    /// Text or opaque bytes (names, passwords, banners, versions, ...).
    Bytes(Cow<'a, [u8]>),
}

/// A typed configuration attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConfigAttribute<'a> {
    /// Attribute type.
    pub ty: ConfigAttributeType,
    /// Value.
    pub value: ConfigValue<'a>,
}

/// The shape a configuration attribute type's value takes.
enum Shape {
    Basic,
    U32,
    Ipv4,
    Ipv4Subnet,
    Ipv6,
    Ipv6Prefix,
    TypeList,
    Networks,
    Bytes,
}

fn shape(ty: ConfigAttributeType) -> Shape {
    use ConfigAttributeType::*;
    match ty {
        InternalIp4Address | InternalIp4Netmask | InternalIp4Dns | InternalIp4Nbns
        | InternalIp4Dhcp | InternalIp4Server => Shape::Ipv4,
        InternalAddressExpiry => Shape::U32,
        InternalIp4Subnet => Shape::Ipv4Subnet,
        InternalIp6Netmask | InternalIp6Dns | InternalIp6Nbns | InternalIp6Dhcp
        | InternalIp6Server => Shape::Ipv6,
        InternalIp6Address | InternalIp6Subnet => Shape::Ipv6Prefix,
        SupportedAttributes => Shape::TypeList,
        XauthType | XauthStatus | UnitySavePasswd | UnityNattPort | UnityPfs => Shape::Basic,
        UnitySplitInclude | UnityLocalLan => Shape::Networks,
        ApplicationVersion | XauthUserName | XauthUserPassword | XauthPasscode | XauthMessage
        | XauthChallenge | XauthDomain | XauthNextPin | XauthAnswer | UnityBanner
        | UnityDefDomain | UnitySplitDnsName | UnityFwType | UnityBackupServers
        | UnityDdnsHostname | Unknown(_) => Shape::Bytes,
    }
}

impl<'a> ConfigAttribute<'a> {
    /// Interpret a raw attribute of an Attribute payload. A basic (TV) value is accepted for
    /// every type and read as [`ConfigValue::U16`] (the XAuth and Unity flags are basic); a
    /// TLV value must have the size its type defines, else [`WireError::AttributeLength`].
    pub fn decode(attr: &DataAttribute<'a>) -> Result<Self, WireError> {
        let ty = ConfigAttributeType::from(attr.ty);
        let bytes = match &attr.value {
            AttributeValue::Basic(v) => {
                return Ok(ConfigAttribute {
                    ty,
                    value: ConfigValue::U16(*v),
                });
            }
            AttributeValue::Variable(b) => b,
        };
        let bad = || WireError::AttributeLength {
            ty: attr.ty,
            length: bytes.len(),
        };
        if bytes.is_empty() {
            return Ok(ConfigAttribute {
                ty,
                value: ConfigValue::Empty,
            });
        }
        let v4 = |b: &[u8]| {
            <[u8; 4]>::try_from(b)
                .map(Ipv4Addr::from)
                .map_err(|_| bad())
        };
        let v6 = |b: &[u8]| {
            <[u8; 16]>::try_from(b)
                .map(Ipv6Addr::from)
                .map_err(|_| bad())
        };
        let value = match shape(ty) {
            Shape::Basic => ConfigValue::U16(u16::from_be_bytes(
                <[u8; 2]>::try_from(&**bytes).map_err(|_| bad())?,
            )),
            Shape::U32 => ConfigValue::U32(u32::from_be_bytes(
                <[u8; 4]>::try_from(&**bytes).map_err(|_| bad())?,
            )),
            Shape::Ipv4 => ConfigValue::Ipv4(v4(bytes)?),
            Shape::Ipv4Subnet => {
                let (a, m) = bytes.split_at_checked(4).ok_or_else(bad)?;
                ConfigValue::Ipv4Subnet {
                    addr: v4(a)?,
                    mask: v4(m)?,
                }
            }
            Shape::Ipv6 => ConfigValue::Ipv6(v6(bytes)?),
            Shape::Ipv6Prefix => {
                let (a, p) = bytes.split_at_checked(16).ok_or_else(bad)?;
                let [prefix_len] = *p else {
                    return Err(bad());
                };
                ConfigValue::Ipv6Prefix {
                    addr: v6(a)?,
                    prefix_len,
                }
            }
            Shape::TypeList => {
                let pairs = bytes.chunks_exact(2);
                if !pairs.remainder().is_empty() {
                    return Err(bad());
                }
                ConfigValue::TypeList(
                    pairs
                        .filter_map(|c| <[u8; 2]>::try_from(c).ok().map(u16::from_be_bytes))
                        .collect(),
                )
            }
            Shape::Networks => {
                ConfigValue::Networks(UnitySplitNetwork::parse_list(attr.ty, bytes)?)
            }
            Shape::Bytes => ConfigValue::Bytes(bytes.clone()),
        };
        Ok(ConfigAttribute { ty, value })
    }

    /// The raw attribute to emit: [`ConfigValue::U16`] as a TV, everything else as a TLV.
    pub fn to_raw(&self) -> Result<DataAttribute<'a>, EmitError> {
        let ty = self.ty.value();
        let owned = |v: Vec<u8>| DataAttribute::variable_owned(ty, v);
        Ok(match &self.value {
            ConfigValue::Empty => DataAttribute::variable(ty, &[]),
            ConfigValue::U16(v) => DataAttribute::basic(ty, *v),
            ConfigValue::U32(v) => owned(v.to_be_bytes().to_vec()),
            ConfigValue::Ipv4(a) => owned(a.octets().to_vec()),
            ConfigValue::Ipv4Subnet { addr, mask } => {
                let mut v = addr.octets().to_vec();
                v.extend_from_slice(&mask.octets());
                owned(v)
            }
            ConfigValue::Ipv6(a) => owned(a.octets().to_vec()),
            ConfigValue::Ipv6Prefix { addr, prefix_len } => {
                let mut v = addr.octets().to_vec();
                v.push(*prefix_len);
                owned(v)
            }
            ConfigValue::TypeList(list) => {
                owned(list.iter().flat_map(|t| t.to_be_bytes()).collect())
            }
            ConfigValue::Networks(list) => {
                let mut v = Vec::new();
                UnitySplitNetwork::emit_list(list, &mut v)?;
                owned(v)
            }
            ConfigValue::Bytes(b) => DataAttribute::from_cow(ty, b.clone()),
        })
    }
}

/// The Attribute payload body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributePayload<'a> {
    /// REQUEST, REPLY, SET or ACK.
    pub cfg_type: CfgType,
    /// Identifier matching a reply to its request.
    pub identifier: u16,
    /// The attributes, raw and in order.
    pub attributes: Vec<DataAttribute<'a>>,
}

impl<'a> AttributePayload<'a> {
    /// Parse an Attribute payload body.
    pub fn parse(body: &'a [u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(body, "attribute payload");
        let cfg_type = CfgType::from(r.u8()?);
        r.reserved(1, "attribute payload")?;
        let identifier = r.u16()?;
        let attributes = parse_attributes(r.rest())?;
        Ok(AttributePayload {
            cfg_type,
            identifier,
            attributes,
        })
    }

    /// Typed views of the attributes.
    pub fn typed(&self) -> impl Iterator<Item = Result<ConfigAttribute<'a>, WireError>> + '_ {
        self.attributes.iter().map(ConfigAttribute::decode)
    }

    /// Write the body.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), EmitError> {
        out.put_u8(self.cfg_type.value());
        out.put_u8(0);
        out.put_u16(self.identifier);
        emit_attributes(&self.attributes, out)
    }
}
