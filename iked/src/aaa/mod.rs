//! RADIUS for the daemon (issue "7 · RADIUS"): XAuth users of the peers a `[[radius]]`
//! server serves are checked with it (RFC 2865), their sessions are accounted (RFC 2866),
//! and Disconnect/CoA requests (RFC 5176) end them or change their timeouts.
//!
//! [`Aaa`] holds no sockets: the daemon ([`net`]) moves its datagrams, feeds it the engine's
//! session events and the SA counters, and carries out its [`Action`]s. The protocol itself is
//! the `radius` crate's sans-IO client.
//!
//! Servers are grouped by the peers they serve: each group is one `radius::Client` (its own
//! socket, identifiers and failover order, file order).

mod das;
pub mod net;
mod session;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipsec_core::config::{IpPrefix, Snapshot};
use radius::attr::{self, AcctStatus, Attribute, TerminateCause};
use radius::client::{AccessOutcome, ServerStatus, Transmit};
use radius::{Client, ClientOptions, Event, Password, RequestId, ServerConfig};
use zeroize::Zeroizing;

use crate::driver::{SessionEnd, SessionEvent, XauthAnswer, XauthCheck};
use session::{Nas, Session, Totals};

/// What the daemon must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Answer an XAuth check.
    Verdict { request: u64, answer: XauthAnswer },
    /// End a session (Disconnect-Request, Session-Timeout, Idle-Timeout).
    Terminate { session: u64, why: String },
    /// Log at info level.
    Info(String),
    /// Log at warn level.
    Warn(String),
}

/// Servers serving the same peers.
struct Group {
    /// Indices into the configuration's `[[radius]]` list.
    servers: Vec<usize>,
    client: Client,
    accounting: bool,
}

struct PendingAuth {
    request: u64,
    check: XauthCheck,
}

/// Interim-Update intervals a server asks for are taken from this long up (RFC 2869 §5.16:
/// "SHOULD NOT be smaller than 60").
const MIN_SERVER_INTERIM: Duration = Duration::from_secs(60);

/// The daemon's RADIUS state. See the module documentation.
pub struct Aaa {
    config: Arc<Snapshot>,
    groups: Vec<Group>,
    /// Peer name → group.
    by_peer: HashMap<String, usize>,
    pending: HashMap<(usize, RequestId), PendingAuth>,
    /// Authenticated sessions (by the engine's session number).
    sessions: HashMap<u64, Session>,
    /// SPI → session.
    spis: HashMap<u32, u64>,
    /// Accepted, waiting for the engine to confirm the user (then a [`Session`]).
    nas: Nas,
    interim: Option<Duration>,
    das: das::Das,
    actions: Vec<Action>,
    /// Makes Acct-Session-Ids unique across restarts.
    boot: u32,
}

impl Aaa {
    /// RADIUS for `config`, or `None` when it has no enabled `[[radius]]`.
    pub fn new(config: Arc<Snapshot>) -> Option<Aaa> {
        if config.radius().is_empty() {
            return None;
        }
        let d = config.daemon();
        let options = ClientOptions {
            hold_down: d.radius_hold_down,
            accounting_buffer: d.radius_accounting_buffer,
            accounting_window: 32,
            require_message_authenticator: d.radius_require_message_authenticator,
        };
        let mut groups: Vec<Group> = Vec::new();
        let mut by_peer = HashMap::new();
        for peer in config.peers() {
            let servers: Vec<usize> = config
                .radius()
                .iter()
                .enumerate()
                .filter(|(_, r)| r.serves(&peer.name))
                .map(|(i, _)| i)
                .collect();
            if servers.is_empty() {
                continue;
            }
            let g = match groups.iter().position(|g| g.servers == servers) {
                Some(g) => g,
                None => {
                    let list = servers.iter().map(|&i| server_config(&config, i)).collect();
                    let accounting = servers
                        .iter()
                        .any(|&i| config.radius()[i].accounting_port != 0);
                    groups.push(Group {
                        servers,
                        client: Client::new(list, options.clone(), random()),
                        accounting,
                    });
                    groups.len() - 1
                }
            };
            by_peer.insert(peer.name.clone(), g);
        }
        let interim = Some(d.radius_interim_update).filter(|i| !i.is_zero());
        let boot = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |t| t.as_secs() as u32);
        Some(Aaa {
            nas: Nas {
                identifier: d.nas_identifier.clone(),
            },
            das: das::Das::new(&config),
            config,
            groups,
            by_peer,
            pending: HashMap::new(),
            sessions: HashMap::new(),
            spis: HashMap::new(),
            interim,
            actions: Vec::new(),
            boot,
        })
    }

    /// How many client sockets the daemon must open (one per group).
    pub fn groups(&self) -> usize {
        self.groups.len()
    }

    /// Whether Disconnect/CoA are taken, and on which port.
    pub fn incoming_port(&self) -> Option<u16> {
        self.das
            .enabled()
            .then_some(self.config.daemon().radius_incoming_port)
            .filter(|p| *p != 0)
    }

    /// The families the servers of group `g` use (the daemon opens a socket for each).
    pub fn families(&self, g: usize) -> (bool, bool) {
        let r = self.config.radius();
        let v4 = self.groups[g]
            .servers
            .iter()
            .any(|&i| r[i].address.is_ipv4());
        let v6 = self.groups[g]
            .servers
            .iter()
            .any(|&i| r[i].address.is_ipv6());
        (v4, v6)
    }

    /// An XAuth user to check. Peers no server serves are refused (the engine only asks
    /// for peers that have one, so this is a reload race).
    pub fn xauth_check(&mut self, now: Instant, check: XauthCheck) {
        let Some(&g) = self.by_peer.get(&check.peer) else {
            self.actions.push(Action::Warn(format!(
                "XAuth user {:?} of peer {:?}: no RADIUS server serves that peer; refused",
                check.user, check.peer
            )));
            self.actions.push(Action::Verdict {
                request: check.request,
                answer: XauthAnswer::default(),
            });
            return;
        };
        let mut attributes = session::identity(&check.user, &self.nas, check.local, check.remote);
        attributes.push(Attribute::bytes(
            attr::ACCT_SESSION_ID,
            self.session_id(check.session),
        ));
        let password = Password::Pap(Zeroizing::new(check.password.to_vec()));
        let id = self.groups[g].client.access(now, attributes, password);
        self.pending.insert(
            (g, id),
            PendingAuth {
                request: check.request,
                check,
            },
        );
    }

    fn session_id(&self, session: u64) -> String {
        format!("{:08X}-{:08X}", self.boot, session as u32)
    }

    /// The engine's news of a session.
    pub fn session_event(&mut self, now: Instant, ev: &SessionEvent) {
        match *ev {
            SessionEvent::User { .. } => {}
            SessionEvent::Address { session, address } => {
                if let Some(s) = self.sessions.get_mut(&session) {
                    s.address = Some(address);
                }
            }
            SessionEvent::Down { session, end } => {
                let Some(s) = self.sessions.remove(&session) else {
                    return;
                };
                for spi in s.sas.keys() {
                    self.spis.remove(spi);
                }
                if s.started.is_some() {
                    let cause = s.ending.unwrap_or(match end {
                        SessionEnd::SasGone => TerminateCause::UserRequest,
                        SessionEnd::Terminated => TerminateCause::AdminReset,
                        SessionEnd::DeadPeer => TerminateCause::LostCarrier,
                        SessionEnd::Failed => TerminateCause::LostService,
                    });
                    let record = s.record(now, AcctStatus::Stop, &self.nas, Some(cause));
                    self.account(now, s.group, record);
                    self.actions.push(Action::Info(format!(
                        "RADIUS accounting Stop for {:?} (session {}, {cause:?})",
                        s.user, s.id
                    )));
                }
            }
        }
    }

    /// An SA of `session` was installed: the first one starts accounting.
    pub fn sa_installed(&mut self, now: Instant, session: u64, spi: u32, inbound: bool) {
        let Some(s) = self.sessions.get_mut(&session) else {
            return;
        };
        s.sas.insert(spi, (inbound, Totals::default()));
        self.spis.insert(spi, session);
        if s.started.is_some() {
            return;
        }
        s.started = Some(now);
        s.last_activity = now;
        s.next_interim = s.interim.map(|i| now + i);
        let record = s.record(now, AcctStatus::Start, &self.nas, None);
        let (g, user, id) = (s.group, s.user.clone(), s.id.clone());
        self.account(now, g, record);
        self.actions.push(Action::Info(format!(
            "RADIUS accounting Start for {user:?} (session {id})"
        )));
    }

    /// Whether the SA with this SPI is accounted (its counters are wanted before it goes).
    pub fn tracks(&self, spi: u32) -> bool {
        self.spis.contains_key(&spi)
    }

    /// An SA is gone; its last counters (from [`Aaa::counters`]) stay in the totals.
    pub fn sa_deleted(&mut self, spi: u32) {
        if let Some(session) = self.spis.remove(&spi)
            && let Some(s) = self.sessions.get_mut(&session)
        {
            s.sa_deleted(spi);
        }
    }

    /// The SAs' counters: (SPI, octets, packets). Also ends idle sessions.
    pub fn counters(&mut self, now: Instant, rows: &[(u32, u64, u64)]) {
        for &(spi, octets, packets) in rows {
            let Some(session) = self.spis.get(&spi) else {
                continue;
            };
            let Some(s) = self.sessions.get_mut(session) else {
                continue;
            };
            if let Some((inbound, t)) = s.sas.get_mut(&spi) {
                if *inbound && packets > t.packets {
                    s.last_activity = now;
                }
                *t = Totals { octets, packets };
            }
        }
        let idle: Vec<u64> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.ending.is_none())
            .filter(|(_, s)| {
                s.idle_timeout
                    .is_some_and(|i| now.saturating_duration_since(s.last_activity) >= i)
            })
            .map(|(k, _)| *k)
            .collect();
        for k in idle {
            self.end(k, TerminateCause::IdleTimeout, "Idle-Timeout");
        }
    }

    /// Whether an Interim-Update is due by `now` (the daemon reads the counters first).
    pub fn interim_due(&self, now: Instant) -> bool {
        self.sessions
            .values()
            .any(|s| s.next_interim.is_some_and(|t| t <= now))
    }

    /// Retransmissions, failovers, Interim-Updates, Session-Timeouts.
    pub fn handle_timeout(&mut self, now: Instant) {
        for g in &mut self.groups {
            g.client.handle_timeout(now);
        }
        let mut due = Vec::new();
        for (k, s) in &mut self.sessions {
            if let Some(t) = s.next_interim.filter(|t| *t <= now) {
                let every = s.interim.unwrap_or(Duration::from_secs(600));
                // Skip missed slots rather than sending a burst.
                let mut next = t + every;
                while next <= now {
                    next += every;
                }
                s.next_interim = Some(next);
                due.push((
                    s.group,
                    s.record(now, AcctStatus::InterimUpdate, &self.nas, None),
                ));
            }
            if s.ending.is_none() && s.deadline.is_some_and(|d| d <= now) {
                s.ending = Some(TerminateCause::SessionTimeout);
                self.actions.push(Action::Terminate {
                    session: *k,
                    why: format!("Session-Timeout of {:?} (session {})", s.user, s.id),
                });
            }
        }
        for (g, record) in due {
            self.account(now, g, record);
        }
        self.collect(now);
    }

    /// When [`Aaa::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let clients = self.groups.iter().filter_map(|g| g.client.poll_timeout());
        let sessions = self.sessions.values().flat_map(|s| {
            [s.next_interim, s.deadline.filter(|_| s.ending.is_none())]
                .into_iter()
                .flatten()
        });
        clients.chain(sessions).min()
    }

    /// A datagram on group `g`'s socket.
    pub fn handle_reply(&mut self, now: Instant, g: usize, from: SocketAddr, data: &[u8]) {
        let Some(group) = self.groups.get_mut(g) else {
            return;
        };
        if let Err(e) = group.client.handle_datagram(now, from, data) {
            self.actions.push(Action::Warn(format!(
                "RADIUS datagram from {from} dropped: {e}"
            )));
        }
        self.collect(now);
    }

    /// A datagram on the dynamic authorization port; the answer to send back, if any.
    pub fn handle_incoming(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &[u8],
    ) -> Option<Vec<u8>> {
        let answer = das::handle(self, now, from, data);
        self.collect(now);
        answer
    }

    /// The next datagram for group `g`'s socket.
    pub fn poll_transmit(&mut self, g: usize) -> Option<Transmit> {
        self.groups.get_mut(g)?.client.poll_transmit()
    }

    /// What the daemon must do, in order.
    pub fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    /// Accounting records not yet acknowledged, over all groups.
    pub fn backlog(&self) -> usize {
        self.groups
            .iter()
            .map(|g| g.client.accounting_backlog())
            .sum()
    }

    /// For `iked status`.
    pub fn status(&self, now: Instant) -> Vec<RadiusRow> {
        let mut rows: Vec<RadiusRow> = Vec::new();
        for g in &self.groups {
            for (st, &i) in g.client.servers(now).into_iter().zip(&g.servers) {
                let r = &self.config.radius()[i];
                let ServerStatus {
                    dead_for,
                    sent,
                    answered,
                    timeouts,
                    ..
                } = st;
                match rows.iter_mut().find(|row| row.index == i) {
                    Some(row) => {
                        row.sent += sent;
                        row.answered += answered;
                        row.timeouts += timeouts;
                    }
                    None => rows.push(RadiusRow {
                        index: i,
                        address: r.address.to_string(),
                        authentication_port: r.authentication_port,
                        accounting_port: r.accounting_port,
                        incoming: r.incoming,
                        peers: if r.peers.is_empty() {
                            "all".into()
                        } else {
                            r.peers.join(",")
                        },
                        state: match dead_for {
                            Some(d) => format!("no answer, skipped for {}s", d.as_secs()),
                            None => "up".into(),
                        },
                        sent,
                        answered,
                        timeouts,
                    }),
                }
            }
        }
        rows.sort_by_key(|r| r.index);
        rows
    }

    /// Counters for `iked stats`: the clients' and the dynamic authorization server's.
    pub fn stats(&self) -> Vec<(String, u64)> {
        let mut total = radius::client::Stats::default();
        for g in &self.groups {
            let s = g.client.stats();
            total.access_requests += s.access_requests;
            total.access_accepts += s.access_accepts;
            total.access_rejects += s.access_rejects;
            total.access_challenges += s.access_challenges;
            total.access_no_server += s.access_no_server;
            total.accounting_requests += s.accounting_requests;
            total.accounting_responses += s.accounting_responses;
            total.accounting_dropped += s.accounting_dropped;
            total.retransmissions += s.retransmissions;
            total.failovers += s.failovers;
            total.malformed += s.malformed;
            total.unknown_identifier += s.unknown_identifier;
            total.wrong_code += s.wrong_code;
            total.bad_authenticator += s.bad_authenticator;
        }
        let d = self.das.stats();
        vec![
            ("radius-access-requests".into(), total.access_requests),
            ("radius-access-accepts".into(), total.access_accepts),
            ("radius-access-rejects".into(), total.access_rejects),
            ("radius-access-challenges".into(), total.access_challenges),
            ("radius-access-no-server".into(), total.access_no_server),
            (
                "radius-accounting-requests".into(),
                total.accounting_requests,
            ),
            (
                "radius-accounting-responses".into(),
                total.accounting_responses,
            ),
            ("radius-accounting-dropped".into(), total.accounting_dropped),
            ("radius-accounting-backlog".into(), self.backlog() as u64),
            ("radius-retransmissions".into(), total.retransmissions),
            ("radius-failovers".into(), total.failovers),
            ("radius-rejected: malformed".into(), total.malformed),
            (
                "radius-rejected: unknown identifier".into(),
                total.unknown_identifier,
            ),
            ("radius-rejected: wrong code".into(), total.wrong_code),
            (
                "radius-rejected: bad authenticator".into(),
                total.bad_authenticator,
            ),
            ("radius-disconnect-requests".into(), d.disconnect_requests),
            ("radius-coa-requests".into(), d.coa_requests),
            ("radius-das-acks".into(), d.acks),
            ("radius-das-naks".into(), d.naks),
            (
                "radius-das-rejected: unknown client".into(),
                d.unknown_client,
            ),
            (
                "radius-das-rejected: bad authenticator".into(),
                d.bad_authenticator,
            ),
            (
                "radius-das-rejected: malformed".into(),
                d.malformed + d.wrong_code,
            ),
            ("radius-sessions".into(), self.sessions.len() as u64),
        ]
    }

    fn account(&mut self, now: Instant, g: usize, record: Vec<Attribute>) {
        if let Some(group) = self.groups.get_mut(g)
            && group.accounting
        {
            group.client.accounting(now, record);
        }
    }

    /// Ends session `k` for `cause` (a Terminate action; Stop follows with the engine's
    /// session end).
    fn end(&mut self, k: u64, cause: TerminateCause, what: &str) {
        if let Some(s) = self.sessions.get_mut(&k) {
            s.ending = Some(cause);
            self.actions.push(Action::Terminate {
                session: k,
                why: format!("{what} of {:?} (session {})", s.user, s.id),
            });
        }
    }

    /// The clients' events: verdicts and server state.
    fn collect(&mut self, now: Instant) {
        for g in 0..self.groups.len() {
            while let Some(ev) = self.groups[g].client.poll_event() {
                self.client_event(now, g, ev);
            }
        }
    }

    fn client_event(&mut self, now: Instant, g: usize, ev: Event) {
        let server_name = |this: &Self, s: usize| {
            this.groups[g]
                .servers
                .get(s)
                .map(|&i| this.config.radius()[i].address.to_string())
                .unwrap_or_default()
        };
        match ev {
            Event::Access { id, outcome } => {
                let Some(p) = self.pending.remove(&(g, id)) else {
                    return;
                };
                let user = p.check.user.clone();
                let answer = match outcome {
                    AccessOutcome::Accept { server, attributes } => {
                        let answer = self.accepted(now, g, p.check, &attributes);
                        self.actions.push(Action::Info(format!(
                            "RADIUS Access-Accept for {user:?} from {}{}",
                            server_name(self, server),
                            answer
                                .address
                                .map(|a| format!(", Framed-IP-Address {a}"))
                                .unwrap_or_default()
                        )));
                        answer
                    }
                    AccessOutcome::Reject { server, .. }
                    | AccessOutcome::Challenge { server, .. } => {
                        self.actions.push(Action::Warn(format!(
                            "RADIUS Access-Reject for {user:?} from {}",
                            server_name(self, server)
                        )));
                        XauthAnswer::default()
                    }
                    AccessOutcome::NoServer => {
                        self.actions.push(Action::Warn(format!(
                            "RADIUS: no server answered for {user:?}; XAuth refused"
                        )));
                        XauthAnswer::default()
                    }
                };
                self.actions.push(Action::Verdict {
                    request: p.request,
                    answer,
                });
            }
            Event::Accounted { .. } => {}
            Event::AccountingDropped { .. } => self.actions.push(Action::Warn(
                "RADIUS accounting buffer full: the oldest record was dropped".into(),
            )),
            Event::ServerDead { server } => self.actions.push(Action::Warn(format!(
                "RADIUS server {} does not answer; trying the next one",
                server_name(self, server)
            ))),
            Event::ServerAlive { server } => self.actions.push(Action::Info(format!(
                "RADIUS server {} answers again",
                server_name(self, server)
            ))),
        }
    }

    /// An Access-Accept: the session and what the engine applies.
    fn accepted(
        &mut self,
        now: Instant,
        g: usize,
        check: XauthCheck,
        reply: &[Attribute],
    ) -> XauthAnswer {
        let get = |ty| reply.iter().find(|a| a.ty == ty);
        let address = get(attr::FRAMED_IP_ADDRESS)
            .and_then(Attribute::as_ipv4)
            // 255.255.255.254: "let the NAS choose"; 255.255.255.255: "the user chooses"
            // (RFC 2865 §5.8): both mean the pool here.
            .filter(|a| a.octets()[..3] != [255, 255, 255])
            .map(IpAddr::V4);
        let prefix_len = get(attr::FRAMED_IP_NETMASK)
            .and_then(Attribute::as_ipv4)
            .map(|m| u32::from(m).leading_ones() as u8);
        let routes: Vec<IpPrefix> = reply
            .iter()
            .filter(|a| a.ty == attr::FRAMED_ROUTE)
            .filter_map(|a| a.as_str().and_then(framed_route))
            .collect();
        let secs = |ty| get(ty).and_then(Attribute::as_u32).filter(|v| *v > 0);
        let interim = secs(attr::ACCT_INTERIM_INTERVAL)
            .map(|v| Duration::from_secs(v.into()).max(MIN_SERVER_INTERIM))
            .or(self.interim);
        let session = Session {
            group: g,
            user: check.user.clone(),
            local: check.local,
            remote: check.remote,
            id: self.session_id(check.session),
            class: reply
                .iter()
                .filter(|a| a.ty == attr::CLASS)
                .map(|a| a.value.clone())
                .collect(),
            address,
            authenticated: now,
            deadline: secs(attr::SESSION_TIMEOUT).map(|v| now + Duration::from_secs(v.into())),
            idle_timeout: secs(attr::IDLE_TIMEOUT).map(|v| Duration::from_secs(v.into())),
            interim,
            started: None,
            next_interim: None,
            sas: HashMap::new(),
            closed_in: Totals::default(),
            closed_out: Totals::default(),
            last_activity: now,
            ending: None,
        };
        // A re-authentication in the same session replaces it (its SAs stay counted).
        if let Some(old) = self.sessions.insert(check.session, session)
            && let Some(new) = self.sessions.get_mut(&check.session)
        {
            new.sas = old.sas;
            new.started = old.started;
            new.next_interim = old.next_interim;
            new.closed_in = old.closed_in;
            new.closed_out = old.closed_out;
        }
        XauthAnswer {
            accept: true,
            address,
            prefix_len,
            routes,
        }
    }
}

/// One server in `iked status`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RadiusRow {
    /// Position among the `[[radius]]` servers.
    pub index: usize,
    pub address: String,
    pub authentication_port: u16,
    pub accounting_port: u16,
    pub incoming: bool,
    /// The peers it serves.
    pub peers: String,
    /// `up`, or how long it is skipped.
    pub state: String,
    pub sent: u64,
    pub answered: u64,
    pub timeouts: u64,
}

/// Framed-Route (RFC 2865 §5.22): "prefix[/len] gateway metrics"; the prefix is what counts
/// here (the route goes through the tunnel). Without a length, a host route.
fn framed_route(text: &str) -> Option<IpPrefix> {
    let first = text.split_whitespace().next()?;
    if first.contains('/') {
        return first.parse().ok();
    }
    let ip: IpAddr = first.parse().ok()?;
    IpPrefix::new(ip, if ip.is_ipv4() { 32 } else { 128 })
}

fn server_config(config: &Snapshot, i: usize) -> ServerConfig {
    let r = &config.radius()[i];
    let port = |p: u16| (p != 0).then(|| SocketAddr::new(r.address, p));
    ServerConfig {
        name: r.address.to_string(),
        auth: port(r.authentication_port),
        acct: port(r.accounting_port),
        secret: Zeroizing::new(r.secret.as_bytes().to_vec()),
        timeout: r.timeout,
        retries: r.retries,
    }
}

/// Request Authenticators and CHAP challenges from the system's CSPRNG.
fn random() -> radius::client::Random {
    use ring::rand::SecureRandom;
    let rng = ring::rand::SystemRandom::new();
    Box::new(move |buf: &mut [u8]| {
        // The system RNG does not fail on Linux once booted; zeros would only weaken
        // User-Password hiding, so say it loudly.
        if rng.fill(buf).is_err() {
            tracing::error!("system random generator failed");
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framed_routes_in_both_forms() {
        assert_eq!(
            framed_route("198.19.65.0/24 0.0.0.0 1"),
            "198.19.65.0/24".parse().ok()
        );
        assert_eq!(framed_route("198.19.65.7"), "198.19.65.7/32".parse().ok());
        assert_eq!(framed_route("nonsense"), None);
    }
}
