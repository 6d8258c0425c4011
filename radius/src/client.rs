//! The NAS side of RFC 2865/2866 as a sans-IO state machine: the driver hands it requests,
//! datagrams and the time, and sends what [`Client::poll_transmit`] gives.
//!
//! - Identifiers are kept per server and port; a retransmission resends the same octets (same
//!   Identifier and Request Authenticator, RFC 2865 §2.5, RFC 5080 §2.2.1).
//! - A request that `retries` retransmissions do not get answered moves to the next server
//!   (failover); the silent server is skipped for `hold_down` (RFC 5080 §2.2.1 calls this
//!   "dead" marking), then tried again.
//! - Access-Requests carry a Message-Authenticator (RFC 3579 §3.2, RFC 5080 §2.2.2); replies are
//!   checked against the Response Authenticator and, if present or required, the
//!   Message-Authenticator. A reply that does not check out is dropped and counted (RFC 2865
//!   §3: "silently discarded").
//! - Accounting is kept in order in a bounded buffer while no server answers and sent again
//!   with an updated Acct-Delay-Time (a new Identifier, since the content changed,
//!   RFC 2866 §5.2), so nothing is lost unless the buffer overflows (counted).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::attr::{self, Attribute};
use crate::crypto::{self, Seal, Verify};
use crate::packet::{Code, DecodeError, Packet};

/// One RADIUS server.
#[derive(Clone)]
pub struct ServerConfig {
    /// A name for logs and status.
    pub name: String,
    /// Authentication (Access-Request) address, if this server authenticates.
    pub auth: Option<SocketAddr>,
    /// Accounting address, if this server takes accounting.
    pub acct: Option<SocketAddr>,
    /// Shared secret.
    pub secret: Zeroizing<Vec<u8>>,
    /// How long to wait for a reply before retransmitting.
    pub timeout: Duration,
    /// Retransmissions before the next server is tried.
    pub retries: u32,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("name", &self.name)
            .field("auth", &self.auth)
            .field("acct", &self.acct)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .finish_non_exhaustive()
    }
}

/// Settings for all servers.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// A server that let a request time out is skipped this long.
    pub hold_down: Duration,
    /// The most accounting records kept (in flight and waiting).
    pub accounting_buffer: usize,
    /// Accounting records in flight at once.
    pub accounting_window: usize,
    /// Drop Access-Accept/Reject/Challenge without a Message-Authenticator (RFC 5080 §2.2.2
    /// and the 2024 "Blast-RADIUS" advice; servers older than that may not send one).
    pub require_message_authenticator: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            hold_down: Duration::from_secs(30),
            accounting_buffer: 10_000,
            accounting_window: 32,
            require_message_authenticator: false,
        }
    }
}

/// The user's password, as XAuth delivered it.
pub enum Password {
    /// Sent as User-Password, hidden with the secret (RFC 2865 §5.2).
    Pap(Zeroizing<Vec<u8>>),
    /// Sent as CHAP-Password over a fresh CHAP-Challenge (RFC 2865 §5.3).
    Chap(Zeroizing<Vec<u8>>),
}

/// Identifies a request across its retransmissions and failovers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

/// A datagram to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The server's address and port.
    pub to: SocketAddr,
    /// The packet.
    pub payload: Vec<u8>,
}

/// How an Access-Request ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccessOutcome {
    /// Access-Accept from the server with this index, with its attributes.
    Accept {
        server: usize,
        attributes: Vec<Attribute>,
    },
    /// Access-Reject.
    Reject {
        server: usize,
        attributes: Vec<Attribute>,
    },
    /// Access-Challenge: XAuth cannot carry one, the caller treats it as a reject.
    Challenge {
        server: usize,
        attributes: Vec<Attribute>,
    },
    /// No server answered.
    NoServer,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// An Access-Request's result.
    Access {
        id: RequestId,
        outcome: AccessOutcome,
    },
    /// An accounting record was acknowledged.
    Accounted { id: RequestId, server: usize },
    /// An accounting record was dropped because the buffer was full.
    AccountingDropped { id: RequestId },
    /// A server let a request time out; it is skipped for the hold-down time.
    ServerDead { server: usize },
    /// A server that was marked dead answered.
    ServerAlive { server: usize },
}

/// Why a received datagram was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("not a RADIUS packet: {0}")]
    Malformed(#[from] DecodeError),
    #[error("no outstanding request from that server with that Identifier")]
    UnknownIdentifier,
    #[error("code {0:?} does not answer the request")]
    WrongCode(Code),
    #[error("{0}")]
    Authenticator(#[from] crypto::AuthError),
}

/// Counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub access_requests: u64,
    pub access_accepts: u64,
    pub access_rejects: u64,
    pub access_challenges: u64,
    pub access_no_server: u64,
    pub accounting_requests: u64,
    pub accounting_responses: u64,
    pub accounting_dropped: u64,
    pub transmissions: u64,
    pub retransmissions: u64,
    pub failovers: u64,
    pub malformed: u64,
    pub unknown_identifier: u64,
    pub wrong_code: u64,
    pub bad_authenticator: u64,
    pub encode_errors: u64,
}

/// A server's state, for `iked status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerStatus {
    pub name: String,
    pub auth: Option<SocketAddr>,
    pub acct: Option<SocketAddr>,
    /// Skipped until this long from now.
    pub dead_for: Option<Duration>,
    pub sent: u64,
    pub answered: u64,
    pub timeouts: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Access,
    Accounting,
}

struct Server {
    config: ServerConfig,
    dead_until: Option<Instant>,
    next_identifier: [u8; 2],
    sent: u64,
    answered: u64,
    timeouts: u64,
}

impl Server {
    fn address(&self, kind: Kind) -> Option<SocketAddr> {
        match kind {
            Kind::Access => self.config.auth,
            Kind::Accounting => self.config.acct,
        }
    }
    fn alive(&self, now: Instant) -> bool {
        self.dead_until.is_none_or(|t| t <= now)
    }
}

/// Where a request is.
enum Stage {
    /// Waiting to be sent: in the accounting queue, or after a round in which no server
    /// answered (then not before `not_before`).
    Queued { not_before: Option<Instant> },
    /// Sent to `server`; retransmitted at `deadline` while `retransmits_left`.
    InFlight {
        server: usize,
        to: SocketAddr,
        identifier: u8,
        authenticator: [u8; 16],
        bytes: Vec<u8>,
        deadline: Instant,
        retransmits_left: u32,
    },
}

struct Request {
    kind: Kind,
    attributes: Vec<Attribute>,
    password: Option<Password>,
    created: Instant,
    /// Servers tried in this round (bit per server index).
    tried: u64,
    stage: Stage,
}

/// The most servers (the `tried` bitmask).
pub const MAX_SERVERS: usize = 64;

/// Fills a buffer with unpredictable bytes.
pub type Random = Box<dyn FnMut(&mut [u8]) + Send>;

/// The RADIUS client. See the module documentation.
pub struct Client {
    servers: Vec<Server>,
    options: ClientOptions,
    random: Random,
    requests: BTreeMap<RequestId, Request>,
    /// Outstanding (server address, Identifier) → request.
    identifiers: HashMap<(SocketAddr, u8), RequestId>,
    /// Accounting records in order (in flight and queued).
    accounting: VecDeque<RequestId>,
    next_id: u64,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    stats: Stats,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("servers", &self.servers.len())
            .field("requests", &self.requests.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for `servers` (tried in this order; at most [`MAX_SERVERS`]); `random` fills
    /// Request Authenticators and CHAP challenges (a CSPRNG: RFC 2865 §3 wants them
    /// unpredictable).
    pub fn new(servers: Vec<ServerConfig>, options: ClientOptions, random: Random) -> Client {
        let servers = servers
            .into_iter()
            .take(MAX_SERVERS)
            .map(|config| Server {
                config,
                dead_until: None,
                next_identifier: [0; 2],
                sent: 0,
                answered: 0,
                timeouts: 0,
            })
            .collect();
        Client {
            servers,
            options,
            random,
            requests: BTreeMap::new(),
            identifiers: HashMap::new(),
            accounting: VecDeque::new(),
            next_id: 1,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    /// Asks the servers about a user. `attributes` are everything but the password (User-Name,
    /// NAS-*, Calling-Station-Id, ...); the client adds User-Password or CHAP-Password and
    /// Message-Authenticator. The answer comes as [`Event::Access`].
    pub fn access(
        &mut self,
        now: Instant,
        attributes: Vec<Attribute>,
        password: Password,
    ) -> RequestId {
        self.stats.access_requests += 1;
        let id = self.new_request(now, Kind::Access, attributes, Some(password));
        self.dispatch(now, id);
        id
    }

    /// Sends an accounting record (without Acct-Delay-Time, which the client adds). It is
    /// kept until a server acknowledges it ([`Event::Accounted`]).
    pub fn accounting(&mut self, now: Instant, attributes: Vec<Attribute>) -> RequestId {
        self.stats.accounting_requests += 1;
        while self.accounting.len() >= self.options.accounting_buffer.max(1) {
            // The oldest record that is not in flight goes (or the oldest one).
            let pos = self
                .accounting
                .iter()
                .position(|id| {
                    self.requests
                        .get(id)
                        .is_some_and(|r| matches!(r.stage, Stage::Queued { .. }))
                })
                .unwrap_or(0);
            if let Some(old) = self.accounting.remove(pos) {
                self.forget(old);
                self.stats.accounting_dropped += 1;
                self.events.push_back(Event::AccountingDropped { id: old });
            }
        }
        let id = self.new_request(now, Kind::Accounting, attributes, None);
        self.accounting.push_back(id);
        self.pump_accounting(now);
        id
    }

    /// A datagram from `from`. Errors are counted; the caller only logs them.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &[u8],
    ) -> Result<(), ReplyError> {
        let r = self.reply(now, from, data);
        if let Err(e) = &r {
            match e {
                ReplyError::Malformed(_) => self.stats.malformed += 1,
                ReplyError::UnknownIdentifier => self.stats.unknown_identifier += 1,
                ReplyError::WrongCode(_) => self.stats.wrong_code += 1,
                ReplyError::Authenticator(_) => self.stats.bad_authenticator += 1,
            }
        }
        r
    }

    fn reply(&mut self, now: Instant, from: SocketAddr, data: &[u8]) -> Result<(), ReplyError> {
        let packet = Packet::decode(data)?;
        let id = *self
            .identifiers
            .get(&(from, packet.identifier))
            .ok_or(ReplyError::UnknownIdentifier)?;
        let request = self
            .requests
            .get(&id)
            .ok_or(ReplyError::UnknownIdentifier)?;
        let Stage::InFlight {
            server,
            authenticator,
            ..
        } = request.stage
        else {
            return Err(ReplyError::UnknownIdentifier);
        };
        let fits = match request.kind {
            Kind::Access => matches!(
                packet.code,
                Code::AccessAccept | Code::AccessReject | Code::AccessChallenge
            ),
            Kind::Accounting => packet.code == Code::AccountingResponse,
        };
        if !fits {
            return Err(ReplyError::WrongCode(packet.code));
        }
        let require = request.kind == Kind::Access && self.options.require_message_authenticator;
        let secret = &self.servers[server].config.secret;
        crypto::verify(data, secret, Verify::Response(authenticator), require)?;

        let kind = request.kind;
        self.forget(id);
        let s = &mut self.servers[server];
        s.answered += 1;
        if s.dead_until.take().is_some_and(|t| t > now) {
            self.events.push_back(Event::ServerAlive { server });
        }
        match kind {
            Kind::Access => {
                let attributes = packet.attributes;
                let outcome = match packet.code {
                    Code::AccessAccept => {
                        self.stats.access_accepts += 1;
                        AccessOutcome::Accept { server, attributes }
                    }
                    Code::AccessReject => {
                        self.stats.access_rejects += 1;
                        AccessOutcome::Reject { server, attributes }
                    }
                    _ => {
                        self.stats.access_challenges += 1;
                        AccessOutcome::Challenge { server, attributes }
                    }
                };
                self.events.push_back(Event::Access { id, outcome });
            }
            Kind::Accounting => {
                self.stats.accounting_responses += 1;
                self.accounting.retain(|a| *a != id);
                self.events.push_back(Event::Accounted { id, server });
                // A server answers again: what waited for it goes now.
                for r in self.requests.values_mut() {
                    if let Stage::Queued { not_before } = &mut r.stage {
                        *not_before = None;
                    }
                }
                self.pump_accounting(now);
            }
        }
        Ok(())
    }

    /// Retransmissions, failovers, accounting retries.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<RequestId> = self
            .requests
            .iter()
            .filter(|(_, r)| match r.stage {
                Stage::InFlight { deadline, .. } => deadline <= now,
                Stage::Queued { not_before } => not_before.is_some_and(|t| t <= now),
            })
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            let Some(r) = self.requests.get_mut(&id) else {
                continue;
            };
            match &mut r.stage {
                Stage::InFlight {
                    to,
                    bytes,
                    deadline,
                    retransmits_left,
                    server,
                    identifier,
                    ..
                } => {
                    if *retransmits_left > 0 {
                        *retransmits_left -= 1;
                        *deadline = now + self.servers[*server].config.timeout;
                        self.stats.retransmissions += 1;
                        self.stats.transmissions += 1;
                        self.servers[*server].sent += 1;
                        self.transmits.push_back(Transmit {
                            to: *to,
                            payload: bytes.clone(),
                        });
                        continue;
                    }
                    let (server, key) = (*server, (*to, *identifier));
                    r.stage = Stage::Queued { not_before: None };
                    self.identifiers.remove(&key);
                    let s = &mut self.servers[server];
                    s.timeouts += 1;
                    if s.alive(now) {
                        self.events.push_back(Event::ServerDead { server });
                    }
                    s.dead_until = Some(now + self.options.hold_down);
                    self.stats.failovers += 1;
                    self.dispatch(now, id);
                }
                Stage::Queued { not_before } => {
                    *not_before = None;
                    r.tried = 0;
                }
            }
        }
        self.pump_accounting(now);
    }

    /// When [`Client::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.requests
            .values()
            .filter_map(|r| match r.stage {
                Stage::InFlight { deadline, .. } => Some(deadline),
                Stage::Queued { not_before } => not_before,
            })
            .min()
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Accounting records not yet acknowledged.
    pub fn accounting_backlog(&self) -> usize {
        self.accounting.len()
    }

    /// Each server's state.
    pub fn servers(&self, now: Instant) -> Vec<ServerStatus> {
        self.servers
            .iter()
            .map(|s| ServerStatus {
                name: s.config.name.clone(),
                auth: s.config.auth,
                acct: s.config.acct,
                dead_for: s
                    .dead_until
                    .filter(|t| *t > now)
                    .map(|t| t.saturating_duration_since(now)),
                sent: s.sent,
                answered: s.answered,
                timeouts: s.timeouts,
            })
            .collect()
    }

    fn new_request(
        &mut self,
        now: Instant,
        kind: Kind,
        attributes: Vec<Attribute>,
        password: Option<Password>,
    ) -> RequestId {
        let id = RequestId(self.next_id);
        self.next_id += 1;
        self.requests.insert(
            id,
            Request {
                kind,
                attributes,
                password,
                created: now,
                tried: 0,
                stage: Stage::Queued { not_before: None },
            },
        );
        id
    }

    fn forget(&mut self, id: RequestId) {
        if let Some(Request {
            stage: Stage::InFlight { to, identifier, .. },
            ..
        }) = self.requests.remove(&id)
        {
            self.identifiers.remove(&(to, identifier));
        }
    }

    /// Sends queued accounting records, oldest first, up to the window.
    fn pump_accounting(&mut self, now: Instant) {
        let window = self.options.accounting_window.max(1);
        let mut in_flight = 0;
        let mut ready = Vec::new();
        for id in &self.accounting {
            match self.requests.get(id).map(|r| &r.stage) {
                Some(Stage::InFlight { .. }) => in_flight += 1,
                Some(Stage::Queued { not_before: None }) => ready.push(*id),
                // Waiting out a round without answers: keep the order behind it.
                Some(Stage::Queued { .. }) => break,
                None => {}
            }
        }
        for id in ready.into_iter().take(window.saturating_sub(in_flight)) {
            self.dispatch(now, id);
        }
    }

    /// Sends a queued request to the best server it has not tried in this round; when there
    /// is none, an Access-Request fails and accounting waits for the hold-down time.
    fn dispatch(&mut self, now: Instant, id: RequestId) {
        let Some(r) = self.requests.get(&id) else {
            return;
        };
        let kind = r.kind;
        let untried = |i: usize, s: &Server| r.tried & (1 << i) == 0 && s.address(kind).is_some();
        let choice = self
            .servers
            .iter()
            .enumerate()
            .find(|(i, s)| untried(*i, s) && s.alive(now))
            .or_else(|| {
                self.servers
                    .iter()
                    .enumerate()
                    .find(|(i, s)| untried(*i, s))
            })
            .map(|(i, _)| i);
        let Some(server) = choice else {
            self.round_failed(now, id);
            return;
        };
        let Some(to) = self.servers[server].address(kind) else {
            return;
        };
        let Some(identifier) = self.free_identifier(server, kind, to) else {
            // 256 requests outstanding to that port: try again shortly.
            if let Some(r) = self.requests.get_mut(&id) {
                r.stage = Stage::Queued {
                    not_before: Some(now + Duration::from_millis(50)),
                };
            }
            return;
        };
        let mut authenticator = [0u8; 16];
        (self.random)(&mut authenticator);
        let Some(r) = self.requests.get_mut(&id) else {
            return;
        };
        r.tried |= 1 << server;
        let secret = &self.servers[server].config.secret;
        let mut packet = Packet {
            code: match kind {
                Kind::Access => Code::AccessRequest,
                Kind::Accounting => Code::AccountingRequest,
            },
            identifier,
            authenticator: [0; 16],
            attributes: r.attributes.clone(),
        };
        let sealed = match kind {
            Kind::Access => {
                match &r.password {
                    Some(Password::Pap(p)) => packet.attributes.push(Attribute::bytes(
                        attr::USER_PASSWORD,
                        crypto::hide_password(p, secret, &authenticator),
                    )),
                    Some(Password::Chap(p)) => {
                        let mut challenge = [0u8; 16];
                        (self.random)(&mut challenge);
                        let ident = challenge[0];
                        packet.attributes.push(Attribute::bytes(
                            attr::CHAP_PASSWORD,
                            crypto::chap_password(ident, p, &challenge).to_vec(),
                        ));
                        packet
                            .attributes
                            .push(Attribute::bytes(attr::CHAP_CHALLENGE, challenge.to_vec()));
                    }
                    None => {}
                }
                crypto::seal(&packet, secret, Seal::AccessRequest(authenticator), true)
            }
            Kind::Accounting => {
                let delay = now.saturating_duration_since(r.created).as_secs();
                if delay > 0 {
                    packet.attributes.push(Attribute::u32(
                        attr::ACCT_DELAY_TIME,
                        u32::try_from(delay).unwrap_or(u32::MAX),
                    ));
                }
                crypto::seal(&packet, secret, Seal::Computed, false)
            }
        };
        let bytes = match sealed {
            Ok(b) => b,
            Err(_) => {
                // Too long for one packet: the caller's attributes cannot be sent anywhere.
                self.stats.encode_errors += 1;
                self.requests.remove(&id);
                match kind {
                    Kind::Access => self.events.push_back(Event::Access {
                        id,
                        outcome: AccessOutcome::NoServer,
                    }),
                    Kind::Accounting => {
                        self.accounting.retain(|a| *a != id);
                        self.events.push_back(Event::AccountingDropped { id });
                    }
                }
                return;
            }
        };
        let authenticator = match kind {
            Kind::Access => authenticator,
            // The computed Request Authenticator is what the reply's is made from.
            Kind::Accounting => bytes[4..20].try_into().unwrap_or([0; 16]),
        };
        let s = &mut self.servers[server];
        let timeout = s.config.timeout;
        let retransmits_left = s.config.retries;
        s.sent += 1;
        self.stats.transmissions += 1;
        self.identifiers.insert((to, identifier), id);
        self.transmits.push_back(Transmit {
            to,
            payload: bytes.clone(),
        });
        r.stage = Stage::InFlight {
            server,
            to,
            identifier,
            authenticator,
            bytes,
            deadline: now + timeout,
            retransmits_left,
        };
    }

    /// Every server had its chance in this round.
    fn round_failed(&mut self, now: Instant, id: RequestId) {
        let Some(r) = self.requests.get_mut(&id) else {
            return;
        };
        match r.kind {
            Kind::Access => {
                self.requests.remove(&id);
                self.stats.access_no_server += 1;
                self.events.push_back(Event::Access {
                    id,
                    outcome: AccessOutcome::NoServer,
                });
            }
            Kind::Accounting => {
                let wait = self.options.hold_down.max(Duration::from_secs(1));
                r.tried = 0;
                r.stage = Stage::Queued {
                    not_before: Some(now + wait),
                };
            }
        }
    }

    fn free_identifier(&mut self, server: usize, kind: Kind, to: SocketAddr) -> Option<u8> {
        let slot = match kind {
            Kind::Access => 0,
            Kind::Accounting => 1,
        };
        let start = self.servers[server].next_identifier[slot];
        for k in 0..=255u8 {
            let candidate = start.wrapping_add(k);
            if !self.identifiers.contains_key(&(to, candidate)) {
                self.servers[server].next_identifier[slot] = candidate.wrapping_add(1);
                return Some(candidate);
            }
        }
        None
    }
}
