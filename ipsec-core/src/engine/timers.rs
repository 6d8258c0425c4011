//! Time: retransmissions, timeouts, rekeying, expiry and NAT-keepalives.
//!
//! Every ISAKMP SA and IPsec SA pair has one entry in the timer queue, at the earliest time
//! it needs attention; [`Engine::handle_timeout`] pops what is due and lets the object handle
//! everything due in it, then queues it again.

use std::time::Instant;

use super::child::{ChildId, ChildRequest, Rekey};
use super::event::{DeleteReason, DownReason, Transmit};
use super::ike::{DpdProbe, Exchange, IkeId, IkeSa, IkeState};
use super::{Engine, Reject, TimerKey};

/// A bound on timers handled in one call, against any scheduling bug looping forever.
const MAX_TIMERS_PER_CALL: usize = 1 << 20;

impl Engine {
    /// Does everything that is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        for _ in 0..MAX_TIMERS_PER_CALL {
            let Some(&(at, key)) = self.timers.first() else {
                return;
            };
            if at > now {
                return;
            }
            self.timers.remove(&(at, key));
            self.scheduled.remove(&key);
            match key {
                TimerKey::Ike(id) => self.ike_timeout(now, id),
                TimerKey::Child(id) => self.child_timeout(now, id),
            }
        }
    }

    fn ike_timeout(&mut self, now: Instant, id: IkeId) {
        let Some(mut sa) = self.ike.remove(&id) else {
            return;
        };
        // Our last phase-1 message.
        if let Some(f) = &mut sa.flight
            && f.next_at <= now
        {
            if !f.retransmit {
                sa.flight = None;
            } else if f.exhausted(&self.options) {
                if sa.established().is_none() {
                    return self.fail_phase1(now, id, sa, Reject::Timeout);
                }
                sa.flight = None;
            } else {
                f.sent += 1;
                f.next_at = now + self.options.retransmit_interval(f.sent);
                let message = f.message.clone();
                self.stats.retransmissions += 1;
                self.send(sa.local, sa.remote, &message);
            }
        }
        match &mut sa.state {
            IkeState::Negotiating(_) => {
                if now >= sa.negotiation_deadline {
                    return self.fail_phase1(now, id, sa, Reject::Timeout);
                }
                self.ike.insert(id, sa);
                self.reschedule_ike(id);
            }
            IkeState::Established(_) => self.established_timeout(now, id, sa),
        }
    }

    fn established_timeout(&mut self, now: Instant, id: IkeId, mut sa: Box<IkeSa>) {
        let (local, remote) = (sa.local, sa.remote);
        let pid = sa.peer;
        let mut failed: Vec<(ChildRequest, Reject)> = Vec::new();
        let mut rekey = false;
        let mut expired = false;
        let mut keepalive = false;
        let mut dpd = Dpd::Quiet;
        let mut stage_failed = false;
        // A quick mode of ours went unanswered with the peer silent throughout.
        let mut silent = false;
        // Our inbound SPIs of quick modes whose QM3 never came.
        let mut abandoned = Vec::new();
        // Only the newest ISAKMP SA with a peer probes: an older one the peer may already
        // have deleted (its Delete lost) would get no answer and condemn a live peer.
        let newest = match (pid, sa.established()) {
            (Some(p), Some(e)) => !e.replaced && !self.has_newer_ike(p, id, e.since),
            _ => false,
        };
        if let Some(e) = sa.established_mut() {
            let due: Vec<u32> = e
                .exchanges
                .iter()
                .filter(|(_, x)| x.deadline() <= now)
                .map(|(mid, _)| *mid)
                .collect();
            for mid in due {
                let Some(x) = e.exchanges.get_mut(&mid) else {
                    continue;
                };
                match x {
                    Exchange::Done { .. } => {
                        e.exchanges.remove(&mid);
                        e.sa.iv.forget(mid);
                    }
                    Exchange::QuickInitiator { flight, .. }
                    | Exchange::QuickResponder { flight, .. }
                    | Exchange::Transaction { flight, .. } => {
                        if flight.exhausted(&self.options) {
                            if let Some(x) = e.exchanges.remove(&mid) {
                                e.sa.iv.forget(mid);
                                if let Some(spi) = x.pending_spi() {
                                    self.spis.release(spi);
                                }
                                match x {
                                    Exchange::QuickInitiator { request, .. } => {
                                        failed.push((*request, Reject::Timeout));
                                        silent |= now.saturating_duration_since(e.heard_at)
                                            >= self.options.exchange_lifetime();
                                    }
                                    Exchange::QuickResponder { inbound, .. } => {
                                        self.stats.phase2_failed += 1;
                                        abandoned.extend(inbound.as_ref().map(|d| d.spi));
                                        self.take_back(inbound);
                                    }
                                    Exchange::Transaction { .. } => stage_failed = true,
                                    Exchange::Done { .. } => {}
                                }
                            }
                        } else {
                            flight.sent += 1;
                            flight.next_at = now + self.options.retransmit_interval(flight.sent);
                            let message = flight.message.clone();
                            self.stats.retransmissions += 1;
                            self.send(local, remote, &message);
                        }
                    }
                }
            }
            if e.stage.deadline.is_some_and(|t| t <= now) {
                e.stage.deadline = None;
                stage_failed = true;
            }
            if e.keepalive_at.is_some_and(|t| t <= now) {
                keepalive = true;
                e.keepalive_at = self.options.nat_keepalive.map(|every| now + every);
            }
            if e.rekey_at.is_some_and(|t| t <= now) {
                e.rekey_at = None;
                rekey = true;
            }
            if newest {
                dpd = dpd_due(e.dpd.as_mut(), now);
            } else if let Some(d) = e.dpd.as_mut().filter(|d| d.next_at <= now) {
                d.next_at = now + d.interval;
            }
            expired = e.expires_at <= now;
        }
        // The peer lost this ISAKMP SA (it restarted) or is gone: without DPD (not every
        // peer announces it) nothing else would notice before phase 1 expires, hours later,
        // and every quick mode in between would time out the same way. charon likewise
        // gives up an IKE SA whose exchange exhausts its retransmissions. Only the newest SA
        // decides, as for DPD.
        if silent && newest {
            dpd = Dpd::Dead;
        }
        let cookies = sa.spi_bytes();
        self.ike.insert(id, sa);
        self.reschedule_ike(id);
        if !abandoned.is_empty() {
            // QM3 never came, yet the initiator may have sent it and installed the pair
            // (every QM3 lost, or every retransmitted QM2 that would have brought it
            // again): a Delete for the SPIs tells it the pair is not ours (RFC 2408 §4.8),
            // rather than leave it sending into an SA we do not have until its rekey.
            let _ = self.send_delete_esp(now, id, &abandoned);
        }
        match (dpd, pid) {
            (Dpd::Probe(seq), _) => {
                let n = crate::wire::Notification::dpd(false, &cookies, seq);
                if self
                    .send_informational(id, &[crate::wire::Payload::Notification(n)])
                    .is_ok()
                {
                    self.stats.dpd_probes_sent += 1;
                }
            }
            (Dpd::Dead, Some(pid)) => {
                for (_, reason) in failed {
                    self.report_quick_failure(pid, remote, reason);
                }
                self.stats.dead_peers += 1;
                self.end_session(now, pid, DeleteReason::DeadPeer, DownReason::DeadPeer);
                return;
            }
            _ => {}
        }
        if keepalive {
            // RFC 3948 §2.3: a single 0xFF octet, no marker.
            self.stats.datagrams_sent += 1;
            self.transmits.push_back(Transmit {
                local,
                remote,
                payload: vec![0xff],
            });
        }
        if let Some(pid) = pid {
            for (request, reason) in failed {
                self.quick_failed(now, pid, remote, &request, reason);
            }
            if rekey && self.can_initiate(pid) && self.negotiating_ike(pid).is_none() {
                // Phase 1 is re-established before it ends; IPsec SAs carry on meanwhile.
                let _ = self.connect(now, pid, Some(id));
            }
        }
        if stage_failed && !expired {
            // XAuth or mode-config got no answer: the SA is of no use.
            return self.config_stage_failed(now, id, Reject::Timeout);
        }
        if expired {
            self.remove_ike(now, id, true);
        }
    }

    /// Whether the session with `pid` has an established, unreplaced ISAKMP SA other than
    /// `id` that is newer than `since`.
    fn has_newer_ike(&self, pid: super::PeerId, id: IkeId, since: Instant) -> bool {
        self.peers.get(&pid).is_some_and(|s| {
            s.ike.iter().any(|other| {
                *other != id
                    && self
                        .ike
                        .get(other)
                        .and_then(|s| s.established())
                        .is_some_and(|o| !o.replaced && o.since > since)
            })
        })
    }

    fn child_timeout(&mut self, now: Instant, id: ChildId) {
        let Some(c) = self.children.get(&id) else {
            return;
        };
        if c.hard_at <= now {
            return self.remove_child(now, id, DeleteReason::Expired, true);
        }
        if c.delete_at.is_some_and(|t| t <= now) {
            return self.remove_child(now, id, DeleteReason::Rekeyed, true);
        }
        if c.rekey == Rekey::Idle && c.soft_at <= now {
            let pid = c.peer;
            let request = ChildRequest {
                policy: c.policy,
                selector: c.selector,
                terms: c.terms.clone(),
                rekey_of: Some(id),
            };
            if self.can_initiate(pid) {
                if let Some(c) = self.children.get_mut(&id) {
                    c.rekey = Rekey::InProgress;
                }
                let remote = self
                    .peers
                    .get(&pid)
                    .map(|s| s.remote)
                    .unwrap_or_else(|| std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
                match self.current_ike(pid) {
                    Some(ike) => {
                        if let Err(reason) = self.start_quick_mode(now, ike, request.clone()) {
                            self.quick_failed(now, pid, remote, &request, reason);
                        }
                    }
                    None => {
                        if let Some(s) = self.peers.get_mut(&pid) {
                            s.pending.push(request.clone());
                        }
                        if self.ensure_phase1(now, pid).is_err() {
                            if let Some(s) = self.peers.get_mut(&pid) {
                                s.pending.retain(|r| r.rekey_of != Some(id));
                            }
                            self.quick_failed(now, pid, remote, &request, Reject::Timeout);
                        }
                    }
                }
            } else if let Some(c) = self.children.get_mut(&id) {
                // We may not initiate (passive peer): the peer rekeys, or the SA expires.
                c.rekey = Rekey::InProgress;
            }
        }
        self.reschedule_child(id);
    }
}

/// What dead peer detection wants now.
enum Dpd {
    Quiet,
    /// Send R-U-THERE with this sequence number.
    Probe(u32),
    /// The peer let `maximum_failures` probes go unanswered.
    Dead,
}

/// RFC 3706 §5.3: silence for an interval → a probe with the next sequence number; each
/// further interval without an answer → another; `maximum_failures` unanswered → dead.
/// (`DpdProbe::heard` pushes `next_at` an interval past the last word from the peer.)
fn dpd_due(d: Option<&mut DpdProbe>, now: Instant) -> Dpd {
    let Some(d) = d else {
        return Dpd::Quiet;
    };
    if d.next_at > now {
        return Dpd::Quiet;
    }
    if d.unanswered >= d.maximum_failures {
        return Dpd::Dead;
    }
    d.unanswered += 1;
    d.seq = d.seq.wrapping_add(1);
    d.next_at = now + d.interval;
    Dpd::Probe(d.seq)
}
