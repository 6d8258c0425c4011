//! The engine's record of one ISAKMP SA (half-open or established) and of the exchanges that
//! run under it, with what reliability needs: our last message, the digest of the peer
//! message it answers, and the retransmission schedule.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use crate::phase1::{Handshake, Phase1Sa};
use crate::phase2::quick_mode;
use crate::wire::{Cookie, ExchangeType};

use super::child::ChildRequest;
use super::event::{IsakmpSpi, PeerId};
use super::options::EngineOptions;

/// Engine-internal handle of an ISAKMP SA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct IkeId(pub u64);

/// Which side started the exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// We sent the first message.
    Initiator,
    /// The peer did.
    Responder,
}

/// SHA-256 of a received message: what retransmission detection compares.
///
/// Truncated to 128 bits: it only tells a retransmission from another message (a collision
/// an attacker could aim for would earn them a reply they could have replayed anyway), and
/// every finished exchange of every held tunnel keeps one for a minute.
pub(crate) type Digest = [u8; 16];

pub(crate) fn digest(bytes: &[u8]) -> Digest {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 16];
    out.copy_from_slice(&d.as_ref()[..16]);
    out
}

/// Our last message of an exchange.
pub(crate) struct Flight {
    /// The ISAKMP message (without the non-ESP marker).
    pub message: Vec<u8>,
    /// The digest of the peer's message it answers: when that message comes again, this one
    /// is sent again.
    pub answers: Option<Digest>,
    /// Whether we wait for a further message and retransmit meanwhile. If not, the flight is
    /// only kept to answer retransmissions until `next_at`.
    pub retransmit: bool,
    /// Transmissions so far (1 after the first sending).
    pub sent: u32,
    /// The next retransmission, or when an exhausted or final flight expires.
    pub next_at: Instant,
}

impl Flight {
    /// A flight just sent that waits for an answer.
    pub fn waiting(
        message: Vec<u8>,
        answers: Option<Digest>,
        now: Instant,
        o: &EngineOptions,
    ) -> Self {
        Flight {
            message,
            answers,
            retransmit: true,
            sent: 1,
            next_at: now + o.retransmit_interval(1),
        }
    }

    /// An answer that is not retransmitted: sent again only when the message it answers
    /// comes again (the main-mode responder's MM2 and MM4: the initiator's retransmissions
    /// drive the exchange, and a spoofed MM1 gets one datagram back, not six).
    pub fn answer(message: Vec<u8>, answers: Digest, now: Instant, o: &EngineOptions) -> Self {
        Flight::last(message, answers, now, o)
    }

    /// A final message, kept to answer retransmissions of the message it answers.
    pub fn last(message: Vec<u8>, answers: Digest, now: Instant, o: &EngineOptions) -> Self {
        Flight {
            message,
            answers: Some(answers),
            retransmit: false,
            sent: 1,
            next_at: now + o.exchange_lifetime(),
        }
    }

    /// Whether the retransmissions are used up (the exchange failed once `next_at` passes).
    pub fn exhausted(&self, o: &EngineOptions) -> bool {
        self.sent > o.retransmit_tries
    }
}

/// One exchange under an established ISAKMP SA, by message ID.
///
/// The running variants box their bulk so that the enum is the size of `Done`, which every
/// tunnel keeps two to four of for a minute after setting up (boxed, an exchange is 80
/// bytes rather than 312).
pub(crate) enum Exchange {
    /// A quick mode we started, QM1 sent.
    QuickInitiator {
        qm: Box<quick_mode::Initiator>,
        request: Box<ChildRequest>,
        flight: Box<Flight>,
    },
    /// A quick mode the peer started, QM2 sent, our inbound SA installed.
    QuickResponder {
        qm: Box<quick_mode::Responder>,
        request: Box<ChildRequest>,
        flight: Box<Flight>,
        /// How to take the inbound SA back should QM3 never come.
        inbound: Option<Box<super::event::DeleteSa>>,
    },
    /// A transaction exchange we started (XAuth or mode-config), waiting for its answer.
    Transaction {
        kind: super::transaction::TxKind,
        identifier: u16,
        flight: Box<Flight>,
    },
    /// A finished exchange, kept until `expires` to recognise (and answer) retransmissions.
    Done {
        answers: Digest,
        reply: Option<Box<[u8]>>,
        expires: Instant,
    },
}

impl Exchange {
    /// The inbound SPI an unfinished quick mode holds.
    pub fn pending_spi(&self) -> Option<u32> {
        match self {
            Exchange::QuickInitiator { qm, .. } => Some(qm.our_spi()),
            Exchange::QuickResponder { qm, .. } => Some(qm.our_spi()),
            Exchange::Done { .. } | Exchange::Transaction { .. } => None,
        }
    }

    /// When this exchange needs attention.
    pub fn deadline(&self) -> Instant {
        match self {
            Exchange::QuickInitiator { flight, .. }
            | Exchange::QuickResponder { flight, .. }
            | Exchange::Transaction { flight, .. } => flight.next_at,
            Exchange::Done { expires, .. } => *expires,
        }
    }
}

/// An established ISAKMP SA.
pub(crate) struct Established {
    /// Keys, IVs, NAT state.
    pub sa: Box<Phase1Sa>,
    /// When it was established.
    pub since: Instant,
    /// The last authenticated message from the peer (or the establishment).
    pub heard_at: Instant,
    /// When to start its replacement (only where we may initiate).
    pub rekey_at: Option<Instant>,
    /// When it is deleted.
    pub expires_at: Instant,
    /// Exchanges by message ID.
    pub exchanges: super::exchanges::Exchanges,
    /// Message IDs of recent informational exchanges (replay/duplicate detection).
    pub recent_informational: VecDeque<u32>,
    /// The next NAT-keepalive, when we are behind a NAT.
    pub keepalive_at: Option<Instant>,
    /// A newer SA replaced this one; it is deleted at `expires_at` (set short).
    pub replaced: bool,
    /// Dead peer detection, when configured and the peer announced it.
    pub dpd: Option<DpdProbe>,
    /// XAuth and mode-config, before quick mode.
    pub stage: super::transaction::ConfigStage,
}

/// Dead peer detection (RFC 3706) on one ISAKMP SA: after `interval` without a word from
/// the peer, an R-U-THERE every `interval`; `maximum_failures` of them unanswered and the
/// peer is dead. "A word" is any authenticated message under this SA, so a peer busy with
/// quick modes or informationals is never probed.
pub(crate) struct DpdProbe {
    /// Silence before the first probe, and the spacing of probes.
    pub interval: std::time::Duration,
    /// Unanswered probes that make the peer dead.
    pub maximum_failures: u32,
    /// The last authenticated message from the peer (or the SA's establishment).
    pub last_heard: Instant,
    /// The next check.
    pub next_at: Instant,
    /// The sequence number of our last R-U-THERE (RFC 3706 §7: starts random).
    pub seq: u32,
    /// Probes sent since the peer was last heard.
    pub unanswered: u32,
}

impl DpdProbe {
    /// The peer said something authenticated.
    pub fn heard(&mut self, now: Instant) {
        self.last_heard = now;
        self.unanswered = 0;
        self.next_at = now + self.interval;
    }
}

/// What an ISAKMP SA is doing.
pub(crate) enum IkeState {
    /// Phase 1 in progress.
    Negotiating(Box<Handshake>),
    /// Phase 1 done.
    Established(Box<Established>),
}

/// One ISAKMP SA.
pub(crate) struct IkeSa {
    /// Who initiated phase 1.
    pub role: Role,
    /// Main or aggressive mode.
    pub exchange: ExchangeType,
    /// CKY-I.
    pub cky_i: Cookie,
    /// CKY-R (zero until known).
    pub cky_r: Cookie,
    /// Our address and port (port 4500 after floating).
    pub local: SocketAddr,
    /// The peer's.
    pub remote: SocketAddr,
    /// The peer session, once the peer is known (initiator: from the start).
    pub peer: Option<PeerId>,
    /// When the negotiation started.
    pub created: Instant,
    /// The negotiation must be over by then.
    pub negotiation_deadline: Instant,
    /// Phase 1 state.
    pub state: IkeState,
    /// Our last phase-1 message.
    pub flight: Option<Box<Flight>>,
    /// Counted among half-open negotiations.
    pub half_open: bool,
    /// The ISAKMP SA this one replaces (a phase 1 rekey we started).
    pub rekey_of: Option<IkeId>,
}

impl IkeSa {
    /// Its cookies.
    pub fn spi(&self) -> IsakmpSpi {
        IsakmpSpi {
            initiator: self.cky_i,
            responder: self.cky_r,
        }
    }

    /// CKY-I | CKY-R.
    pub fn spi_bytes(&self) -> [u8; 16] {
        crate::phase1::cookie_pair(&self.cky_i, &self.cky_r)
    }

    /// The established state, if any.
    pub fn established(&self) -> Option<&Established> {
        match &self.state {
            IkeState::Established(e) => Some(e),
            IkeState::Negotiating(_) => None,
        }
    }

    /// The established state, mutably.
    pub fn established_mut(&mut self) -> Option<&mut Established> {
        match &mut self.state {
            IkeState::Established(e) => Some(e),
            IkeState::Negotiating(_) => None,
        }
    }

    /// The earliest time this SA needs attention.
    /// An authenticated message from the peer arrived (dead peer detection).
    pub fn heard_from(&mut self, now: Instant) {
        if let Some(e) = self.established_mut() {
            e.heard_at = now;
            if let Some(d) = e.dpd.as_mut() {
                d.heard(now);
            }
        }
    }

    pub fn deadline(&self) -> Option<Instant> {
        let mut at = self.flight.as_ref().map(|f| f.next_at);
        let mut add = |t: Option<Instant>| {
            if let Some(t) = t {
                at = Some(at.map_or(t, |a| a.min(t)));
            }
        };
        match &self.state {
            IkeState::Negotiating(_) => add(Some(self.negotiation_deadline)),
            IkeState::Established(e) => {
                add(e.rekey_at);
                add(Some(e.expires_at));
                add(e.keepalive_at);
                add(e.dpd.as_ref().map(|d| d.next_at));
                add(e.stage.deadline);
                add(e.exchanges.values().map(Exchange::deadline).min());
            }
        }
        at
    }
}
