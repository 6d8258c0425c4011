//! Security associations: what to install ([`SaConfig`]), how to name one ([`SaId`]), what the
//! kernel reports about one ([`SaInfo`], [`SaCounters`]), and SPI allocation ([`SpiRequest`]).

use std::net::IpAddr;

use netlink_packet_core::{NlasIterator, Parseable};
use netlink_packet_xfrm as nl;
use netlink_packet_xfrm::state::{AllocSpiMessage, DelGetMessage, ModifyMessage};
use zeroize::Zeroize;

use crate::alg::{Encryption, Integrity};
use crate::alg::{EspTransform, SaAlgorithms, name_str};
use crate::error::{Error, Result};
use crate::types::{
    AF_UNSPEC, IpsecProto, Lifetime, LifetimeCurrent, Mark, Mode, Selector, family_of, ip_from,
};

/// UDP encapsulation of ESP (RFC 3948, ESP-in-UDP on the NAT-T port).
///
/// The kernel only decapsulates inbound ESP-in-UDP on a UDP socket that has the
/// `UDP_ENCAP_ESPINUDP` option (see [`crate::socket::set_udp_encap`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpEncap {
    /// Source UDP port of the encapsulating datagrams.
    pub sport: u16,
    /// Destination UDP port.
    pub dport: u16,
    /// Original address of the peer before NAT (RFC 3948 NAT-OA), for transport-mode checksum
    /// fix-up; `None` when unknown.
    pub original_address: Option<IpAddr>,
}

impl UdpEncap {
    /// ESP-in-UDP between these ports.
    pub fn new(sport: u16, dport: u16) -> Self {
        UdpEncap {
            sport,
            dport,
            original_address: None,
        }
    }
}

/// Anti-replay configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replay {
    /// Window size in packets (0 disables the check; outbound SAs use 0).
    pub window: u32,
    /// Extended (64-bit) sequence numbers, RFC 4304.
    pub esn: bool,
}

impl Default for Replay {
    /// A 32-packet window, no ESN.
    fn default() -> Self {
        Replay {
            window: 32,
            esn: false,
        }
    }
}

/// Flags of an SA (`XFRM_STATE_*` and `XFRM_SA_XFLAG_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SaFlags {
    /// Do not copy the ECN bits between inner and outer header (XFRM_STATE_NOECN).
    pub no_ecn: bool,
    /// Copy DSCP from the outer to the inner header on decapsulation (XFRM_STATE_DECAP_DSCP).
    pub decap_dscp: bool,
    /// Do not set DF / do PMTU discovery on the outer header (XFRM_STATE_NOPMTUDISC).
    pub no_pmtu_discovery: bool,
    /// Accept inbound packets whose outer source differs from the SA's (XFRM_STATE_WILDRECV).
    pub wild_recv: bool,
    /// Let ICMP errors about the protected traffic through (XFRM_STATE_ICMP).
    pub icmp: bool,
    /// Tunnel mode carrying both inner families (XFRM_STATE_AF_UNSPEC). Set by default for
    /// tunnel-mode SAs without a selector.
    pub af_unspec: bool,
    /// Do not copy DSCP to the outer header on encapsulation (XFRM_SA_XFLAG_DONT_ENCAP_DSCP).
    pub dont_encap_dscp: bool,
    /// Let the outbound sequence number wrap instead of expiring the SA
    /// (XFRM_SA_XFLAG_OSEQ_MAY_WRAP; only for manual keying).
    pub oseq_may_wrap: bool,
}

impl SaFlags {
    fn bits(self) -> u8 {
        let mut f = 0;
        let mut set = |on: bool, bit: u8| {
            if on {
                f |= bit
            }
        };
        set(self.no_ecn, nl::XFRM_STATE_NOECN);
        set(self.decap_dscp, nl::XFRM_STATE_DECAP_DSCP);
        set(self.no_pmtu_discovery, nl::XFRM_STATE_NOPMTUDISC);
        set(self.wild_recv, nl::XFRM_STATE_WILDRECV);
        set(self.icmp, nl::XFRM_STATE_ICMP);
        set(self.af_unspec, nl::XFRM_STATE_AF_UNSPEC);
        f
    }

    fn extra_bits(self) -> u32 {
        let mut f = 0;
        if self.dont_encap_dscp {
            f |= nl::XFRM_SA_XFLAG_DONT_ENCAP_DSCP;
        }
        if self.oseq_may_wrap {
            f |= nl::XFRM_SA_XFLAG_OSEQ_MAY_WRAP;
        }
        f
    }

    fn from_bits(f: u8, extra: u32) -> Self {
        SaFlags {
            no_ecn: f & nl::XFRM_STATE_NOECN != 0,
            decap_dscp: f & nl::XFRM_STATE_DECAP_DSCP != 0,
            no_pmtu_discovery: f & nl::XFRM_STATE_NOPMTUDISC != 0,
            wild_recv: f & nl::XFRM_STATE_WILDRECV != 0,
            icmp: f & nl::XFRM_STATE_ICMP != 0,
            af_unspec: f & nl::XFRM_STATE_AF_UNSPEC != 0,
            dont_encap_dscp: extra & nl::XFRM_SA_XFLAG_DONT_ENCAP_DSCP != 0,
            oseq_may_wrap: extra & nl::XFRM_SA_XFLAG_OSEQ_MAY_WRAP != 0,
        }
    }
}

/// Names one SA in the kernel: destination, SPI, protocol (and mark, if it was added with one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SaId {
    /// Source address (outer).
    pub src: IpAddr,
    /// Destination address (outer).
    pub dst: IpAddr,
    /// SPI.
    pub spi: u32,
    /// Protocol.
    pub proto: IpsecProto,
    /// Mark the SA was added with.
    pub mark: Option<Mark>,
}

impl SaId {
    /// An ESP SA without a mark.
    pub fn esp(src: IpAddr, dst: IpAddr, spi: u32) -> Self {
        SaId {
            src,
            dst,
            spi,
            proto: IpsecProto::Esp,
            mark: None,
        }
    }

    pub(crate) fn to_delget(self) -> Result<DelGetMessage> {
        if self.src.is_ipv6() != self.dst.is_ipv6() {
            return Err(Error::Invalid(format!(
                "SA {} -> {} mixes address families",
                self.src, self.dst
            )));
        }
        let mut m = DelGetMessage::default();
        m.user_sa_id.destination(&self.dst);
        m.user_sa_id.spi = self.spi;
        m.user_sa_id.proto = self.proto.number();
        m.nlas
            .push(nl::XfrmAttrs::SrcAddr(nl::Address::from_ip(&self.src)));
        if let Some(mark) = self.mark {
            m.nlas.push(nl::XfrmAttrs::Mark(mark.to_nl()));
        }
        Ok(m)
    }
}

impl std::fmt::Display for SaId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} {} -> {} spi {:#010x}",
            self.proto, self.src, self.dst, self.spi
        )
    }
}

/// An SA to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaConfig {
    /// Outer source address.
    pub src: IpAddr,
    /// Outer destination address.
    pub dst: IpAddr,
    /// SPI (network value, as negotiated).
    pub spi: u32,
    /// Mode.
    pub mode: Mode,
    /// reqid: ties the SA to the policy templates that use it. Use one of the owner's range so
    /// the SA counts as the daemon's ([`crate::Owner`]).
    pub reqid: u32,
    /// Algorithms and keys.
    pub transform: EspTransform,
    /// ESP-in-UDP.
    pub encap: Option<UdpEncap>,
    /// Soft and hard limits.
    pub lifetime: Lifetime,
    /// Anti-replay.
    pub replay: Replay,
    /// Mark the SA applies to (XFRMA_MARK).
    pub mark: Option<Mark>,
    /// Mark set on packets after transformation (XFRMA_SET_MARK / XFRMA_SET_MARK_MASK).
    pub output_mark: Option<Mark>,
    /// XFRM interface id (XFRMA_IF_ID).
    pub if_id: Option<u32>,
    /// Flags.
    pub flags: SaFlags,
    /// Traffic the SA may carry. `None`: any (tunnel mode: both families, with
    /// [`SaFlags::af_unspec`]; transport mode: any of the SA's family).
    pub selector: Option<Selector>,
}

impl SaConfig {
    /// An ESP SA with no limits, a 32-packet replay window, no encapsulation, no mark.
    pub fn esp(
        src: IpAddr,
        dst: IpAddr,
        spi: u32,
        mode: Mode,
        reqid: u32,
        transform: EspTransform,
    ) -> Self {
        SaConfig {
            src,
            dst,
            spi,
            mode,
            reqid,
            transform,
            encap: None,
            lifetime: Lifetime::default(),
            replay: Replay::default(),
            mark: None,
            output_mark: None,
            if_id: None,
            flags: SaFlags::default(),
            selector: None,
        }
    }

    /// The id to get, update or delete this SA with.
    pub fn id(&self) -> SaId {
        SaId {
            src: self.src,
            dst: self.dst,
            spi: self.spi,
            proto: IpsecProto::Esp,
            mark: self.mark,
        }
    }

    /// The `XFRM_MSG_NEWSA`/`UPDSA` body.
    pub(crate) fn to_message(&self) -> Result<ModifyMessage> {
        if self.src.is_ipv6() != self.dst.is_ipv6() {
            return Err(Error::Invalid(format!(
                "SA {} -> {} mixes address families",
                self.src, self.dst
            )));
        }
        if self.spi == 0 {
            return Err(Error::Invalid("SPI 0 is reserved (RFC 4303 §2.1)".into()));
        }
        let mut m = ModifyMessage::default();
        let info = &mut m.user_sa_info;
        info.source(&self.src);
        info.destination(&self.dst);
        info.family = family_of(&self.src);
        info.id.spi = self.spi;
        info.id.proto = IpsecProto::Esp.number();
        info.mode = self.mode.to_nl();
        info.reqid = self.reqid;
        info.lifetime_cfg = self.lifetime.to_nl();
        let mut flags = self.flags;
        match self.selector {
            Some(sel) => info.selector = sel.to_nl()?,
            None => {
                info.selector = nl::Selector::default();
                if self.mode == Mode::Tunnel {
                    // Tunnel mode carries either inner family; the policies select the traffic.
                    info.selector.family = AF_UNSPEC;
                    flags.af_unspec = true;
                } else {
                    info.selector.family = family_of(&self.src);
                }
            }
        }
        m.nlas.extend(self.transform.to_attrs()?);

        // Replay: a window beyond the 32-bit legacy bitmap, or ESN, needs XFRMA_REPLAY_ESN_VAL
        // and then the legacy replay_window must be 0 (the kernel refuses both).
        if self.replay.esn || self.replay.window > 32 {
            if self.replay.esn {
                flags_esn(&mut m.user_sa_info.flags);
            }
            let window = self.replay.window;
            let bmp_len = window.div_ceil(32);
            m.nlas.push(nl::XfrmAttrs::ReplayStateEsn(nl::ReplayEsn {
                bmp_len,
                oseq: 0,
                seq: 0,
                oseq_hi: 0,
                seq_hi: 0,
                replay_window: window,
                bmp: vec![0; bmp_len as usize],
            }));
            m.user_sa_info.replay_window = 0;
        } else {
            m.user_sa_info.replay_window = self.replay.window as u8;
        }
        m.user_sa_info.flags |= flags.bits();
        let extra = flags.extra_bits();
        if extra != 0 {
            m.nlas.push(nl::XfrmAttrs::ExtraFlags(extra));
        }
        if let Some(e) = self.encap {
            let oa = e
                .original_address
                .map(|a| nl::Address::from_ip(&a))
                .unwrap_or_default();
            m.nlas
                .push(nl::XfrmAttrs::EncapsulationTemplate(nl::EncapTmpl {
                    encap_type: nl::UDP_ENCAP_ESPINUDP,
                    encap_sport: e.sport,
                    encap_dport: e.dport,
                    encap_oa: oa,
                }));
        }
        if let Some(mark) = self.mark {
            m.nlas.push(nl::XfrmAttrs::Mark(mark.to_nl()));
        }
        if let Some(om) = self.output_mark {
            m.nlas.push(nl::XfrmAttrs::MarkVal(om.value));
            m.nlas.push(nl::XfrmAttrs::MarkMask(om.mask));
        }
        if let Some(id) = self.if_id {
            m.nlas.push(nl::XfrmAttrs::IfId(id));
        }
        Ok(m)
    }
}

fn flags_esn(flags: &mut u8) {
    *flags |= nl::XFRM_STATE_ESN;
}

/// What the kernel reports about an installed SA (keys are not kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaInfo {
    /// Which SA.
    pub id: SaId,
    /// Mode.
    pub mode: Mode,
    /// reqid.
    pub reqid: u32,
    /// Selector (any when the kernel holds an AF_UNSPEC one).
    pub selector: Selector,
    /// Algorithms.
    pub algorithms: SaAlgorithms,
    /// ESP-in-UDP.
    pub encap: Option<UdpEncap>,
    /// Configured limits.
    pub lifetime: Lifetime,
    /// Flags.
    pub flags: SaFlags,
    /// Replay window (from the ESN state when there is one).
    pub replay_window: u32,
    /// ESN on.
    pub esn: bool,
    /// Output mark.
    pub output_mark: Option<Mark>,
    /// XFRM interface id.
    pub if_id: Option<u32>,
    /// True for a larval SA (from SPI allocation or an ACQUIRE: no algorithms yet). Always true
    /// in EXPIRE events, which carry no algorithms.
    pub larval: bool,
    /// The kernel's sequence number of a larval SA made for an ACQUIRE (the ACQUIRE's `seq`).
    pub seq: u32,
    /// Counters.
    pub counters: SaCounters,
}

/// Counters of an SA: traffic, replay and integrity failures, sequence numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SaCounters {
    /// Bytes, packets, add and first-use time.
    pub current: LifetimeCurrent,
    /// Packets dropped as outside the replay window.
    pub replay_window_drops: u32,
    /// Packets dropped as replayed.
    pub replay_drops: u32,
    /// Packets dropped for a bad ICV.
    pub integrity_failures: u32,
    /// Last sequence number sent (outbound; 64 bits with ESN).
    pub oseq: u64,
    /// Highest sequence number received (inbound; 64 bits with ESN).
    pub seq: u64,
    /// Last use (XFRMA_LASTUSED), seconds since the epoch.
    pub last_used: Option<u64>,
}

impl SaInfo {
    /// Reads a NEWSA message (a dump entry, a GETSA answer). Zeroizes the keys in `m`.
    pub(crate) fn from_message(m: &mut ModifyMessage) -> Result<Self> {
        let out = Self::decode(&m.user_sa_info, &m.nlas);
        wipe_keys(&mut m.nlas);
        out
    }

    pub(crate) fn decode(info: &nl::UserSaInfo, nlas: &[nl::XfrmAttrs]) -> Result<Self> {
        let family = info.family;
        let mut src = ip_from(&info.saddr, family)?;
        let dst = ip_from(&info.id.daddr, family)?;
        let mut algorithms = SaAlgorithms::default();
        let mut encap = None;
        let mut mark = None;
        let mut output_mark = None;
        let mut if_id = None;
        let mut extra = 0u32;
        let mut replay_window = u32::from(info.replay_window);
        let mut counters = SaCounters {
            current: LifetimeCurrent::from_nl(&info.lifetime_cur),
            replay_window_drops: info.stats.replay_window,
            replay_drops: info.stats.replay,
            integrity_failures: info.stats.integrity_failed,
            ..Default::default()
        };
        for a in nlas {
            match a {
                nl::XfrmAttrs::EncryptionAlg(alg) => {
                    let name = name_str(&alg.alg_name);
                    algorithms.encryption = Encryption::from_kernel(&name, alg.alg_key_len);
                    algorithms.enc_name = Some((name, alg.alg_key_len));
                }
                nl::XfrmAttrs::EncryptionAlgAead(alg) => {
                    let name = name_str(&alg.alg_name);
                    algorithms.encryption = Encryption::from_kernel(&name, alg.alg_key_len);
                    algorithms.integrity = Some(Integrity::None);
                    algorithms.enc_name = Some((name, alg.alg_key_len));
                }
                nl::XfrmAttrs::AuthenticationAlgTrunc(alg) => {
                    let name = name_str(&alg.alg_name);
                    algorithms.integrity = Integrity::from_kernel(&name, alg.alg_trunc_len);
                    algorithms.auth_name = Some((name, alg.alg_trunc_len));
                }
                nl::XfrmAttrs::AuthenticationAlg(alg) if algorithms.auth_name.is_none() => {
                    // The kernel sends both the legacy and the truncated form; the truncated
                    // one wins when present.
                    let name = name_str(&alg.alg_name);
                    algorithms.auth_name = Some((name, 0));
                }
                nl::XfrmAttrs::EncapsulationTemplate(e) => {
                    let oa = ip_from(&e.encap_oa, family)
                        .ok()
                        .filter(|ip| !ip.is_unspecified());
                    encap = Some(UdpEncap {
                        sport: e.encap_sport,
                        dport: e.encap_dport,
                        original_address: oa,
                    });
                }
                nl::XfrmAttrs::Mark(m) => {
                    mark = Some(Mark {
                        value: m.value,
                        mask: m.mask,
                    })
                }
                nl::XfrmAttrs::MarkVal(v) => {
                    output_mark.get_or_insert(Mark {
                        value: 0,
                        mask: u32::MAX,
                    });
                    if let Some(om) = output_mark.as_mut() {
                        om.value = *v;
                    }
                }
                nl::XfrmAttrs::MarkMask(v) => {
                    output_mark.get_or_insert(Mark::default());
                    if let Some(om) = output_mark.as_mut() {
                        om.mask = *v;
                    }
                }
                nl::XfrmAttrs::IfId(v) => if_id = Some(*v),
                nl::XfrmAttrs::ExtraFlags(v) => extra = *v,
                nl::XfrmAttrs::ReplayState(r) => {
                    counters.oseq = u64::from(r.oseq);
                    counters.seq = u64::from(r.seq);
                }
                nl::XfrmAttrs::ReplayStateEsn(r) => {
                    counters.oseq = (u64::from(r.oseq_hi) << 32) | u64::from(r.oseq);
                    counters.seq = (u64::from(r.seq_hi) << 32) | u64::from(r.seq);
                    replay_window = r.replay_window;
                }
                nl::XfrmAttrs::LastUsed(t) => counters.last_used = Some(*t),
                nl::XfrmAttrs::SrcAddr(a) => {
                    if let Ok(ip) = ip_from(a, family) {
                        src = ip;
                    }
                }
                _ => {}
            }
        }
        let proto = IpsecProto::decode(info.id.proto)?;
        let larval = algorithms.enc_name.is_none() && algorithms.auth_name.is_none();
        Ok(SaInfo {
            id: SaId {
                src,
                dst,
                spi: info.id.spi,
                proto,
                mark,
            },
            mode: crate::types::Mode::from_nl(info.mode)?,
            reqid: info.reqid,
            selector: Selector::from_nl_in(&info.selector, family)?,
            algorithms,
            encap,
            lifetime: Lifetime::from_nl(&info.lifetime_cfg),
            flags: SaFlags::from_bits(info.flags, extra),
            replay_window,
            esn: info.flags & nl::XFRM_STATE_ESN != 0,
            output_mark,
            if_id,
            larval,
            seq: info.seq,
            counters,
        })
    }
}

/// Overwrites key bytes held in decoded attributes before they are dropped.
pub(crate) fn wipe_keys(nlas: &mut [nl::XfrmAttrs]) {
    for a in nlas {
        match a {
            nl::XfrmAttrs::EncryptionAlg(alg)
            | nl::XfrmAttrs::AuthenticationAlg(alg)
            | nl::XfrmAttrs::CompressionAlg(alg) => alg.alg_key.zeroize(),
            nl::XfrmAttrs::EncryptionAlgAead(alg) => alg.alg_key.zeroize(),
            nl::XfrmAttrs::AuthenticationAlgTrunc(alg) => alg.alg_key.zeroize(),
            _ => {}
        }
    }
}

/// Parses the attributes that follow a fixed-size header (used for messages whose
/// `netlink-packet-xfrm` type drops them, such as EXPIRE).
pub(crate) fn parse_trailing_attrs(buf: &[u8]) -> Result<Vec<nl::XfrmAttrs>> {
    let mut out = Vec::new();
    for nla in NlasIterator::new(buf) {
        let nla = nla.map_err(|e| Error::Decode(e.to_string()))?;
        out.push(nl::XfrmAttrs::parse(&nla).map_err(|e| Error::Decode(e.to_string()))?);
    }
    Ok(out)
}

/// Ask the kernel for an unused SPI (XFRM_MSG_ALLOCSPI).
///
/// The kernel answers with a larval SA (no algorithms) holding the SPI, which expires if it
/// is not completed: install the real SA with [`crate::Xfrm::update_sa`] (XFRM_MSG_UPDSA), not
/// `add_sa`, which would find the SPI taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpiRequest {
    /// Source of the future SA (the peer, for an inbound SA).
    pub src: IpAddr,
    /// Destination of the future SA (this host, for an inbound SA).
    pub dst: IpAddr,
    /// Protocol.
    pub proto: IpsecProto,
    /// Mode of the future SA.
    pub mode: Mode,
    /// reqid of the future SA (tag it as ours).
    pub reqid: u32,
    /// Lowest acceptable SPI (at least 256: RFC 4303 reserves 1..=255).
    pub min: u32,
    /// Highest acceptable SPI.
    pub max: u32,
    /// Mark of the future SA.
    pub mark: Option<Mark>,
    /// Sequence number of an ACQUIRE: give the kernel's larval SA for that ACQUIRE this SPI
    /// instead of making a new one (0: none).
    pub seq: u32,
}

impl SpiRequest {
    /// An ESP SPI from the whole non-reserved range.
    pub fn esp(src: IpAddr, dst: IpAddr, mode: Mode, reqid: u32) -> Self {
        SpiRequest {
            src,
            dst,
            proto: IpsecProto::Esp,
            mode,
            reqid,
            min: 0x100,
            max: u32::MAX,
            mark: None,
            seq: 0,
        }
    }

    pub(crate) fn to_message(self) -> Result<AllocSpiMessage> {
        if self.src.is_ipv6() != self.dst.is_ipv6() {
            return Err(Error::Invalid("SPI request mixes address families".into()));
        }
        if self.min > self.max || self.min < 0x100 {
            return Err(Error::Invalid(format!(
                "SPI range {:#x}..={:#x} is empty or reaches into the reserved 1..=255",
                self.min, self.max
            )));
        }
        let mut m = AllocSpiMessage::default();
        m.spi_info.info.source(&self.src);
        m.spi_info.info.destination(&self.dst);
        m.spi_info.info.family = family_of(&self.src);
        m.spi_info.info.mode = self.mode.to_nl();
        m.spi_info.info.reqid = self.reqid;
        m.spi_info.info.seq = self.seq;
        m.spi_info.info.lifetime_cfg = Lifetime::default().to_nl();
        m.spi_info.info.selector.family = family_of(&self.src);
        m.spi_info.protocol(self.proto.number());
        m.spi_info.spi_range(self.min, self.max);
        if let Some(mark) = self.mark {
            m.nlas.push(nl::XfrmAttrs::Mark(mark.to_nl()));
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alg::Key;
    use netlink_packet_core::Emitable;

    fn cfg() -> SaConfig {
        let t = EspTransform::new(
            Encryption::AesCbc128,
            Key::new(vec![1; 16]),
            Integrity::HmacSha256_128,
            Key::new(vec![2; 32]),
        )
        .unwrap();
        SaConfig::esp(
            "198.18.0.1".parse().unwrap(),
            "198.18.0.2".parse().unwrap(),
            0x1234_5678,
            Mode::Tunnel,
            0x6b69_0001,
            t,
        )
    }

    fn round_trip(c: &SaConfig) -> SaInfo {
        let m = c.to_message().unwrap();
        let mut buf = vec![0u8; m.buffer_len()];
        m.emit(&mut buf);
        let mut parsed = ModifyMessage::parse(&buf).unwrap();
        SaInfo::from_message(&mut parsed).unwrap()
    }

    #[test]
    fn sa_config_round_trips_through_the_wire_format() {
        let mut c = cfg();
        c.encap = Some(UdpEncap::new(4500, 4501));
        c.mark = Some(Mark {
            value: 7,
            mask: 0xff,
        });
        c.lifetime.soft_bytes = Some(1 << 20);
        c.lifetime.hard_add_seconds = Some(3600);
        let info = round_trip(&c);
        assert_eq!(info.id, c.id());
        assert_eq!(info.reqid, c.reqid);
        assert_eq!(info.mode, Mode::Tunnel);
        assert_eq!(info.algorithms.encryption, Some(Encryption::AesCbc128));
        assert_eq!(info.algorithms.integrity, Some(Integrity::HmacSha256_128));
        assert_eq!(info.encap, c.encap);
        assert_eq!(info.lifetime, c.lifetime);
        assert_eq!(info.replay_window, 32);
        assert!(info.flags.af_unspec);
        assert!(!info.larval);
    }

    #[test]
    fn esn_and_large_windows_use_the_esn_replay_state() {
        let mut c = cfg();
        c.replay = Replay {
            window: 128,
            esn: true,
        };
        let m = c.to_message().unwrap();
        assert_eq!(m.user_sa_info.replay_window, 0);
        assert_ne!(m.user_sa_info.flags & nl::XFRM_STATE_ESN, 0);
        let esn = m
            .nlas
            .iter()
            .find_map(|a| match a {
                nl::XfrmAttrs::ReplayStateEsn(r) => Some(r.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(esn.bmp_len, 4);
        assert_eq!(esn.replay_window, 128);
        let info = round_trip(&c);
        assert!(info.esn);
        assert_eq!(info.replay_window, 128);
    }

    #[test]
    fn spi_request_checks_range() {
        let a = "198.18.0.1".parse().unwrap();
        let b = "198.18.0.2".parse().unwrap();
        let mut r = SpiRequest::esp(a, b, Mode::Tunnel, 1);
        r.min = 5;
        assert!(r.to_message().is_err());
        r.min = 0x2000;
        r.max = 0x1000;
        assert!(r.to_message().is_err());
        r.max = 0x3000;
        let m = r.to_message().unwrap();
        assert_eq!((m.spi_info.min, m.spi_info.max), (0x2000, 0x3000));
        assert_eq!(m.spi_info.info.id.proto, 50);
    }

    #[test]
    fn mixed_families_and_spi_zero_are_refused() {
        let mut c = cfg();
        c.dst = "2001:db8::1".parse().unwrap();
        assert!(c.to_message().is_err());
        let mut c = cfg();
        c.spi = 0;
        assert!(c.to_message().is_err());
    }
}
