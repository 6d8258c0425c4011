//! The security policy database of the userspace dataplane (RFC 4301 §4.4.1).
//!
//! The configuration's policies in the order the kernel path matches them (larger `priority`
//! first, file order among equals: [`crate::kernel::kernel_priority`]), plus policies made
//! for SAs that no configured policy covers (a peer's `generate-policy`). The workers hold
//! an immutable snapshot (`Arc<Spd>`) and get a new one when it changes: no lock on the
//! packet path.

use std::net::IpAddr;

use ipsec_core::config::{IpsecProtocol, Policy, PolicyAction, PortSpec, Snapshot};
use xfrm::Prefix;

use super::packet::Flow;
use crate::driver::SaSelector;

/// Which policy an entry is: a `[[policy]]` (index from 0) or one made for an SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntryId {
    /// `[[policy]]` number `n` (from 0).
    Config(usize),
    /// Made for an SA without a configured policy.
    Generated(u32),
}

/// A selector in the outbound direction (from us to the peer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Selector {
    /// Our side.
    pub src: Prefix,
    /// The peer's side.
    pub dst: Prefix,
    /// IP protocol, 0 for any.
    pub proto: u8,
    /// Our port.
    pub sport: Option<u16>,
    /// Their port.
    pub dport: Option<u16>,
}

impl Selector {
    fn ports_match(&self, proto: u8, sport: u16, dport: u16) -> bool {
        (self.proto == 0 || self.proto == proto)
            && self.sport.is_none_or(|p| p == sport)
            && self.dport.is_none_or(|p| p == dport)
    }

    /// A packet we send.
    pub fn matches_out(&self, f: &Flow) -> bool {
        self.src.contains(f.src)
            && self.dst.contains(f.dst)
            && self.ports_match(f.proto, f.sport, f.dport)
    }

    /// A packet the peer sent us (the selector reversed, RFC 4301 §5.2 step 4).
    pub fn matches_in(&self, f: &Flow) -> bool {
        self.dst.contains(f.src)
            && self.src.contains(f.dst)
            && self.ports_match(f.proto, f.dport, f.sport)
    }

    /// From an SA's negotiated selector.
    pub fn of_sa(s: &SaSelector) -> Self {
        let nz = |p: u16| (p != 0).then_some(p);
        Selector {
            src: s.local,
            dst: s.remote,
            proto: s.protocol,
            sport: nz(s.local_port),
            dport: nz(s.remote_port),
        }
    }
}

/// What matching traffic gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// ESP: tunnel or transport.
    Encrypt {
        /// Tunnel mode.
        tunnel: bool,
    },
    /// Dropped.
    Discard,
    /// Passed in clear.
    Bypass,
}

/// One policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Which one.
    pub id: EntryId,
    /// Outbound selector.
    pub selector: Selector,
    /// What to do.
    pub action: Action,
    /// Match order: lower first (as the kernel's policy priority).
    pub priority: u32,
    /// `level` as configured (`require`, `use`, `unique`), empty when not encrypting.
    pub level: &'static str,
    /// The SA endpoints of a tunnel policy.
    pub sa_src: Option<IpAddr>,
    /// The SA endpoints of a tunnel policy.
    pub sa_dst: Option<IpAddr>,
}

/// The policies, in match order.
#[derive(Debug, Clone, Default)]
pub struct Spd {
    entries: Vec<Entry>,
}

fn prefix(p: &ipsec_core::config::IpPrefix) -> Option<Prefix> {
    Prefix::new(p.addr(), p.prefix_len()).ok()
}

fn port(p: PortSpec) -> Option<u16> {
    match p {
        PortSpec::Any => None,
        PortSpec::Port(n) => Some(n),
    }
}

impl Entry {
    /// A configured policy; `Err` says why it cannot be enforced here.
    pub fn of_policy(p: &Policy, order: usize) -> Result<Self, String> {
        let (Some(src), Some(dst)) = (prefix(&p.src_address), prefix(&p.dst_address)) else {
            return Err("address prefix not usable".into());
        };
        let action = match p.action {
            PolicyAction::Encrypt if p.ipsec_protocols == IpsecProtocol::Ah => {
                return Err("AH is not supported by the userspace dataplane (ESP only)".into());
            }
            PolicyAction::Encrypt => Action::Encrypt { tunnel: p.tunnel },
            PolicyAction::Discard => Action::Discard,
            PolicyAction::None => Action::Bypass,
        };
        Ok(Entry {
            id: EntryId::Config(p.index),
            selector: Selector {
                src,
                dst,
                proto: p.protocol.number().unwrap_or(0),
                sport: port(p.src_port),
                dport: port(p.dst_port),
            },
            action,
            priority: crate::kernel::kernel_priority(p.priority, order),
            level: match p.action {
                PolicyAction::Encrypt => p.level.as_str(),
                _ => "",
            },
            sa_src: p.sa_src_address,
            sa_dst: p.sa_dst_address,
        })
    }
}

impl Spd {
    /// The configuration's policies plus `generated`; problems with single policies are
    /// returned (the policy is left out, as the kernel path refuses to install it).
    pub fn build(config: &Snapshot, generated: &[Entry]) -> (Self, Vec<String>) {
        let mut entries = Vec::new();
        let mut problems = Vec::new();
        for (order, p) in config.policies().enumerate() {
            match Entry::of_policy(p, order) {
                Ok(e) => entries.push(e),
                Err(why) => problems.push(format!("policy #{}: {why}", p.index + 1)),
            }
        }
        entries.extend(generated.iter().cloned());
        // Stable: equal priorities keep file order, generated ones last.
        entries.sort_by_key(|e| e.priority);
        (Spd { entries }, problems)
    }

    /// From entries already in match order.
    pub fn from_entries(entries: Vec<Entry>) -> Self {
        Spd { entries }
    }

    /// Every entry, in match order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The first policy matching a packet we send (RFC 4301 §5.1: the first match wins).
    pub fn lookup_out(&self, f: &Flow) -> Option<&Entry> {
        self.entries.iter().find(|e| e.selector.matches_out(f))
    }

    /// The entry with this id.
    pub fn get(&self, id: EntryId) -> Option<&Entry> {
        self.entries.iter().find(|e| e.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipsec_core::config::Config;

    #[test]
    fn first_match_by_priority_then_file_order() {
        let text = r#"
[[peer]]
name = "b"
address = "198.18.0.2"
secret = "s3cret-s3cret"

[[policy]]
src-address = "100.64.1.0/24"
dst-address = "100.64.2.0/24"
tunnel = true
sa-src-address = "198.18.0.1"
sa-dst-address = "198.18.0.2"

[[policy]]
src-address = "100.64.1.0/24"
dst-address = "100.64.2.7/32"
action = "discard"
priority = 5
"#;
        let snap = Config::from_toml_str(text, "t.toml").unwrap();
        let (spd, problems) = Spd::build(&snap, &[]);
        assert!(problems.is_empty());
        let f = |d: &str| Flow {
            src: "100.64.1.1".parse().unwrap(),
            dst: d.parse().unwrap(),
            proto: 1,
            sport: 0,
            dport: 0,
        };
        assert_eq!(
            spd.lookup_out(&f("100.64.2.7")).unwrap().action,
            Action::Discard
        );
        let e = spd.lookup_out(&f("100.64.2.8")).unwrap();
        assert_eq!(e.action, Action::Encrypt { tunnel: true });
        assert_eq!(e.id, EntryId::Config(0));
        assert!(spd.lookup_out(&f("100.64.3.1")).is_none());
        let back = Flow {
            src: "100.64.2.8".parse().unwrap(),
            dst: "100.64.1.1".parse().unwrap(),
            ..f("0.0.0.0")
        };
        assert!(e.selector.matches_in(&back));
        assert!(!e.selector.matches_out(&back));
    }
}
