//! Security policies: what to install ([`PolicyConfig`], [`Template`]), how to name one
//! ([`PolicyId`]), and what the kernel reports ([`PolicyInfo`]).

use std::net::IpAddr;

use netlink_packet_xfrm as nl;
use netlink_packet_xfrm::policy::{DelGetMessage, ModifyMessage};

use crate::error::{Error, Result};
use crate::types::{
    Action, Direction, IpsecProto, Lifetime, LifetimeCurrent, Mark, Mode, Selector, ip_from,
};

/// One transformation a policy demands: "protect with an SA of this protocol and mode, between
/// these endpoints, with this reqid".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Template {
    /// Tunnel source (tunnel mode); `None` in transport mode.
    pub src: Option<IpAddr>,
    /// Tunnel destination (tunnel mode); `None` in transport mode.
    pub dst: Option<IpAddr>,
    /// Protocol.
    pub proto: IpsecProto,
    /// Mode.
    pub mode: Mode,
    /// reqid of the SAs that satisfy this template (0: any).
    pub reqid: u32,
    /// A specific SPI (0: any).
    pub spi: u32,
    /// Optional ("use" level): traffic passes in clear if no SA is there. Inbound only.
    pub optional: bool,
}

impl Template {
    /// ESP in tunnel mode between `src` and `dst`.
    pub fn esp_tunnel(src: IpAddr, dst: IpAddr, reqid: u32) -> Self {
        Template {
            src: Some(src),
            dst: Some(dst),
            proto: IpsecProto::Esp,
            mode: Mode::Tunnel,
            reqid,
            spi: 0,
            optional: false,
        }
    }

    /// ESP in transport mode.
    pub fn esp_transport(reqid: u32) -> Self {
        Template {
            src: None,
            dst: None,
            proto: IpsecProto::Esp,
            mode: Mode::Transport,
            reqid,
            spi: 0,
            optional: false,
        }
    }

    pub(crate) fn to_nl(self, selector_family: u16) -> Result<nl::UserTemplate> {
        let mut t = nl::UserTemplate {
            family: selector_family,
            ..Default::default()
        };
        match (self.src, self.dst) {
            (Some(s), Some(d)) => {
                if s.is_ipv6() != d.is_ipv6() {
                    return Err(Error::Invalid(format!(
                        "template {s} -> {d} mixes address families"
                    )));
                }
                t.source(&s);
                t.destination(&d);
            }
            (None, None) => {}
            _ => {
                return Err(Error::Invalid(
                    "a template has both tunnel endpoints or neither".into(),
                ));
            }
        }
        if self.mode == Mode::Tunnel && self.dst.is_none() {
            return Err(Error::Invalid(
                "a tunnel-mode template needs its endpoints".into(),
            ));
        }
        t.protocol(self.proto.number());
        t.mode(self.mode.to_nl());
        t.reqid(self.reqid);
        t.spi(self.spi);
        t.optional(self.optional);
        // Any algorithm: the SA decides (the kernel matches templates with all bits set as
        // "all algorithms allowed").
        t.aalgos = u32::MAX;
        t.ealgos = u32::MAX;
        t.calgos = u32::MAX;
        Ok(t)
    }

    pub(crate) fn from_nl(t: &nl::UserTemplate) -> Result<Self> {
        let src = ip_from(&t.saddr, t.family)?;
        let dst = ip_from(&t.id.daddr, t.family)?;
        let endpoint = |ip: IpAddr| if ip.is_unspecified() { None } else { Some(ip) };
        Ok(Template {
            src: endpoint(src),
            dst: endpoint(dst),
            proto: IpsecProto::decode(t.id.proto)?,
            mode: Mode::from_nl(t.mode)?,
            reqid: t.reqid,
            spi: t.id.spi,
            optional: t.optional != 0,
        })
    }
}

/// Policy flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PolicyFlags {
    /// Allow locally generated traffic in clear if no SA is available (XFRM_POLICY_LOCALOK).
    pub local_ok: bool,
    /// Let ICMP errors about the protected traffic through (XFRM_POLICY_ICMP).
    pub icmp: bool,
}

impl PolicyFlags {
    fn bits(self) -> u8 {
        let mut f = 0;
        if self.local_ok {
            f |= nl::XFRM_POLICY_LOCALOK;
        }
        if self.icmp {
            f |= nl::XFRM_POLICY_ICMP;
        }
        f
    }

    fn from_bits(f: u8) -> Self {
        PolicyFlags {
            local_ok: f & nl::XFRM_POLICY_LOCALOK != 0,
            icmp: f & nl::XFRM_POLICY_ICMP != 0,
        }
    }
}

/// A policy to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyConfig {
    /// Traffic it applies to.
    pub selector: Selector,
    /// Direction.
    pub dir: Direction,
    /// Allow (through the templates) or block.
    pub action: Action,
    /// Priority: lower values win.
    pub priority: u32,
    /// Transformations, outermost last (usually one ESP template).
    pub templates: Vec<Template>,
    /// Mark the policy applies to.
    pub mark: Option<Mark>,
    /// XFRM interface id.
    pub if_id: Option<u32>,
    /// Flags.
    pub flags: PolicyFlags,
    /// Limits (rarely used for policies).
    pub lifetime: Lifetime,
}

impl PolicyConfig {
    /// A policy of the given direction with no templates (clear traffic when `Allow`).
    pub fn new(selector: Selector, dir: Direction, action: Action) -> Self {
        PolicyConfig {
            selector,
            dir,
            action,
            priority: 0,
            templates: Vec::new(),
            mark: None,
            if_id: None,
            flags: PolicyFlags::default(),
            lifetime: Lifetime::default(),
        }
    }

    /// An allow policy with one template.
    pub fn ipsec(selector: Selector, dir: Direction, template: Template) -> Self {
        let mut p = Self::new(selector, dir, Action::Allow);
        p.templates.push(template);
        p
    }

    /// Sets the priority.
    pub fn with_priority(mut self, priority: u32) -> Self {
        self.priority = priority;
        self
    }

    /// The id to delete this policy with.
    pub fn id(&self) -> PolicyId {
        PolicyId {
            selector: self.selector,
            dir: self.dir,
            mark: self.mark,
            if_id: self.if_id,
        }
    }

    /// The XFRM_MSG_NEWPOLICY/UPDPOLICY body, with the given index (0: the kernel chooses).
    pub(crate) fn to_message(&self, index: u32) -> Result<ModifyMessage> {
        let mut m = ModifyMessage::default();
        let info = &mut m.user_policy_info;
        info.selector = self.selector.to_nl()?;
        info.direction = self.dir.to_nl();
        info.action = self.action.to_nl();
        info.priority = self.priority;
        info.index = index;
        info.flags = self.flags.bits();
        info.lifetime_cfg = self.lifetime.to_nl();
        if !self.templates.is_empty() {
            let fam = self.selector.family();
            let tmpls = self
                .templates
                .iter()
                .map(|t| t.to_nl(fam))
                .collect::<Result<Vec<_>>>()?;
            m.nlas.push(nl::XfrmAttrs::Template(tmpls));
        }
        if let Some(mark) = self.mark {
            m.nlas.push(nl::XfrmAttrs::Mark(mark.to_nl()));
        }
        if let Some(id) = self.if_id {
            m.nlas.push(nl::XfrmAttrs::IfId(id));
        }
        Ok(m)
    }
}

/// Names one policy: selector and direction (and mark, interface id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PolicyId {
    /// Selector, exactly as installed.
    pub selector: Selector,
    /// Direction.
    pub dir: Direction,
    /// Mark it was installed with.
    pub mark: Option<Mark>,
    /// Interface id it was installed with.
    pub if_id: Option<u32>,
}

impl PolicyId {
    pub(crate) fn to_delget(self) -> Result<DelGetMessage> {
        let mut m = DelGetMessage::default();
        m.user_policy_id.selector = self.selector.to_nl()?;
        m.user_policy_id.direction = self.dir.to_nl();
        if let Some(mark) = self.mark {
            m.nlas.push(nl::XfrmAttrs::Mark(mark.to_nl()));
        }
        if let Some(id) = self.if_id {
            m.nlas.push(nl::XfrmAttrs::IfId(id));
        }
        Ok(m)
    }
}

/// What the kernel reports about an installed policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyInfo {
    /// Selector.
    pub selector: Selector,
    /// Direction.
    pub dir: Direction,
    /// Action.
    pub action: Action,
    /// Priority.
    pub priority: u32,
    /// Index (carries the owner tag, see [`crate::Owner`]).
    pub index: u32,
    /// Templates.
    pub templates: Vec<Template>,
    /// Mark.
    pub mark: Option<Mark>,
    /// Interface id.
    pub if_id: Option<u32>,
    /// Flags.
    pub flags: PolicyFlags,
    /// Limits.
    pub lifetime: Lifetime,
    /// Use so far.
    pub current: LifetimeCurrent,
    /// Policy type (0 main, 1 sub).
    pub ptype: u8,
}

impl PolicyInfo {
    /// The id to delete this policy with.
    pub fn id(&self) -> PolicyId {
        PolicyId {
            selector: self.selector,
            dir: self.dir,
            mark: self.mark,
            if_id: self.if_id,
        }
    }

    pub(crate) fn from_message(m: &ModifyMessage) -> Result<Self> {
        Self::decode(&m.user_policy_info, &m.nlas)
    }

    pub(crate) fn decode(info: &nl::UserPolicyInfo, nlas: &[nl::XfrmAttrs]) -> Result<Self> {
        let mut templates = Vec::new();
        let mut mark = None;
        let mut if_id = None;
        let mut ptype = nl::XFRM_POLICY_TYPE_MAIN;
        for a in nlas {
            match a {
                nl::XfrmAttrs::Template(ts) => {
                    for t in ts {
                        templates.push(Template::from_nl(t)?);
                    }
                }
                nl::XfrmAttrs::Mark(m) => {
                    mark = Some(Mark {
                        value: m.value,
                        mask: m.mask,
                    })
                }
                nl::XfrmAttrs::IfId(v) => if_id = Some(*v),
                nl::XfrmAttrs::PolicyType(t) => ptype = t.ptype,
                _ => {}
            }
        }
        Ok(PolicyInfo {
            selector: Selector::from_nl(&info.selector)?,
            dir: Direction::from_nl(info.direction)?,
            action: Action::from_nl(info.action)?,
            priority: info.priority,
            index: info.index,
            templates,
            mark,
            if_id,
            flags: PolicyFlags::from_bits(info.flags),
            lifetime: Lifetime::from_nl(&info.lifetime_cfg),
            current: LifetimeCurrent::from_nl(&info.lifetime_cur),
            ptype,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Prefix;
    use netlink_packet_core::{Emitable, Parseable};

    fn sel() -> Selector {
        Selector::new(
            Prefix::new("198.51.100.0".parse().unwrap(), 24).unwrap(),
            Prefix::new("203.0.113.0".parse().unwrap(), 24).unwrap(),
        )
    }

    #[test]
    fn policy_round_trips_through_the_wire_format() {
        let mut p = PolicyConfig::ipsec(
            sel().with_proto(17).with_dport(1701),
            Direction::Out,
            Template::esp_tunnel(
                "198.18.0.1".parse().unwrap(),
                "198.18.0.2".parse().unwrap(),
                0x6b69_0002,
            ),
        )
        .with_priority(1000);
        p.mark = Some(Mark { value: 1, mask: 1 });
        let m = p.to_message(0x6b70_0009).unwrap();
        let mut buf = vec![0u8; m.buffer_len()];
        m.emit(&mut buf);
        let parsed = ModifyMessage::parse(&buf).unwrap();
        let info = PolicyInfo::from_message(&parsed).unwrap();
        assert_eq!(info.selector, p.selector);
        assert_eq!(info.dir, Direction::Out);
        assert_eq!(info.action, Action::Allow);
        assert_eq!(info.priority, 1000);
        assert_eq!(info.index, 0x6b70_0009);
        assert_eq!(info.templates, p.templates);
        assert_eq!(info.mark, p.mark);
        assert_eq!(info.id(), p.id());
        let t = match &parsed.nlas[0] {
            nl::XfrmAttrs::Template(t) => t[0],
            other => panic!("{other:?}"),
        };
        assert_eq!(
            (t.aalgos, t.ealgos, t.calgos),
            (u32::MAX, u32::MAX, u32::MAX)
        );
    }

    #[test]
    fn templates_need_both_endpoints_in_tunnel_mode() {
        let mut t = Template::esp_tunnel(
            "198.18.0.1".parse().unwrap(),
            "198.18.0.2".parse().unwrap(),
            1,
        );
        t.dst = None;
        assert!(t.to_nl(2).is_err());
        let mut t = Template::esp_transport(1);
        t.mode = Mode::Tunnel;
        assert!(t.to_nl(2).is_err());
        assert!(Template::esp_transport(1).to_nl(2).is_ok());
    }
}
