//! Time: retransmissions, timeouts, rekeying, expiry and NAT-keepalives.
//!
//! Every ISAKMP SA and IPsec SA pair has one entry in the timer queue, at the earliest time
//! it needs attention; [`Engine::handle_timeout`] pops what is due and lets the object handle
//! everything due in it, then queues it again.

use std::time::Instant;

use super::child::{ChildId, ChildRequest, Rekey};
use super::event::{DeleteReason, Transmit};
use super::ike::{Exchange, IkeId, IkeSa, IkeState};
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

    fn established_timeout(&mut self, now: Instant, id: IkeId, mut sa: IkeSa) {
        let (local, remote) = (sa.local, sa.remote);
        let pid = sa.peer;
        let mut failed: Vec<(ChildRequest, Reject)> = Vec::new();
        let mut rekey = false;
        let mut expired = false;
        let mut keepalive = false;
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
                    | Exchange::QuickResponder { flight, .. } => {
                        if flight.exhausted(&self.options) {
                            if let Some(x) = e.exchanges.remove(&mid) {
                                e.sa.iv.forget(mid);
                                if let Some(spi) = x.pending_spi() {
                                    self.spis.release(spi);
                                }
                                match x {
                                    Exchange::QuickInitiator { request, .. } => {
                                        failed.push((request, Reject::Timeout));
                                    }
                                    _ => {
                                        self.stats.phase2_failed += 1;
                                    }
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
            if e.keepalive_at.is_some_and(|t| t <= now) {
                keepalive = true;
                e.keepalive_at = self.options.nat_keepalive.map(|every| now + every);
            }
            if e.rekey_at.is_some_and(|t| t <= now) {
                e.rekey_at = None;
                rekey = true;
            }
            expired = e.expires_at <= now;
        }
        self.ike.insert(id, sa);
        self.reschedule_ike(id);
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
        if expired {
            self.remove_ike(now, id, true);
        }
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
