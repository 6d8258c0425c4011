//! Our sans-IO engine ([`ipsec_core::engine::Engine`]) on real UDP sockets inside a lab
//! namespace, for interop tests against charon, pluto and ike-scan.
//!
//! ```no_run
//! # use ipsec_tests::{engine_driver::EngineDriver, lab::Lab};
//! # use std::time::Duration;
//! # const TOML: &str = "";
//! let lab = Lab::new("x").unwrap();
//! let net = lab.two_hosts().unwrap();
//! let eng = EngineDriver::start(&net.a, TOML).unwrap();   // binds 198.18.0.1:500 and :4500
//! eng.initiate("charon").unwrap();
//! let installs = eng.wait_installs(2, Duration::from_secs(10)).unwrap();
//! // dropping `eng` stops the engine thread and closes the sockets
//! ```
//!
//! - The sockets are bound inside the namespace ([`Netns::bind_udp`]) on the namespace's outer
//!   address ([`Netns::addr`]), ports 500 and 4500 (the configuration's `[daemon]` ports); the
//!   engine is told the real local address of every datagram (never `0.0.0.0`: NAT-D hashes it).
//! - One thread runs the engine, one reads each socket (with a short read timeout, so that all
//!   of them notice a stop within ~50 ms). Everything stops on [`EngineDriver::stop`], on drop,
//!   or when the bounded lifetime ([`EngineDriver::start_with`], default 60 s) ends.
//! - RSA-signature peers get their credentials from the files the configuration names
//!   (`certificate`, `ca`, `remote-certificate`; absolute paths), and the engine the wall clock.
//! - Every [`Event`] is recorded with the time since start; [`EngineDriver::events`] and the
//!   `wait_*` helpers read them. Commands (initiate, terminate) go to the engine thread over a
//!   channel and return the engine's answer.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use ipsec_core::config::Config;
use ipsec_core::engine::{
    Credentials, DeleteSa, Direction, Engine, EngineOptions, Event, InstallSa, IsakmpSaInfo,
    PeerId, Stats,
};
use ipsec_core::pki::UnixTime;

use crate::lab::{LabError, Netns, Result};

/// How a driver runs.
#[derive(Clone, Debug)]
pub struct DriverOptions {
    /// The engine's tunables (ports are taken from the configuration's `[daemon]` section).
    pub engine: EngineOptions,
    /// The engine thread stops by itself after this long.
    pub lifetime: Duration,
    /// Local address; default: the namespace's outer address.
    pub local: Option<IpAddr>,
}

impl Default for DriverOptions {
    fn default() -> Self {
        DriverOptions {
            engine: EngineOptions::default(),
            lifetime: Duration::from_secs(60),
            local: None,
        }
    }
}

/// One recorded event.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// Time since the driver started.
    pub at: Duration,
    pub event: Event,
}

/// One direction of an installed SA in a form convenient for assertions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstalledKeys {
    pub direction: Direction,
    pub spi: u32,
    pub encryption: Vec<u8>,
    pub salt: Vec<u8>,
    pub integrity: Vec<u8>,
}

impl InstalledKeys {
    pub fn from_install(s: &InstallSa) -> Self {
        InstalledKeys {
            direction: s.direction,
            spi: s.spi,
            encryption: s.keys.encryption.as_bytes().to_vec(),
            salt: s
                .keys
                .salt
                .as_ref()
                .map(|k| k.as_bytes().to_vec())
                .unwrap_or_default(),
            integrity: s.keys.integrity.as_bytes().to_vec(),
        }
    }
}

type Reply<T> = mpsc::Sender<T>;

enum Input {
    Datagram {
        local: SocketAddr,
        remote: SocketAddr,
        payload: Vec<u8>,
    },
    Initiate(String, Reply<std::result::Result<PeerId, String>>),
    TerminateAll(Reply<Vec<(PeerId, String)>>),
    Query(Reply<EngineState>),
}

/// What [`EngineDriver::state`] returns: the engine's view at one moment.
#[derive(Clone, Debug)]
pub struct EngineState {
    pub stats: Stats,
    pub isakmp_sas: Vec<IsakmpSaInfo>,
    pub ipsec_sa_pairs: usize,
}

struct Shared {
    events: Mutex<Vec<Recorded>>,
    stop: AtomicBool,
    log: Mutex<Vec<String>>,
}

/// The engine running on UDP sockets in a namespace; stopped on drop.
pub struct EngineDriver {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Input>,
    threads: Vec<JoinHandle<()>>,
    local: IpAddr,
    started: Instant,
}

impl EngineDriver {
    /// Starts the engine with the TOML configuration `config` in `ns`, default options.
    pub fn start(ns: &Netns, config: &str) -> Result<EngineDriver> {
        EngineDriver::start_with(ns, config, DriverOptions::default())
    }

    /// Starts the engine with the TOML configuration `config` in `ns`.
    pub fn start_with(ns: &Netns, config: &str, opts: DriverOptions) -> Result<EngineDriver> {
        let snapshot = Config::from_toml_str(config, "engine.toml").map_err(|errors| {
            let msgs: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
            LabError::other(format!("engine configuration: {}", msgs.join("; ")))
        })?;
        let local = opts.local.unwrap_or_else(|| IpAddr::V4(ns.addr()));
        let mut options = opts.engine.clone();
        options.ike_port = snapshot.daemon().port;
        options.nat_t_port = snapshot.daemon().nat_t_port;

        let shared = Arc::new(Shared {
            events: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            log: Mutex::new(Vec::new()),
        });
        let (tx, rx) = mpsc::channel::<Input>();
        let mut sockets: Vec<(u16, UdpSocket)> = Vec::new();
        for port in [options.ike_port, options.nat_t_port] {
            let addr = SocketAddr::new(local, port);
            let s = ns.bind_udp(&addr.to_string())?;
            s.set_read_timeout(Some(Duration::from_millis(50)))?;
            sockets.push((port, s));
        }
        let started = Instant::now();
        let mut threads = Vec::new();
        for (port, socket) in &sockets {
            let reader = socket.try_clone()?;
            let local = SocketAddr::new(local, *port);
            let tx = tx.clone();
            let shared = Arc::clone(&shared);
            let deadline = started + opts.lifetime;
            threads.push(
                std::thread::Builder::new()
                    .name(format!("eng-rx-{port}"))
                    .spawn(move || {
                        let mut buf = vec![0u8; 65_536];
                        while !shared.stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                            match reader.recv_from(&mut buf) {
                                Ok((n, remote)) => {
                                    let input = Input::Datagram {
                                        local,
                                        remote,
                                        payload: buf[..n].to_vec(),
                                    };
                                    if tx.send(input).is_err() {
                                        return;
                                    }
                                }
                                Err(e)
                                    if matches!(
                                        e.kind(),
                                        std::io::ErrorKind::WouldBlock
                                            | std::io::ErrorKind::TimedOut
                                            | std::io::ErrorKind::Interrupted
                                    ) => {}
                                Err(_) => return,
                            }
                        }
                    })?,
            );
        }
        // What a daemon does for RSA-signature peers: read the files the configuration names.
        let credentials = Credentials::from_config(&snapshot, |p| std::fs::read(p))
            .map_err(|e| LabError::other(e.to_string()))?;
        let rng = Arc::new(ring::rand::SystemRandom::new());
        let mut engine = Engine::new(Arc::new(snapshot), rng, options);
        engine.set_credentials(credentials);
        engine.set_wall_clock(Instant::now(), UnixTime::from(SystemTime::now()));
        let shared2 = Arc::clone(&shared);
        let lifetime = opts.lifetime;
        threads.push(
            std::thread::Builder::new()
                .name("eng-main".into())
                .spawn(move || run(engine, sockets, rx, shared2, started, lifetime))?,
        );
        Ok(EngineDriver {
            shared,
            tx,
            threads,
            local,
            started,
        })
    }

    /// Our address.
    pub fn local(&self) -> IpAddr {
        self.local
    }

    /// Time since start.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Input) -> Result<T> {
        let (rtx, rrx) = mpsc::channel();
        self.tx
            .send(make(rtx))
            .map_err(|_| LabError::other("the engine thread has stopped"))?;
        rrx.recv_timeout(Duration::from_secs(5))
            .map_err(|_| LabError::other("the engine thread did not answer"))
    }

    /// `Engine::initiate(now, peer)` (phase 1 and a quick mode per policy of the peer).
    pub fn initiate(&self, peer: &str) -> Result<PeerId> {
        self.ask(|r| Input::Initiate(peer.to_string(), r))?
            .map_err(|e| LabError::other(format!("initiate {peer}: {e}")))
    }

    /// `Engine::terminate` for every peer; returns the peers terminated.
    pub fn terminate_all(&self) -> Result<Vec<(PeerId, String)>> {
        self.ask(Input::TerminateAll)
    }

    /// The engine's counters and SAs now.
    pub fn state(&self) -> Result<EngineState> {
        self.ask(Input::Query)
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<Recorded> {
        self.shared
            .events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The driver's own notes (send errors, end of lifetime), for failure messages.
    pub fn notes(&self) -> Vec<String> {
        self.shared
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A compact listing of the events (keys omitted), for failure messages.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for r in self.events() {
            let line = match &r.event {
                Event::InstallSa(s) => format!(
                    "InstallSa {:?} spi={:08x} {}->{} {:?} encap={:?}",
                    s.direction, s.spi, s.src, s.dst, s.mode, s.encap
                ),
                other => format!("{other:?}"),
            };
            out.push_str(&format!("  {:>8.3}s {line}\n", r.at.as_secs_f64()));
        }
        for n in self.notes() {
            out.push_str(&format!("  note: {n}\n"));
        }
        out
    }

    /// Polls the recorded events with `f` until it returns `Some` or `timeout` passes.
    pub fn wait_for<T>(
        &self,
        timeout: Duration,
        what: &str,
        mut f: impl FnMut(&[Recorded]) -> Option<T>,
    ) -> Result<T> {
        crate::lab::wait_for(timeout, what, || {
            let ev = self.shared.events.lock().unwrap_or_else(|e| e.into_inner());
            Ok(f(&ev))
        })
        .map_err(|e| LabError::other(format!("{e}\n--- engine events:\n{}", self.describe())))
    }

    /// The InstallSa events so far.
    pub fn installs(&self) -> Vec<InstallSa> {
        installs(&self.events())
    }

    /// Waits until at least `n` InstallSa events were recorded; returns them all.
    pub fn wait_installs(&self, n: usize, timeout: Duration) -> Result<Vec<InstallSa>> {
        self.wait_for(timeout, &format!("{n} InstallSa events"), |ev| {
            let i = installs(ev);
            (i.len() >= n).then_some(i)
        })
    }

    /// The DeleteSa events so far.
    pub fn deletes(&self) -> Vec<DeleteSa> {
        self.events()
            .into_iter()
            .filter_map(|r| match r.event {
                Event::DeleteSa(d) => Some(d),
                _ => None,
            })
            .collect()
    }

    /// Stops the threads (also done on drop). Idempotent.
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn installs(ev: &[Recorded]) -> Vec<InstallSa> {
    ev.iter()
        .filter_map(|r| match &r.event {
            Event::InstallSa(s) => Some((**s).clone()),
            _ => None,
        })
        .collect()
}

impl Drop for EngineDriver {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(
    mut engine: Engine,
    sockets: Vec<(u16, UdpSocket)>,
    rx: mpsc::Receiver<Input>,
    shared: Arc<Shared>,
    started: Instant,
    lifetime: Duration,
) {
    let note = |s: String| shared.log.lock().unwrap_or_else(|e| e.into_inner()).push(s);
    let deadline = started + lifetime;
    loop {
        while let Some(t) = engine.poll_transmit() {
            match sockets.iter().find(|(p, _)| *p == t.local.port()) {
                Some((_, s)) => {
                    if let Err(e) = s.send_to(&t.payload, t.remote) {
                        note(format!("send to {}: {e}", t.remote));
                    }
                }
                None => note(format!("no socket for {}", t.local)),
            }
        }
        {
            let mut ev = shared.events.lock().unwrap_or_else(|e| e.into_inner());
            while let Some(e) = engine.poll_event() {
                ev.push(Recorded {
                    at: started.elapsed(),
                    event: e,
                });
            }
        }
        let now = Instant::now();
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        if now >= deadline {
            note(format!("lifetime {lifetime:?} over, engine stopped"));
            shared.stop.store(true, Ordering::Relaxed);
            return;
        }
        let mut wait = Duration::from_millis(50).min(deadline - now);
        if let Some(t) = engine.poll_timeout() {
            wait = wait.min(t.saturating_duration_since(now));
        }
        match rx.recv_timeout(wait) {
            Ok(Input::Datagram {
                local,
                remote,
                payload,
            }) => engine.handle_datagram(Instant::now(), local, remote, &payload),
            Ok(Input::Initiate(peer, reply)) => {
                let r = engine
                    .initiate(Instant::now(), &peer)
                    .map_err(|e| e.to_string());
                let _ = reply.send(r);
            }
            Ok(Input::TerminateAll(reply)) => {
                let peers = engine.peers();
                let now = Instant::now();
                for (p, _) in &peers {
                    engine.terminate(now, *p);
                }
                let _ = reply.send(peers);
            }
            Ok(Input::Query(reply)) => {
                let _ = reply.send(EngineState {
                    stats: engine.stats().clone(),
                    isakmp_sas: engine.isakmp_sas(),
                    ipsec_sa_pairs: engine.ipsec_sas().len(),
                });
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        // timers: whenever due (also after a datagram, which may have taken a while)
        if engine.poll_timeout().is_some_and(|t| t <= Instant::now()) {
            engine.handle_timeout(Instant::now());
        }
    }
}
