//! The security policy database of the userspace dataplane (RFC 4301 §4.4.1).
//!
//! The configuration's policies in the order the kernel path matches them (larger `priority`
//! first, file order among equals: [`crate::kernel::kernel_priority`]), plus policies made
//! for SAs that no configured policy covers (a peer's `generate-policy`). The workers hold
//! a snapshot (`Arc<Spd>`) of the configured policies and get a new one when they change (no
//! lock for them on the packet path).
//!
//! Generated policies come and go with every road warrior, so they are not in the snapshot:
//! they live in one index ([`Generated`]) that every snapshot shares and the control side
//! updates in place, under a read-write lock that the workers take for reading. A road
//! warrior's generated policy has its virtual address as a host destination, so the index
//! finds it by that address: adding, removing and matching cost O(1) with 100,000 tunnels.
//! (The first version copied the whole SPD and re-checked every route for each new tunnel:
//! set-up slowed to 147 tunnels/s at 5,000 tunnels, 97 % of the time in that copy.)

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// The policies, in match order: the configured ones with the generated ones among them
/// where their priority puts them.
#[derive(Debug, Clone, Default)]
pub struct Spd {
    /// Configured policies in match order.
    configured: Vec<Entry>,
    /// The generated policies go before `configured[generated_at]`.
    generated_at: usize,
    generated: Arc<Generated>,
}

/// The generated policies, shared by every [`Spd`] snapshot built from the same set.
#[derive(Debug, Default)]
pub struct Generated(RwLock<GeneratedIndex>);

#[derive(Debug, Default)]
struct GeneratedIndex {
    by_id: HashMap<EntryId, Entry>,
    /// Entries whose destination is one host, by that host.
    by_host: HashMap<IpAddr, Vec<EntryId>>,
    /// The others, in insertion order.
    other: Vec<EntryId>,
}

impl GeneratedIndex {
    fn host(e: &Entry) -> Option<IpAddr> {
        let d = e.selector.dst;
        let full = if d.addr().is_ipv4() { 32 } else { 128 };
        (d.prefix_len() == full).then(|| d.addr())
    }

    fn insert(&mut self, e: Entry) {
        if self.by_id.insert(e.id, e).is_some() {
            self.unlink(&e);
        }
        match Self::host(&e) {
            Some(h) => {
                // Nearly always one entry per host: room for one, not the four of `push`.
                let ids = self.by_host.entry(h).or_default();
                ids.reserve_exact(1);
                ids.push(e.id);
            }
            None => self.other.push(e.id),
        }
    }

    fn unlink(&mut self, e: &Entry) {
        match Self::host(e) {
            Some(h) => {
                if let Some(v) = self.by_host.get_mut(&h) {
                    v.retain(|i| *i != e.id);
                    if v.is_empty() {
                        self.by_host.remove(&h);
                    }
                }
            }
            None => self.other.retain(|i| *i != e.id),
        }
    }

    fn lookup_out(&self, f: &Flow) -> Option<Entry> {
        let hosts = self.by_host.get(&f.dst).into_iter().flatten();
        hosts
            .chain(self.other.iter())
            .filter_map(|id| self.by_id.get(id))
            .find(|e| e.selector.matches_out(f))
            .copied()
    }
}

impl Generated {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, GeneratedIndex> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters (each update is one insert or removal): keep serving.
        self.0.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, GeneratedIndex> {
        self.0.write().unwrap_or_else(|p| p.into_inner())
    }
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
        (Spd::new(entries, generated.iter().copied()), problems)
    }

    /// Configured entries (sorted here, stably: equal priorities keep their order) and
    /// generated ones.
    pub fn new(mut configured: Vec<Entry>, generated: impl IntoIterator<Item = Entry>) -> Self {
        configured.retain(|e| matches!(e.id, EntryId::Config(_)));
        configured.sort_by_key(|e| e.priority);
        // Generated entries come after configured ones of equal priority.
        let g = generated_priority();
        let generated_at = configured.partition_point(|e| e.priority <= g);
        let mut index = GeneratedIndex::default();
        for e in generated {
            index.insert(e);
        }
        Spd {
            configured,
            generated_at,
            generated: Arc::new(Generated(RwLock::new(index))),
        }
    }

    /// Adds a generated entry; every snapshot sharing this set sees it at once.
    pub fn insert_generated(&self, e: Entry) {
        self.generated.write().insert(e);
    }

    /// Removes a generated entry.
    pub fn remove_generated(&self, id: EntryId) -> Option<Entry> {
        let mut g = self.generated.write();
        let e = g.by_id.remove(&id)?;
        g.unlink(&e);
        Some(e)
    }

    /// The configured entries, in match order.
    pub fn configured(&self) -> &[Entry] {
        &self.configured
    }

    /// Every entry, in match order (generated ones by id among themselves); a copy, for
    /// listings and rebuilds, not for the packet path.
    pub fn entries(&self) -> Vec<Entry> {
        let g = self.generated.read();
        let mut generated: Vec<Entry> = g.by_id.values().copied().collect();
        generated.sort_by_key(|e| e.id);
        let mut out = Vec::with_capacity(self.configured.len() + generated.len());
        out.extend_from_slice(&self.configured[..self.generated_at]);
        out.extend(generated);
        out.extend_from_slice(&self.configured[self.generated_at..]);
        out
    }

    /// The first policy matching a packet we send (RFC 4301 §5.1: the first match wins).
    pub fn lookup_out(&self, f: &Flow) -> Option<Entry> {
        let (before, after) = self.configured.split_at(self.generated_at);
        if let Some(e) = before.iter().find(|e| e.selector.matches_out(f)) {
            return Some(*e);
        }
        if let Some(e) = self.generated.read().lookup_out(f) {
            return Some(e);
        }
        after.iter().find(|e| e.selector.matches_out(f)).copied()
    }

    /// The entry with this id.
    pub fn get(&self, id: EntryId) -> Option<Entry> {
        match id {
            EntryId::Config(_) => self.configured.iter().find(|e| e.id == id).copied(),
            EntryId::Generated(_) => self.generated.read().by_id.get(&id).copied(),
        }
    }

    /// Whether an encrypt entry other than `except` has the destination `dst` (its route
    /// into the TUN is still needed).
    pub fn routes_to(&self, dst: Prefix, except: Option<EntryId>) -> bool {
        let encrypt = |e: &Entry| {
            matches!(e.action, Action::Encrypt { .. })
                && e.selector.dst == dst
                && Some(e.id) != except
        };
        if self.configured.iter().any(encrypt) {
            return true;
        }
        let g = self.generated.read();
        let ids = g.by_host.get(&dst.addr()).into_iter().flatten();
        ids.chain(g.other.iter())
            .filter_map(|id| g.by_id.get(id))
            .any(encrypt)
    }
}

/// The priority of generated entries (that of a configured policy with the default
/// `priority`, first in the file).
fn generated_priority() -> u32 {
    crate::kernel::kernel_priority(0, 0)
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
