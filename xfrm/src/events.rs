//! Kernel XFRM events: ACQUIRE (a policy needs an SA that does not exist), EXPIRE (an SA
//! reached a soft or hard limit), policy EXPIRE, and MAPPING (the peer's NAT mapping of an
//! ESP-in-UDP SA changed).
//!
//! The [`Monitor`] holds its own netlink socket bound to the XFRM multicast groups, separate
//! from the request connection. Decoding ([`decode_datagram`]) is done here rather than through
//! `netlink-proto`'s codec because the message types of `netlink-packet-xfrm` 0.5 slice their
//! fixed header out of the buffer without checking its length (`AcquireMessage::parse` and
//! friends index `buf[..size_of::<...>()]`), which would panic on a short message. We check each
//! message's length, then use the crate's checked struct parsers (`UserAcquire::parse`, ...) and
//! attribute parser for what follows. Nothing the kernel sends can make this panic, and an
//! overflowing socket buffer (ENOBUFS) becomes [`Event::Lost`] instead of an error.

use std::collections::VecDeque;
use std::net::IpAddr;

use netlink_packet_core::NetlinkBuffer;
use netlink_packet_xfrm as nl;
use netlink_sys::{AsyncSocket, AsyncSocketExt, SocketAddr, TokioSocket, protocols::NETLINK_XFRM};

use crate::error::{Error, Result};
use crate::policy::{PolicyInfo, Template};
use crate::sa::{SaInfo, parse_trailing_attrs, wipe_keys};
use crate::types::{IpsecProto, Selector, ip_from};

/// XFRM multicast groups a [`Monitor`] can join.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    /// XFRMNLGRP_ACQUIRE: the kernel needs an SA for a policy.
    Acquire,
    /// XFRMNLGRP_EXPIRE: SA soft/hard expiry (and policy expiry).
    Expire,
    /// XFRMNLGRP_MAPPING: NAT mapping changes of ESP-in-UDP SAs.
    Mapping,
}

impl Group {
    fn number(self) -> u32 {
        match self {
            Group::Acquire => nl::XFRMNLGRP_ACQUIRE,
            Group::Expire => nl::XFRMNLGRP_EXPIRE,
            Group::Mapping => nl::XFRMNLGRP_MAPPING,
        }
    }
}

/// The kernel wants an SA for outbound traffic that matched a policy with a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acquire {
    /// Sequence number of the larval SA the kernel created; pass it back on the new SA
    /// (not needed with reqids).
    pub seq: u32,
    /// Outer source of the wanted SA (the template's, or the packet's in transport mode).
    pub src: IpAddr,
    /// Outer destination of the wanted SA.
    pub dst: IpAddr,
    /// Protocol of the wanted SA.
    pub proto: IpsecProto,
    /// The packet's flow: addresses (host prefixes), protocol and ports.
    pub selector: Selector,
    /// The policy that matched (its index tells whether it is ours), with its templates.
    pub policy: PolicyInfo,
}

impl Acquire {
    /// The template of the matched policy for the wanted protocol (carries the reqid and, in
    /// tunnel mode, the endpoints).
    pub fn template(&self) -> Option<&Template> {
        self.policy.templates.iter().find(|t| t.proto == self.proto)
    }
}

/// An SA reached a limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expire {
    /// The SA (EXPIRE messages carry no algorithms: [`SaInfo::algorithms`] is empty).
    pub sa: SaInfo,
    /// Hard: the kernel deletes the SA now. Soft: time to rekey.
    pub hard: bool,
}

/// The peer's address or port of an ESP-in-UDP SA changed (NAT rebinding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    /// Destination of the SA.
    pub dst: IpAddr,
    /// SPI.
    pub spi: u32,
    /// Protocol.
    pub proto: IpsecProto,
    /// reqid.
    pub reqid: u32,
    /// Previous source address and port.
    pub old: (IpAddr, u16),
    /// New source address and port.
    pub new: (IpAddr, u16),
}

/// An event from the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// ACQUIRE.
    Acquire(Acquire),
    /// SA EXPIRE.
    Expire(Expire),
    /// Policy EXPIRE.
    PolicyExpire {
        /// The policy.
        policy: PolicyInfo,
        /// Hard expiry (the kernel removes it).
        hard: bool,
    },
    /// MAPPING.
    Mapping(Mapping),
    /// The socket overflowed (ENOBUFS) and events were lost: dump SAs and policies to
    /// resynchronise.
    Lost,
}

/// A subscription to XFRM events.
pub struct Monitor {
    socket: TokioSocket,
    buf: Vec<u8>,
    queue: VecDeque<Event>,
    /// Messages that could not be decoded so far (counted, not fatal).
    malformed: u64,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("queued", &self.queue.len())
            .field("malformed", &self.malformed)
            .finish()
    }
}

const RECV_BUF: usize = 64 * 1024;

impl Monitor {
    /// Joins the given groups. Must be called inside a tokio runtime; the socket belongs to the
    /// network namespace of the calling thread.
    pub fn new(groups: &[Group]) -> Result<Self> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::NoRuntime);
        }
        let io = |op| move |source| Error::Io { op, source };
        let mut socket = TokioSocket::new(NETLINK_XFRM).map_err(io("open XFRM socket"))?;
        let s = socket.socket_mut();
        s.bind(&SocketAddr::new(0, 0))
            .map_err(io("bind XFRM socket"))?;
        // A bigger buffer makes ENOBUFS (lost events) rarer under ACQUIRE storms.
        let _ = s.set_rx_buf_sz(1 << 20);
        for g in groups {
            s.add_membership(g.number())
                .map_err(io("join XFRM multicast group"))?;
        }
        Ok(Monitor {
            socket,
            buf: Vec::with_capacity(RECV_BUF),
            queue: VecDeque::new(),
            malformed: 0,
        })
    }

    /// The next event. Cancel-safe: dropping the future loses no decoded event.
    pub async fn next(&mut self) -> Result<Event> {
        loop {
            if let Some(ev) = self.queue.pop_front() {
                return Ok(ev);
            }
            self.buf.clear();
            match self.socket.recv_from(&mut self.buf).await {
                Ok(from) => {
                    if from.port_number() != 0 {
                        // Only the kernel speaks on these groups.
                        continue;
                    }
                    for ev in decode_datagram(&self.buf) {
                        match ev {
                            Ok(Some(ev)) => self.queue.push_back(ev),
                            Ok(None) => {}
                            Err(_) => self.malformed += 1,
                        }
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => return Ok(Event::Lost),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(Error::Io {
                        op: "receive XFRM events",
                        source,
                    });
                }
            }
        }
    }

    /// Number of messages that failed to decode and were skipped.
    pub fn malformed(&self) -> u64 {
        self.malformed
    }
}

/// Decodes every netlink message of one datagram from the XFRM multicast groups.
///
/// Messages of other types (new/deleted SA notifications, ...) give `Ok(None)`; malformed ones
/// give `Err` and decoding goes on with the next message where its length allows.
pub fn decode_datagram(mut buf: &[u8]) -> Vec<Result<Option<Event>>> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let nlbuf = match NetlinkBuffer::new_checked(buf) {
            Ok(b) => b,
            Err(e) => {
                out.push(Err(Error::Decode(format!("netlink header: {e}"))));
                break;
            }
        };
        let len = nlbuf.length() as usize;
        out.push(decode_message(nlbuf.message_type(), nlbuf.payload()));
        // Messages are 4-byte aligned within a datagram.
        let next = len.saturating_add(3) & !3;
        if next == 0 || next >= buf.len() {
            break;
        }
        buf = &buf[next..];
    }
    out
}

fn short(what: &str, got: usize, need: usize) -> Error {
    Error::Decode(format!("{what}: {got} bytes, need {need}"))
}

fn decode_message(kind: u16, payload: &[u8]) -> Result<Option<Event>> {
    match kind {
        nl::XFRM_MSG_ACQUIRE => decode_acquire(payload).map(Some),
        nl::XFRM_MSG_EXPIRE => decode_expire(payload).map(Some),
        nl::XFRM_MSG_POLEXPIRE => decode_polexpire(payload).map(Some),
        nl::XFRM_MSG_MAPPING => decode_mapping(payload).map(Some),
        _ => Ok(None),
    }
}

fn decode_acquire(p: &[u8]) -> Result<Event> {
    if p.len() < nl::XFRM_USER_ACQUIRE_LEN {
        return Err(short("ACQUIRE", p.len(), nl::XFRM_USER_ACQUIRE_LEN));
    }
    let ua = nl::UserAcquire::parse(p).map_err(|e| Error::Decode(e.to_string()))?;
    let attrs = parse_trailing_attrs(&p[nl::XFRM_USER_ACQUIRE_LEN..])?;
    let policy = PolicyInfo::decode(&ua.policy, &attrs)?;
    let proto = IpsecProto::decode(ua.id.proto)?;
    // The SA's addresses are of the template's (outer) family, which the acquire header does
    // not carry: take it from the template for this protocol, else from the flow's selector.
    let family = attrs
        .iter()
        .find_map(|a| match a {
            nl::XfrmAttrs::Template(ts) => ts
                .iter()
                .find(|t| t.id.proto == ua.id.proto)
                .map(|t| t.family),
            _ => None,
        })
        .unwrap_or(ua.selector.family);
    Ok(Event::Acquire(Acquire {
        seq: ua.seq,
        src: ip_from(&ua.saddr, family)?,
        dst: ip_from(&ua.id.daddr, family)?,
        proto,
        selector: Selector::from_nl(&ua.selector)?,
        policy,
    }))
}

fn decode_expire(p: &[u8]) -> Result<Event> {
    if p.len() < nl::XFRM_USER_EXPIRE_LEN {
        return Err(short("EXPIRE", p.len(), nl::XFRM_USER_EXPIRE_LEN));
    }
    let ue = nl::UserExpire::parse(p).map_err(|e| Error::Decode(e.to_string()))?;
    let mut attrs = parse_trailing_attrs(&p[nl::XFRM_USER_EXPIRE_LEN..])?;
    let sa = SaInfo::decode(&ue.state, &attrs);
    wipe_keys(&mut attrs);
    Ok(Event::Expire(Expire {
        sa: sa?,
        hard: ue.hard != 0,
    }))
}

fn decode_polexpire(p: &[u8]) -> Result<Event> {
    if p.len() < nl::XFRM_USER_POLICY_EXPIRE_LEN {
        return Err(short("POLEXPIRE", p.len(), nl::XFRM_USER_POLICY_EXPIRE_LEN));
    }
    let pe = nl::UserPolicyExpire::parse(p).map_err(|e| Error::Decode(e.to_string()))?;
    let attrs = parse_trailing_attrs(&p[nl::XFRM_USER_POLICY_EXPIRE_LEN..])?;
    Ok(Event::PolicyExpire {
        policy: PolicyInfo::decode(&pe.pol, &attrs)?,
        hard: pe.hard != 0,
    })
}

fn decode_mapping(p: &[u8]) -> Result<Event> {
    if p.len() < nl::XFRM_USER_MAPPING_LEN {
        return Err(short("MAPPING", p.len(), nl::XFRM_USER_MAPPING_LEN));
    }
    let um = nl::UserMapping::parse(p).map_err(|e| Error::Decode(e.to_string()))?;
    let family = um.id.family;
    Ok(Event::Mapping(Mapping {
        dst: ip_from(&um.id.daddr, family)?,
        spi: um.id.spi,
        proto: IpsecProto::decode(um.id.proto)?,
        reqid: um.reqid,
        old: (ip_from(&um.old_saddr, family)?, um.old_sport),
        new: (ip_from(&um.new_saddr, family)?, um.new_sport),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload};
    use netlink_packet_xfrm::XfrmMessage;
    use netlink_packet_xfrm::monitor::{AcquireMessage, ExpireMessage};
    use proptest::prelude::*;

    fn datagram(msg: XfrmMessage) -> Vec<u8> {
        let mut m = NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(msg));
        m.finalize();
        let mut buf = vec![0u8; m.buffer_len()];
        m.serialize(&mut buf);
        buf
    }

    fn acquire_msg() -> AcquireMessage {
        let mut ua = nl::UserAcquire::default();
        ua.id.daddr = nl::Address::from_ip(&"198.18.0.2".parse().unwrap());
        ua.id.proto = 50;
        ua.saddr = nl::Address::from_ip(&"198.18.0.1".parse().unwrap());
        ua.selector
            .source_prefix(&"198.51.100.1".parse().unwrap(), 32);
        ua.selector
            .destination_prefix(&"203.0.113.1".parse().unwrap(), 32);
        ua.selector.proto = 17;
        ua.selector.dport = 5555;
        ua.selector.dport_mask = u16::MAX;
        ua.policy.index = 0x6b70_0001;
        ua.policy.direction = nl::XFRM_POLICY_OUT;
        ua.policy.selector.family = 2;
        ua.seq = 77;
        let mut t = nl::UserTemplate::default();
        t.source(&"198.18.0.1".parse().unwrap());
        t.destination(&"198.18.0.2".parse().unwrap());
        t.protocol(50);
        t.mode(nl::XFRM_MODE_TUNNEL);
        t.reqid(0x6b69_0001);
        AcquireMessage {
            acquire: ua,
            nlas: vec![nl::XfrmAttrs::Template(vec![t])],
        }
    }

    #[test]
    fn acquire_decodes_flow_and_template() {
        let buf = datagram(XfrmMessage::Acquire(acquire_msg()));
        let evs = decode_datagram(&buf);
        assert_eq!(evs.len(), 1);
        let Ok(Some(Event::Acquire(a))) = &evs[0] else {
            panic!("{evs:?}")
        };
        assert_eq!(a.seq, 77);
        assert_eq!(a.dst, "198.18.0.2".parse::<IpAddr>().unwrap());
        assert_eq!(a.selector.dport, Some(5555));
        assert_eq!(a.selector.proto, 17);
        assert_eq!(a.policy.index, 0x6b70_0001);
        assert_eq!(a.template().unwrap().reqid, 0x6b69_0001);
    }

    #[test]
    fn expire_decodes_hard_flag_and_sa() {
        let mut ue = nl::UserExpire::default();
        ue.state.source(&"198.18.0.1".parse().unwrap());
        ue.state.destination(&"198.18.0.2".parse().unwrap());
        ue.state.id.spi = 0x1001;
        ue.state.id.proto = 50;
        ue.state.mode = nl::XFRM_MODE_TUNNEL;
        ue.state.reqid = 9;
        ue.hard = 1;
        let buf = datagram(XfrmMessage::Expire(ExpireMessage { expire: ue }));
        let evs = decode_datagram(&buf);
        let Ok(Some(Event::Expire(e))) = &evs[0] else {
            panic!("{evs:?}")
        };
        assert!(e.hard);
        assert_eq!(e.sa.id.spi, 0x1001);
        assert_eq!(e.sa.reqid, 9);
    }

    #[test]
    fn two_messages_in_one_datagram_and_truncations_do_not_panic() {
        let mut buf = datagram(XfrmMessage::Acquire(acquire_msg()));
        buf.extend(datagram(XfrmMessage::Acquire(acquire_msg())));
        assert_eq!(decode_datagram(&buf).len(), 2);
        for cut in 0..buf.len() {
            let _ = decode_datagram(&buf[..cut]);
        }
        // A header that claims a short payload for an ACQUIRE.
        let mut short = datagram(XfrmMessage::Acquire(acquire_msg()));
        short.truncate(16 + 100);
        short[0..4].copy_from_slice(&(116u32).to_ne_bytes());
        assert!(matches!(decode_datagram(&short)[0], Err(Error::Decode(_))));
    }

    proptest! {
        #[test]
        fn arbitrary_datagrams_never_panic(kind in prop::sample::select(vec![
            nl::XFRM_MSG_ACQUIRE, nl::XFRM_MSG_EXPIRE, nl::XFRM_MSG_POLEXPIRE, nl::XFRM_MSG_MAPPING, 3u16]),
            body in prop::collection::vec(any::<u8>(), 0..600)) {
            let mut buf = Vec::new();
            buf.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
            buf.extend_from_slice(&kind.to_ne_bytes());
            buf.extend_from_slice(&[0u8; 10]);
            buf.extend_from_slice(&body);
            let _ = decode_datagram(&buf);
        }

        #[test]
        fn mutated_acquire_never_panics(pos in 16usize..400, val in any::<u8>()) {
            let mut buf = datagram(XfrmMessage::Acquire(acquire_msg()));
            if pos < buf.len() {
                buf[pos] = val;
            }
            let _ = decode_datagram(&buf);
        }
    }
}
