//! Quick mode in the engine: which policies to negotiate, starting and answering quick
//! modes, the responder's policy lookup, installing and removing IPsec SA pairs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{
    GeneratePolicy, IpsecProtocol, Peer, Policy, PolicyAction, PortSpec, Snapshot,
};
use crate::phase2::quick_mode::{self, Answer, FirstMessage, Request};
use crate::phase2::selector;
use crate::proposal::lifetime::DEFAULT_PHASE2_SECONDS;
use crate::proposal::phase2::{Mode, Phase2Terms, ResponderRules, UdpEncapsulation};
use crate::proposal::{Lifetime, dh_group, esp_transforms};
use crate::wire::Message;

use super::child::{ChildId, ChildRequest, ChildSa, Rekey};
use super::event::{
    DeleteReason, DeleteSa, Direction, DownReason, Event, InstallSa, NatOa, PeerId, Phase,
    PolicyId, SaLifetime, TrafficSelector, TsAddr, UdpEncap,
};
use super::ike::{Exchange, Flight, IkeId, IkeSa, digest};
use super::{Engine, EngineError, Reject, TimerKey};

/// The terms of a configured proposal for a policy in `tunnel` mode or not.
fn terms_of(proposal: &crate::config::Proposal, tunnel: bool) -> Phase2Terms {
    Phase2Terms {
        transforms: esp_transforms(proposal),
        pfs: proposal.pfs_group.and_then(dh_group),
        mode: if tunnel {
            Mode::Tunnel
        } else {
            Mode::Transport
        },
        lifetime: Lifetime::from_config(proposal.lifetime, proposal.lifebytes),
    }
}

fn port(p: PortSpec) -> u16 {
    match p {
        PortSpec::Any => 0,
        PortSpec::Port(n) => n,
    }
}

impl Engine {
    /// The quick modes `peer` at `remote` is configured for.
    pub(super) fn policy_requests(
        &self,
        config: &Snapshot,
        peer: &Peer,
        remote: std::net::IpAddr,
    ) -> Vec<ChildRequest> {
        config
            .policies()
            .filter(|p| {
                p.action == PolicyAction::Encrypt
                    && p.sa_dst_address.map(|d| d.to_canonical()) == Some(remote.to_canonical())
                    && p.sa_dst_address
                        .and_then(|d| config.initiator_peer(d))
                        .is_some_and(|q| q.name == peer.name)
            })
            .filter_map(|p| self.policy_request(config, p).ok())
            .collect()
    }

    /// The quick mode for one policy.
    pub(super) fn policy_request(
        &self,
        config: &Snapshot,
        p: &Policy,
    ) -> Result<ChildRequest, EngineError> {
        if p.ipsec_protocols != IpsecProtocol::Esp {
            return Err(EngineError::NothingToPropose("AH is not implemented"));
        }
        let proposal = config
            .proposal(&p.proposal)
            .ok_or(EngineError::UnknownPolicy(p.index))?;
        let terms = terms_of(proposal, p.tunnel);
        if terms.transforms.is_empty() {
            return Err(EngineError::NothingToPropose("ESP transforms"));
        }
        Ok(ChildRequest {
            policy: Some(PolicyId(p.index)),
            selector: selector::of_policy(p),
            terms,
            rekey_of: None,
        })
    }

    /// Negotiates `request` with `pid`: now if an ISAKMP SA is up, after phase 1 otherwise.
    /// Does nothing if an SA pair or a negotiation for the same policy exists.
    pub(super) fn request_child(
        &mut self,
        now: Instant,
        pid: PeerId,
        request: ChildRequest,
    ) -> Result<(), EngineError> {
        if self.already_requested(pid, &request) {
            return Ok(());
        }
        if let Some(ike) = self.current_ike(pid) {
            if self.stage(ike).is_some_and(|s| s.ready()) {
                return self
                    .start_quick_mode(now, ike, request)
                    .map_err(EngineError::Internal);
            }
            // XAuth or mode-config is still under way: the quick mode waits for it.
            if let Some(s) = self.peers.get_mut(&pid) {
                s.pending.push(request);
            }
            return Ok(());
        }
        if let Some(s) = self.peers.get_mut(&pid) {
            s.pending.push(request);
        }
        self.ensure_phase1(now, pid)
    }

    fn already_requested(&self, pid: PeerId, r: &ChildRequest) -> bool {
        let same = |policy: Option<PolicyId>, selector: &TrafficSelector| match (r.policy, policy) {
            (Some(a), Some(b)) => a == b,
            _ => *selector == r.selector,
        };
        let Some(s) = self.peers.get(&pid) else {
            return false;
        };
        let child = s.children.iter().any(|c| {
            self.children
                .get(c)
                .is_some_and(|c| c.rekey != Rekey::Replaced && same(c.policy, &c.selector))
        });
        let pending = s.pending.iter().any(|p| same(p.policy, &p.selector));
        let running = s.ike.iter().any(|i| {
            self.ike
                .get(i)
                .and_then(|s| s.established())
                .is_some_and(|e| {
                    e.exchanges.values().any(|x| match x {
                        Exchange::QuickInitiator { request, .. } => {
                            same(request.policy, &request.selector)
                        }
                        _ => false,
                    })
                })
        });
        r.rekey_of.is_none() && (child || pending || running)
    }

    /// A fresh message ID for an exchange under `sa`.
    pub(super) fn new_message_id(&self, sa: &IkeSa) -> Result<u32, Reject> {
        let e = sa.established().ok_or(Reject::Internal("no ISAKMP SA"))?;
        for _ in 0..16 {
            let mid = u32::from_be_bytes(self.random_bytes()?);
            if mid != 0 && !e.exchanges.contains_key(&mid) && !e.recent_informational.contains(&mid)
            {
                return Ok(mid);
            }
        }
        Err(Reject::Internal("message ID"))
    }

    /// Sends QM1 for `request` under the established SA `ike`.
    pub(super) fn start_quick_mode(
        &mut self,
        now: Instant,
        ike: IkeId,
        request: ChildRequest,
    ) -> Result<(), Reject> {
        let Some(mut sa) = self.ike.remove(&ike) else {
            return Err(Reject::Internal("no ISAKMP SA"));
        };
        let result = self.start_quick_mode_on(now, &mut sa, request);
        self.ike.insert(ike, sa);
        self.reschedule_ike(ike);
        result
    }

    fn start_quick_mode_on(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        mut request: ChildRequest,
    ) -> Result<(), Reject> {
        // A mode-config client's traffic leaves from its virtual address, unless the policy
        // names a network of its own there (a mobile unit's LAN, routed to it by the server).
        if let Some(e) = sa.established()
            && !e.stage.server
            && let Some(vip) = e.stage.address
        {
            // A rekey carries the selector of the pair it replaces, with the virtual address
            // of its day; a new mode-config (the server restarted) may have given another.
            if let Some(p) = request
                .policy
                .and_then(|id| self.config.policies().find(|p| p.index == id.0))
            {
                request.selector = selector::of_policy(p);
            }
            if match request.selector.local {
                TsAddr::Prefix(p) => p.is_default() || p.contains(vip),
                TsAddr::Range(r) => r.contains(vip),
            } {
                request.selector.local = TsAddr::Prefix(crate::config::IpPrefix::host(vip));
            }
        }
        let mid = self.new_message_id(sa)?;
        let cookies = (sa.cky_i, sa.cky_r);
        let rng = Arc::clone(&self.rng);
        let limit = self.options.max_exchanges_per_sa;
        let nonce_len = self.options.nonce_len;
        let (sa_local, sa_remote) = (sa.local.ip(), sa.remote.ip());
        let e = sa
            .established_mut()
            .ok_or(Reject::Internal("no ISAKMP SA"))?;
        if active_exchanges(e) >= limit {
            return Err(Reject::ExchangeLimit);
        }
        let udp = e.sa.nat.map_or(UdpEncapsulation::None, |n| n.udp());
        let our_spi = self
            .spis
            .allocate(rng.as_ref(), sa_local, sa_remote)
            .ok_or(Reject::NoSpi)?;
        let started = quick_mode::Initiator::start(
            &mut e.sa,
            Request {
                cookies,
                message_id: mid,
                our_spi,
                terms: request.terms.clone(),
                selector: request.selector,
                udp,
                addresses: (sa_local, sa_remote),
                rng: rng.as_ref(),
                nonce_len,
            },
        );
        let (qm, message) = match started {
            Ok(s) => s,
            Err(r) => {
                self.spis.release(our_spi);
                return Err(r);
            }
        };
        if let Some(old) = request.rekey_of
            && let Some(c) = self.children.get_mut(&old)
        {
            c.rekey = Rekey::InProgress;
        }
        e.exchanges.insert(
            mid,
            Exchange::QuickInitiator {
                qm: Box::new(qm),
                request: Box::new(request),
                flight: Box::new(Flight::waiting(message.clone(), None, now, &self.options)),
            },
        );
        self.stats.phase2_started += 1;
        self.send(sa.local, sa.remote, &message);
        Ok(())
    }

    /// A quick mode we started failed.
    pub(super) fn quick_failed(
        &mut self,
        now: Instant,
        pid: PeerId,
        remote: SocketAddr,
        request: &ChildRequest,
        reason: Reject,
    ) {
        self.report_quick_failure(pid, remote, reason);
        if let Some(old) = request.rekey_of
            && let Some(c) = self.children.get_mut(&old)
            && c.rekey == Rekey::InProgress
        {
            // Try again later, while the old pair still lives.
            c.rekey = Rekey::Idle;
            let retry =
                (c.remaining(now) / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
            c.soft_at = now + retry;
            self.reschedule_child(old);
        }
        self.check_session(pid, DownReason::NoSasLeft);
    }

    /// Counts and reports a quick mode that failed.
    pub(super) fn report_quick_failure(&mut self, pid: PeerId, remote: SocketAddr, reason: Reject) {
        self.stats.phase2_failed += 1;
        self.events.push_back(Event::NegotiationFailed {
            peer: Some(pid),
            remote,
            phase: Phase::Two,
            reason,
        });
    }

    /// A quick-mode message.
    pub(super) fn on_quick_mode(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        msg: &Message<'_>,
    ) {
        let (id, mut sa) = match self.take_sa_for(&msg.header) {
            Ok(found) => found,
            Err(reason) => return self.reject(local, remote, reason),
        };
        let before = (sa.local, sa.remote);
        let done = self.quick_mode_step(now, local, remote, &mut sa, msg);
        let pid = sa.peer;
        let (l, r) = (sa.local, sa.remote);
        self.ike.insert(id, sa);
        self.reschedule_ike(id);
        // The quick mode followed the peer to a new NAT mapping: its SAs follow too.
        self.children_follow(pid, before, (l, r));
        match (done, pid) {
            (QmOutcome::Installed(neg, request, initiator), Some(pid)) => {
                self.install_child(now, pid, l, r, *neg, request, initiator);
            }
            (QmOutcome::Failed(request, reason), Some(pid)) => {
                self.quick_failed(now, pid, r, &request, reason);
            }
            _ => {}
        }
    }

    fn quick_mode_step(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        sa: &mut IkeSa,
        msg: &Message<'_>,
    ) -> QmOutcome {
        let cookies = (sa.cky_i, sa.cky_r);
        let mid = msg.header.message_id;
        let d = digest(msg.bytes);
        let (sa_local, sa_remote) = (sa.local, sa.remote);
        let Some(e) = sa.established_mut() else {
            self.reject(local, remote, Reject::UnexpectedMessage);
            return QmOutcome::Nothing;
        };
        let nat_t = e.sa.nat.is_some();
        let outcome = match e.exchanges.remove(&mid) {
            Some(Exchange::QuickInitiator {
                mut qm,
                request,
                flight,
            }) => match qm.on_qm2(&mut e.sa, cookies, msg) {
                Ok((neg, qm3)) => {
                    self.send(sa_local, sa_remote, &qm3);
                    e.exchanges.insert(
                        mid,
                        Exchange::Done {
                            answers: d,
                            reply: Some(qm3.into_boxed_slice()),
                            expires: now + self.options.exchange_lifetime(),
                        },
                    );
                    QmOutcome::Installed(Box::new(neg), *request, true)
                }
                Err(f) => {
                    self.reject(local, remote, f.reject);
                    if f.fatal {
                        self.spis.release(qm.our_spi());
                        QmOutcome::Failed(*request, f.reject)
                    } else {
                        e.exchanges.insert(
                            mid,
                            Exchange::QuickInitiator {
                                qm,
                                request,
                                flight,
                            },
                        );
                        return QmOutcome::Nothing;
                    }
                }
            },
            Some(Exchange::QuickResponder {
                qm,
                request,
                flight,
                inbound,
            }) => {
                if flight.answers == Some(d) {
                    self.stats.replies_resent += 1;
                    self.send(sa_local, sa_remote, &flight.message);
                    e.exchanges.insert(
                        mid,
                        Exchange::QuickResponder {
                            qm,
                            request,
                            flight,
                            inbound,
                        },
                    );
                    return QmOutcome::Nothing;
                }
                match qm.on_qm3(&mut e.sa, msg) {
                    Ok(neg) => {
                        e.exchanges.insert(
                            mid,
                            Exchange::Done {
                                answers: d,
                                reply: None,
                                expires: now + self.options.exchange_lifetime(),
                            },
                        );
                        QmOutcome::Installed(Box::new(neg), *request, false)
                    }
                    Err(f) => {
                        self.reject(local, remote, f.reject);
                        if f.fatal {
                            self.spis.release(qm.our_spi());
                            self.stats.phase2_failed += 1;
                            self.take_back(inbound);
                        } else {
                            e.exchanges.insert(
                                mid,
                                Exchange::QuickResponder {
                                    qm,
                                    request,
                                    flight,
                                    inbound,
                                },
                            );
                        }
                        return QmOutcome::Nothing;
                    }
                }
            }
            Some(Exchange::Done {
                answers,
                reply,
                expires,
            }) => {
                if answers == d {
                    match &reply {
                        Some(m) => {
                            self.stats.replies_resent += 1;
                            self.send(sa_local, sa_remote, m);
                        }
                        None => self.stats.duplicates += 1,
                    }
                } else {
                    self.stats.duplicates += 1;
                }
                e.exchanges.insert(
                    mid,
                    Exchange::Done {
                        answers,
                        reply,
                        expires,
                    },
                );
                return QmOutcome::Nothing;
            }
            Some(x @ Exchange::Transaction { .. }) => {
                e.exchanges.insert(mid, x);
                self.reject(local, remote, Reject::UnexpectedMessage);
                return QmOutcome::Nothing;
            }
            None => {
                if e.recent_informational.contains(&mid) {
                    self.stats.duplicates += 1;
                    return QmOutcome::Nothing;
                }
                if active_exchanges(e) >= self.options.max_exchanges_per_sa {
                    self.reject(local, remote, Reject::ExchangeLimit);
                    return QmOutcome::Nothing;
                }
                return self.answer_quick_mode(now, local, remote, sa, msg, d);
            }
        };
        // The message authenticated: the peer is alive, and follow it if its address
        // changed (NAT).
        sa.heard_from(now);
        if self.follows(nat_t, (local, remote), (sa_local, sa_remote)) {
            sa.local = local;
            sa.remote = remote;
        }
        outcome
    }

    /// QM1 of a new quick mode from the peer.
    fn answer_quick_mode(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        sa: &mut IkeSa,
        msg: &Message<'_>,
        d: super::ike::Digest,
    ) -> QmOutcome {
        let mid = msg.header.message_id;
        let cookies = (sa.cky_i, sa.cky_r);
        let (sa_local, sa_remote) = (sa.local, sa.remote);
        let pid = sa.peer;
        let Some(e) = sa.established() else {
            return QmOutcome::Nothing;
        };
        if !e.stage.ready() {
            // draft-beaulieu-ike-xauth-02 §4: no quick mode before the user authenticated.
            self.reject(local, remote, Reject::XauthPending);
            return QmOutcome::Nothing;
        }
        let assigned = e.stage.address.filter(|_| e.stage.server);
        let routes = if e.stage.server {
            e.stage.routes.clone()
        } else {
            Vec::new()
        };
        let first = match quick_mode::read_first(&e.sa, msg) {
            Ok(f) => f,
            Err(f) => {
                self.reject(local, remote, f.reject);
                if f.fatal {
                    self.stats.phase2_failed += 1;
                    self.notify_error(now, sa, 16, &[]);
                }
                return QmOutcome::Nothing;
            }
        };
        let mut first = first;
        if let (Some(n), false) = (e.sa.nat, first.wants_tunnel) {
            first.selector = first.selector.map(|s| {
                behind_nat_transport(s, (n.local_behind, n.remote_behind), sa_local, sa_remote)
            });
        }
        let config = Arc::clone(&self.config);
        let peer_name = e.sa.peer_name.clone();
        let nat_t = e.sa.nat.is_some();
        let Some(peer) = config.peer(&peer_name) else {
            self.reject(local, remote, Reject::NoPeerConfig);
            return QmOutcome::Nothing;
        };
        let request = match responder_request(&config, peer, sa_local, sa_remote, &first, assigned)
            .and_then(|r| uses_assigned_address(r, assigned, &routes))
        {
            Ok(r) => r,
            Err(reason) => {
                self.reject(local, remote, reason);
                self.stats.phase2_failed += 1;
                self.notify_error(now, sa, 18, &[]);
                return QmOutcome::Nothing;
            }
        };
        let rng = Arc::clone(&self.rng);
        let Some(our_spi) = self
            .spis
            .allocate(rng.as_ref(), sa_local.ip(), sa_remote.ip())
        else {
            self.reject(local, remote, Reject::NoSpi);
            return QmOutcome::Nothing;
        };
        let nonce_len = self.options.nonce_len;
        // Where the SA pair will run: the peer's new address if it moved (NAT).
        let (l, r) = if self.follows(nat_t, (local, remote), (sa_local, sa_remote)) {
            (local, remote)
        } else {
            (sa_local, sa_remote)
        };
        // QM1 authenticated (read_first checked HASH(1)): the peer is alive.
        sa.heard_from(now);
        let Some(e) = sa.established_mut() else {
            self.spis.release(our_spi);
            return QmOutcome::Nothing;
        };
        let answered = quick_mode::Responder::start(
            &mut e.sa,
            first,
            mid,
            Answer {
                cookies,
                rules: ResponderRules {
                    terms: &request.terms,
                    nat_t,
                    check: peer.proposal_check,
                },
                selector: request.selector,
                our_spi,
                addresses: (l.ip(), r.ip()),
                rng: rng.as_ref(),
                nonce_len,
            },
        );
        match answered {
            Ok((qm, message)) => {
                self.send(sa_local, sa_remote, &message);
                self.stats.phase2_started += 1;
                let inbound = match (pid, qm.negotiated(&e.sa)) {
                    (Some(pid), Ok(neg)) => {
                        Some(self.install_inbound_early(pid, l, r, &neg, &request))
                    }
                    _ => None,
                };
                e.exchanges.insert(
                    mid,
                    Exchange::QuickResponder {
                        qm: Box::new(qm),
                        request: Box::new(request),
                        flight: Box::new(Flight::waiting(message, Some(d), now, &self.options)),
                        inbound: inbound.map(Box::new),
                    },
                );
                if self.follows(nat_t, (local, remote), (sa_local, sa_remote)) {
                    sa.local = local;
                    sa.remote = remote;
                }
            }
            Err(reason) => {
                self.spis.release(our_spi);
                self.reject(local, remote, reason);
                self.stats.phase2_failed += 1;
                self.notify_error(now, sa, 14, &[]);
            }
        }
        QmOutcome::Nothing
    }

    /// What both SAs of a pair share: UDP encapsulation, lifetimes, and the older pair for
    /// the same traffic that it replaces (our rekey, or as responder the peer's).
    fn pair_plan(
        &mut self,
        pid: PeerId,
        local: SocketAddr,
        remote: SocketAddr,
        neg: &quick_mode::Negotiated,
        request: &ChildRequest,
        initiator: bool,
    ) -> PairPlan {
        let encap = (neg.udp != UdpEncapsulation::None).then_some(UdpEncap {
            local_port: local.port(),
            remote_port: remote.port(),
        });
        let hard = Duration::from_secs(
            neg.lifetime
                .seconds
                .unwrap_or(DEFAULT_PHASE2_SECONDS)
                .max(1),
        )
        .min(crate::phase1::MAX_SA_LIFETIME);
        let left = if initiator {
            self.options.rekey_margin + self.options.rekey_fuzz * self.random_fraction()
        } else {
            // The responder rekeys only if the initiator has not by then (and without jitter,
            // so that the inbound SA installed at QM2 and the outbound one at QM3 agree).
            self.options.rekey_margin / 2.0
        };
        let fraction = rekey_fraction(left);
        let soft = hard.mul_f64(fraction);
        let hard_bytes = neg.lifetime.kilobytes.map(|k| k.saturating_mul(1024));
        let soft_bytes = hard_bytes.map(|b| (b as f64 * fraction) as u64);
        let old = request
            .rekey_of
            .filter(|c| self.children.contains_key(c))
            .or_else(|| {
                self.peers.get(&pid).and_then(|s| {
                    s.children.iter().copied().find(|c| {
                        self.children.get(c).is_some_and(|c| {
                            c.rekey != Rekey::Replaced
                                && c.selector == neg.selector
                                && c.policy == request.policy
                        })
                    })
                })
            });
        PairPlan {
            encap,
            lifetime: SaLifetime {
                hard,
                soft,
                hard_bytes,
                soft_bytes,
            },
            old,
            local: local.ip().to_canonical(),
            remote: remote.ip().to_canonical(),
        }
    }

    /// The transform as the dataplane must run it: the negotiated one, except that a peer
    /// configured with `sha256-96` (Android's old kernels) gets HMAC-SHA2-256 with 96-bit
    /// ICVs, which the wire cannot say (both are Authentication Algorithm 5).
    fn local_transform(
        &self,
        pid: PeerId,
        esp: crate::crypto::esp::EspTransform,
    ) -> crate::crypto::esp::EspTransform {
        let truncated = self
            .peers
            .get(&pid)
            .and_then(|s| self.config.peer(&s.name))
            .is_some_and(|p| p.sha256_96);
        if truncated && esp.integrity == crate::crypto::esp::EspIntegrity::HmacSha256_128 {
            crate::crypto::esp::EspTransform {
                integrity: crate::crypto::esp::EspIntegrity::HmacSha256_96,
                ..esp
            }
        } else {
            esp
        }
    }

    /// One [`Event::InstallSa`] of a pair.
    fn emit_install(
        &mut self,
        pid: PeerId,
        direction: Direction,
        neg: &quick_mode::Negotiated,
        request: &ChildRequest,
        plan: &PairPlan,
    ) {
        let old = plan.old.and_then(|o| self.children.get(&o));
        let (spi, src, dst, keys, replaces) = match direction {
            Direction::Inbound => (
                neg.our_spi,
                plan.remote,
                plan.local,
                neg.keys.inbound.clone(),
                old.map(|c| c.our_spi),
            ),
            Direction::Outbound => (
                neg.peer_spi,
                plan.local,
                plan.remote,
                neg.keys.outbound.clone(),
                old.map(|c| c.peer_spi),
            ),
        };
        self.events.push_back(Event::InstallSa(Box::new(InstallSa {
            peer: pid,
            policy: request.policy,
            direction,
            spi,
            src,
            dst,
            mode: neg.mode,
            encap: plan.encap,
            transform: self.local_transform(pid, neg.esp),
            keys,
            selector: neg.selector,
            lifetime: plan.lifetime,
            replaces,
            nat_oa: neg.nat_oa.map(|o| NatOa {
                local: o.local,
                remote: o.remote,
            }),
        })));
        self.stats.sas_installed += 1;
    }

    /// The responder's inbound SA, installed as QM2 leaves (libreswan does the same): the
    /// initiator starts sending on the new pair as soon as QM2 arrives, possibly before our
    /// QM3 processing, and those packets must not be dropped. Returns how to take it back.
    fn install_inbound_early(
        &mut self,
        pid: PeerId,
        local: SocketAddr,
        remote: SocketAddr,
        neg: &quick_mode::Negotiated,
        request: &ChildRequest,
    ) -> DeleteSa {
        let plan = self.pair_plan(pid, local, remote, neg, request, false);
        self.emit_install(pid, Direction::Inbound, neg, request, &plan);
        DeleteSa {
            peer: pid,
            direction: Direction::Inbound,
            spi: neg.our_spi,
            src: plan.remote,
            dst: plan.local,
            reason: DeleteReason::Abandoned,
        }
    }

    /// Removes an inbound SA installed at QM2 whose quick mode did not complete.
    pub(super) fn take_back(&mut self, inbound: Option<Box<DeleteSa>>) {
        if let Some(d) = inbound {
            self.stats.sas_deleted += 1;
            self.events.push_back(Event::DeleteSa(*d));
        }
    }

    /// Installs a negotiated pair: two [`Event::InstallSa`] (as responder only the outbound
    /// one: the inbound one went in with QM2).
    #[allow(clippy::too_many_arguments)] // the pair, where it runs, what it was for
    fn install_child(
        &mut self,
        now: Instant,
        pid: PeerId,
        local: SocketAddr,
        remote: SocketAddr,
        neg: quick_mode::Negotiated,
        request: ChildRequest,
        initiator: bool,
    ) {
        let plan = self.pair_plan(pid, local, remote, &neg, &request, initiator);
        let id = ChildId(self.next_id());
        if initiator {
            self.emit_install(pid, Direction::Inbound, &neg, &request, &plan);
        }
        self.emit_install(pid, Direction::Outbound, &neg, &request, &plan);
        if let Some(o) = plan.old
            && let Some(c) = self.children.get_mut(&o)
        {
            c.rekey = Rekey::Replaced;
            if request.rekey_of == Some(o) {
                // Make-before-break: we started the rekey, we delete the old pair a little
                // later.
                c.delete_at = Some(now + self.options.rekey_delete_delay);
            }
            self.reschedule_child(o);
        }
        self.stats.phase2_established += 1;
        let lifetime = plan.lifetime;
        self.children.insert(
            id,
            Box::new(ChildSa {
                peer: pid,
                policy: request.policy,
                initiator,
                our_spi: neg.our_spi,
                peer_spi: neg.peer_spi,
                esp: self.local_transform(pid, neg.esp),
                mode: neg.mode,
                encap: plan.encap,
                selector: neg.selector,
                local: plan.local,
                remote: plan.remote,
                terms: request.terms,
                lifetime: neg.lifetime,
                installed: now,
                soft_at: now + lifetime.soft,
                hard_at: now + lifetime.hard,
                rekey: Rekey::Idle,
                delete_at: None,
            }),
        );
        if let Some(s) = self.peers.get_mut(&pid) {
            s.children.insert(id);
        }
        self.reschedule_child(id);
    }

    /// Removes an SA pair: two [`Event::DeleteSa`], and a Delete to the peer if `notify`.
    pub(super) fn remove_child(
        &mut self,
        now: Instant,
        id: ChildId,
        reason: DeleteReason,
        notify: bool,
    ) {
        let Some(c) = self.children.remove(&id) else {
            return;
        };
        self.schedule(TimerKey::Child(id), None);
        if notify && let Some(ike) = self.current_ike(c.peer) {
            let _ = self.send_delete_esp(now, ike, &[c.our_spi]);
        }
        self.spis.release(c.our_spi);
        for (direction, spi, src, dst) in [
            (Direction::Inbound, c.our_spi, c.remote, c.local),
            (Direction::Outbound, c.peer_spi, c.local, c.remote),
        ] {
            self.events.push_back(Event::DeleteSa(DeleteSa {
                peer: c.peer,
                direction,
                spi,
                src,
                dst,
                reason,
            }));
        }
        self.stats.sas_deleted += 2;
        if let Some(s) = self.peers.get_mut(&c.peer) {
            s.children.remove(&id);
        }
        self.check_session(c.peer, DownReason::NoSasLeft);
    }
}

impl Engine {
    /// Whether an authenticated quick-mode message that came to and from `from` (local,
    /// remote) moves the ISAKMP SA (and the SAs it makes) from `current`: only behind a NAT,
    /// and only to the NAT-T port. Once floated, IKE stays on 4500 (RFC 3947 §4); a stray
    /// message to 500 must not pull the SA and its ESP-in-UDP ports back.
    pub(super) fn follows(
        &self,
        nat_t: bool,
        from: (SocketAddr, SocketAddr),
        current: (SocketAddr, SocketAddr),
    ) -> bool {
        nat_t && from != current && from.0.port() == self.options.nat_t_port
    }
}

/// Exchanges still running (finished ones kept for retransmissions do not count).
pub(super) fn active_exchanges(e: &super::ike::Established) -> usize {
    e.exchanges
        .values()
        .filter(|x| !matches!(x, Exchange::Done { .. }))
        .count()
}

/// The fraction of its lifetime after which an SA is rekeyed when `left` of it should be
/// left (within [0.05, 1]; options that are not numbers mean 0.9).
pub(super) fn rekey_fraction(left: f64) -> f64 {
    let f = 1.0 - left;
    if f.is_finite() {
        f.clamp(0.05, 1.0)
    } else {
        0.9
    }
}

/// The shared parameters of an SA pair ([`Engine::pair_plan`]).
struct PairPlan {
    encap: Option<UdpEncap>,
    lifetime: SaLifetime,
    /// The pair it replaces.
    old: Option<ChildId>,
    local: std::net::IpAddr,
    remote: std::net::IpAddr,
}

/// What a quick-mode message led to.
enum QmOutcome {
    Nothing,
    Installed(Box<quick_mode::Negotiated>, ChildRequest, bool),
    Failed(ChildRequest, Reject),
}

/// A transport-mode selector seen through a NAT. The peer names its own (private) address
/// in its ID payload, but its packets reach us with the NAT's address, the one its ISAKMP SA
/// runs on; the SA and its policy must carry that one or no decapsulated packet would match
/// (RFC 3947 §5.2 leaves the ID as sent: NAT-OA carries the private address for checksums).
/// Likewise our own address when a NAT rewrites it. strongSwan's IKEv1 responder does the
/// same. Only single-host selectors are replaced; the ID payloads we echo stay as received.
pub(super) fn behind_nat_transport(
    mut selector: TrafficSelector,
    (local_behind, remote_behind): (bool, bool),
    local: SocketAddr,
    remote: SocketAddr,
) -> TrafficSelector {
    let swap = |ts: &mut TsAddr, ip: std::net::IpAddr| {
        let ip = ip.to_canonical();
        if let TsAddr::Prefix(p) = ts
            && p.is_host()
            && p.addr() != ip
            && p.addr().is_ipv4() == ip.is_ipv4()
        {
            *ts = TsAddr::Prefix(crate::config::IpPrefix::host(ip));
        }
    };
    if remote_behind {
        swap(&mut selector.remote, remote.ip());
    }
    if local_behind {
        swap(&mut selector.local, local.ip());
    }
    selector
}

/// The responder's choice of policy for a proposed selector: the first installed `encrypt`
/// policy (highest priority first) that covers it, for this peer's address and the proposed
/// mode; else, with `generate-policy`, a template of the peer's policy group.
/// A peer that got a virtual address from us, or whose user has routed networks, may only
/// ask for generated policies to that address or inside those networks: its remote selector
/// must be one of them.
fn uses_assigned_address(
    request: ChildRequest,
    assigned: Option<std::net::IpAddr>,
    routes: &[crate::config::IpPrefix],
) -> Result<ChildRequest, Reject> {
    if request.policy.is_some() || (assigned.is_none() && routes.is_empty()) {
        return Ok(request);
    }
    let remote = request.selector.remote;
    let is_vip =
        assigned.is_some_and(|v| remote == TsAddr::Prefix(crate::config::IpPrefix::host(v)));
    let routed = matches!(remote, TsAddr::Prefix(p) if routes.iter().any(|r| r.covers(&p)));
    if is_vip || routed {
        Ok(request)
    } else {
        Err(Reject::NoPolicy)
    }
}

fn responder_request(
    config: &Snapshot,
    peer: &Peer,
    local: SocketAddr,
    remote: SocketAddr,
    first: &FirstMessage,
    assigned: Option<std::net::IpAddr>,
) -> Result<ChildRequest, Reject> {
    let selector = first
        .selector
        .unwrap_or_else(|| selector::host_to_host(local.ip(), remote.ip()));
    let remote_ip = remote.ip().to_canonical();
    let covers = |p: &Policy, ports: bool| {
        selector.local.within(&p.src_address)
            && selector.remote.within(&p.dst_address)
            && p.protocol.number().is_none_or(|n| n == selector.protocol)
            && (!ports
                || (p.src_port == PortSpec::Any || port(p.src_port) == selector.local_port)
                    && (p.dst_port == PortSpec::Any || port(p.dst_port) == selector.remote_port))
            && p.tunnel == first.wants_tunnel
            && p.ipsec_protocols == IpsecProtocol::Esp
    };
    for p in config.policies() {
        if p.action != PolicyAction::Encrypt
            || p.sa_dst_address
                .is_some_and(|d| d.to_canonical() != remote_ip)
            || !covers(p, true)
        {
            continue;
        }
        let Some(proposal) = config.proposal(&p.proposal) else {
            continue;
        };
        return Ok(ChildRequest {
            policy: Some(PolicyId(p.index)),
            selector,
            terms: terms_of(proposal, p.tunnel),
            rekey_of: None,
        });
    }
    if peer.generate_policy != GeneratePolicy::No
        && let Some(group) = &peer.policy_group
    {
        let (TsAddr::Prefix(l), TsAddr::Prefix(r)) = (selector.local, selector.remote) else {
            return Err(Reject::NoPolicy);
        };
        let strict = peer.generate_policy == GeneratePolicy::PortStrict;
        let ports = |n: u16| {
            if n == 0 {
                PortSpec::Any
            } else {
                PortSpec::Port(n)
            }
        };
        for t in config.templates_of(group) {
            let admitted = if strict {
                t.admits(
                    &l,
                    &r,
                    crate::config::IpProtocol::Number(selector.protocol),
                    ports(selector.local_port),
                    ports(selector.remote_port),
                ) || (selector.protocol == 0
                    && t.admits(
                        &l,
                        &r,
                        crate::config::IpProtocol::All,
                        ports(selector.local_port),
                        ports(selector.remote_port),
                    ))
            } else {
                covers(t, false)
            };
            // A Cisco Unity client with an address from us proposes everything on our side
            // (0.0.0.0/0) and routes only the split-include networks itself; the SA is
            // narrowed to the template (what strongSwan's unity plugin does), so nothing
            // outside the templates is installed.
            let unity = !admitted
                && l.is_default()
                && assigned.is_some_and(|vip| {
                    r == crate::config::IpPrefix::host(vip) && t.dst_address.contains(vip)
                });
            if !(admitted || unity) || t.tunnel != first.wants_tunnel {
                continue;
            }
            let Some(proposal) = config.proposal(&t.proposal) else {
                continue;
            };
            let mut selector = selector;
            if unity {
                selector.local = TsAddr::Prefix(t.src_address);
            }
            return Ok(ChildRequest {
                policy: None,
                selector,
                terms: terms_of(proposal, t.tunnel),
                rekey_of: None,
            });
        }
    }
    Err(Reject::NoPolicy)
}
