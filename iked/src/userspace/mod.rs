//! The userspace ESP dataplane: for hosts without kernel ESP (containers, minimal kernels),
//! and for tests of real traffic on such hosts.
//!
//! ```text
//!   TUN iked0 ──read──▶ outbound worker: SPD → SA → ESP ──▶ raw IP/50 or UDP 4500 (SO_MARK)
//!   TUN iked0 ◀─write── inbound worker: SA by SPI → ESP⁻¹ → policy check ◀── raw IP/50, UDP 4500
//! ```
//! - [`Userspace`] is the control side, on the daemon's loop: it turns the configuration
//!   into an [`spd::Spd`] and routes ([`net`]), and the engine's SAs into worker commands.
//! - Two threads ([`outbound`], [`inbound`]) each own their SAs exclusively; changes reach
//!   them through channels they drain between batches; counters come back as relaxed
//!   atomics ([`counters`]). No lock is taken per packet.
//! - ESP itself is `ipsec_core::esp`'s job, behind [`esp_glue`]; `iked sas`/`policies`
//!   rows come from `listing`, `iked stats` from [`counters::Totals`].
//! - Events for the engine ([`DpEvent`]): an `encrypt` policy without an SA (the ACQUIRE of
//!   the kernel path, at most once a second per policy) and byte lifetimes reached.
//!
//! Transport mode through a NAT: the inner TCP/UDP checksum of an inbound packet is moved
//! incrementally from the addresses in the peer's NAT-OA payloads to those of the rebuilt
//! header ([`packet::adjust_transport_checksum`]), or recomputed when the peer sent none
//! ([`packet::fix_transport_checksum`]), RFC 3948 §3.1.2. Outbound packets leave as our
//! stack made them: the peer fixes them with our NAT-OA.
//!
//! Limits (refused with a clear error where they matter): ESP only (AH policies are refused
//! like policies the kernel refuses); IPv6 transport mode only without extension headers.
//!
//! Plaintext that arrives for an `encrypt` policy's selector is dropped by the kernel (RFC
//! 4301 §5.2): the configured policies' `in`/`fwd` halves are installed in XFRM
//! (`Kernel::set_inbound_only`) and the TUN has `disable_policy`, so only what we decrypted
//! passes them. Not yet for IPv6 selectors (Linux 6.1 applies IPv6 `in` policies to what a
//! `disable_policy` device delivers locally) nor for policies generated for road warriors.
//!
//! IPv6 outer addresses (raw IPv6 socket, IPv6 rule and routes): `guest_ipv6_userspace` in
//! the kernel VM tests.
//!
//! Transport mode through a NAT with `[daemon] transport-nat-aliases`: each client behind a
//! NAT appears locally under its own address ([`alias`]), so that several of them can use
//! the same ports (L2TP/IPsec).

mod alias;
pub mod counters;
mod dataplane;
pub mod esp_glue;
pub mod inbound;
mod listing;
pub mod net;
pub mod outbound;
pub mod packet;
mod pool_routes;
pub mod spd;
mod tun_io;
pub mod virtual_ip;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{SystemTime, UNIX_EPOCH};

use ipsec_core::config::Snapshot;
use tokio::sync::mpsc::UnboundedSender;
use tun_rs::SyncDevice;
use xfrm::{Owner, Prefix};

pub use dataplane::{Dataplane, DataplaneError, SaCount, probe_kernel_esp};

use crate::driver::{SaDelete, SaInstall};
use crate::kernel::{Kernel, PolicyChanges};
use crate::udp::IkeSocket;
use counters::{SaCounters, Totals};
use inbound::{IkeSink, InCmd, InSa};
use outbound::{OutCmd, OutSa};
use spd::{Action, Entry, EntryId, Selector, Spd};

/// How often (ms) an idle worker looks at its command channel.
pub const WAKE: u16 = 20;

/// How often the workers give back the expanded keys of SAs that carried nothing since the
/// last time (`Inbound::drop_idle_keys`): an idle SA then holds its KEYMAT, not the 560
/// bytes of an AES-GCM key schedule, and an SA idle for less than this is never re-expanded.
pub const KEY_SWEEP: std::time::Duration = std::time::Duration::from_secs(30);

/// A worker's schedule of key sweeps ([`KEY_SWEEP`]).
pub struct KeySweep(std::time::Instant);

impl KeySweep {
    /// The first sweep one period from now.
    pub fn new() -> Self {
        KeySweep(std::time::Instant::now() + KEY_SWEEP)
    }

    /// Whether a sweep is due (and the next one is then scheduled).
    pub fn due(&mut self) -> bool {
        let now = std::time::Instant::now();
        let due = now >= self.0;
        if due {
            self.0 = now + KEY_SWEEP;
        }
        due
    }
}

/// What the dataplane tells the daemon (for the engine).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DpEvent {
    /// Traffic for `[[policy]]` number `n` (from 0) and no SA: negotiate one.
    Acquire(usize),
    /// An SA reached a byte limit: rekey (soft) or gone (hard).
    Expired {
        /// SPI.
        spi: u32,
        /// Hard limit.
        hard: bool,
    },
}

/// What the control side remembers of an SA, for listings.
#[derive(Debug)]
struct SaMeta {
    sa: Listed,
    entry: Option<EntryId>,
    /// Transport mode through a NAT with `transport-nat-aliases` only.
    alias: Option<Box<AliasHeld>>,
    counters: Arc<SaCounters>,
    /// When it was added (seconds since 1970; `u32` lasts until 2106).
    added: u32,
}

/// The alias an SA holds, and the NAT mapping (public address, port) it belongs to.
#[derive(Debug)]
struct AliasHeld {
    of: (IpAddr, u16),
    alias: IpAddr,
}

/// What `iked sas` shows of an SA: its [`SaInstall`] without the keys (the workers hold
/// those) and without the selector (the SPD entry has it). A copy of the whole install was
/// 330 bytes per direction, per tunnel.
#[derive(Debug)]
struct Listed {
    spi: u32,
    peer: Option<std::sync::Arc<str>>,
    /// `[[policy]]` number (from 0).
    policy: Option<u32>,
    inbound: bool,
    src: IpAddr,
    dst: IpAddr,
    tunnel: bool,
    encap: Option<(u16, u16)>,
    encryption: xfrm::Encryption,
    integrity: xfrm::Integrity,
    replay_window: u32,
    /// Lifetimes in seconds (the engine's are whole seconds), and bytes.
    soft_secs: u32,
    hard_secs: u32,
    soft_bytes: Option<u64>,
    hard_bytes: Option<u64>,
}

impl Listed {
    fn of(sa: &SaInstall) -> Self {
        Listed {
            spi: sa.spi,
            peer: sa.peer.clone(),
            policy: sa.policy.and_then(|p| u32::try_from(p).ok()),
            inbound: sa.inbound,
            src: sa.src,
            dst: sa.dst,
            tunnel: sa.tunnel,
            encap: sa.encap,
            encryption: sa.transform.encryption,
            integrity: sa.transform.integrity,
            replay_window: sa.replay_window,
            soft_secs: secs(sa.lifetime.soft),
            hard_secs: secs(sa.lifetime.hard),
            soft_bytes: sa.lifetime.soft_bytes,
            hard_bytes: sa.lifetime.hard_bytes,
        }
    }
}

fn secs(d: std::time::Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

/// The userspace dataplane (control side). See the module documentation.
pub struct Userspace {
    /// The XFRM connection: the engine's inbound SPIs are allocated there (larval SAs),
    /// which shutdown removes.
    kernel: Kernel,
    owner: Owner,
    routing: net::Routing,
    tun: Arc<SyncDevice>,
    out_tx: Option<mpsc::Sender<OutCmd>>,
    in_tx: Option<mpsc::Sender<InCmd>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    totals: Arc<Totals>,
    spd: Arc<Spd>,
    /// Policies made for SAs without a configured one: selector → (id, SAs using it).
    /// (The entries themselves are in the SPD's shared index only: a copy here and a map
    /// back from ids were a fifth of a kilobyte per road warrior.)
    generated: HashMap<Selector, (EntryId, usize)>,
    next_generated: u32,
    /// Boxed: the map's nodes hold eleven entries whether full or not.
    sas: BTreeMap<u32, Box<SaMeta>>,
    /// Mode-config client: virtual address and split-include networks, by peer name.
    virtual_ips: BTreeMap<String, (IpAddr, Vec<Prefix>)>,
    /// Transport-mode clients behind NATs, by the local address each appears under.
    aliases: alias::NatAliases,
}

impl std::fmt::Debug for Userspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Userspace")
            .field("routing", &self.routing)
            .field("sas", &self.sas.len())
            .finish()
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Userspace {
    /// Creates the TUN, cleans what an earlier run left (routes, rules), adds the routing
    /// rule, opens the raw ESP sockets and starts the workers. `sockets` are the daemon's
    /// (already marked, without UDP encapsulation); those on `nat_t_port` carry ESP-in-UDP.
    pub async fn start(
        kernel: Kernel,
        sockets: &[Arc<IkeSocket>],
        nat_t_port: u16,
        ike: IkeSink,
        events: UnboundedSender<DpEvent>,
    ) -> Result<Self, String> {
        let mut kernel = kernel;
        kernel.set_inbound_only();
        let owner = *kernel.xfrm().owner();
        let tun = net::open_tun().map_err(|e| format!("TUN device {}: {e}", net::TUN_NAME))?;
        net::tun_skips_kernel_policies().map_err(|e| format!("TUN device: {e}"))?;
        tun.set_nonblocking(true)
            .map_err(|e| format!("TUN device: non-blocking: {e}"))?;
        let tun = Arc::new(tun);
        let (routing, removed) = net::Routing::new(&owner, net::TUN_NAME).await?;
        if removed > 0 {
            tracing::info!("removed {removed} routes and rules an earlier run left");
        }
        routing.add_rules().await?;
        let raw4 = net::raw_esp_socket(false)
            .map(Arc::new)
            .map_err(|e| format!("raw ESP socket (IPv4): {e}"))?;
        let raw6 = match net::raw_esp_socket(true) {
            Ok(s) => Some(Arc::new(s)),
            Err(e) => {
                tracing::warn!("no raw ESP socket for IPv6 ({e}): IPv6 ESP off");
                None
            }
        };
        let udp: Vec<Arc<IkeSocket>> = sockets
            .iter()
            .filter(|s| s.bound().port() == nat_t_port)
            .cloned()
            .collect();
        let totals = Arc::new(Totals::default());
        let (out_tx, out_rx) = mpsc::channel();
        let (in_tx, in_rx) = mpsc::channel();
        let ow = outbound::Worker::new(
            Arc::clone(&tun),
            outbound::OutSockets {
                raw4: Some(Arc::clone(&raw4)),
                raw6: raw6.clone(),
                udp: udp.clone(),
            },
            out_rx,
            events.clone(),
            Arc::clone(&totals),
        );
        let iw = inbound::Worker::new(
            Arc::clone(&tun),
            inbound::InSockets {
                raw4: Some(raw4),
                raw6,
                udp,
            },
            in_rx,
            events,
            Arc::clone(&totals),
            ike,
        );
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(f)
                .map_err(|e| format!("starting the {name} thread: {e}"))
        };
        let threads = vec![
            spawn("iked-esp-out", Box::new(move || ow.run()))?,
            spawn("iked-esp-in", Box::new(move || iw.run()))?,
        ];
        Ok(Userspace {
            kernel,
            owner,
            routing,
            tun,
            out_tx: Some(out_tx),
            in_tx: Some(in_tx),
            threads,
            totals,
            spd: Arc::new(Spd::default()),
            generated: HashMap::new(),
            next_generated: 1,
            sas: BTreeMap::new(),
            virtual_ips: BTreeMap::new(),
            aliases: alias::NatAliases::default(),
        })
    }

    /// Whether the TUN has the segmentation offloads ([`tun_io`]).
    pub fn offloads(&self) -> bool {
        self.tun.tcp_gso()
    }

    fn send_out(&self, c: OutCmd) {
        if let Some(tx) = &self.out_tx {
            let _ = tx.send(c);
        }
    }

    fn send_in(&self, c: InCmd) {
        if let Some(tx) = &self.in_tx {
            let _ = tx.send(c);
        }
    }

    /// Makes the SPD and routes those of `config` (plus generated policies).
    pub async fn apply_policies(&mut self, config: &Snapshot) -> (PolicyChanges, Vec<String>) {
        self.aliases
            .set_prefix(config.daemon().transport_nat_aliases);
        self.routing.set_pools(pool_routes::pool_prefixes(config));
        let generated = self.generated_entries();
        let (spd, mut problems) = Spd::build(config, &generated);
        let mut c = PolicyChanges::default();
        for e in spd.entries() {
            match self.spd.get(e.id) {
                None => c.added += 1,
                Some(old) if old == e => c.unchanged += 1,
                Some(_) => c.replaced += 1,
            }
        }
        c.removed = self
            .spd
            .entries()
            .iter()
            .filter(|e| spd.get(e.id).is_none())
            .count();
        problems.extend(self.install_spd(spd).await);
        // The kernel's `in`/`fwd` policies drop cleartext that arrives for an encrypt policy
        // on another interface than the TUN (RFC 4301 §5.2); their problems are the same
        // policies' as above, or the kernel's own.
        let (_, kernel_problems) = self.kernel.apply_policies(config).await;
        for p in kernel_problems {
            if !problems.contains(&p) {
                problems.push(format!("kernel in/fwd policies: {p}"));
            }
        }
        (c, problems)
    }

    async fn install_spd(&mut self, spd: Spd) -> Vec<String> {
        let spd = Arc::new(spd);
        self.spd = Arc::clone(&spd);
        self.send_out(OutCmd::Spd(Arc::clone(&spd)));
        let dsts: Vec<(Prefix, Prefix)> = spd
            .entries()
            .iter()
            .filter(|e| matches!(e.action, Action::Encrypt { .. }))
            .map(|e| (e.selector.src, e.selector.dst))
            .collect();
        let vips = self.virtual_nets();
        self.routing.set_routes(&dsts, &vips).await
    }

    /// Each virtual address with the networks routed from it under the current SPD.
    fn virtual_nets(&self) -> Vec<(IpAddr, Vec<Prefix>)> {
        self.virtual_ips
            .values()
            .map(|(vip, split)| {
                let nets = virtual_ip::tunnelled_nets(&self.spd.entries(), *vip, split);
                (*vip, nets)
            })
            .collect()
    }

    /// Mode-config client: puts `address` on the TUN and routes the tunnelled networks from
    /// it. Returns the loopback's index, whether the address was added (not already there) and
    /// the networks routed.
    pub async fn add_virtual_ip(
        &mut self,
        peer: &str,
        address: IpAddr,
        split_include: &[Prefix],
    ) -> Result<(u32, bool, Vec<Prefix>), String> {
        // The address goes on the loopback, not the TUN: removing a TUN's last address makes
        // the kernel drop every route through it, which would let traffic for the protected
        // networks follow the main table (in clear) until they are put back.
        let lo = self
            .routing
            .net()
            .link_index("lo")
            .await
            .map_err(|e| format!("loopback: {e}"))?;
        let len = if address.is_ipv4() { 32 } else { 128 };
        // The address first: the kernel refuses a route whose source is not local.
        let added = match self.routing.net().add_address(lo, address, len).await {
            Ok(()) => true,
            Err(e) if e.is_exists() => false,
            Err(e) => return Err(format!("adding {address} to lo: {e}")),
        };
        self.virtual_ips
            .insert(peer.to_string(), (address, split_include.to_vec()));
        let nets = virtual_ip::tunnelled_nets(&self.spd.entries(), address, split_include);
        self.rebuild_spd().await;
        Ok((lo, added, nets))
    }

    /// Undoes [`Userspace::add_virtual_ip`]: the address if we added it, then the routes.
    pub async fn del_virtual_ip(
        &mut self,
        peer: &str,
        address: IpAddr,
        added: bool,
    ) -> Result<(), String> {
        if self
            .virtual_ips
            .get(peer)
            .is_some_and(|(a, _)| *a == address)
        {
            self.virtual_ips.remove(peer);
        }
        let mut result = Ok(());
        if added {
            let len = if address.is_ipv4() { 32 } else { 128 };
            let lo = self
                .routing
                .net()
                .link_index("lo")
                .await
                .map_err(|e| format!("loopback: {e}"))?;
            match self.routing.net().del_address(lo, address, len).await {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => result = Err(format!("removing {address} from lo: {e}")),
            }
            if let Err(e) = self.routing.forget_vanished().await {
                tracing::warn!("{e}");
            }
        }
        self.rebuild_spd().await;
        result
    }

    /// The policy an SA serves: its configured one, else one made from its selector.
    async fn entry_for(&mut self, sa: &SaInstall) -> Result<Option<EntryId>, String> {
        if let Some(i) = sa.policy
            && self.spd.get(EntryId::Config(i)).is_some()
        {
            return Ok(Some(EntryId::Config(i)));
        }
        let Some(sel) = sa.selector.as_ref().map(Selector::of_sa) else {
            return if sa.inbound {
                Ok(None)
            } else {
                Err("an outbound SA without a policy or a prefix selector".into())
            };
        };
        if let Some((id, n)) = self.generated.get_mut(&sel) {
            *n += 1;
            return Ok(Some(*id));
        }
        let id = EntryId::Generated(self.next_generated);
        self.next_generated = self.next_generated.wrapping_add(1);
        let entry = Entry {
            id,
            selector: sel,
            action: Action::Encrypt { tunnel: sa.tunnel },
            priority: crate::kernel::kernel_priority(0, 0),
            level: "require",
            sa_src: sa
                .tunnel
                .then_some(if sa.inbound { sa.dst } else { sa.src }),
            sa_dst: sa
                .tunnel
                .then_some(if sa.inbound { sa.src } else { sa.dst }),
        };
        self.generated.insert(sel, (id, 1));
        self.spd.insert_generated(entry);
        if self.virtual_ips.is_empty() {
            // One route for the new policy (not a rebuild of them all: that is O(tunnels)).
            if let Err(p) = self
                .routing
                .add_route_to(entry.selector.src, entry.selector.dst)
                .await
            {
                tracing::warn!("{p}");
            }
        } else {
            // A mode-config client's routes take its virtual address as source.
            self.rebuild_spd().await;
        }
        Ok(Some(id))
    }

    /// The generated entries, from the SPD's index.
    fn generated_entries(&self) -> Vec<Entry> {
        self.generated
            .values()
            .filter_map(|(id, _)| self.spd.get(*id))
            .collect()
    }

    async fn rebuild_spd(&mut self) {
        let configured = self.spd.configured().to_vec();
        let spd = Spd::new(configured, self.generated_entries());
        for p in self.install_spd(spd).await {
            tracing::warn!("{p}");
        }
    }

    async fn release(&mut self, id: Option<EntryId>) {
        let Some(id @ EntryId::Generated(_)) = id else {
            return;
        };
        let Some(sel) = self.spd.get(id).map(|e| e.selector) else {
            return;
        };
        let Some((_, n)) = self.generated.get_mut(&sel) else {
            return;
        };
        *n -= 1;
        if *n > 0 {
            return;
        }
        self.generated.remove(&sel);
        self.spd.remove_generated(id);
        if !self.virtual_ips.is_empty() {
            self.rebuild_spd().await;
        } else if !self.spd.routes_to(sel.dst, None)
            && let Err(p) = self.routing.remove_route_to(sel.dst).await
        {
            tracing::warn!("{p}");
        }
    }

    /// Hands one direction of an SA to its worker.
    pub async fn install_sa(&mut self, sa: &SaInstall) -> Result<(), String> {
        let (sa, held) = self.with_alias(sa);
        let sa = &*sa;
        let alias = held.as_ref().map(|h| h.alias);
        let entry = self.entry_for(sa).await?;
        let counters = Arc::new(SaCounters::default());
        if sa.inbound {
            let esp = esp_glue::new_inbound(sa).map_err(|e| e.to_string())?;
            let selector = sa
                .selector
                .as_ref()
                .map(Selector::of_sa)
                .or_else(|| entry.and_then(|id| self.spd.get(id)).map(|e| e.selector));
            self.send_in(InCmd::Add(Box::new(InSa {
                spi: sa.spi,
                esp,
                tunnel: sa.tunnel,
                encap: sa.encap.is_some(),
                nat_oa: sa.nat_oa.filter(|_| !sa.tunnel && sa.encap.is_some()),
                selector,
                alias,
                counters: Arc::clone(&counters),
            })));
        } else {
            let esp = esp_glue::new_outbound(sa).map_err(|e| e.to_string())?;
            let Some(id) = entry else {
                return Err("an outbound SA without a policy".into());
            };
            self.send_out(OutCmd::Add(Box::new(OutSa {
                spi: sa.spi,
                entry: id,
                esp,
                src: sa.src,
                dst: sa.dst,
                encap: sa.encap,
                alias,
                counters: Arc::clone(&counters),
            })));
        }
        if let Some(old) = self.sas.insert(
            sa.spi,
            Box::new(SaMeta {
                sa: Listed::of(sa),
                entry,
                alias: held.map(Box::new),
                counters,
                added: u32::try_from(unix_now()).unwrap_or(u32::MAX),
            }),
        ) {
            self.release(old.entry).await;
            self.release_alias(old.alias);
        }
        Ok(())
    }

    /// A transport-mode SA through a NAT with `transport-nat-aliases` set: the client's alias
    /// ([`alias`]) replaces the NAT's address as the peer's side of its selector. Returns the
    /// SA as the dataplane serves it (copied only when its selector changes) and the alias
    /// it holds, with the NAT mapping that alias belongs to.
    fn with_alias<'a>(&mut self, sa: &'a SaInstall) -> (Cow<'a, SaInstall>, Option<AliasHeld>) {
        let peer = if sa.inbound { sa.src } else { sa.dst };
        let Some((_, port)) = sa.encap.filter(|_| !sa.tunnel) else {
            return (Cow::Borrowed(sa), None);
        };
        let Some(alias) = self.aliases.acquire(peer, port) else {
            return (Cow::Borrowed(sa), None);
        };
        let mut sa = Cow::Borrowed(sa);
        let host = |a: IpAddr| Prefix::new(a, if a.is_ipv4() { 32 } else { 128 }).ok();
        if let Some(sel) = sa.selector.as_ref()
            && host(peer) == Some(sel.remote)
            && let Some(h) = host(alias)
            && let Some(sel) = sa.to_mut().selector.as_mut()
        {
            sel.remote = h;
        }
        tracing::debug!("SA 0x{:08x}: peer {peer}:{port} appears as {alias}", sa.spi);
        let held = AliasHeld {
            of: (peer, port),
            alias,
        };
        (sa, Some(held))
    }

    fn release_alias(&mut self, held: Option<Box<AliasHeld>>) {
        if let Some(h) = held {
            self.aliases.release(h.of.0, h.of.1);
        }
    }

    /// Moves an SA to the peer's new NAT mapping (the outbound worker sends there from the
    /// next packet on; inbound SAs take ESP from anywhere, only the listing changes).
    pub fn move_sa(&mut self, m: &crate::driver::SaMove) -> bool {
        let Some(meta) = self.sas.get_mut(&m.spi) else {
            return false;
        };
        meta.sa.src = m.src;
        meta.sa.dst = m.dst;
        meta.sa.encap = m.encap;
        if !m.inbound {
            self.send_out(OutCmd::Move {
                spi: m.spi,
                src: m.src,
                dst: m.dst,
                encap: m.encap,
            });
        }
        true
    }

    /// Removes one direction of an SA; whether it was there.
    pub async fn delete_sa(&mut self, d: &SaDelete) -> Result<bool, String> {
        let Some(meta) = self.sas.remove(&d.spi) else {
            return Ok(false);
        };
        if meta.sa.inbound {
            self.send_in(InCmd::Del(d.spi));
        } else {
            self.send_out(OutCmd::Del(d.spi));
        }
        self.release(meta.entry).await;
        self.release_alias(meta.alias);
        Ok(true)
    }

    /// `flush`: every SA (the userspace dataplane has only ESP); each one's (dst, SPI).
    pub async fn flush_sas(&mut self, esp: bool) -> Vec<(IpAddr, u32)> {
        if !esp {
            return Vec::new();
        }
        let spis: Vec<u32> = self.sas.keys().copied().collect();
        let mut gone = Vec::new();
        for spi in spis {
            if let Some(m) = self.sas.get(&spi) {
                let d = SaDelete {
                    spi,
                    src: m.sa.src,
                    dst: m.sa.dst,
                    inbound: m.sa.inbound,
                    reason: "flush".into(),
                };
                gone.push((d.dst, spi));
                let _ = self.delete_sa(&d).await;
            }
        }
        gone
    }

    /// Stops the workers and removes routes, rules and the larval SAs of SPI allocation.
    pub async fn shutdown(&mut self) -> Result<String, String> {
        self.out_tx = None;
        self.in_tx = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let n = self.sas.len();
        self.sas.clear();
        let (routes, rules) = self.routing.flush().await?;
        let k = self
            .kernel
            .flush_all()
            .await
            .map_err(|e| format!("removing allocated SPIs: {e}"))?;
        Ok(format!(
            "{n} userspace SAs, {routes} routes, {rules} rules and {} larval kernel SAs",
            k.sas
        ))
    }

    /// Counters for `iked stats`.
    pub fn stats(&self) -> Vec<(String, u64)> {
        self.totals.snapshot()
    }
}
