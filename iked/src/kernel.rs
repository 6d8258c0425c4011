//! The kernel dataplane: the configuration's policies and the engine's SAs in Linux XFRM.
//!
//! - Policies: every enabled non-template `[[policy]]` becomes kernel policies: `out` (its
//!   selector), `in` (reversed) and, in tunnel mode, `fwd` (reversed). `encrypt` policies get
//!   a template (ESP or AH, tunnel or transport, `use` level = optional) with a reqid of our
//!   [`Owner`] range; `discard` ones block; `none` ones pass in clear. A reload changes only
//!   the kernel policies whose content changed; a policy keeps its reqid as long as its
//!   selectors, SA addresses, mode and protocol stay the same, so its SAs stay usable.
//! - SAs: installed and deleted as the engine asks ([`SaInstall`], [`SaDelete`]), with the
//!   reqid of their policy. An SA negotiated without a configured policy (a peer with
//!   `generate-policy`) gets policies made from its selector, removed with its last SA.
//! - Listings for the control socket come from kernel dumps of what we own (so they show the
//!   truth, counters included), joined with what this run knows (direction, peer, policy).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use ipsec_core::config::{
    IpPrefix, IpsecProtocol, Policy, PolicyAction, PolicyLevel, PortSpec, Snapshot,
};
use xfrm::{
    Action, Direction, FlushReport, IpsecProto, Lifetime, Mode, Owner, PolicyConfig, PolicyId,
    Prefix, Replay, SaConfig, SaId, SaInfo, Selector, Template, UdpEncap, Xfrm,
};

use crate::control::{PolicyRow, SaRow};
use crate::driver::{IkeDriver, SaDelete, SaInstall, SaSelector, SaState};

/// How long after the engine's hard lifetime the kernel deletes an SA by itself: the engine
/// deletes it first; the kernel's limit is only a backstop for a daemon that stopped.
const HARD_BACKSTOP: Duration = Duration::from_secs(10);

/// Kernel priority of a configured policy: larger `priority` first, file order among equals
/// (the kernel picks the lowest value, and among equal values the first installed, which a
/// reload would not preserve).
pub(crate) fn kernel_priority(priority: i32, order: usize) -> u32 {
    const BASE: i64 = 1 << 30;
    let p = i64::from(priority).clamp(-(1 << 19), 1 << 19);
    let order = i64::try_from(order).unwrap_or(1023).min(1023);
    u32::try_from(BASE - p * 1024 + order).unwrap_or(u32::MAX)
}

/// What identifies a configured policy's SAs across reloads.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ReqidKey {
    src: IpPrefix,
    dst: IpPrefix,
    protocol: Option<u8>,
    src_port: PortSpec,
    dst_port: PortSpec,
    tunnel: bool,
    ah: bool,
    sa_src: Option<IpAddr>,
    sa_dst: Option<IpAddr>,
}

impl ReqidKey {
    fn of(p: &Policy) -> Self {
        ReqidKey {
            src: p.src_address,
            dst: p.dst_address,
            protocol: p.protocol.number(),
            src_port: p.src_port,
            dst_port: p.dst_port,
            tunnel: p.tunnel,
            ah: p.ipsec_protocols == IpsecProtocol::Ah,
            sa_src: p.sa_src_address,
            sa_dst: p.sa_dst_address,
        }
    }
}

/// What we know of a kernel policy we installed.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PolicyMeta {
    /// `[[policy]]` index (from 0); `None` for generated policies.
    config: Option<usize>,
    action: &'static str,
    level: &'static str,
}

#[derive(Clone, Debug)]
struct InstalledPolicy {
    config: PolicyConfig,
    index: u32,
    meta: PolicyMeta,
}

/// Policies made for SAs that no configured policy covers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct GenKey {
    local: IpAddr,
    remote: IpAddr,
    selector: Option<SaSelector>,
}

#[derive(Debug)]
struct Generated {
    reqid: u32,
    policies: Vec<PolicyId>,
    sas: usize,
}

#[derive(Clone, Debug)]
struct SaMeta {
    peer: Option<std::sync::Arc<str>>,
    policy: Option<usize>,
    inbound: bool,
    generated: Option<GenKey>,
    /// The engine's soft (rekey) and hard lifetimes, in seconds.
    soft: u64,
    hard: u64,
    /// What was installed, for moving the SA to a peer's new NAT mapping.
    config: SaConfig,
}

/// What a policy reconciliation did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PolicyChanges {
    /// Added.
    pub added: usize,
    /// Replaced (content changed).
    pub replaced: usize,
    /// Removed.
    pub removed: usize,
    /// Left alone.
    pub unchanged: usize,
}

/// The XFRM dataplane. See the module documentation.
#[derive(Debug)]
pub struct Kernel {
    xfrm: Xfrm,
    policies: HashMap<PolicyId, InstalledPolicy>,
    reqids: HashMap<ReqidKey, u32>,
    by_index: HashMap<usize, u32>,
    next_reqid: u32,
    sas: HashMap<(IpAddr, u32), SaMeta>,
    generated: HashMap<GenKey, Generated>,
    /// Only `in` and `fwd` policies (the userspace dataplane: the kernel drops cleartext
    /// that should have come encrypted, iked's own ESP does the rest).
    inbound_only: bool,
}

fn unspecified(like: IpAddr) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

fn xprefix(p: &IpPrefix) -> Result<Prefix, xfrm::Error> {
    Prefix::new(p.addr(), p.prefix_len())
}

fn port(p: PortSpec) -> Option<u16> {
    match p {
        PortSpec::Any => None,
        PortSpec::Port(n) => Some(n),
    }
}

fn selector(
    src: Prefix,
    dst: Prefix,
    proto: u8,
    sport: Option<u16>,
    dport: Option<u16>,
) -> Selector {
    let mut s = Selector::new(src, dst).with_proto(proto);
    s.sport = sport;
    s.dport = dport;
    s
}

impl Kernel {
    /// Opens the XFRM connection (inside the runtime, in the daemon's namespace).
    pub fn new() -> Result<Self, xfrm::Error> {
        let owner = Owner::default();
        Ok(Kernel {
            xfrm: Xfrm::new(owner)?,
            policies: HashMap::new(),
            reqids: HashMap::new(),
            by_index: HashMap::new(),
            next_reqid: 1,
            sas: HashMap::new(),
            generated: HashMap::new(),
            inbound_only: false,
        })
    }

    /// From now on [`Kernel::apply_policies`] installs only the `in` and `fwd` policies of
    /// the configuration, IPv4 ones only: what the userspace dataplane asks of a kernel
    /// without ESP.
    pub fn set_inbound_only(&mut self) {
        self.inbound_only = true;
    }

    /// The XFRM client.
    pub fn xfrm(&self) -> &Xfrm {
        &self.xfrm
    }

    fn alloc_reqid(&mut self) -> u32 {
        let owner = *self.xfrm.owner();
        // Skip reqids in use (after a wrap of the 65536-wide range).
        for _ in 0..=0x1_0000 {
            let r = owner.reqid(self.next_reqid);
            self.next_reqid = self.next_reqid.wrapping_add(1);
            let used = self.reqids.values().any(|&v| v == r)
                || self.generated.values().any(|g| g.reqid == r);
            if !used {
                return r;
            }
        }
        owner.reqid(self.next_reqid)
    }

    /// The kernel policies for the configuration, with their metadata.
    fn desired(&mut self, config: &Snapshot) -> (Vec<(PolicyConfig, PolicyMeta)>, Vec<String>) {
        let mut out = Vec::new();
        let mut problems = Vec::new();
        let mut by_index = HashMap::new();
        let mut live_keys = Vec::new();
        for (order, p) in config.policies().enumerate() {
            let key = ReqidKey::of(p);
            let reqid = match self.reqids.get(&key) {
                Some(&r) => r,
                None => {
                    let r = self.alloc_reqid();
                    self.reqids.insert(key.clone(), r);
                    r
                }
            };
            live_keys.push(key);
            by_index.insert(p.index, reqid);
            match policy_configs(p, reqid, kernel_priority(p.priority, order)) {
                Ok(v) => out.extend(v.into_iter().filter(|(pc, _)| {
                    // IPv6 policies stay out: `disable_policy` on the TUN does not spare
                    // what it delivers locally from IPv6 `in` policies (Linux 6.1), so they
                    // would drop our own decrypted packets.
                    !self.inbound_only
                        || (pc.dir != Direction::Out && pc.selector.src.addr().is_ipv4())
                })),
                Err(e) => problems.push(format!("policy #{}: {e}", p.index + 1)),
            }
        }
        self.reqids.retain(|k, _| live_keys.contains(k));
        self.by_index = by_index;
        (out, problems)
    }

    /// Makes the kernel's policies those of `config`: adds new ones, replaces changed ones,
    /// removes those gone, leaves the rest (and generated ones) alone. Problems with single
    /// policies are returned and do not stop the others.
    pub async fn apply_policies(&mut self, config: &Snapshot) -> (PolicyChanges, Vec<String>) {
        let (desired, mut problems) = self.desired(config);
        let mut changes = PolicyChanges::default();
        let mut wanted: HashMap<PolicyId, (PolicyConfig, PolicyMeta)> = HashMap::new();
        for (pc, meta) in desired {
            let id = pc.id();
            if wanted.contains_key(&id) {
                problems.push(format!(
                    "policy #{}: same selector and direction as a policy before it; not installed",
                    meta.config.map_or(0, |i| i + 1)
                ));
                continue;
            }
            wanted.insert(id, (pc, meta));
        }
        let stale: Vec<PolicyId> = self
            .policies
            .iter()
            .filter(|(id, p)| p.meta.config.is_some() && !wanted.contains_key(id))
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            match self.xfrm.delete_policy(&id).await {
                Ok(()) => changes.removed += 1,
                Err(e) if e.is_not_found() => changes.removed += 1,
                Err(e) => problems.push(format!("removing policy {}: {e}", id.selector.src)),
            }
            self.policies.remove(&id);
        }
        // In match order, so that equal kernel priorities keep the file's order too.
        let mut wanted: Vec<_> = wanted.into_iter().collect();
        wanted.sort_by_key(|(_, (pc, _))| pc.priority);
        for (id, (pc, meta)) in wanted {
            match self.policies.get_mut(&id) {
                Some(cur) if cur.config == pc => {
                    cur.meta = meta;
                    changes.unchanged += 1;
                }
                cur => {
                    let existed = cur.is_some();
                    let r = if existed {
                        self.xfrm.update_policy(&pc).await
                    } else {
                        self.xfrm.add_policy(&pc).await
                    };
                    match r {
                        Ok(index) => {
                            if existed {
                                changes.replaced += 1;
                            } else {
                                changes.added += 1;
                            }
                            self.policies.insert(
                                id,
                                InstalledPolicy {
                                    config: pc,
                                    index,
                                    meta,
                                },
                            );
                        }
                        Err(e) => problems.push(format!(
                            "policy #{} {:?} {} -> {}: {e}",
                            meta.config.map_or(0, |i| i + 1),
                            pc.dir,
                            pc.selector.src,
                            pc.selector.dst
                        )),
                    }
                }
            }
        }
        (changes, problems)
    }

    /// The `[[policy]]` index (from 0) of the kernel policy with this index, if it is one of
    /// our configured ones (for ACQUIRE).
    pub fn config_policy_of(&self, kernel_index: u32) -> Option<usize> {
        self.policies
            .values()
            .find(|p| p.index == kernel_index)
            .and_then(|p| p.meta.config)
    }

    /// Installs one direction of an SA the engine negotiated.
    pub async fn install_sa(&mut self, sa: &SaInstall) -> Result<(), xfrm::Error> {
        let (local, remote) = if sa.inbound {
            (sa.dst, sa.src)
        } else {
            (sa.src, sa.dst)
        };
        let (reqid, generated) = match sa.policy.and_then(|i| self.by_index.get(&i)) {
            Some(&r) => (r, None),
            None => {
                let key = GenKey {
                    local,
                    remote,
                    selector: sa.selector,
                };
                let reqid = self.generate_policies(&key, sa).await?;
                (reqid, Some(key))
            }
        };
        let mode = if sa.tunnel {
            Mode::Tunnel
        } else {
            Mode::Transport
        };
        let mut cfg = SaConfig::esp(sa.src, sa.dst, sa.spi, mode, reqid, sa.transform.clone());
        cfg.encap = sa.encap.map(|(ours, theirs)| {
            let mut e = if sa.inbound {
                UdpEncap::new(theirs, ours)
            } else {
                UdpEncap::new(ours, theirs)
            };
            // XFRMA_ENCAP's encap_oa: the peer's original address from its NAT-OA (RFC 3947
            // §5.2). Linux does not use it today (it marks decapsulated transport-mode
            // packets checksum-verified, RFC 3948 §3.1.2 option 2), but it is the record.
            e.original_address = sa.nat_oa.map(|(_, remote)| remote);
            e
        });
        cfg.lifetime = Lifetime {
            hard_add_seconds: Some((sa.lifetime.hard + HARD_BACKSTOP).as_secs().max(1)),
            soft_bytes: sa.lifetime.soft_bytes,
            hard_bytes: sa.lifetime.hard_bytes,
            ..Lifetime::default()
        };
        cfg.replay = if sa.inbound {
            Replay {
                window: sa.replay_window,
                esn: false,
            }
        } else {
            Replay {
                window: 0,
                esn: false,
            }
        };
        let r = match self.xfrm.add_sa(&cfg).await {
            Err(e) if e.is_exists() => self.xfrm.update_sa(&cfg).await,
            r => r,
        };
        if let Err(e) = r {
            if let Some(key) = &generated {
                self.release_generated(key).await;
            }
            return Err(e);
        }
        self.sas.insert(
            (sa.dst, sa.spi),
            SaMeta {
                peer: sa.peer.clone(),
                policy: sa.policy,
                inbound: sa.inbound,
                generated,
                soft: sa.lifetime.soft.as_secs(),
                hard: sa.lifetime.hard.as_secs(),
                config: cfg,
            },
        );
        Ok(())
    }

    /// Moves an SA to the peer's new NAT mapping with XFRM_MSG_UPDSA: the kernel keeps the
    /// SA's keys, replay state and counters and takes the new encapsulation ports. The
    /// destination address is the SA's key in XFRM: an SA whose peer changed address (not
    /// just port) cannot be updated and stays until the rekey or the peer's next phase 1
    /// replaces it. Whether it moved.
    pub async fn move_sa(&mut self, m: &crate::driver::SaMove) -> Result<bool, xfrm::Error> {
        let Some(meta) = self.sas.get_mut(&(m.old_dst, m.spi)) else {
            return Ok(false);
        };
        if meta.config.src != m.src || meta.config.dst != m.dst {
            tracing::warn!(
                "SA {:#010x}: the peer moved to {} -> {}; XFRM cannot change an SA's addresses, \
                 it stays on the old ones until replaced",
                m.spi,
                m.src,
                m.dst
            );
            return Ok(false);
        }
        let mut cfg = meta.config.clone();
        let original = cfg.encap.and_then(|e| e.original_address);
        cfg.encap = m.encap.map(|(ours, theirs)| {
            let mut e = if m.inbound {
                UdpEncap::new(theirs, ours)
            } else {
                UdpEncap::new(ours, theirs)
            };
            e.original_address = original;
            e
        });
        self.xfrm.update_sa(&cfg).await?;
        if let Some(meta) = self.sas.get_mut(&(m.old_dst, m.spi)) {
            meta.config = cfg;
        }
        Ok(true)
    }

    /// The reqid for an SA without a configured policy, installing policies for its selector
    /// with the first SA of the pair.
    async fn generate_policies(
        &mut self,
        key: &GenKey,
        sa: &SaInstall,
    ) -> Result<u32, xfrm::Error> {
        if let Some(g) = self.generated.get_mut(key) {
            g.sas += 1;
            return Ok(g.reqid);
        }
        let reqid = self.alloc_reqid();
        let mut installed = Vec::new();
        if let Some(s) = &sa.selector {
            let template = |src: IpAddr, dst: IpAddr| {
                if sa.tunnel {
                    Template::esp_tunnel(src, dst, reqid)
                } else {
                    Template::esp_transport(reqid)
                }
            };
            let nz = |p: u16| (p != 0).then_some(p);
            let out = selector(
                s.local,
                s.remote,
                s.protocol,
                nz(s.local_port),
                nz(s.remote_port),
            );
            let back = selector(
                s.remote,
                s.local,
                s.protocol,
                nz(s.remote_port),
                nz(s.local_port),
            );
            let prio = kernel_priority(0, 0);
            let mut pcs = vec![
                PolicyConfig::ipsec(out, Direction::Out, template(key.local, key.remote))
                    .with_priority(prio),
                PolicyConfig::ipsec(back, Direction::In, template(key.remote, key.local))
                    .with_priority(prio),
            ];
            if sa.tunnel {
                pcs.push(
                    PolicyConfig::ipsec(back, Direction::Fwd, template(key.remote, key.local))
                        .with_priority(prio),
                );
            }
            for pc in pcs {
                match self.xfrm.update_policy(&pc).await {
                    Ok(index) => {
                        installed.push(pc.id());
                        self.policies.insert(
                            pc.id(),
                            InstalledPolicy {
                                config: pc,
                                index,
                                meta: PolicyMeta {
                                    config: None,
                                    action: "encrypt",
                                    level: "require",
                                },
                            },
                        );
                    }
                    Err(e) => {
                        for id in installed {
                            let _ = self.xfrm.delete_policy(&id).await;
                            self.policies.remove(&id);
                        }
                        return Err(e);
                    }
                }
            }
        } else {
            tracing::warn!(
                "SA {:#010x} {} -> {}: its traffic selector is an address range, which XFRM \
                 policies cannot express; installed without policies",
                sa.spi,
                sa.src,
                sa.dst
            );
        }
        self.generated.insert(
            key.clone(),
            Generated {
                reqid,
                policies: installed,
                sas: 1,
            },
        );
        Ok(reqid)
    }

    async fn release_generated(&mut self, key: &GenKey) {
        let Some(g) = self.generated.get_mut(key) else {
            return;
        };
        g.sas = g.sas.saturating_sub(1);
        if g.sas > 0 {
            return;
        }
        if let Some(g) = self.generated.remove(key) {
            for id in g.policies {
                if let Err(e) = self.xfrm.delete_policy(&id).await
                    && !e.is_not_found()
                {
                    tracing::warn!("removing generated policy {}: {e}", id.selector.src);
                }
                self.policies.remove(&id);
            }
        }
    }

    /// Removes one SA; `Ok(false)` if the kernel did not have it.
    pub async fn delete_sa(&mut self, d: &SaDelete) -> Result<bool, xfrm::Error> {
        let r = self.xfrm.delete_sa(&SaId::esp(d.src, d.dst, d.spi)).await;
        let r = match r {
            Ok(()) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        };
        self.forget_sa(d.dst, d.spi).await;
        r
    }

    /// Forgets an SA the kernel no longer has (hard expiry, flush).
    pub async fn forget_sa(&mut self, dst: IpAddr, spi: u32) {
        if let Some(meta) = self.sas.remove(&(dst, spi))
            && let Some(key) = meta.generated
        {
            self.release_generated(&key).await;
        }
    }

    /// Our SAs in the kernel, with what we know of them.
    pub async fn list_sas(&self, driver: &dyn IkeDriver) -> Result<Vec<SaRow>, xfrm::Error> {
        let states = driver.sa_states();
        let mut rows: Vec<SaRow> = self
            .xfrm
            .dump_sas()
            .await?
            .into_iter()
            .filter(|sa| self.xfrm.owns_sa(sa))
            .map(|sa| self.sa_row(&sa, &states))
            .collect();
        rows.sort_by(|a, b| (&a.dst_address, &a.spi).cmp(&(&b.dst_address, &b.spi)));
        Ok(rows)
    }

    fn sa_row(&self, sa: &SaInfo, states: &HashMap<u32, SaState>) -> SaRow {
        let meta = self.sas.get(&(sa.id.dst, sa.id.spi));
        let engine = states.get(&sa.id.spi).cloned();
        let alg = &sa.algorithms;
        SaRow {
            spi: format!("{:#010x}", sa.id.spi),
            protocol: proto_name(sa.id.proto).into(),
            src_address: sa.id.src.to_string(),
            dst_address: sa.id.dst.to_string(),
            direction: match meta {
                Some(m) if m.inbound => "in",
                Some(_) => "out",
                None => "unknown",
            }
            .into(),
            mode: mode_name(sa.mode).into(),
            reqid: sa.reqid,
            state: if sa.larval {
                "larval"
            } else if engine.as_ref().is_some_and(|e| e.replaced) {
                "dying"
            } else {
                "mature"
            }
            .into(),
            enc_algorithm: alg
                .encryption
                .map(|e| e.to_string())
                .or_else(|| alg.enc_name.as_ref().map(|(n, b)| format!("{n}/{b}"))),
            auth_algorithm: alg
                .integrity
                .map(|i| i.to_string())
                .or_else(|| alg.auth_name.as_ref().map(|(n, b)| format!("{n}/{b}"))),
            encap: sa.encap.map(|e| format!("{}:{}", e.sport, e.dport)),
            current_bytes: sa.counters.current.bytes,
            current_packets: sa.counters.current.packets,
            replay: sa.replay_window,
            replay_drops: sa.counters.replay_drops,
            integrity_failures: sa.counters.integrity_failures,
            add_time: sa.counters.current.add_time,
            // The engine's lifetimes when we know them (it rekeys at the soft one and
            // deletes at the hard one; the kernel's own hard limit is a later backstop).
            soft_lifetime: meta.map(|m| m.soft).or(sa.lifetime.soft_add_seconds),
            hard_lifetime: meta.map(|m| m.hard).or(sa.lifetime.hard_add_seconds),
            soft_bytes: sa.lifetime.soft_bytes,
            hard_bytes: sa.lifetime.hard_bytes,
            peer: meta
                .and_then(|m| m.peer.clone())
                .or_else(|| engine.and_then(|e| e.peer))
                .map(|p| p.to_string()),
            policy: meta.and_then(|m| m.policy).map(|i| i + 1),
            alias: None,
        }
    }

    /// Our policies in the kernel, with their ph2-state.
    pub async fn list_policies(&self) -> Result<Vec<PolicyRow>, xfrm::Error> {
        let sas = self.xfrm.dump_sas().await?;
        let established = |reqid: u32| {
            sas.iter()
                .any(|s| s.reqid == reqid && !s.larval && self.xfrm.owns_sa(s))
        };
        let mut rows = Vec::new();
        for p in self.xfrm.dump_policies().await? {
            if !self.xfrm.owns_policy(&p) {
                continue;
            }
            let meta = self.policies.get(&p.id()).map(|i| &i.meta);
            let t = p.templates.first();
            let action = match (meta, p.action, t) {
                (Some(m), _, _) => m.action,
                (None, Action::Block, _) => "discard",
                (None, Action::Allow, Some(_)) => "encrypt",
                (None, Action::Allow, None) => "none",
            };
            rows.push(PolicyRow {
                policy: meta.and_then(|m| m.config).map(|i| i + 1),
                direction: match p.dir {
                    Direction::In => "in",
                    Direction::Out => "out",
                    Direction::Fwd => "fwd",
                }
                .into(),
                src_address: p.selector.src.to_string(),
                dst_address: p.selector.dst.to_string(),
                protocol: if p.selector.proto == 0 {
                    "all".into()
                } else {
                    p.selector.proto.to_string()
                },
                src_port: p
                    .selector
                    .sport
                    .map_or_else(|| "any".into(), |n| n.to_string()),
                dst_port: p
                    .selector
                    .dport
                    .map_or_else(|| "any".into(), |n| n.to_string()),
                action: action.into(),
                level: match (meta, t) {
                    (Some(m), _) => m.level.into(),
                    (None, Some(t)) if t.optional => "use".into(),
                    (None, Some(_)) => "require".into(),
                    (None, None) => String::new(),
                },
                ipsec_protocol: t.map_or_else(String::new, |t| proto_name(t.proto).into()),
                tunnel: t.is_some_and(|t| t.mode == Mode::Tunnel),
                sa_src_address: t.and_then(|t| t.src).map(|a| a.to_string()),
                sa_dst_address: t.and_then(|t| t.dst).map(|a| a.to_string()),
                priority: p.priority,
                index: p.index,
                reqid: t.map_or(0, |t| t.reqid),
                ph2_state: match t {
                    Some(t) if established(t.reqid) => "established".into(),
                    Some(_) => "no-phase2".into(),
                    None => String::new(),
                },
                bytes: p.current.bytes,
                packets: p.current.packets,
            });
        }
        rows.sort_by_key(|a| (a.policy, a.index));
        Ok(rows)
    }

    /// `flush`: deletes our SAs of `proto` (all for `None`); returns each one's (dst, SPI) so
    /// that the engine can forget them and renegotiate on demand.
    pub async fn flush_sas(
        &mut self,
        proto: Option<IpsecProto>,
    ) -> Result<Vec<(IpAddr, u32)>, xfrm::Error> {
        let before: Vec<(IpAddr, u32)> = self
            .xfrm
            .dump_sas()
            .await?
            .into_iter()
            .filter(|s| self.xfrm.owns_sa(s) && proto.is_none_or(|p| p == s.id.proto))
            .map(|s| (s.id.dst, s.id.spi))
            .collect();
        self.xfrm.flush_owned_sas(proto).await?;
        for &(dst, spi) in &before {
            self.forget_sa(dst, spi).await;
        }
        Ok(before)
    }

    /// Removes everything we installed (shutdown).
    pub async fn flush_all(&mut self) -> Result<FlushReport, xfrm::Error> {
        let r = self.xfrm.flush_owned().await;
        self.policies.clear();
        self.sas.clear();
        self.generated.clear();
        r
    }
}

fn proto_name(p: IpsecProto) -> &'static str {
    match p {
        IpsecProto::Esp => "esp",
        IpsecProto::Ah => "ah",
        IpsecProto::Comp => "comp",
    }
}

fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Tunnel => "tunnel",
        Mode::Transport => "transport",
        Mode::Beet => "beet",
    }
}

/// The kernel policies of one configured policy.
fn policy_configs(
    p: &Policy,
    reqid: u32,
    priority: u32,
) -> Result<Vec<(PolicyConfig, PolicyMeta)>, xfrm::Error> {
    let src = xprefix(&p.src_address)?;
    let dst = xprefix(&p.dst_address)?;
    let proto = p.protocol.number().unwrap_or(0);
    let out_sel = selector(src, dst, proto, port(p.src_port), port(p.dst_port));
    let in_sel = selector(dst, src, proto, port(p.dst_port), port(p.src_port));
    let meta = PolicyMeta {
        config: Some(p.index),
        action: match p.action {
            PolicyAction::Encrypt => "encrypt",
            PolicyAction::Discard => "discard",
            PolicyAction::None => "none",
        },
        level: match p.action {
            PolicyAction::Encrypt => p.level.as_str(),
            _ => "",
        },
    };
    let dirs: &[(Direction, Selector)] = if p.tunnel {
        &[
            (Direction::Out, out_sel),
            (Direction::In, in_sel),
            (Direction::Fwd, in_sel),
        ]
    } else {
        &[(Direction::Out, out_sel), (Direction::In, in_sel)]
    };
    let mut out = Vec::new();
    for &(dir, sel) in dirs {
        let pc = match p.action {
            PolicyAction::Discard => PolicyConfig::new(sel, dir, Action::Block),
            PolicyAction::None => PolicyConfig::new(sel, dir, Action::Allow),
            PolicyAction::Encrypt => {
                let ours = p.sa_src_address;
                let theirs = p.sa_dst_address;
                let (tsrc, tdst) = if p.tunnel {
                    // A tunnel needs both endpoints; our side unset means "the address the
                    // route to the peer leaves from", which the kernel finds for an
                    // unspecified template source.
                    let theirs = theirs.ok_or_else(|| {
                        xfrm::Error::Invalid("tunnel policy without sa-dst-address".into())
                    })?;
                    let ours = ours.unwrap_or_else(|| unspecified(theirs));
                    if dir == Direction::Out {
                        (Some(ours), Some(theirs))
                    } else {
                        (Some(theirs), Some(ours))
                    }
                } else {
                    (None, None)
                };
                let t = Template {
                    src: tsrc,
                    dst: tdst,
                    proto: match p.ipsec_protocols {
                        IpsecProtocol::Esp => IpsecProto::Esp,
                        IpsecProtocol::Ah => IpsecProto::Ah,
                    },
                    mode: if p.tunnel {
                        Mode::Tunnel
                    } else {
                        Mode::Transport
                    },
                    reqid,
                    spi: 0,
                    optional: p.level == PolicyLevel::Use && dir != Direction::Out,
                };
                PolicyConfig::ipsec(sel, dir, t)
            }
        };
        out.push((pc.with_priority(priority), meta.clone()));
    }
    Ok(out)
}

/// `/proc/net/xfrm_stat` of our namespace, by the manual's names (`XfrmInNoStates` is
/// `in-no-states`); counters the manual does not list keep a kebab-case form of theirs.
pub fn xfrm_stats() -> std::io::Result<Vec<(String, u64)>> {
    let text = std::fs::read_to_string("/proc/self/net/xfrm_stat")?;
    Ok(parse_xfrm_stat(&text))
}

fn parse_xfrm_stat(text: &str) -> Vec<(String, u64)> {
    const NAMES: &[(&str, &str)] = &[
        ("XfrmInError", "in-errors"),
        ("XfrmInBufferError", "in-buffer-errors"),
        ("XfrmInHdrError", "in-header-errors"),
        ("XfrmInNoStates", "in-no-states"),
        ("XfrmInStateProtoError", "in-state-protocol-errors"),
        ("XfrmInStateModeError", "in-state-mode-errors"),
        ("XfrmInStateSeqError", "in-state-sequence-errors"),
        ("XfrmInStateExpired", "in-state-expired"),
        ("XfrmInStateMismatch", "in-state-mismatches"),
        ("XfrmInStateInvalid", "in-state-invalid"),
        ("XfrmInTmplMismatch", "in-template-mismatches"),
        ("XfrmInNoPols", "in-no-policies"),
        ("XfrmInPolBlock", "in-policy-blocked"),
        ("XfrmInPolError", "in-policy-errors"),
        ("XfrmOutError", "out-errors"),
        ("XfrmOutBundleGenError", "out-bundle-errors"),
        ("XfrmOutBundleCheckError", "out-bundle-check-errors"),
        ("XfrmOutNoStates", "out-no-states"),
        ("XfrmOutStateProtoError", "out-state-protocol-errors"),
        ("XfrmOutStateModeError", "out-state-mode-errors"),
        ("XfrmOutStateSeqError", "out-state-sequence-errors"),
        ("XfrmOutStateExpired", "out-state-expired"),
        ("XfrmOutPolBlock", "out-policy-blocked"),
        ("XfrmOutPolDead", "out-policy-dead"),
        ("XfrmOutPolError", "out-policy-errors"),
    ];
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let key = it.next()?;
            let value = it.next()?.parse().ok()?;
            let name = NAMES
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, n)| (*n).to_string())
                .unwrap_or_else(|| kebab(key.strip_prefix("Xfrm").unwrap_or(key)));
            Some((name, value))
        })
        .collect()
}

fn kebab(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipsec_core::config::Config;

    #[test]
    fn priorities_follow_the_manual() {
        assert!(kernel_priority(10, 5) < kernel_priority(0, 0));
        assert!(kernel_priority(0, 0) < kernel_priority(0, 1));
        assert!(kernel_priority(-5, 0) > kernel_priority(0, 9));
        assert!(kernel_priority(i32::MAX, 0) > 0);
        assert!(kernel_priority(i32::MIN, 1023) < u32::MAX);
    }

    #[test]
    fn xfrm_stat_names() {
        let s = parse_xfrm_stat("XfrmInNoStates          \t3\nXfrmAcquireError\t1\n");
        assert_eq!(
            s,
            vec![
                ("in-no-states".to_string(), 3),
                ("acquire-error".to_string(), 1)
            ]
        );
    }

    #[test]
    fn a_tunnel_policy_gives_out_in_fwd_with_one_reqid() {
        let text = r#"
[[peer]]
name = "b"
address = "198.18.0.2"
secret = "s3cret-s3cret"

[[policy]]
src-address = "198.19.1.0/24"
dst-address = "198.19.2.0/24"
tunnel = true
sa-src-address = "198.18.0.1"
sa-dst-address = "198.18.0.2"
level = "use"
"#;
        let snap = Config::from_toml_str(text, "t.toml").unwrap();
        let p = snap.policies().next().unwrap();
        let v = policy_configs(p, 0x6b69_0001, 7).unwrap();
        assert_eq!(v.len(), 3);
        let (out, _) = &v[0];
        assert_eq!(out.dir, Direction::Out);
        assert_eq!(out.templates[0].src, Some("198.18.0.1".parse().unwrap()));
        assert_eq!(out.templates[0].dst, Some("198.18.0.2".parse().unwrap()));
        assert!(!out.templates[0].optional);
        let (inb, meta) = &v[1];
        assert_eq!(inb.dir, Direction::In);
        assert_eq!(inb.selector.src.to_string(), "198.19.2.0/24");
        assert_eq!(inb.templates[0].src, Some("198.18.0.2".parse().unwrap()));
        assert!(inb.templates[0].optional);
        assert_eq!(meta.level, "use");
        assert!(v.iter().all(|(pc, _)| pc.templates[0].reqid == 0x6b69_0001));
        assert_eq!(v[2].0.dir, Direction::Fwd);
    }
}
