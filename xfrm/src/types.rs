//! Typed values shared by SAs, policies and events: prefixes, selectors, marks, lifetimes.
//!
//! Each converts to and from the `netlink-packet-xfrm` structure it stands for; conversions
//! from the kernel's side are checked (unknown address family, prefix longer than the address)
//! and return [`Error::Decode`] instead of guessing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_xfrm as nl;

use crate::error::{Error, Result};

pub(crate) const AF_UNSPEC: u16 = 0;
pub(crate) const AF_INET: u16 = libc::AF_INET as u16;
pub(crate) const AF_INET6: u16 = libc::AF_INET6 as u16;

pub(crate) fn family_of(ip: &IpAddr) -> u16 {
    match ip {
        IpAddr::V4(_) => AF_INET,
        IpAddr::V6(_) => AF_INET6,
    }
}

/// The address family's maximal prefix length.
pub(crate) fn max_prefix(ip: &IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// Reads an `xfrm_address_t` as the given family.
pub(crate) fn ip_from(addr: &nl::Address, family: u16) -> Result<IpAddr> {
    match family {
        AF_INET => Ok(IpAddr::V4(addr.to_ipv4())),
        AF_INET6 => Ok(IpAddr::V6(addr.to_ipv6())),
        other => Err(Error::Decode(format!("unknown address family {other}"))),
    }
}

/// Like [`ip_from`], but an unspecified family (AF_UNSPEC, e.g. a tunnel-mode SA selector) is
/// read as IPv4 "any".
pub(crate) fn ip_from_or_any(addr: &nl::Address, family: u16) -> Result<IpAddr> {
    if family == AF_UNSPEC {
        return Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    }
    ip_from(addr, family)
}

/// An address with a prefix length, e.g. `198.51.100.0/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Prefix {
    addr: IpAddr,
    len: u8,
}

impl Prefix {
    /// A prefix; fails if `len` is longer than the address.
    pub fn new(addr: IpAddr, len: u8) -> Result<Self> {
        if len > max_prefix(&addr) {
            return Err(Error::Invalid(format!("prefix {addr}/{len} is too long")));
        }
        Ok(Prefix { addr, len })
    }

    /// The single address `addr/32` or `addr/128`.
    pub fn host(addr: IpAddr) -> Self {
        Prefix {
            addr,
            len: max_prefix(&addr),
        }
    }

    /// Everything of one family: `0.0.0.0/0` or `::/0`.
    pub fn any(v6: bool) -> Self {
        if v6 {
            Prefix {
                addr: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                len: 0,
            }
        } else {
            Prefix {
                addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                len: 0,
            }
        }
    }

    /// The address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// True for a `/0` prefix.
    pub fn is_any(&self) -> bool {
        self.len == 0
    }

    /// True if `ip` lies in this prefix.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0);
                u32::from(a) & mask == u32::from(b) & mask
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.len))
                    .unwrap_or(0);
                u128::from(a) & mask == u128::from(b) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// Which traffic a policy (or an SA) applies to: addresses, upper-layer protocol and ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Selector {
    /// Source prefix.
    pub src: Prefix,
    /// Destination prefix.
    pub dst: Prefix,
    /// Upper-layer protocol (IPPROTO_UDP = 17, ...); 0 for any.
    pub proto: u8,
    /// Source port (UDP, TCP, SCTP); `None` for any.
    pub sport: Option<u16>,
    /// Destination port; `None` for any.
    pub dport: Option<u16>,
    /// Interface index the selector is bound to; 0 for any.
    pub ifindex: i32,
}

impl Selector {
    /// Any traffic from `src` to `dst`. Both must be of one family.
    pub fn new(src: Prefix, dst: Prefix) -> Self {
        Selector {
            src,
            dst,
            proto: 0,
            sport: None,
            dport: None,
            ifindex: 0,
        }
    }

    /// Restricts the selector to one upper-layer protocol.
    pub fn with_proto(mut self, proto: u8) -> Self {
        self.proto = proto;
        self
    }

    /// Restricts the selector to one source port.
    pub fn with_sport(mut self, port: u16) -> Self {
        self.sport = Some(port);
        self
    }

    /// Restricts the selector to one destination port.
    pub fn with_dport(mut self, port: u16) -> Self {
        self.dport = Some(port);
        self
    }

    /// True for an IPv6 selector.
    pub fn is_ipv6(&self) -> bool {
        self.src.addr.is_ipv6()
    }

    pub(crate) fn check(&self) -> Result<()> {
        if self.src.addr.is_ipv6() != self.dst.addr.is_ipv6() {
            return Err(Error::Invalid(format!(
                "selector mixes address families: {} -> {}",
                self.src, self.dst
            )));
        }
        if (self.sport.is_some() || self.dport.is_some()) && self.proto == 0 {
            return Err(Error::Invalid(
                "a selector with ports needs a protocol".to_string(),
            ));
        }
        Ok(())
    }

    pub(crate) fn family(&self) -> u16 {
        family_of(&self.src.addr)
    }

    pub(crate) fn to_nl(self) -> Result<nl::Selector> {
        self.check()?;
        let mut s = nl::Selector::default();
        s.source_prefix(&self.src.addr, self.src.len);
        s.destination_prefix(&self.dst.addr, self.dst.len);
        s.family = self.family();
        s.proto = self.proto;
        if let Some(p) = self.sport {
            s.sport = p;
            s.sport_mask = u16::MAX;
        }
        if let Some(p) = self.dport {
            s.dport = p;
            s.dport_mask = u16::MAX;
        }
        s.ifindex = self.ifindex;
        Ok(s)
    }

    /// Reads a kernel selector.
    pub(crate) fn from_nl(s: &nl::Selector) -> Result<Self> {
        Self::from_nl_in(s, AF_UNSPEC)
    }

    /// Reads a kernel selector; an AF_UNSPEC one is read in `fallback_family` (the SA's: the
    /// kernel leaves the family unset but fills in addresses on larval SAs), or as IPv4 any.
    pub(crate) fn from_nl_in(s: &nl::Selector, fallback_family: u16) -> Result<Self> {
        let family = if s.family == AF_UNSPEC {
            fallback_family
        } else {
            s.family
        };
        let src = ip_from_or_any(&s.saddr, family)?;
        let dst = ip_from_or_any(&s.daddr, family)?;
        let port = |p: u16, mask: u16| if mask == 0 { None } else { Some(p & mask) };
        Ok(Selector {
            src: Prefix::new(src, s.prefixlen_s)
                .map_err(|_| Error::Decode(format!("selector source {src}/{}", s.prefixlen_s)))?,
            dst: Prefix::new(dst, s.prefixlen_d)
                .map_err(|_| Error::Decode(format!("selector dest {dst}/{}", s.prefixlen_d)))?,
            proto: s.proto,
            sport: port(s.sport, s.sport_mask),
            dport: port(s.dport, s.dport_mask),
            ifindex: s.ifindex,
        })
    }
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.src)?;
        if let Some(p) = self.sport {
            write!(f, ":{p}")?;
        }
        write!(f, " -> {}", self.dst)?;
        if let Some(p) = self.dport {
            write!(f, ":{p}")?;
        }
        if self.proto != 0 {
            write!(f, " proto {}", self.proto)?;
        }
        Ok(())
    }
}

/// A firewall mark and mask (XFRMA_MARK): the SA or policy applies to packets whose
/// `mark & mask == value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Mark {
    /// The value.
    pub value: u32,
    /// The mask.
    pub mask: u32,
}

impl Mark {
    pub(crate) fn to_nl(self) -> nl::Mark {
        nl::Mark {
            value: self.value,
            mask: self.mask,
        }
    }
}

/// IPsec protocol of an SA or template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpsecProto {
    /// ESP (IP protocol 50).
    Esp,
    /// AH (51).
    Ah,
    /// IPComp (108).
    Comp,
}

impl IpsecProto {
    /// The IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            IpsecProto::Esp => libc::IPPROTO_ESP as u8,
            IpsecProto::Ah => libc::IPPROTO_AH as u8,
            IpsecProto::Comp => libc::IPPROTO_COMP as u8,
        }
    }

    /// From the IP protocol number.
    pub fn from_number(n: u8) -> Option<Self> {
        match i32::from(n) {
            libc::IPPROTO_ESP => Some(IpsecProto::Esp),
            libc::IPPROTO_AH => Some(IpsecProto::Ah),
            libc::IPPROTO_COMP => Some(IpsecProto::Comp),
            _ => None,
        }
    }

    pub(crate) fn decode(n: u8) -> Result<Self> {
        Self::from_number(n).ok_or_else(|| Error::Decode(format!("unknown IPsec protocol {n}")))
    }
}

/// Encapsulation mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Transport mode: protects the payload of packets between the two SA endpoints.
    Transport,
    /// Tunnel mode: protects whole packets inside an outer header between the endpoints.
    Tunnel,
    /// BEET mode (RFC draft, used by HIP); decoded, rarely installed.
    Beet,
}

impl Mode {
    pub(crate) fn to_nl(self) -> u8 {
        match self {
            Mode::Transport => nl::XFRM_MODE_TRANSPORT,
            Mode::Tunnel => nl::XFRM_MODE_TUNNEL,
            Mode::Beet => nl::XFRM_MODE_BEET,
        }
    }

    pub(crate) fn from_nl(m: u8) -> Result<Self> {
        match m {
            nl::XFRM_MODE_TRANSPORT => Ok(Mode::Transport),
            nl::XFRM_MODE_TUNNEL => Ok(Mode::Tunnel),
            nl::XFRM_MODE_BEET => Ok(Mode::Beet),
            other => Err(Error::Decode(format!("unknown mode {other}"))),
        }
    }
}

/// Policy direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Inbound to this host.
    In,
    /// Outbound from this host.
    Out,
    /// Forwarded through this host (inbound, not local).
    Fwd,
}

impl Direction {
    pub(crate) fn to_nl(self) -> u8 {
        match self {
            Direction::In => nl::XFRM_POLICY_IN,
            Direction::Out => nl::XFRM_POLICY_OUT,
            Direction::Fwd => nl::XFRM_POLICY_FWD,
        }
    }

    pub(crate) fn from_nl(d: u8) -> Result<Self> {
        match d {
            nl::XFRM_POLICY_IN => Ok(Direction::In),
            nl::XFRM_POLICY_OUT => Ok(Direction::Out),
            nl::XFRM_POLICY_FWD => Ok(Direction::Fwd),
            other => Err(Error::Decode(format!("unknown policy direction {other}"))),
        }
    }
}

/// What a policy does with matching traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Let it pass: through the templates' SAs if the policy has templates, in clear if not.
    Allow,
    /// Drop it.
    Block,
}

impl Action {
    pub(crate) fn to_nl(self) -> u8 {
        match self {
            Action::Allow => nl::XFRM_POLICY_ALLOW,
            Action::Block => nl::XFRM_POLICY_BLOCK,
        }
    }

    pub(crate) fn from_nl(a: u8) -> Result<Self> {
        match a {
            nl::XFRM_POLICY_ALLOW => Ok(Action::Allow),
            nl::XFRM_POLICY_BLOCK => Ok(Action::Block),
            other => Err(Error::Decode(format!("unknown policy action {other}"))),
        }
    }
}

/// Soft and hard limits of an SA (or policy). `None` is "no limit".
///
/// The kernel sends a soft EXPIRE when a soft limit is reached (time to rekey) and a hard
/// EXPIRE when a hard limit is reached, and then deletes the SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Lifetime {
    /// Soft limit on bytes processed.
    pub soft_bytes: Option<u64>,
    /// Hard limit on bytes processed.
    pub hard_bytes: Option<u64>,
    /// Soft limit on packets processed.
    pub soft_packets: Option<u64>,
    /// Hard limit on packets processed.
    pub hard_packets: Option<u64>,
    /// Soft limit in seconds since the SA was added.
    pub soft_add_seconds: Option<u64>,
    /// Hard limit in seconds since the SA was added.
    pub hard_add_seconds: Option<u64>,
    /// Soft limit in seconds since first use.
    pub soft_use_seconds: Option<u64>,
    /// Hard limit in seconds since first use.
    pub hard_use_seconds: Option<u64>,
}

impl Lifetime {
    pub(crate) fn to_nl(self) -> nl::LifetimeConfig {
        // The kernel's "no limit" is XFRM_INF for byte/packet counts and 0 for times.
        let count = |v: Option<u64>| v.unwrap_or(nl::XFRM_INF);
        let time = |v: Option<u64>| v.unwrap_or(0);
        nl::LifetimeConfig {
            soft_byte_limit: count(self.soft_bytes),
            hard_byte_limit: count(self.hard_bytes),
            soft_packet_limit: count(self.soft_packets),
            hard_packet_limit: count(self.hard_packets),
            soft_add_expires_seconds: time(self.soft_add_seconds),
            hard_add_expires_seconds: time(self.hard_add_seconds),
            soft_use_expires_seconds: time(self.soft_use_seconds),
            hard_use_expires_seconds: time(self.hard_use_seconds),
        }
    }

    pub(crate) fn from_nl(l: &nl::LifetimeConfig) -> Self {
        let count = |v: u64| if v == nl::XFRM_INF { None } else { Some(v) };
        let time = |v: u64| if v == 0 { None } else { Some(v) };
        Lifetime {
            soft_bytes: count(l.soft_byte_limit),
            hard_bytes: count(l.hard_byte_limit),
            soft_packets: count(l.soft_packet_limit),
            hard_packets: count(l.hard_packet_limit),
            soft_add_seconds: time(l.soft_add_expires_seconds),
            hard_add_seconds: time(l.hard_add_expires_seconds),
            soft_use_seconds: time(l.soft_use_expires_seconds),
            hard_use_seconds: time(l.hard_use_expires_seconds),
        }
    }
}

/// What an SA or policy has consumed so far (the kernel's `curlft`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LifetimeCurrent {
    /// Bytes processed.
    pub bytes: u64,
    /// Packets processed.
    pub packets: u64,
    /// When it was added (seconds since the epoch).
    pub add_time: u64,
    /// When it was first used (seconds since the epoch; 0 if never).
    pub use_time: u64,
}

impl LifetimeCurrent {
    pub(crate) fn from_nl(l: &nl::Lifetime) -> Self {
        LifetimeCurrent {
            bytes: l.bytes,
            packets: l.packets,
            add_time: l.add_time,
            use_time: l.use_time,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_checks_length_and_contains() {
        assert!(Prefix::new("198.51.100.0".parse().unwrap(), 33).is_err());
        let p = Prefix::new("198.51.100.0".parse().unwrap(), 24).unwrap();
        assert!(p.contains("198.51.100.77".parse().unwrap()));
        assert!(!p.contains("198.51.101.1".parse().unwrap()));
        assert!(Prefix::any(false).contains("203.0.113.1".parse().unwrap()));
        assert!(Prefix::any(true).contains("2001:db8::1".parse().unwrap()));
        assert!(!Prefix::any(true).contains("203.0.113.1".parse().unwrap()));
    }

    #[test]
    fn selector_round_trips_through_kernel_struct() {
        let sel = Selector::new(
            Prefix::new("198.51.100.0".parse().unwrap(), 24).unwrap(),
            Prefix::host("203.0.113.9".parse().unwrap()),
        )
        .with_proto(17)
        .with_dport(4500);
        let nl = sel.to_nl().unwrap();
        assert_eq!(nl.family, AF_INET);
        assert_eq!(nl.dport_mask, u16::MAX);
        assert_eq!(nl.sport_mask, 0);
        assert_eq!(Selector::from_nl(&nl).unwrap(), sel);
    }

    #[test]
    fn selector_rejects_mixed_families_and_ports_without_protocol() {
        let mixed = Selector::new(
            Prefix::host("198.51.100.1".parse().unwrap()),
            Prefix::host("2001:db8::1".parse().unwrap()),
        );
        assert!(mixed.to_nl().is_err());
        let ports = Selector::new(Prefix::any(false), Prefix::any(false)).with_dport(500);
        assert!(ports.to_nl().is_err());
    }

    #[test]
    fn kernel_selector_with_bad_prefix_is_a_decode_error() {
        let mut nl = nl::Selector {
            family: AF_INET,
            prefixlen_s: 40,
            ..Default::default()
        };
        assert!(matches!(Selector::from_nl(&nl), Err(Error::Decode(_))));
        nl.family = 99;
        nl.prefixlen_s = 0;
        assert!(matches!(Selector::from_nl(&nl), Err(Error::Decode(_))));
    }

    #[test]
    fn lifetime_maps_no_limit_to_kernel_infinity() {
        let l = Lifetime {
            soft_bytes: Some(1000),
            hard_add_seconds: Some(60),
            ..Default::default()
        };
        let nl = l.to_nl();
        assert_eq!(nl.soft_byte_limit, 1000);
        assert_eq!(nl.hard_byte_limit, nl::XFRM_INF);
        assert_eq!(nl.hard_add_expires_seconds, 60);
        assert_eq!(nl.soft_add_expires_seconds, 0);
        assert_eq!(Lifetime::from_nl(&nl), l);
    }
}
