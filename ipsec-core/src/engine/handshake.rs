//! Phase 1 in the engine: routing ISAKMP messages to their SA, starting and answering main
//! and aggressive mode, retransmission detection, floating to the NAT-T port, establishment
//! (peer sessions, INITIAL-CONTACT, phase 1 rekey) and failure.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::crypto::Secret;
use crate::phase1::{self, Ctx, Handshake, Phase1Sa, Progress, aggressive, main_mode};
use crate::wire::{Cookie, ExchangeType, Message, Notification, Payload, PayloadType, ProtocolId};

use super::event::{DeleteReason, DownReason, Event, IsakmpSpi, PeerId, Phase};
use super::ike::{Digest, DpdProbe, Established, Flight, IkeId, IkeSa, IkeState, Role, digest};
use super::peer::PeerSession;
use super::{Engine, EngineError, Reject, TimerKey};

impl Engine {
    /// Routes a parsed ISAKMP message.
    pub(super) fn on_message(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        msg: &Message<'_>,
    ) {
        match msg.header.exchange_type {
            ExchangeType::IdentityProtection | ExchangeType::Aggressive => {
                self.on_phase1_message(now, local, remote, msg)
            }
            ExchangeType::QuickMode => self.on_quick_mode(now, local, remote, msg),
            ExchangeType::Informational => self.on_informational(now, local, remote, msg),
            ExchangeType::Transaction => self.on_transaction(now, local, remote, msg),
            _ => self.reject(local, remote, Reject::UnexpectedExchange),
        }
    }

    /// The ISAKMP SA of a quick-mode or transaction message (encrypted, with a message ID),
    /// taken out of the table to be worked on; the caller puts it back.
    pub(super) fn take_sa_for(
        &mut self,
        h: &crate::wire::Header,
    ) -> Result<(IkeId, Box<IkeSa>), Reject> {
        if !h.flags.encrypted() || h.message_id == 0 {
            return Err(Reject::UnexpectedMessage);
        }
        let id = self
            .by_spi
            .get(&phase1::cookie_pair(
                &h.initiator_cookie,
                &h.responder_cookie,
            ))
            .copied()
            .ok_or(Reject::UnknownSa)?;
        let sa = self.ike.remove(&id).ok_or(Reject::UnknownSa)?;
        Ok((id, sa))
    }

    /// The SA a message with these cookies belongs to. A message answering our first one
    /// carries the responder's new cookie: the SA learns it here.
    pub(super) fn find_sa(&mut self, cky_i: &Cookie, cky_r: &Cookie) -> Option<IkeId> {
        if let Some(id) = self.by_spi.get(&phase1::cookie_pair(cky_i, cky_r)) {
            return Some(*id);
        }
        if *cky_r == [0; 8] {
            return None;
        }
        let id = *self.initiated.get(cky_i)?;
        let sa = self.ike.get_mut(&id)?;
        if sa.cky_r != [0; 8] {
            return None;
        }
        sa.cky_r = *cky_r;
        let spi = sa.spi_bytes();
        self.initiated.remove(cky_i);
        self.by_spi.insert(spi, id);
        Some(id)
    }

    fn on_phase1_message(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        msg: &Message<'_>,
    ) {
        let h = &msg.header;
        if h.message_id != 0 {
            return self.reject(local, remote, Reject::UnexpectedMessage);
        }
        let d = digest(msg.bytes);
        let announces_fragmentation = msg.payloads().is_some_and(|c| {
            c.filter(PayloadType::VendorId).any(|p| {
                matches!(
                    crate::wire::KnownVendor::recognise(p.body()),
                    Some(crate::wire::KnownVendor::CiscoFragmentation { .. })
                )
            })
        });
        if announces_fragmentation {
            self.peer_fragments(h.initiator_cookie);
        }
        if h.responder_cookie == [0; 8] {
            if let Some(id) = self.responding.get(&(h.initiator_cookie, remote)).copied() {
                return self.resend_if_retransmission(local, remote, id, &d);
            }
            if self.initiated.contains_key(&h.initiator_cookie) {
                return self.reject(local, remote, Reject::UnexpectedMessage);
            }
            return self.respond_phase1(now, local, remote, msg, d);
        }
        let Some(id) = self.find_sa(&h.initiator_cookie, &h.responder_cookie) else {
            return self.reject(local, remote, Reject::UnknownSa);
        };
        let Some(mut sa) = self.ike.remove(&id) else {
            return self.reject(local, remote, Reject::UnknownSa);
        };
        let outcome = self.phase1_step(now, local, remote, id, &mut sa, msg, d);
        match outcome {
            Step::Keep => {
                self.ike.insert(id, sa);
                self.reschedule_ike(id);
            }
            Step::Established(p1) => self.establish(now, local, remote, id, sa, p1),
            Step::Failed(reason) => self.fail_phase1(now, id, sa, reason),
        }
    }

    /// A retransmission of the message our last flight answers gets that flight again; any
    /// other repeated message is a duplicate.
    fn resend_if_retransmission(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        id: IkeId,
        d: &Digest,
    ) {
        let resend = self
            .ike
            .get(&id)
            .and_then(|sa| sa.flight.as_ref().map(|f| (sa.local, sa.remote, f)))
            .filter(|(_, _, f)| f.answers.as_ref() == Some(d))
            .map(|(l, r, f)| (l, r, f.message.clone()));
        match resend {
            Some((l, r, message)) => {
                self.stats.replies_resent += 1;
                self.send(l, r, &message);
            }
            None => {
                self.stats.duplicates += 1;
                let _ = (local, remote);
            }
        }
    }

    #[allow(clippy::too_many_arguments)] // the message, where it came from, the SA
    fn phase1_step(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        id: IkeId,
        sa: &mut IkeSa,
        msg: &Message<'_>,
        d: Digest,
    ) -> Step {
        if msg.header.exchange_type != sa.exchange {
            self.reject(local, remote, Reject::UnexpectedExchange);
            return Step::Keep;
        }
        if let Some(f) = &sa.flight
            && f.answers == Some(d)
        {
            self.stats.replies_resent += 1;
            let message = f.message.clone();
            self.send(sa.local, sa.remote, &message);
            return Step::Keep;
        }
        let IkeState::Negotiating(hs) = &mut sa.state else {
            // A phase-1 message for an established SA that is not the retransmission we
            // answer: an older duplicate.
            self.stats.duplicates += 1;
            return Step::Keep;
        };
        if sa.local.ip().is_unspecified() {
            sa.local = SocketAddr::new(local.ip(), sa.local.port());
        }
        let initial_contact = sa.role == Role::Initiator && self.wants_initial_contact(sa.peer, id);
        let config = Arc::clone(&self.config);
        let rng = Arc::clone(&self.rng);
        let credentials = Arc::clone(&self.credentials);
        let ctx = Ctx {
            credentials: &credentials,
            wall: self.wall_time(now),
            rng: rng.as_ref(),
            options: &self.options,
            config: &config,
            local: sa.local,
            remote: sa.remote,
            cky_i: sa.cky_i,
            cky_r: sa.cky_r,
            initial_contact,
        };
        match hs.handle(&ctx, msg) {
            Ok(Progress::Continue { message, float }) => {
                if float {
                    self.float(sa);
                }
                self.send(sa.local, sa.remote, &message);
                sa.flight = Some(Box::new(
                    if sa.role == Role::Responder && sa.exchange == ExchangeType::IdentityProtection
                    {
                        Flight::answer(message, d, now, &self.options)
                    } else {
                        Flight::waiting(message, Some(d), now, &self.options)
                    },
                ));
                Step::Keep
            }
            Ok(Progress::Done {
                sa: p1,
                message,
                float,
            }) => {
                if float {
                    self.float(sa);
                }
                if sa.role == Role::Responder {
                    // The message authenticated: answer where it came from. A main-mode
                    // initiator behind a NAT floated to 4500 for MM5 (RFC 3947 §4); MM6 from
                    // 500 would pull it back, and its ESP-in-UDP with it.
                    sa.local = local;
                    sa.remote = remote;
                }
                sa.flight = message.map(|m| {
                    self.send(sa.local, sa.remote, &m);
                    Box::new(Flight::last(m, d, now, &self.options))
                });
                Step::Established(p1)
            }
            Err(reason) => {
                self.reject(local, remote, reason);
                if let Some(code) = pki_notify(reason) {
                    // RFC 2408 §5 lets a failed phase-1 exchange report its error in an
                    // (unprotected) Informational exchange; the peer may log it, it cannot
                    // authenticate it (nor does our engine act on it at this stage).
                    self.notify_plain(sa.local, sa.remote, sa.cky_i, sa.cky_r, code);
                }
                if hs.is_dead() {
                    Step::Failed(reason)
                } else {
                    Step::Keep
                }
            }
        }
    }

    /// Whether our phase 1 with this session should carry INITIAL-CONTACT: the peer is
    /// configured for it and we have no other SA with it (so the peer may drop what it still
    /// holds from an earlier life of ours).
    fn wants_initial_contact(&self, peer: Option<PeerId>, except: IkeId) -> bool {
        let Some(s) = peer.and_then(|p| self.peers.get(&p)) else {
            return false;
        };
        let configured = self
            .config
            .peer(&s.name)
            .is_some_and(|p| p.send_initial_contact);
        configured
            && s.children.is_empty()
            && s.ike.iter().all(|i| {
                *i == except || self.ike.get(i).is_none_or(|sa| sa.established().is_none())
            })
    }

    /// RFC 3947 §4: move IKE to the NAT-T port.
    fn float(&self, sa: &mut IkeSa) {
        sa.local.set_port(self.options.nat_t_port);
        sa.remote.set_port(self.options.nat_t_port);
    }

    /// A first message (MM1/AM1) from a new initiator.
    fn respond_phase1(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        msg: &Message<'_>,
        d: Digest,
    ) {
        let source = remote.ip().to_canonical();
        if self.half_open.get(&source).copied().unwrap_or(0)
            >= self.options.max_half_open_per_source
        {
            return self.reject(local, remote, Reject::HalfOpenLimit);
        }
        if self.half_open_total >= self.options.max_half_open {
            // Full: the oldest half-open negotiation makes room (RFC 2408 §2.5.3 leaves
            // the defence to the implementation). A flood of first messages from spoofed
            // sources, which never answer, then only shortens how long a half-open
            // negotiation may wait for its next message (max-half-open / flood rate),
            // instead of locking every real client out until the spoofed ones time out.
            match self.half_open_ids.first().copied() {
                Some(oldest) => {
                    self.remove_ike(now, oldest, false);
                    self.stats.half_open_evicted += 1;
                }
                None => return self.reject(local, remote, Reject::HalfOpenLimit),
            }
        }
        let cky_r = match self.new_cookie() {
            Ok(c) => c,
            Err(r) => return self.reject(local, remote, r),
        };
        let h = &msg.header;
        let config = Arc::clone(&self.config);
        let rng = Arc::clone(&self.rng);
        let credentials = Arc::clone(&self.credentials);
        let ctx = Ctx {
            credentials: &credentials,
            wall: self.wall_time(now),
            rng: rng.as_ref(),
            options: &self.options,
            config: &config,
            local,
            remote,
            cky_i: h.initiator_cookie,
            cky_r,
            initial_contact: false,
        };
        let started = match h.exchange_type {
            ExchangeType::Aggressive => aggressive::Responder::start(&ctx, msg)
                .map(|(r, m)| (Handshake::AggressiveResponder(r), m)),
            _ => main_mode::Responder::start(&ctx, msg)
                .map(|(r, m)| (Handshake::MainResponder(r), m)),
        };
        let (hs, message) = match started {
            Ok(s) => s,
            Err(reason) => {
                self.reject(local, remote, reason);
                if reason == Reject::NoProposalChosen {
                    self.notify_plain(local, remote, h.initiator_cookie, cky_r, 14);
                }
                return;
            }
        };
        let id = IkeId(self.next_id());
        self.send(local, remote, &message);
        let sa = IkeSa {
            role: Role::Responder,
            exchange: h.exchange_type,
            cky_i: h.initiator_cookie,
            cky_r,
            local,
            remote,
            peer: None,
            created: now,
            negotiation_deadline: now + self.options.exchange_lifetime() * 2,
            state: IkeState::Negotiating(Box::new(hs)),
            // AM2 is retransmitted (if AM3 is lost, only that brings it back); MM2 is not.
            flight: Some(Box::new(if h.exchange_type == ExchangeType::Aggressive {
                Flight::waiting(message, Some(d), now, &self.options)
            } else {
                Flight::answer(message, d, now, &self.options)
            })),
            half_open: true,
            rekey_of: None,
        };
        self.by_spi.insert(sa.spi_bytes(), id);
        self.responding.insert((sa.cky_i, remote), id);
        self.half_open_add(source);
        self.half_open_ids.insert(id);
        self.ike.insert(id, Box::new(sa));
        self.stats.phase1_started += 1;
        self.reschedule_ike(id);
    }

    /// An unencrypted error notification (NO-PROPOSAL-CHOSEN after a first message that
    /// found nothing acceptable): RFC 2408 §5 makes it optional; it saves the peer a timeout.
    fn notify_plain(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        cky_i: Cookie,
        cky_r: Cookie,
        notify: u16,
    ) {
        let n = Notification {
            doi: crate::wire::sa::DOI_IPSEC,
            protocol: ProtocolId::Isakmp,
            spi: &[],
            notify_type: notify.into(),
            data: std::borrow::Cow::Borrowed(&[]),
        };
        let header = phase1::protect::header(cky_i, cky_r, ExchangeType::Informational, 0);
        if let Ok(m) = phase1::protect::emit_plain(&header, &[Payload::Notification(n)]) {
            self.send(local, remote, &m);
        }
    }

    /// A fresh cookie, unused as ours.
    pub(super) fn new_cookie(&self) -> Result<Cookie, Reject> {
        for _ in 0..8 {
            let c: Cookie = self.random_bytes()?;
            if c != [0; 8] && !self.initiated.contains_key(&c) {
                return Ok(c);
            }
        }
        Err(Reject::Internal("cookie"))
    }

    /// Starts phase 1 with the session's peer (`rekey_of`: the SA it replaces).
    pub(super) fn connect(
        &mut self,
        now: Instant,
        pid: PeerId,
        rekey_of: Option<IkeId>,
    ) -> Result<IkeId, EngineError> {
        let config = Arc::clone(&self.config);
        let session = self
            .peers
            .get(&pid)
            .ok_or(EngineError::Internal(Reject::Internal("no session")))?;
        let peer = self.initiable_peer(&config, &session.name)?;
        let remote = SocketAddr::new(session.remote.ip(), peer.port);
        let local = SocketAddr::new(session.local.ip(), self.options.ike_port);
        let cky_i = self.new_cookie()?;
        let rng = Arc::clone(&self.rng);
        let credentials = Arc::clone(&self.credentials);
        let ctx = Ctx {
            credentials: &credentials,
            wall: self.wall_time(now),
            rng: rng.as_ref(),
            options: &self.options,
            config: &config,
            local,
            remote,
            cky_i,
            cky_r: [0; 8],
            initial_contact: false,
        };
        let (hs, exchange, message) = if peer.exchange_mode.is_main() {
            let (s, m) = main_mode::Initiator::start(&ctx, peer)?;
            (
                Handshake::MainInitiator(s),
                ExchangeType::IdentityProtection,
                m,
            )
        } else {
            let (s, m) = aggressive::Initiator::start(&ctx, peer)?;
            (
                Handshake::AggressiveInitiator(s),
                ExchangeType::Aggressive,
                m,
            )
        };
        let id = IkeId(self.next_id());
        self.send(local, remote, &message);
        let sa = IkeSa {
            role: Role::Initiator,
            exchange,
            cky_i,
            cky_r: [0; 8],
            local,
            remote,
            peer: Some(pid),
            created: now,
            negotiation_deadline: now + self.options.exchange_lifetime() * 2,
            state: IkeState::Negotiating(Box::new(hs)),
            flight: Some(Box::new(Flight::waiting(message, None, now, &self.options))),
            half_open: false,
            rekey_of,
        };
        self.initiated.insert(cky_i, id);
        self.ike.insert(id, Box::new(sa));
        if let Some(s) = self.peers.get_mut(&pid) {
            s.ike.insert(id);
        }
        self.stats.phase1_started += 1;
        self.reschedule_ike(id);
        Ok(id)
    }

    /// Starts phase 1 with `pid` unless one is up or under way.
    pub(super) fn ensure_phase1(&mut self, now: Instant, pid: PeerId) -> Result<(), EngineError> {
        if self.current_ike(pid).is_some() || self.negotiating_ike(pid).is_some() {
            return Ok(());
        }
        self.connect(now, pid, None).map(|_| ())
    }

    /// Phase 1 completed: the SA joins its peer session.
    fn establish(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        id: IkeId,
        mut sa: Box<IkeSa>,
        mut p1: Box<Phase1Sa>,
    ) {
        // Phase 1 is over: SKEYID keyed its HASH_I/HASH_R and SKEYID_e its encryption key
        // (RFC 2409 §5, Appendix B), and neither is used again (two keys and their
        // allocations per held tunnel).
        p1.keys.skeyids.skeyid = Secret::default();
        p1.keys.skeyids.skeyid_e = Secret::default();
        if sa.half_open {
            sa.half_open = false;
            self.half_open_remove(sa.remote.ip().to_canonical());
            self.half_open_ids.remove(&id);
        }
        if sa.role == Role::Responder {
            self.responding.remove(&(sa.cky_i, sa.remote));
            // The message authenticated: it may come from a new address (the initiator
            // floated to the NAT-T port, or its NAT mapping changed).
            sa.local = local;
            sa.remote = remote;
        }
        let pid = match sa.peer {
            Some(p) => p,
            None => self.responder_session(&p1.peer_name, sa.remote, sa.local),
        };
        sa.peer = Some(pid);
        let mut moved = false;
        if let Some(s) = self.peers.get_mut(&pid) {
            s.ike.insert(id);
            moved = s.remote.ip().to_canonical() != sa.remote.ip().to_canonical();
            s.remote = SocketAddr::new(sa.remote.ip(), s.remote.port());
            s.local = SocketAddr::new(sa.local.ip(), s.local.port());
            s.identity = p1.remote_id.clone();
        }
        if moved {
            self.index_session(pid, sa.remote.ip());
        }
        let initial_contact = p1.initial_contact;
        let lifetime = p1.lifetime;
        let rekey_at = (sa.role == Role::Initiator && self.can_initiate(pid)).then(|| {
            let left = self.options.rekey_margin + self.options.rekey_fuzz * self.random_fraction();
            now + lifetime.mul_f64(super::quick::rekey_fraction(left))
        });
        let keepalive_at = match (p1.nat, self.options.nat_keepalive) {
            (Some(n), Some(every))
                if n.local_behind && sa.local.port() == self.options.nat_t_port =>
            {
                Some(now + every)
            }
            _ => None,
        };
        // RFC 3706 §5.1: probe only a peer that announced DPD; a replaced SA is never probed.
        let dpd = self
            .config
            .peer(&p1.peer_name)
            .and_then(|p| p.dpd)
            .filter(|_| p1.peer_dpd)
            .map(|d| DpdProbe {
                interval: d.interval,
                maximum_failures: d.maximum_failures.max(1),
                last_heard: now,
                next_at: now + d.interval,
                seq: self
                    .random_bytes::<4>()
                    .map_or(1, |b| u32::from_be_bytes(b) & 0x7fff_ffff),
                unanswered: 0,
            });
        sa.state = IkeState::Established(Box::new(Established {
            sa: p1,
            since: now,
            heard_at: now,
            rekey_at,
            expires_at: now + lifetime.max(Duration::from_secs(1)),
            exchanges: Default::default(),
            recent_informational: VecDeque::new(),
            keepalive_at,
            replaced: false,
            dpd,
            stage: super::transaction::ConfigStage::none(),
        }));
        let spi = sa.spi();
        let (l, r) = (sa.local, sa.remote);
        let rekey_of = sa.rekey_of.take();
        self.ike.insert(id, sa);
        self.reschedule_ike(id);
        self.stats.phase1_established += 1;
        self.events.push_back(Event::IsakmpSaUp { peer: pid, spi });
        if let Some(s) = self.peers.get_mut(&pid)
            && !s.up
        {
            s.up = true;
            let name = s.name.clone();
            self.events.push_back(Event::PeerUp {
                peer: pid,
                name,
                local: l,
                remote: r,
            });
        }
        // A phase 1 rekey: the new SA takes over, the old one goes (IPsec SAs do not
        // depend on it).
        if let Some(old) = rekey_of
            && old != id
        {
            self.remove_ike(now, old, true);
            self.renegotiate_children(pid);
        }
        if initial_contact {
            self.initial_contact(now, pid, id);
        }
        // XAuth and mode-config first, if configured; then the quick modes waiting.
        self.begin_config_stage(now, id);
    }

    /// After a phase 1 rekey of ours, the session's IPsec SA pairs are negotiated again
    /// under the new ISAKMP SA once its XAuth and mode-config are done, as charon does for
    /// IKEv1 (it re-authenticates rather than rekeys). The peer may have lost them with the
    /// old ISAKMP SA (a restart that the rekey recovered from before DPD noticed: the old
    /// pairs would then carry nothing until their own rekey, up to a lifetime later), and
    /// after a new XAuth they belong to the new authentication. The old pairs go when
    /// their replacements are up, as in any rekey.
    fn renegotiate_children(&mut self, pid: PeerId) {
        let Some(s) = self.peers.get(&pid) else {
            return;
        };
        let ids: Vec<super::child::ChildId> = s.children.iter().copied().collect();
        let mut requests = Vec::new();
        for id in ids {
            if let Some(c) = self.children.get_mut(&id)
                && c.rekey == super::child::Rekey::Idle
            {
                c.rekey = super::child::Rekey::InProgress;
                requests.push(super::child::ChildRequest {
                    policy: c.policy,
                    selector: c.selector,
                    terms: c.terms.clone(),
                    rekey_of: Some(id),
                });
            }
        }
        if let Some(s) = self.peers.get_mut(&pid) {
            s.pending.extend(requests);
        }
    }

    /// The session of a peer that authenticated as responder.
    ///
    /// A site (a peer configured with a host address) has one session per address. Road
    /// warriors (a peer configured with a prefix) may be many behind one NAT, all with the
    /// same public address: each has its own session, told apart by port (the port its
    /// phase 1 came from, or that of any of its ISAKMP SAs, for rekeys after the float to
    /// the NAT-T port).
    fn responder_session(&mut self, name: &str, remote: SocketAddr, local: SocketAddr) -> PeerId {
        let per_port = self.config.peer(name).is_some_and(|p| !p.address.is_host());
        let found = self.sessions_at(remote.ip()).into_iter().find(|id| {
            self.peers.get(id).is_some_and(|s| {
                s.name == name
                    && (!per_port
                        || s.remote.port() == remote.port()
                        || s.ike
                            .iter()
                            .any(|i| self.ike.get(i).is_some_and(|sa| sa.remote == remote)))
            })
        });
        if let Some(id) = found {
            return id;
        }
        let port = match self.config.peer(name) {
            Some(p) if !per_port => p.port,
            _ => remote.port(),
        };
        let id = PeerId(self.next_id());
        self.peers.insert(
            id,
            Box::new(PeerSession::new(
                name.to_owned(),
                SocketAddr::new(remote.ip(), port),
                SocketAddr::new(local.ip(), self.options.ike_port),
            )),
        );
        self.index_session(id, remote.ip());
        id
    }

    /// INITIAL-CONTACT from `pid` over `except`: the peer restarted, everything else we hold
    /// with it is stale (RFC 2407 §4.6.3.3).
    pub(super) fn initial_contact(&mut self, now: Instant, pid: PeerId, except: IkeId) {
        let Some(s) = self.peers.get(&pid) else {
            return;
        };
        let children: Vec<_> = s.children.iter().copied().collect();
        let ikes: Vec<_> = s.ike.iter().copied().filter(|i| *i != except).collect();
        for c in children {
            self.remove_child(now, c, DeleteReason::InitialContact, false);
        }
        for i in ikes {
            self.remove_ike(now, i, false);
        }
        self.replace_same_identity(now, pid);
    }

    /// INITIAL-CONTACT from a road warrior with a certificate: another session of the same
    /// configured peer with the same identity is this client before it moved (new address
    /// or NAT mapping) or restarted; it goes at once. Only with certificates: a pre-shared
    /// key's identity may be a group's, shared by many clients (XAuth users are told apart
    /// by user name instead, in the `xauth` module).
    fn replace_same_identity(&mut self, now: Instant, pid: PeerId) {
        let Some(s) = self.peers.get(&pid) else {
            return;
        };
        let Some(identity) = s.identity.clone() else {
            return;
        };
        let name = s.name.clone();
        let per_client = self.config.peer(&name).is_some_and(|p| {
            !p.address.is_host() && p.auth_method == crate::config::AuthMethod::RsaSignature
        });
        if !per_client {
            return;
        }
        let stale: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(id, o)| {
                **id != pid && o.name == name && o.identity.as_ref() == Some(&identity)
            })
            .map(|(id, _)| *id)
            .collect();
        for old in stale {
            self.end_session(
                now,
                old,
                DeleteReason::InitialContact,
                DownReason::Terminated,
            );
        }
    }

    /// A phase 1 negotiation failed.
    pub(super) fn fail_phase1(&mut self, _now: Instant, id: IkeId, sa: Box<IkeSa>, reason: Reject) {
        self.unindex(id, &sa);
        if sa.half_open {
            self.half_open_remove(sa.remote.ip().to_canonical());
            self.half_open_ids.remove(&id);
        }
        self.schedule(TimerKey::Ike(id), None);
        self.stats.phase1_failed += 1;
        self.events.push_back(Event::NegotiationFailed {
            peer: sa.peer,
            remote: sa.remote,
            phase: Phase::One,
            reason,
        });
        if let Some(pid) = sa.peer {
            let failed = self.peers.get_mut(&pid).map(|s| {
                s.ike.remove(&id);
                if s.ike.is_empty() {
                    std::mem::take(&mut s.pending)
                } else {
                    Vec::new()
                }
            });
            for request in failed.unwrap_or_default() {
                self.quick_failed(_now, pid, sa.remote, &request, reason);
            }
            self.check_session(pid, DownReason::Phase1Failed);
        }
    }

    fn unindex(&mut self, id: IkeId, sa: &IkeSa) {
        if self.by_spi.get(&sa.spi_bytes()) == Some(&id) {
            self.by_spi.remove(&sa.spi_bytes());
        }
        if self.initiated.get(&sa.cky_i) == Some(&id) {
            self.initiated.remove(&sa.cky_i);
        }
        self.responding.retain(|_, v| *v != id);
        self.fragmenting.remove(&sa.cky_i);
    }

    /// Removes an ISAKMP SA (after a Delete from us if `notify` and it is established).
    /// Exchanges under it end; its IPsec SAs stay (they do not depend on it).
    pub(super) fn remove_ike(&mut self, now: Instant, id: IkeId, notify: bool) {
        if notify
            && self
                .ike
                .get(&id)
                .is_some_and(|sa| sa.established().is_some())
        {
            let _ = self.send_delete_isakmp(now, id);
        }
        let Some(sa) = self.ike.remove(&id) else {
            return;
        };
        self.unindex(id, &sa);
        if sa.half_open {
            self.half_open_remove(sa.remote.ip().to_canonical());
            self.half_open_ids.remove(&id);
        }
        self.schedule(TimerKey::Ike(id), None);
        let mut unfinished = Vec::new();
        if let IkeState::Established(e) = sa.state {
            for (_, x) in e.exchanges.into_iter() {
                if let Some(spi) = x.pending_spi() {
                    self.spis.release(spi);
                }
                match x {
                    super::ike::Exchange::QuickInitiator { request, .. } => {
                        unfinished.push(request)
                    }
                    super::ike::Exchange::QuickResponder { inbound, .. } => self.take_back(inbound),
                    super::ike::Exchange::Done { .. }
                    | super::ike::Exchange::Transaction { .. } => {}
                }
            }
            if let Some(pid) = sa.peer {
                self.events.push_back(Event::IsakmpSaDown {
                    peer: pid,
                    spi: IsakmpSpi {
                        initiator: sa.cky_i,
                        responder: sa.cky_r,
                    },
                });
            }
        }
        if let Some(pid) = sa.peer {
            // Quick modes that were running under it end with it (a rekey is retried).
            for request in unfinished {
                self.quick_failed(now, pid, sa.remote, &request, Reject::Timeout);
            }
            if let Some(s) = self.peers.get_mut(&pid) {
                s.ike.remove(&id);
            }
            self.check_session(pid, DownReason::NoSasLeft);
        }
    }

    /// Plain informational messages during phase 1: an error notification from the responder
    /// to our first message ends our negotiation early.
    pub(super) fn on_plain_informational(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        msg: &Message<'_>,
    ) {
        let h = &msg.header;
        let id = self
            .by_spi
            .get(&phase1::cookie_pair(
                &h.initiator_cookie,
                &h.responder_cookie,
            ))
            .or_else(|| self.initiated.get(&h.initiator_cookie))
            .copied();
        // Only while we wait for the first answer: a responder that refuses our proposal says
        // so then. Later, an unauthenticated notification could only be forged.
        let Some(id) = id.filter(|id| {
            self.ike.get(id).is_some_and(|sa| {
                sa.role == Role::Initiator
                    && sa.established().is_none()
                    && sa.flight.as_ref().is_some_and(|f| f.answers.is_none())
            })
        }) else {
            return self.reject(local, remote, Reject::UnexpectedMessage);
        };
        let error = msg.payloads().and_then(|chain| {
            chain.filter(PayloadType::Notification).find_map(|p| {
                Notification::parse(p.body())
                    .ok()
                    .filter(|n| n.notify_type.is_error())
                    .map(|n| n.notify_type.value())
            })
        });
        match error {
            Some(code) => {
                if let Some(sa) = self.ike.remove(&id) {
                    self.fail_phase1(now, id, sa, Reject::PeerError(code));
                }
            }
            None => self.reject(local, remote, Reject::UnexpectedMessage),
        }
    }
}

/// The error notification (RFC 2408 §3.14.1) a refused certificate or signature earns the
/// peer: INVALID-CERTIFICATE (17) for a certificate we cannot accept, AUTHENTICATION-FAILED
/// (24) for an ID its certificate does not carry, INVALID-SIGNATURE (25) for a SIG payload
/// that does not verify.
fn pki_notify(reason: Reject) -> Option<u16> {
    match reason {
        Reject::UnknownCa
        | Reject::CertificateExpired
        | Reject::CertificateRevoked
        | Reject::InvalidCertificate => Some(17),
        Reject::CertificateIdMismatch => Some(24),
        Reject::InvalidSignature => Some(25),
        _ => None,
    }
}

/// What a phase-1 message did to its SA.
enum Step {
    /// Still negotiating (or established and unchanged).
    Keep,
    /// Phase 1 completed.
    Established(Box<Phase1Sa>),
    /// The negotiation cannot go on.
    Failed(Reject),
}
