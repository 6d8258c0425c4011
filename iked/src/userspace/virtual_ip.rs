//! A mode-config client's virtual address (draft-dukes-ike-mode-cfg-02 §3.3): put on an
//! interface, and the tunnelled networks routed with it as their source, so that what the
//! host sends there matches the SAs the engine negotiated from that address.
//!
//! - Userspace dataplane: the address goes on the TUN ([`super::net::TUN_NAME`]); the routes
//!   into the TUN in our table get it as `src` (and split-include networks that no
//!   policy route covers get a route of their own), see [`super::net::Routing::set_routes`].
//! - Kernel dataplane: the address goes on `lo` (XFRM needs no device); each tunnelled
//!   network gets a copy of the route the host already uses for it, with `src` set.
//!
//! Only what this module added is removed: an address that was already there stays, and
//! every route and address carries our rtnetlink protocol tag (a crashed run's leftovers are
//! removed at the next start by [`xfrm::NetConfig::flush_owned`]). DNS servers are only
//! logged: iked does not edit resolv.conf.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipsec_core::config::Snapshot;
use xfrm::{NetConfig, Prefix, RouteConfig};

use super::Dataplane;
use super::spd::{Action, Entry, EntryId, Spd};
use crate::driver::VirtualIp;

/// The loopback device: where the kernel dataplane keeps a virtual address.
const LOOPBACK: &str = "lo";

/// The networks to route from `vip`: the split-include networks some `encrypt` policy from
/// `vip` covers (a network no policy covers would only be black-holed), or, without
/// split-include, the destinations of the configured `encrypt` policies from `vip`.
pub fn tunnelled_nets(entries: &[Entry], vip: IpAddr, split_include: &[Prefix]) -> Vec<Prefix> {
    let from_vip = |e: &&Entry| {
        matches!(e.action, Action::Encrypt { .. })
            && e.selector.src.contains(vip)
            && e.selector.dst.addr().is_ipv4() == vip.is_ipv4()
    };
    let mut nets = Vec::new();
    if split_include.is_empty() {
        for e in entries
            .iter()
            .filter(from_vip)
            .filter(|e| matches!(e.id, EntryId::Config(_)))
        {
            if !nets.contains(&e.selector.dst) {
                nets.push(e.selector.dst);
            }
        }
    } else {
        for net in split_include {
            let covered = entries
                .iter()
                .filter(from_vip)
                .any(|e| covers(&e.selector.dst, net));
            if covered && !nets.contains(net) {
                nets.push(*net);
            }
        }
    }
    nets
}

/// Whether `outer` contains all of `inner`.
pub fn covers(outer: &Prefix, inner: &Prefix) -> bool {
    outer.addr().is_ipv4() == inner.addr().is_ipv4()
        && outer.prefix_len() <= inner.prefix_len()
        && outer.contains(inner.addr())
}

fn host_len(a: IpAddr) -> u8 {
    if a.is_ipv4() { 32 } else { 128 }
}

/// What was done for one peer's address, to undo it.
#[derive(Debug)]
struct Applied {
    address: IpAddr,
    ifindex: u32,
    /// Whether we added the address (else it was there before and stays).
    added_address: bool,
    /// Kernel dataplane: the routes we added.
    kernel_routes: Vec<RouteConfig>,
}

/// The virtual addresses in use, by peer name.
#[derive(Debug, Default)]
pub struct VirtualIps {
    applied: BTreeMap<String, Applied>,
    /// The kernel dataplane's rtnetlink connection, opened at the first address (the
    /// userspace dataplane has its own in its routing).
    kernel_net: Option<NetConfig>,
}

impl VirtualIps {
    /// Applies `v`; returns the log line. An earlier address of the same peer is removed
    /// first.
    pub async fn apply(
        &mut self,
        dp: &mut Dataplane,
        config: &Snapshot,
        v: &VirtualIp,
    ) -> Result<String, String> {
        if let Some(old) = self.applied.get(&v.peer).map(|a| a.address) {
            self.remove(dp, &v.peer, old).await?;
        }
        let (applied, nets, device) = match dp {
            Dataplane::Userspace(u) => {
                let (ifindex, added_address, nets) = u
                    .add_virtual_ip(&v.peer, v.address, &v.split_include)
                    .await?;
                let applied = Applied {
                    address: v.address,
                    ifindex,
                    added_address,
                    kernel_routes: Vec::new(),
                };
                (applied, nets, LOOPBACK)
            }
            Dataplane::Kernel(k) => {
                if self.kernel_net.is_none() {
                    let net = NetConfig::new(k.xfrm().owner())
                        .map_err(|e| format!("rtnetlink connection: {e}"))?;
                    self.kernel_net = Some(net);
                }
                let Some(net) = self.kernel_net.as_ref() else {
                    return Err("no rtnetlink connection".into());
                };
                let (spd, _) = Spd::build(config, &[]);
                let nets = tunnelled_nets(&spd.entries(), v.address, &v.split_include);
                let applied = kernel_apply(net, v.address, &nets).await?;
                (applied, nets, LOOPBACK)
            }
        };
        self.applied.insert(v.peer.clone(), applied);
        let nets: Vec<String> = nets.iter().map(ToString::to_string).collect();
        let dns: Vec<String> = v.dns.iter().map(ToString::to_string).collect();
        Ok(format!(
            "mode-config from peer {:?}: virtual IP {}/{} on {device} (server's prefix length \
             {}), routes [{}] with source {}; DNS servers [{}] reported, not applied: iked \
             does not edit resolv.conf",
            v.peer,
            v.address,
            host_len(v.address),
            v.prefix_len
                .map_or_else(|| "none".into(), |l| l.to_string()),
            nets.join(", "),
            v.address,
            dns.join(", ")
        ))
    }

    /// Removes what [`VirtualIps::apply`] did for `peer`, if its address is `address`
    /// (a newer session's address stays); whether there was something to remove.
    pub async fn remove(
        &mut self,
        dp: &mut Dataplane,
        peer: &str,
        address: IpAddr,
    ) -> Result<bool, String> {
        if self.applied.get(peer).is_none_or(|a| a.address != address) {
            return Ok(false);
        }
        let Some(a) = self.applied.remove(peer) else {
            return Ok(false);
        };
        match dp {
            Dataplane::Userspace(u) => u.del_virtual_ip(peer, a.address, a.added_address).await?,
            Dataplane::Kernel(_) => {
                if let Some(net) = &self.kernel_net {
                    kernel_remove(net, &a).await?;
                }
            }
        }
        Ok(true)
    }

    /// Removes every address and route of ours (shutdown); how many addresses there were.
    /// Goes on past a failure and reports the first.
    pub async fn remove_all(&mut self, dp: &mut Dataplane) -> Result<usize, String> {
        let all: Vec<(String, IpAddr)> = self
            .applied
            .iter()
            .map(|(p, a)| (p.clone(), a.address))
            .collect();
        let mut first_err = None;
        for (peer, address) in &all {
            if let Err(e) = self.remove(dp, peer, *address).await {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(all.len()), Err)
    }
}

/// Kernel dataplane: the address on `lo`, then for each network a copy of the route that
/// the host uses for it now (same gateway and device) with `src` set. A network whose exact
/// route already exists is left alone (it is the operator's) and said so.
async fn kernel_apply(
    net: &NetConfig,
    address: IpAddr,
    nets: &[Prefix],
) -> Result<Applied, String> {
    let ifindex = net
        .link_index(LOOPBACK)
        .await
        .map_err(|e| format!("interface {LOOPBACK}: {e}"))?;
    let added_address = match net.add_address(ifindex, address, host_len(address)).await {
        Ok(()) => true,
        Err(e) if e.is_exists() => false,
        Err(e) => return Err(format!("adding {address} to {LOOPBACK}: {e}")),
    };
    let mut applied = Applied {
        address,
        ifindex,
        added_address,
        kernel_routes: Vec::new(),
    };
    let routes = match net.routes(address.is_ipv6()).await {
        Ok(r) => r,
        Err(e) => {
            let _ = kernel_remove(net, &applied).await;
            return Err(format!("listing routes: {e}"));
        }
    };
    let main = u32::from(netlink_packet_route::route::RouteHeader::RT_TABLE_MAIN);
    for dst in nets {
        // The longest main-table prefix that covers all of `dst`, lowest metric first.
        let Some(via) = routes
            .iter()
            .filter(|r| r.table == main && covers(&r.dst, dst))
            .max_by_key(|r| (r.dst.prefix_len(), std::cmp::Reverse(r.metric.unwrap_or(0))))
        else {
            tracing::warn!("no route to {dst}: not routed from {address}");
            continue;
        };
        if via.dst == *dst {
            tracing::warn!(
                "{dst} already has a route: left alone, traffic there keeps its source address"
            );
            continue;
        }
        let mut r = RouteConfig::new(*dst);
        r.gateway = via.gateway;
        r.oif = via.oif;
        r.metric = via.metric;
        r.pref_src = Some(address);
        match net.add_route(&r).await {
            Ok(()) => applied.kernel_routes.push(r),
            Err(e) => tracing::warn!("route {dst} from {address}: {e}"),
        }
    }
    Ok(applied)
}

async fn kernel_remove(net: &NetConfig, a: &Applied) -> Result<(), String> {
    let mut first_err = None;
    for r in &a.kernel_routes {
        if let Err(e) = net.del_route(r).await
            && !e.is_not_found()
            && e.errno() != Some(libc::ESRCH)
        {
            first_err.get_or_insert(format!("removing route {}: {e}", r.dst));
        }
    }
    if a.added_address
        && let Err(e) = net
            .del_address(a.ifindex, a.address, host_len(a.address))
            .await
        && !e.is_not_found()
    {
        first_err.get_or_insert(format!("removing {}: {e}", a.address));
    }
    first_err.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::userspace::spd::Selector;

    fn p(s: &str) -> Prefix {
        let (a, l) = s.split_once('/').unwrap();
        Prefix::new(a.parse().unwrap(), l.parse().unwrap()).unwrap()
    }

    fn entry(id: EntryId, src: &str, dst: &str, action: Action) -> Entry {
        Entry {
            id,
            selector: Selector {
                src: p(src),
                dst: p(dst),
                proto: 0,
                sport: None,
                dport: None,
            },
            action,
            priority: 0,
            level: "require",
            sa_src: None,
            sa_dst: None,
        }
    }

    #[test]
    fn nets_from_policies_or_split_include() {
        let vip: IpAddr = "100.100.0.10".parse().unwrap();
        let enc = Action::Encrypt { tunnel: true };
        let entries = [
            entry(EntryId::Config(0), "0.0.0.0/0", "203.0.113.0/24", enc),
            entry(EntryId::Config(1), "198.51.100.0/24", "198.18.9.0/24", enc),
            entry(
                EntryId::Config(2),
                "0.0.0.0/0",
                "198.18.7.0/24",
                Action::Bypass,
            ),
        ];
        // Without split-include: the encrypting policies whose source holds the address.
        assert_eq!(
            tunnelled_nets(&entries, vip, &[]),
            vec![p("203.0.113.0/24")]
        );
        // With it: only networks a policy covers (the other would be black-holed).
        assert_eq!(
            tunnelled_nets(&entries, vip, &[p("203.0.113.128/25"), p("198.18.7.0/24")]),
            vec![p("203.0.113.128/25")]
        );
        assert!(covers(&p("0.0.0.0/0"), &p("203.0.113.0/24")));
        assert!(!covers(&p("203.0.113.0/25"), &p("203.0.113.0/24")));
    }
}
