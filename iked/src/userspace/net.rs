//! The dataplane's kernel plumbing: the TUN device, the raw ESP sockets, and the routing that
//! sends protected traffic into the TUN while the daemon's own packets go out directly.
//!
//! # Routing (as strongSwan's kernel-libipsec with its table 220)
//! The destinations of the `encrypt` policies are routed to the TUN in a table of our own
//! ([`TABLE`]); one rule per family, `not fwmark MARK lookup TABLE` at priority
//! [`RULE_PRIORITY`] (before `main`), sends everything except the daemon's own packets
//! there. The daemon's sockets (IKE, NAT-T, raw ESP) carry `SO_MARK` = [`MARK`], so they skip
//! the table and use the ordinary routes. That is what makes transport mode work: the peer's
//! own address routes into the TUN for ordinary traffic, but not for the ESP and IKE packets
//! that go to it. Routes and rules carry the owner's rtnetlink protocol (158): shutdown
//! removes them, and the next start removes what a killed run left.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::IpAddr;
use std::os::fd::{FromRawFd, OwnedFd};

use futures::TryStreamExt;
use netlink_packet_route::route::RouteProtocol;
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleFlags, RuleMessage};
use nix::sys::socket::{self, sockopt};
use tun_rs::{DeviceBuilder, SyncDevice};
use xfrm::{NetConfig, Owner, Prefix, RouteConfig};

use super::virtual_ip::covers;

/// The TUN device's name.
pub const TUN_NAME: &str = "iked0";
/// Its MTU: room for the outer IPv4 header, ESP-in-UDP, the largest IV, padding and ICV
/// under a 1500-byte path (20 + 8 + 8 + 16 + 17 + 32 = 101; rounded).
pub const TUN_MTU: u16 = 1400;
/// The TUN's transmit queue, in packets.
pub const TUN_QUEUE: u32 = 4096;
/// `SO_MARK` of the daemon's own sockets ("ik" in ASCII).
pub const MARK: u32 = 0x6b69;
/// Our routing table.
pub const TABLE: u32 = 0x6b69;
/// Priority of our rule (before the `main` table's 32766).
pub const RULE_PRIORITY: u32 = 0x6b69;

/// Creates the TUN device, up, with our MTU and no address (routes point at it by index).
/// With the TCP/UDP segmentation offloads ([`super::tun_io`]) where the kernel has them,
/// else without.
pub fn open_tun() -> io::Result<SyncDevice> {
    let build = |offload: bool| {
        DeviceBuilder::new()
            .name(TUN_NAME)
            .mtu(TUN_MTU)
            // The kernel drops what the outbound worker has not read when this queue is full
            // (the default 500 packets overflowed at ~0.6 Gbit/s, costing TCP retransmissions).
            .tx_queue_len(TUN_QUEUE)
            .offload(offload)
            .build_sync()
    };
    build(true).or_else(|e| {
        tracing::info!("TUN without segmentation offloads ({e})");
        build(false)
    })
}

/// `disable_policy` on the TUN (IPv4 and IPv6): what the inbound worker writes there was
/// decrypted by us, not by the kernel, so the kernel's `in`/`fwd` policies (which drop
/// cleartext that should have come encrypted, RFC 4301 §5.2) must not judge it.
pub fn tun_skips_kernel_policies() -> io::Result<()> {
    for family in ["ipv4", "ipv6"] {
        let path = format!("/proc/sys/net/{family}/conf/{TUN_NAME}/disable_policy");
        match std::fs::write(&path, "1") {
            Ok(()) => {}
            // No IPv6 on this host or namespace: nothing to skip.
            Err(e) if family == "ipv6" && e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io::Error::new(e.kind(), format!("{path}: {e}"))),
        }
    }
    Ok(())
}

/// A raw socket that receives and sends ESP (IP protocol 50) of one family, marked.
///
/// Hand-written `socket(2)` call: nix's `SockProtocol` has no `IPPROTO_ESP`.
pub fn raw_esp_socket(v6: bool) -> io::Result<OwnedFd> {
    let family = if v6 { libc::AF_INET6 } else { libc::AF_INET };
    // SAFETY: plain socket(2); the descriptor is owned by the OwnedFd right away.
    let fd = unsafe {
        libc::socket(
            family,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            libc::IPPROTO_ESP,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just returned by socket(2) and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    socket::setsockopt(&fd, sockopt::Mark, &MARK).map_err(io::Error::from)?;
    // Past the `in` policies that drop cleartext for encrypt policies (our ESP is the
    // protocol they would otherwise refuse on a kernel without an ESP handler).
    xfrm::socket::bypass(&fd).map_err(io::Error::other)?;
    if v6 {
        socket::setsockopt(&fd, sockopt::Ipv6RecvPacketInfo, &true).map_err(io::Error::from)?;
    }
    // A burst of ESP must not overflow the default 208 KiB buffer between two batches.
    let _ = socket::setsockopt(&fd, sockopt::RcvBuf, &(4 << 20));
    let _ = socket::setsockopt(&fd, sockopt::SndBuf, &(4 << 20));
    Ok(fd)
}

/// Marks one of the daemon's sockets so that it bypasses our table.
pub fn mark(fd: &impl std::os::fd::AsFd) -> io::Result<()> {
    socket::setsockopt(fd, sockopt::Mark, &MARK).map_err(io::Error::from)
}

/// Routes and rules, tagged with the owner's protocol.
pub struct Routing {
    net: NetConfig,
    rules: rtnetlink::Handle,
    rules_conn: tokio::task::JoinHandle<()>,
    protocol: u8,
    tun_index: u32,
    /// Our routes, by destination (one each).
    installed: HashMap<Prefix, RouteConfig>,
    /// Our addresses as of the last [`Routing::set_routes`] (preferred sources).
    ours: Vec<IpAddr>,
    /// The mode-config pools' prefixes: a host in one is routed by the pool's route
    /// (`pool_routes`).
    pools: Vec<Prefix>,
}

impl Drop for Routing {
    fn drop(&mut self) {
        self.rules_conn.abort();
    }
}

impl std::fmt::Debug for Routing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routing")
            .field("tun_index", &self.tun_index)
            .field("installed", &self.installed)
            .finish()
    }
}

fn rtnl(op: &'static str) -> impl Fn(rtnetlink::Error) -> String {
    move |e| format!("{op}: {e}")
}

impl Routing {
    /// Connects (inside the runtime) and removes what an earlier run left: routes and rules
    /// with our protocol. Returns it and how many of each were removed.
    pub async fn new(owner: &Owner, tun: &str) -> Result<(Self, usize), String> {
        let net = NetConfig::new(owner).map_err(|e| format!("rtnetlink: {e}"))?;
        let (conn, rules, _) =
            rtnetlink::new_connection().map_err(|e| format!("rtnetlink socket: {e}"))?;
        let rules_conn = tokio::spawn(conn);
        let tun_index = net
            .link_index(tun)
            .await
            .map_err(|e| format!("TUN {tun}: {e}"))?;
        let r = Routing {
            net,
            rules,
            rules_conn,
            protocol: owner.rt_protocol,
            tun_index,
            installed: HashMap::new(),
            ours: Vec::new(),
            pools: Vec::new(),
        };
        let (routes, _) = r
            .net
            .flush_owned()
            .await
            .map_err(|e| format!("removing an earlier run's routes: {e}"))?;
        let rules = r.flush_rules().await?;
        Ok((r, routes + rules))
    }

    async fn dump_rules(&self) -> Result<Vec<RuleMessage>, String> {
        let mut all = Vec::new();
        for v in [rtnetlink::IpVersion::V4, rtnetlink::IpVersion::V6] {
            let req = self.rules.rule().get(v).execute();
            let got: Vec<RuleMessage> = tokio::time::timeout(xfrm::DUMP_TIMEOUT, req.try_collect())
                .await
                .map_err(|_| "listing rules: timed out".to_string())?
                .map_err(rtnl("listing rules"))?;
            all.extend(got);
        }
        Ok(all)
    }

    /// Removes our rules; how many.
    async fn flush_rules(&self) -> Result<usize, String> {
        let ours = RouteProtocol::from(self.protocol);
        let mut n = 0;
        for m in self.dump_rules().await? {
            let tagged = m
                .attributes
                .iter()
                .any(|a| matches!(a, RuleAttribute::Protocol(p) if *p == ours));
            if !tagged {
                continue;
            }
            let req = self.rules.rule().del(m).execute();
            match tokio::time::timeout(xfrm::DEFAULT_TIMEOUT, req).await {
                Ok(Ok(())) => n += 1,
                Ok(Err(e)) => return Err(format!("removing a rule: {e}")),
                Err(_) => return Err("removing a rule: timed out".into()),
            }
        }
        Ok(n)
    }

    /// Adds `not fwmark MARK lookup TABLE` for both families.
    pub async fn add_rules(&self) -> Result<(), String> {
        for v6 in [false, true] {
            let add = self.rules.rule().add();
            let mut_msg = |m: &mut RuleMessage| {
                m.header.flags |= RuleFlags::Invert;
                m.header.action = RuleAction::ToTable;
                m.attributes
                    .push(RuleAttribute::Protocol(RouteProtocol::from(self.protocol)));
            };
            let r = if v6 {
                let mut req = add
                    .v6()
                    .table_id(TABLE)
                    .priority(RULE_PRIORITY)
                    .fw_mark(MARK);
                mut_msg(req.message_mut());
                tokio::time::timeout(xfrm::DEFAULT_TIMEOUT, req.execute()).await
            } else {
                let mut req = add
                    .v4()
                    .table_id(TABLE)
                    .priority(RULE_PRIORITY)
                    .fw_mark(MARK);
                mut_msg(req.message_mut());
                tokio::time::timeout(xfrm::DEFAULT_TIMEOUT, req.execute()).await
            };
            match r {
                Ok(Ok(())) => {}
                // IPv6 may be disabled in the namespace: IPv4 still works.
                Ok(Err(e)) if v6 => tracing::debug!("no IPv6 rule: {e}"),
                Ok(Err(e)) => return Err(format!("adding the routing rule: {e}")),
                Err(_) => return Err("adding the routing rule: timed out".into()),
            }
        }
        Ok(())
    }

    /// Makes the routes into the TUN exactly `dsts` (with a preferred source address when one
    /// of ours lies inside the policy's source prefix, so that locally generated traffic
    /// matches the policy), plus those of `virtual_ips`: (a mode-config client's virtual
    /// address, the networks tunnelled from it). A route to such a network, or inside one,
    /// takes the virtual address as its source (the SAs were negotiated from it, and the
    /// server routes back only to it); a network without a route of its own gets one.
    /// Problems are returned; the rest is done.
    pub async fn set_routes(
        &mut self,
        dsts: &[(Prefix, Prefix)],
        virtual_ips: &[(IpAddr, Vec<Prefix>)],
    ) -> Vec<String> {
        let mut problems = Vec::new();
        self.ours = match self.net.addresses(None).await {
            Ok(v) => v.into_iter().map(|a| a.addr).collect(),
            Err(e) => {
                problems.push(format!("listing addresses: {e}"));
                Vec::new()
            }
        };
        // Sets and maps, not list scans: with 100,000 road warriors there are as many routes.
        let mut wanted: Vec<RouteConfig> = Vec::new();
        let mut by_dst: HashMap<Prefix, usize> = HashMap::new();
        for (src, dst) in dsts {
            let dst = self.route_dst(*dst);
            if by_dst.contains_key(&dst) {
                continue;
            }
            by_dst.insert(dst, wanted.len());
            wanted.push(self.route(*src, dst));
        }
        for (vip, nets) in virtual_ips {
            for net in nets {
                for r in wanted.iter_mut().filter(|r| covers(net, &r.dst)) {
                    r.pref_src = Some(*vip);
                }
                if !by_dst.contains_key(net) {
                    let mut r = RouteConfig::new(*net);
                    r.oif = Some(self.tun_index);
                    r.table = Some(TABLE);
                    r.pref_src = Some(*vip);
                    by_dst.insert(*net, wanted.len());
                    wanted.push(r);
                }
            }
        }
        let keep: HashSet<RouteConfig> = wanted.iter().copied().collect();
        let stale: Vec<RouteConfig> = self
            .installed
            .values()
            .filter(|r| !keep.contains(r))
            .copied()
            .collect();
        for r in stale {
            if let Err(e) = self.net.del_route(&r).await
                && !e.is_not_found()
                && e.errno() != Some(libc::ESRCH)
            {
                problems.push(format!("removing route {}: {e}", r.dst));
            }
            self.installed.remove(&r.dst);
        }
        for r in wanted {
            if let Err(p) = self.install(r).await {
                problems.push(p);
            }
        }
        problems
    }

    /// The route into the TUN for a policy from `src` to `dst`: with one of our addresses
    /// inside `src` as preferred source, so that locally generated traffic matches the policy.
    fn route(&self, src: Prefix, dst: Prefix) -> RouteConfig {
        let mut r = RouteConfig::new(dst);
        r.oif = Some(self.tun_index);
        r.table = Some(TABLE);
        r.pref_src = self
            .ours
            .iter()
            .copied()
            .find(|a| src.contains(*a) && !src.is_any() && a.is_ipv4() == dst.addr().is_ipv4());
        r
    }

    async fn install(&mut self, r: RouteConfig) -> Result<(), String> {
        if self.installed.get(&r.dst) == Some(&r) {
            return Ok(());
        }
        match self.net.add_route(&r).await {
            Ok(()) => {
                self.installed.insert(r.dst, r);
                Ok(())
            }
            Err(e) if e.is_exists() => {
                self.installed.insert(r.dst, r);
                Ok(())
            }
            Err(e) => Err(format!("route {} into {TUN_NAME}: {e}", r.dst)),
        }
    }

    /// Adds the route of one more policy (a generated one), with the addresses known at the
    /// last [`Routing::set_routes`]. Nothing happens if a route to `dst` is there.
    pub async fn add_route_to(&mut self, src: Prefix, dst: Prefix) -> Result<(), String> {
        let dst = self.route_dst(dst);
        if self.installed.contains_key(&dst) {
            return Ok(());
        }
        let r = self.route(src, dst);
        self.install(r).await
    }

    /// The mode-config pools' prefixes (`pool_routes`), from the configuration.
    pub fn set_pools(&mut self, pools: Vec<Prefix>) {
        self.pools = pools;
    }

    /// The route that serves policies to `dst`: its pool's, for a host of a pool.
    fn route_dst(&self, dst: Prefix) -> Prefix {
        let host = dst.prefix_len() == if dst.addr().is_ipv4() { 32 } else { 128 };
        match self.pools.iter().find(|p| host && p.contains(dst.addr())) {
            Some(p) => *p,
            None => dst,
        }
    }

    /// Removes our routes to `dst` (its last policy is gone).
    pub async fn remove_route_to(&mut self, dst: Prefix) -> Result<(), String> {
        if self.route_dst(dst) != dst {
            // A pool's route outlives its clients; the next `set_routes` drops it once no
            // policy needs it.
            return Ok(());
        }
        let Some(r) = self.installed.remove(&dst) else {
            return Ok(());
        };
        match self.net.del_route(&r).await {
            Err(e) if !e.is_not_found() && e.errno() != Some(libc::ESRCH) => {
                Err(format!("removing route {}: {e}", r.dst))
            }
            _ => Ok(()),
        }
    }

    /// Forgets the routes we installed that the kernel no longer has, so that the next
    /// [`Routing::set_routes`] puts them back; how many. Removing an address takes the routes
    /// with it as their source away, and removing the TUN's last IPv4 address every route
    /// through the TUN (`fib_disable_ip`, net/ipv4/fib_frontend.c).
    pub async fn forget_vanished(&mut self) -> Result<usize, String> {
        let mut present = Vec::new();
        for v6 in [false, true] {
            let routes = self
                .net
                .routes(v6)
                .await
                .map_err(|e| format!("listing routes: {e}"))?;
            present.extend(
                routes
                    .into_iter()
                    .filter(|r| r.table == TABLE && r.protocol == self.protocol),
            );
        }
        let before = self.installed.len();
        self.installed.retain(|_, r| {
            present
                .iter()
                .any(|p| p.dst == r.dst && p.oif == r.oif && p.pref_src == r.pref_src)
        });
        Ok(before - self.installed.len())
    }

    /// The rtnetlink connection (for virtual addresses).
    pub fn net(&self) -> &NetConfig {
        &self.net
    }

    /// Removes every route and rule of ours.
    pub async fn flush(&mut self) -> Result<(usize, usize), String> {
        self.installed.clear();
        let (routes, _) = self
            .net
            .flush_owned()
            .await
            .map_err(|e| format!("removing routes: {e}"))?;
        let rules = self.flush_rules().await?;
        Ok((routes, rules))
    }
}
