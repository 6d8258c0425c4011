//! Virtual addresses handed out by mode-config: which address each user has, and which
//! addresses are in use.
//!
//! A user (the XAuth user name, or the peer's identity without XAuth) keeps its address
//! across reconnects ("the same user gets the same address again"): leases outlive the
//! session, and an address leased to someone who is gone is only taken from them when the
//! pool has nothing else left. An address held by a live session is never given to
//! another owner.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use crate::config::IpPool;

use super::event::PeerId;

/// How many candidate addresses one allocation looks at before giving up: a pool may be a
/// /8, and a scan must stay bounded.
const MAX_SCAN: usize = 1 << 16;

/// The engine's address leases.
#[derive(Debug, Default)]
pub(crate) struct Leases {
    /// Owner → address. (The owner's name is shared by both maps: one allocation per
    /// lease, not two.)
    by_owner: BTreeMap<Arc<str>, IpAddr>,
    /// Address → owner.
    owner_of: BTreeMap<IpAddr, Arc<str>>,
    /// (address, a session holding it now). Pairs in sets rather than a set per address:
    /// nearly every address has one holder, and a set of one still allocated a node of
    /// eleven (200 bytes per lease).
    held: BTreeSet<(IpAddr, PeerId)>,
    /// (session, an address it holds): so that a release does not scan every address.
    holding: BTreeSet<(PeerId, IpAddr)>,
    /// Pool name → where the search for a never-leased address resumes: every usable
    /// address of the pool before it has been leased at some point. Without it each
    /// allocation rescanned the leased addresses from the pool's start (O(leases): with
    /// 5,000 road warriors the scan was a quarter of the responder's CPU time).
    frontier: BTreeMap<String, IpAddr>,
}

impl Leases {
    /// The address for `owner` from `pool` (or `fixed`, the user's own address), held by
    /// `peer` until [`Leases::release`]. `None` when the pool is exhausted.
    pub fn acquire(
        &mut self,
        owner: &str,
        fixed: Option<IpAddr>,
        pool: Option<&IpPool>,
        peer: PeerId,
    ) -> Option<IpAddr> {
        let addr = match fixed {
            Some(a) => a,
            None => self.choose(owner, pool?)?,
        };
        let name: Arc<str> = match self.owner_of.get(&addr) {
            Some(n) if &**n == owner => Arc::clone(n),
            _ => Arc::from(owner),
        };
        if let Some(old) = self.by_owner.insert(Arc::clone(&name), addr)
            && old != addr
        {
            self.owner_of.remove(&old);
        }
        if let Some(prev) = self.owner_of.insert(addr, name)
            && &*prev != owner
        {
            self.by_owner.remove(&prev);
        }
        self.held.insert((addr, peer));
        self.holding.insert((peer, addr));
        Some(addr)
    }

    /// `peer` no longer holds its addresses (the lease itself stays with its owner).
    pub fn release(&mut self, peer: PeerId) {
        let addrs: Vec<IpAddr> = self
            .holding
            .range((peer, IpAddr::from([0u8; 4]))..)
            .take_while(|(p, _)| *p == peer)
            .map(|(_, a)| *a)
            .collect();
        for addr in addrs {
            self.holding.remove(&(peer, addr));
            self.held.remove(&(addr, peer));
        }
    }

    /// The sessions holding `addr`.
    fn holders(&self, addr: IpAddr) -> impl Iterator<Item = PeerId> + '_ {
        self.held
            .range((addr, PeerId(0))..=(addr, PeerId(u64::MAX)))
            .map(|(_, p)| *p)
    }

    /// The owner's previous address if still in the pool, else a never-leased address,
    /// else one leased to an owner who holds it no more.
    fn choose(&mut self, owner: &str, pool: &IpPool) -> Option<IpAddr> {
        if let Some(a) = self.by_owner.get(owner)
            && pool.contains(*a)
        {
            return Some(*a);
        }
        // Never-leased addresses first, from the frontier on.
        let from = self.frontier.get(&pool.name).copied();
        let fresh = pool
            .ranges
            .iter()
            .flat_map(|r| {
                let start = match from {
                    Some(f) if f.is_ipv4() == r.start().is_ipv4() => f.max(r.start()),
                    _ => r.start(),
                };
                addresses(start, r.end())
            })
            .take(MAX_SCAN)
            .find(|a| !is_unusable(*a) && !self.owner_of.contains_key(a));
        if let Some(a) = fresh {
            self.frontier.insert(pool.name.clone(), a);
            return Some(a);
        }
        let mut stale = None;
        for addr in pool
            .ranges
            .iter()
            .flat_map(|r| addresses(r.start(), r.end()))
            .take(MAX_SCAN)
        {
            if is_unusable(addr) {
                continue;
            }
            match self.owner_of.get(&addr) {
                None => return Some(addr),
                Some(_) if stale.is_none() && self.holders(addr).next().is_none() => {
                    stale = Some(addr);
                }
                Some(_) => {}
            }
        }
        stale
    }
}

/// Network and broadcast-looking addresses (x.x.x.0, x.x.x.255) are skipped: some clients
/// refuse them.
fn is_unusable(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => matches!(a.octets()[3], 0 | 255),
        IpAddr::V6(a) => a.segments()[7] == 0,
    }
}

/// Every address from `start` to `end`, inclusive.
fn addresses(start: IpAddr, end: IpAddr) -> impl Iterator<Item = IpAddr> {
    let (s, e, v4) = match (start, end) {
        (IpAddr::V4(s), IpAddr::V4(e)) => {
            (u128::from(u32::from(s)), u128::from(u32::from(e)), true)
        }
        (IpAddr::V6(s), IpAddr::V6(e)) => (u128::from(s), u128::from(e), false),
        _ => (1, 0, true),
    };
    let mut next = Some(s).filter(|s| *s <= e);
    std::iter::from_fn(move || {
        let n = next?;
        next = n.checked_add(1).filter(|m| *m <= e);
        Some(if v4 {
            IpAddr::V4((n as u32).into())
        } else {
            IpAddr::V6(n.into())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AddrRange;

    fn pool(a: &str, b: &str) -> IpPool {
        IpPool {
            name: "p".into(),
            comment: None,
            ranges: vec![AddrRange::new(a.parse().unwrap(), b.parse().unwrap()).unwrap()],
        }
    }

    #[test]
    fn same_user_same_address_and_distinct_users_distinct_addresses() {
        let p = pool("100.64.10.1", "100.64.10.3");
        let mut l = Leases::default();
        let a = l.acquire("alice", None, Some(&p), PeerId(1)).unwrap();
        let b = l.acquire("bob", None, Some(&p), PeerId(2)).unwrap();
        assert_ne!(a, b);
        l.release(PeerId(1));
        assert_eq!(l.acquire("alice", None, Some(&p), PeerId(3)), Some(a));
        assert_eq!(l.holders(a).count(), 1);
    }

    #[test]
    fn an_address_held_by_two_sessions_is_held_until_both_release_it() {
        let p = pool("100.64.10.1", "100.64.10.1");
        let mut l = Leases::default();
        let a = l.acquire("alice", None, Some(&p), PeerId(1)).unwrap();
        assert_eq!(l.acquire("alice", None, Some(&p), PeerId(2)), Some(a));
        assert_eq!(l.holders(a).collect::<Vec<_>>(), [PeerId(1), PeerId(2)]);
        l.release(PeerId(1));
        assert_eq!(l.holders(a).collect::<Vec<_>>(), [PeerId(2)]);
        // Still held: another user gets nothing.
        assert_eq!(l.acquire("bob", None, Some(&p), PeerId(3)), None);
        l.release(PeerId(2));
        assert_eq!(l.acquire("bob", None, Some(&p), PeerId(3)), Some(a));
    }

    #[test]
    fn exhausted_pool_reuses_only_released_addresses() {
        let p = pool("100.64.10.1", "100.64.10.2");
        let mut l = Leases::default();
        let a = l.acquire("a", None, Some(&p), PeerId(1)).unwrap();
        l.acquire("b", None, Some(&p), PeerId(2)).unwrap();
        assert_eq!(l.acquire("c", None, Some(&p), PeerId(3)), None);
        l.release(PeerId(1));
        assert_eq!(l.acquire("c", None, Some(&p), PeerId(3)), Some(a));
        // "a" lost its lease and gets nothing while the pool is full.
        assert_eq!(l.acquire("a", None, Some(&p), PeerId(4)), None);
    }

    #[test]
    fn fixed_addresses_and_skipped_network_addresses() {
        let p = pool("100.64.10.0", "100.64.10.1");
        let mut l = Leases::default();
        assert_eq!(
            l.acquire("x", None, Some(&p), PeerId(1)),
            Some("100.64.10.1".parse().unwrap())
        );
        let fixed: IpAddr = "100.64.99.7".parse().unwrap();
        assert_eq!(l.acquire("y", Some(fixed), None, PeerId(2)), Some(fixed));
        assert_eq!(l.acquire("z", None, None, PeerId(3)), None);
    }

    #[test]
    fn huge_pool_scan_is_bounded() {
        let p = pool("10.0.0.0", "10.255.255.255");
        let mut l = Leases::default();
        for i in 0..300 {
            assert!(
                l.acquire(&format!("u{i}"), None, Some(&p), PeerId(i))
                    .is_some()
            );
        }
    }
}
