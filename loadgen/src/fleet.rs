//! The clients: one `ipsec_core` engine per simulated road warrior, each with its own source
//! address, all driven by one thread over two sockets ([`net::AnySocket`]).
//!
//! A client starts when the schedule says (a fixed rate, or as fast as the in-flight cap
//! allows), counts as up when both directions of its IPsec SA are installed, and, with
//! `reconnect`, starts again a little later when its attempt fails or its tunnel goes down
//! (DPD noticing a restarted server). One binary heap orders every client's next wake-up
//! (engine timer, retry, attempt deadline), so a step costs O(log n) for 100,000 clients.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipsec_core::config::Config;
use ipsec_core::engine::{DeleteReason, Direction, Engine, EngineOptions, Event};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::flood::Flood;
use crate::net::AnySocket;
use crate::profile::Profile;
use crate::report::{Extra, Recorder, Report};

/// How the run goes.
#[derive(Clone, Debug)]
pub struct Options {
    /// How many clients.
    pub clients: usize,
    /// The first client's address; the others follow (skipping .0 and .255).
    pub first_address: Ipv4Addr,
    /// New clients per second; 0: as fast as `max_in_flight` allows.
    pub rate: f64,
    /// Most clients negotiating at once.
    pub max_in_flight: usize,
    /// An attempt that is not up after this long fails ("timeout").
    pub attempt_timeout: Duration,
    /// The set-up phase ends at the latest after this long.
    pub setup_limit: Duration,
    /// How long to hold the tunnels after the set-up phase.
    pub hold: Duration,
    /// Start again after a failure or a lost tunnel.
    pub reconnect: bool,
    /// Claim to be behind a NAT (ESP in UDP, port 4500), as phones on mobile networks are.
    pub nat: bool,
    /// Send deletes for every tunnel at the end.
    pub delete_at_end: bool,
    /// Write the report here when the set-up phase ends (before holding).
    pub ready_file: Option<std::path::PathBuf>,
}

/// Where one client is.
#[derive(Clone, Copy, Debug, PartialEq)]
enum State {
    /// Not started yet.
    Idle,
    /// Negotiating since `since`; `installed` has bit 0 (inbound) and bit 1 (outbound).
    Connecting { since: Instant, installed: u8 },
    /// The tunnel is up.
    Up,
    /// Failed; starts again at the given time (with `reconnect`), else never.
    Waiting(Option<Instant>),
}

struct Client {
    address: Ipv4Addr,
    engine: Option<Engine>,
    state: State,
    /// The wake-up this client has in the heap (older heap entries are stale).
    wake: Option<Instant>,
}

/// The running fleet.
pub struct Fleet {
    options: Options,
    template: Config,
    engine_options: EngineOptions,
    rng: Arc<ring::rand::SystemRandom>,
    clients: Vec<Client>,
    by_address: HashMap<Ipv4Addr, usize>,
    heap: BinaryHeap<Reverse<(Instant, usize)>>,
    ike: AnySocket,
    nat_t: AnySocket,
    recorder: Recorder,
    extra: Extra,
    begun: Instant,
    in_flight: usize,
    up: usize,
    /// Clients that will not try again (failed without `reconnect`).
    gave_up: usize,
    jitter: u64,
}

impl Fleet {
    /// Binds the sockets and lays out the clients' addresses.
    pub fn new(options: Options, profile: Profile) -> Result<Self, String> {
        let template = profile.client_template()?;
        let mut engine_options = EngineOptions {
            force_udp_encapsulation: options.nat,
            ..EngineOptions::default()
        };
        if !options.nat {
            engine_options.nat_keepalive = None;
        }
        let mut clients = Vec::with_capacity(options.clients);
        let mut by_address = HashMap::with_capacity(options.clients);
        let mut a = u32::from(options.first_address);
        for n in 0..options.clients {
            while matches!(a & 0xff, 0 | 255) {
                a += 1;
            }
            let address = Ipv4Addr::from(a);
            by_address.insert(address, n);
            clients.push(Client {
                address,
                engine: None,
                state: State::Idle,
                wake: None,
            });
            a += 1;
        }
        let bind = |port| AnySocket::bind(port).map_err(|e| format!("binding UDP {port}: {e}"));
        Ok(Fleet {
            ike: bind(500)?,
            nat_t: bind(4500)?,
            options,
            template,
            engine_options,
            rng: Arc::new(ring::rand::SystemRandom::new()),
            clients,
            by_address,
            heap: BinaryHeap::new(),
            recorder: Recorder::default(),
            extra: Extra::default(),
            begun: Instant::now(),
            in_flight: 0,
            up: 0,
            gave_up: 0,
            jitter: 0x9E37_79B9_7F4A_7C15,
        })
    }

    /// Runs the set-up phase, writes the ready file, holds, and reports.
    pub fn run(mut self, mut flood: Option<Flood>) -> Result<Report, String> {
        self.begun = Instant::now();
        let mut started = 0;
        let mut next_start = self.begun;
        let interval =
            (self.options.rate > 0.0).then(|| Duration::from_secs_f64(1.0 / self.options.rate));
        let mut hold_until: Option<Instant> = None;
        let mut buf = vec![0u8; 65_536];
        loop {
            let now = Instant::now();
            // New clients on schedule.
            while started < self.clients.len()
                && self.in_flight < self.options.max_in_flight
                && next_start <= now
            {
                self.start(started, now);
                started += 1;
                if let Some(i) = interval {
                    next_start += i;
                }
            }
            if let Some(f) = flood.as_mut() {
                self.extra.flood_sent += f.send_due(now, &self.ike);
            }
            // Wake-ups that are due.
            while let Some(&Reverse((t, i))) = self.heap.peek() {
                if t > now {
                    break;
                }
                self.heap.pop();
                if self.clients[i].wake == Some(t) {
                    self.clients[i].wake = None;
                    self.on_wake(i, now);
                }
            }
            // The set-up phase ends when every client is up or has given up (a client waiting
            // to try again is neither), or at the limit; then the tunnels are held.
            if hold_until.is_none()
                && ((started == self.clients.len() && self.up + self.gave_up == self.clients.len())
                    || now - self.begun >= self.options.setup_limit)
            {
                hold_until = Some(now + self.options.hold);
                if let Some(path) = &self.options.ready_file {
                    let report = self.report();
                    let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
                    std::fs::write(path, json).map_err(|e| format!("{}: {e}", path.display()))?;
                }
            }
            if hold_until.is_some_and(|h| now >= h) {
                break;
            }
            // Sleep until the next thing to do or a datagram.
            let mut next = self.heap.peek().map(|Reverse((t, _))| *t);
            if started < self.clients.len() && self.in_flight < self.options.max_in_flight {
                next = Some(next.map_or(next_start, |n| n.min(next_start)));
            }
            if let Some(f) = &flood {
                next = Some(next.map_or(f.next_due(), |n| n.min(f.next_due())));
            }
            if let Some(h) = hold_until {
                next = Some(next.map_or(h, |n| n.min(h)));
            }
            let wait = next.map_or(Duration::from_millis(100), |n| {
                n.saturating_duration_since(Instant::now())
            });
            let ms = wait.as_micros().div_ceil(1000).min(100) as u16;
            let mut fds = [
                PollFd::new(self.ike.fd(), PollFlags::POLLIN),
                PollFd::new(self.nat_t.fd(), PollFlags::POLLIN),
            ];
            poll(&mut fds, PollTimeout::from(ms)).map_err(|e| format!("poll: {e}"))?;
            self.receive(&mut buf)?;
        }
        if self.options.delete_at_end {
            self.delete_all();
        }
        Ok(self.report())
    }

    fn report(&self) -> Report {
        let mut extra = Extra {
            run_seconds: self.begun.elapsed().as_secs_f64(),
            cpu_seconds: cpu_seconds(),
            retransmissions: self
                .clients
                .iter()
                .filter_map(|c| c.engine.as_ref())
                .map(|e| e.stats().retransmissions)
                .sum(),
            ..Extra::default()
        };
        extra.datagrams_sent = self.extra.datagrams_sent;
        extra.datagrams_received = self.extra.datagrams_received;
        extra.datagrams_unclaimed = self.extra.datagrams_unclaimed;
        extra.flood_sent = self.extra.flood_sent;
        extra.reconnects = self.extra.reconnects;
        self.recorder.report(self.clients.len(), self.up, extra)
    }

    /// Reads what is waiting on both sockets (bounded per call so timers keep running).
    fn receive(&mut self, buf: &mut [u8]) -> Result<(), String> {
        for _ in 0..4096 {
            let mut got = false;
            for nat_t in [false, true] {
                let socket = if nat_t { &self.nat_t } else { &self.ike };
                let Some((len, remote, local)) =
                    socket.recv(buf).map_err(|e| format!("recv: {e}"))?
                else {
                    continue;
                };
                got = true;
                let SocketAddr::V4(l) = local else { continue };
                let Some(&i) = self.by_address.get(l.ip()) else {
                    self.extra.datagrams_unclaimed += 1;
                    continue;
                };
                let Some(engine) = self.clients[i].engine.as_mut() else {
                    self.extra.datagrams_unclaimed += 1;
                    continue;
                };
                self.extra.datagrams_received += 1;
                engine.handle_datagram(Instant::now(), local, remote, &buf[..len]);
                self.drain(i, Instant::now());
            }
            if !got {
                break;
            }
        }
        Ok(())
    }

    /// Starts client `i`'s first attempt (its engine is made now, not up front, so that a
    /// run of 100,000 clients does not validate 100,000 configurations before the first
    /// message).
    fn start(&mut self, i: usize, now: Instant) {
        if self.clients[i].engine.is_none() {
            match Profile::client(&self.template, self.clients[i].address, i) {
                Ok(snapshot) => {
                    self.clients[i].engine = Some(Engine::new(
                        Arc::new(snapshot),
                        self.rng.clone(),
                        self.engine_options.clone(),
                    ));
                }
                Err(e) => {
                    self.recorder.failed(format!("configuration: {e}"));
                    self.clients[i].state = State::Waiting(None);
                    self.gave_up += 1;
                    return;
                }
            }
        }
        self.recorder.started(now - self.begun);
        self.attempt(i, now);
    }

    fn attempt(&mut self, i: usize, now: Instant) {
        let Some(engine) = self.clients[i].engine.as_mut() else {
            return;
        };
        match engine.initiate(now, "gw") {
            Ok(_) => {
                self.clients[i].state = State::Connecting {
                    since: now,
                    installed: 0,
                };
                self.in_flight += 1;
            }
            Err(e) => {
                self.recorder.failed(format!("initiate: {e}"));
                self.clients[i].state = State::Waiting(None);
                self.gave_up += 1;
            }
        }
        self.drain(i, now);
    }

    /// Client `i`'s wake-up: its engine's timers, a retry, an attempt's deadline.
    fn on_wake(&mut self, i: usize, now: Instant) {
        match self.clients[i].state {
            State::Waiting(Some(at)) if at <= now => {
                self.extra.reconnects += 1;
                self.attempt(i, now);
                return;
            }
            State::Connecting { since, .. } if now - since >= self.options.attempt_timeout => {
                self.fail(i, now, "timeout".into());
                return;
            }
            _ => {}
        }
        if let Some(engine) = self.clients[i].engine.as_mut()
            && engine.poll_timeout().is_some_and(|t| t <= now)
        {
            engine.handle_timeout(now);
        }
        self.drain(i, now);
    }

    /// The attempt (or the tunnel) of client `i` is over: its SAs are dropped and it waits.
    fn fail(&mut self, i: usize, now: Instant, cause: String) {
        let was = self.clients[i].state;
        match was {
            State::Connecting { .. } => self.in_flight -= 1,
            State::Up => self.up -= 1,
            _ => return,
        }
        self.recorder.failed(cause);
        if let Some(engine) = self.clients[i].engine.as_mut() {
            let peers: Vec<_> = engine.peers().into_iter().map(|(p, _)| p).collect();
            for p in peers {
                engine.terminate(now, p);
            }
        }
        let retry = self.options.reconnect.then(|| now + self.backoff());
        if retry.is_none() {
            self.gave_up += 1;
        }
        self.clients[i].state = State::Waiting(retry);
        self.drain(i, now);
    }

    /// 1 to 3 s, spread so that clients that failed together do not come back together.
    fn backoff(&mut self) -> Duration {
        self.jitter ^= self.jitter << 13;
        self.jitter ^= self.jitter >> 7;
        self.jitter ^= self.jitter << 17;
        Duration::from_millis(1000 + self.jitter % 2000)
    }

    /// Sends what client `i`'s engine wants sent, acts on its events, and files its next
    /// wake-up.
    fn drain(&mut self, i: usize, now: Instant) {
        let address = self.clients[i].address;
        let mut events = Vec::new();
        if let Some(engine) = self.clients[i].engine.as_mut() {
            while let Some(t) = engine.poll_transmit() {
                let socket = if t.local.port() == 4500 {
                    &self.nat_t
                } else {
                    &self.ike
                };
                if socket.send(&t.payload, address, t.remote).is_ok() {
                    self.extra.datagrams_sent += 1;
                }
            }
            while let Some(e) = engine.poll_event() {
                events.push(e);
            }
        }
        for e in events {
            self.on_event(i, now, e);
        }
        // The next wake-up: the engine's timer, a retry or the attempt's deadline.
        let c = &self.clients[i];
        let mut next = c.engine.as_ref().and_then(|e| e.poll_timeout());
        let own = match c.state {
            State::Waiting(Some(at)) => Some(at),
            State::Connecting { since, .. } => Some(since + self.options.attempt_timeout),
            _ => None,
        };
        if let Some(o) = own {
            next = Some(next.map_or(o, |n| n.min(o)));
        }
        if let Some(t) = next
            && c.wake.is_none_or(|w| t < w || w <= now)
        {
            self.clients[i].wake = Some(t);
            self.heap.push(Reverse((t, i)));
        }
    }

    fn on_event(&mut self, i: usize, now: Instant, e: Event) {
        match e {
            Event::InstallSa(sa) => {
                if let State::Connecting { since, installed } = self.clients[i].state {
                    let bit = match sa.direction {
                        Direction::Inbound => 1,
                        Direction::Outbound => 2,
                    };
                    let installed = installed | bit;
                    if installed == 3 {
                        self.in_flight -= 1;
                        self.up += 1;
                        self.clients[i].state = State::Up;
                        self.recorder.up(now - self.begun, now - since);
                    } else {
                        self.clients[i].state = State::Connecting { since, installed };
                    }
                }
            }
            Event::NegotiationFailed { phase, reason, .. } => {
                if matches!(self.clients[i].state, State::Connecting { .. }) {
                    self.fail(i, now, format!("phase {phase:?}: {reason:?}"));
                }
            }
            Event::PeerDown { reason, .. } => {
                self.fail(i, now, format!("down: {reason:?}"));
            }
            // The server dropped the pair (its QM3 never came, or an operator deleted it):
            // the tunnel is not held any more, whatever phase 1 says.
            Event::DeleteSa(d)
                if d.reason == DeleteReason::DeletedByPeer
                    && d.direction == Direction::Outbound
                    && self.clients[i].state == State::Up =>
            {
                self.fail(i, now, "deleted by the server".into());
            }
            _ => {}
        }
    }

    /// Deletes every tunnel (the server is told) and sends the deletes.
    fn delete_all(&mut self) {
        let now = Instant::now();
        for i in 0..self.clients.len() {
            let address = self.clients[i].address;
            if let Some(engine) = self.clients[i].engine.as_mut() {
                let peers: Vec<_> = engine.peers().into_iter().map(|(p, _)| p).collect();
                for p in peers {
                    engine.terminate(now, p);
                }
                while let Some(t) = engine.poll_transmit() {
                    let socket = if t.local.port() == 4500 {
                        &self.nat_t
                    } else {
                        &self.ike
                    };
                    let _ = socket.send(&t.payload, address, t.remote);
                }
            }
            // Pace the deletes a little so a small socket buffer does not drop them.
            if i % 256 == 255 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

/// This process's CPU time so far (user + system), in seconds.
pub fn cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; RUSAGE_SELF is always valid.
    let r = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if r != 0 {
        return 0.0;
    }
    // SAFETY: getrusage returned 0, so the struct is initialised.
    let u = unsafe { usage.assume_init() };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}
