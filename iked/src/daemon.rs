//! `iked run`: the daemon's single loop.
//!
//! One current-thread tokio runtime. Socket readers, the XFRM event monitor and the control
//! socket are tasks that feed channels; the main loop owns the engine driver and the kernel
//! dataplane and reacts to, in turn: a datagram, the engine's timer, a kernel event (ACQUIRE,
//! EXPIRE), a control request, a signal. After each it drains the engine's transmits and
//! events (SAs to install or delete).
//!
//! Start: configuration (errors: exit 1), logging, XFRM connection, removal of a crashed
//! run's leftovers, the dataplane (`[daemon] dataplane`: the kernel's XFRM, the userspace one
//! over a TUN ([`crate::userspace`]), or `auto`: the kernel's if it can hold an ESP SA, said
//! in the log), sockets (500/4500 on every `listen` address, IKE bypass; with the kernel
//! ESP-in-UDP on 4500, with the userspace dataplane `SO_MARK` and its worker reading 4500),
//! control socket, the configuration's policies, the monitor, `READY=1`. Everything that
//! touches SAs and policies goes through [`Dataplane`], so the control requests work the
//! same with either.
//! SIGHUP: reload (a failed reload keeps the running configuration). SIGTERM/SIGINT: tell the
//! peers (when the engine runs), remove everything installed, exit 0.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipsec_core::config::{Dataplane as ConfigDataplane, Snapshot};
use ipsec_core::engine::Credentials;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

use crate::aaa::net::{RadiusIn, RadiusSockets};
use crate::aaa::{self, Aaa};
use crate::cli::{FlushWhat, RunArgs};
use crate::config;
use crate::control::server::{Command, ControlSocket};
use crate::control::{
    Counter, EngineState, ErrorKind, Reply, Request, Response, StatsReply, StatusReply,
};
use crate::driver::{DriverError, DriverEvent, IkeDriver, SpiSource, new_driver};
use crate::kernel::Kernel;
use crate::logging::{self, LogHandle};
use crate::notify::notify;
use crate::udp::{IkeSocket, MAX_DATAGRAM};
use crate::userspace::virtual_ip::VirtualIps;
use crate::userspace::{self, Dataplane, DpEvent, Userspace};

/// A received datagram.
#[derive(Debug)]
struct Incoming {
    local: SocketAddr,
    remote: SocketAddr,
    data: Vec<u8>,
}

/// Why the daemon could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
enum Fatal {
    #[error("{0}")]
    Start(String),
    #[error("removing what iked installed: {0}")]
    Flush(userspace::DataplaneError),
}

/// Runs the daemon until SIGTERM/SIGINT. Exit status 1 if it cannot start (configuration
/// errors, sockets, kernel) or cannot remove what it installed.
pub fn run(args: RunArgs) -> ExitCode {
    let config::Loaded {
        snapshot,
        credentials,
    } = match config::load(&args.config) {
        Ok(l) => l,
        Err(e) => {
            for line in e.lines() {
                eprintln!("{line}");
            }
            eprintln!(
                "iked: refusing to start: {} has errors",
                args.config.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let level = args
        .log_level
        .map(logging::from_arg)
        .unwrap_or_else(|| logging::from_config(snapshot.daemon().log_level));
    let log = logging::init(level);
    for w in snapshot.warnings() {
        warn!("{w}");
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        // Before anything is installed, so that no signal finds its default action (which
        // would leave policies behind) from here on.
        let signals = Signals::new()?;
        let (daemon, channels) = Daemon::start(args, snapshot, credentials, log).await?;
        daemon.run(channels, signals).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}

struct Signals {
    hup: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Self, Fatal> {
        let sig = |k| signal(k).map_err(|e| Fatal::Start(format!("signal handler: {e}")));
        Ok(Signals {
            hup: sig(SignalKind::hangup())?,
            term: sig(SignalKind::terminate())?,
            int: sig(SignalKind::interrupt())?,
        })
    }
}

struct Channels {
    datagrams: mpsc::Receiver<Incoming>,
    kernel_events: mpsc::Receiver<xfrm::Event>,
    dataplane_events: mpsc::UnboundedReceiver<DpEvent>,
    commands: mpsc::Receiver<Command>,
    control: ControlSocket,
    radius: mpsc::Receiver<RadiusIn>,
}

struct Daemon {
    args: RunArgs,
    config: Arc<Snapshot>,
    log: LogHandle,
    dataplane: Dataplane,
    driver: Box<dyn IkeDriver>,
    sockets: Vec<Arc<IkeSocket>>,
    started: Instant,
    /// Mode-config client: the virtual addresses we put on an interface.
    vips: VirtualIps,
    /// Packets counted on each inbound SA at the last look (dead peer detection).
    inbound_packets: HashMap<u32, u64>,
    /// RADIUS (`[[radius]]`): XAuth checks, accounting, Disconnect/CoA.
    aaa: Option<Aaa>,
    radius_sockets: Option<RadiusSockets>,
}

/// How long shutdown waits for RADIUS servers to take the last accounting records.
const ACCOUNTING_FLUSH: Duration = Duration::from_secs(3);

/// How often the inbound SAs' counters are read to tell the engine which peers are alive:
/// well under any sensible `dpd-interval` (the profiles use 20 s).
const LIVENESS_EVERY: Duration = Duration::from_secs(5);

impl Daemon {
    async fn start(
        args: RunArgs,
        snapshot: Snapshot,
        credentials: Credentials,
        log: LogHandle,
    ) -> Result<(Daemon, Channels), Fatal> {
        let config = Arc::new(snapshot);
        let kernel =
            Kernel::new().map_err(|e| Fatal::Start(format!("XFRM netlink connection: {e}")))?;
        match kernel.xfrm().cleanup_leftovers().await {
            Ok(r) if r.sas + r.policies > 0 => info!(
                "removed what an earlier run left: {} SAs, {} policies",
                r.sas, r.policies
            ),
            Ok(_) => {}
            Err(e) => {
                return Err(Fatal::Start(format!(
                    "removing an earlier run's leftovers: {e}"
                )));
            }
        }

        let d = config.daemon();
        let use_kernel =
            choose_dataplane(d.dataplane, d.transport_nat_aliases.is_some(), &kernel).await;

        // Sockets: IKE and NAT-T on every listen address. With the userspace dataplane its
        // inbound worker reads the NAT-T sockets (ESP-in-UDP) and hands IKE back here.
        let (tx, datagrams) = mpsc::channel(1024);
        let mut sockets = Vec::new();
        for &ip in &d.listen {
            for (port, nat_t) in [(d.port, false), (d.nat_t_port, true)] {
                let s = IkeSocket::bind(SocketAddr::new(ip, port), nat_t, !use_kernel)
                    .map_err(|e| Fatal::Start(format!("IKE socket {e}")))?;
                let s = Arc::new(s);
                info!(
                    "listening on {}{}",
                    s.bound(),
                    if nat_t { " (NAT-T, ESP-in-UDP)" } else { "" }
                );
                if use_kernel || !nat_t {
                    tokio::spawn(read_socket(Arc::clone(&s), tx.clone()));
                }
                sockets.push(s);
            }
        }
        let (dtx, dataplane_events) = mpsc::unbounded_channel();
        let mut dataplane = if use_kernel {
            Dataplane::Kernel(Box::new(kernel))
        } else {
            let ike_tx = tx.clone();
            let sink: userspace::inbound::IkeSink = Box::new(move |local, remote, data| {
                ike_tx
                    .try_send(Incoming {
                        local,
                        remote,
                        data: data.to_vec(),
                    })
                    .is_ok()
            });
            let u = Userspace::start(kernel, &sockets, d.nat_t_port, sink, dtx)
                .await
                .map_err(|e| Fatal::Start(format!("userspace dataplane: {e}")))?;
            info!(
                "userspace dataplane: TUN {} ({}), ESP over raw IP and UDP {}",
                userspace::net::TUN_NAME,
                if u.offloads() {
                    "TCP/UDP segmentation offloads"
                } else {
                    "no offloads"
                },
                d.nat_t_port
            );
            Dataplane::Userspace(Box::new(u))
        };
        drop(tx);

        // Control socket.
        let path: PathBuf = args
            .socket
            .clone()
            .unwrap_or_else(|| d.control_socket.clone());
        let (ctx, commands) = mpsc::channel(64);
        let control = ControlSocket::bind(&path, ctx)
            .map_err(|e| Fatal::Start(format!("control socket {}: {e}", path.display())))?;
        info!("control socket {}", control.path().display());

        // The configuration's policies. One that cannot be installed could let traffic out
        // in clear: refuse to start.
        let (changes, problems) = dataplane.apply_policies(&config).await;
        if !problems.is_empty() {
            for p in &problems {
                error!("{}: {p}", config.file());
            }
            let _ = dataplane.flush_all().await;
            return Err(Fatal::Start(format!(
                "refusing to start: {} policies could not be installed",
                problems.len()
            )));
        }
        info!("installed {} {} policies", changes.added, dataplane.name());

        // ACQUIRE and EXPIRE (the userspace dataplane sends its own on `dataplane_events`).
        let (etx, kernel_events) = mpsc::channel(1024);
        if use_kernel {
            match xfrm::Monitor::new(&[xfrm::Group::Acquire, xfrm::Group::Expire]) {
                Ok(m) => {
                    tokio::spawn(read_monitor(m, etx));
                }
                Err(e) => warn!("no XFRM events (on-demand tunnels and byte lifetimes off): {e}"),
            }
        }

        // RADIUS.
        let (rtx, radius) = mpsc::channel(1024);
        let aaa = Aaa::new(Arc::clone(&config));
        let radius_sockets = match &aaa {
            Some(a) => {
                let s = RadiusSockets::open(a, &d.listen, &rtx)
                    .map_err(|e| Fatal::Start(format!("RADIUS socket: {e}")))?;
                info!(
                    "RADIUS: {} server(s){}",
                    config.radius().len(),
                    match s.incoming() {
                        v if v.is_empty() => String::new(),
                        v => format!(
                            ", Disconnect/CoA on {}",
                            v.iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    }
                );
                Some(s)
            }
            None => None,
        };
        drop(rtx);

        let spis = if use_kernel {
            SpiSource::Kernel
        } else {
            SpiSource::Engine
        };
        let driver = new_driver(Arc::clone(&config), credentials, spis);
        if driver.state() == EngineState::NotWired {
            warn!("{}", DriverError::NotWired);
        }
        notify("READY=1");
        info!(
            "iked {} started (pid {})",
            env!("CARGO_PKG_VERSION"),
            std::process::id()
        );
        Ok((
            Daemon {
                args,
                config,
                log,
                dataplane,
                driver,
                sockets,
                started: Instant::now(),
                vips: VirtualIps::default(),
                inbound_packets: HashMap::new(),
                aaa,
                radius_sockets,
            },
            Channels {
                datagrams,
                kernel_events,
                dataplane_events,
                commands,
                control,
                radius,
            },
        ))
    }

    async fn run(mut self, mut ch: Channels, mut sig: Signals) -> Result<(), Fatal> {
        self.auto_start(None);
        let mut liveness = tokio::time::interval(LIVENESS_EVERY);
        liveness.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let why = loop {
            self.drain().await;
            let deadline = self.driver.poll_timeout();
            let timer = async {
                match deadline {
                    Some(t) => tokio::time::sleep_until(t.into()).await,
                    None => std::future::pending().await,
                }
            };
            let aaa_deadline = self.aaa.as_ref().and_then(Aaa::poll_timeout);
            let aaa_timer = async {
                match aaa_deadline {
                    Some(t) => tokio::time::sleep_until(t.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                Some(d) = ch.datagrams.recv() => {
                    self.driver.handle_datagram(Instant::now(), d.local, d.remote, &d.data);
                }
                () = timer => self.driver.handle_timeout(Instant::now()),
                () = aaa_timer => self.aaa_timeout().await,
                Some(r) = ch.radius.recv() => self.radius_in(r).await,
                _ = liveness.tick() => self.esp_liveness().await,
                Some(ev) = ch.kernel_events.recv() => self.kernel_event(ev).await,
                Some(ev) = ch.dataplane_events.recv() => self.dataplane_event(ev),
                Some(cmd) = ch.commands.recv() => {
                    let response = self.request(cmd.request).await;
                    let _ = cmd.reply.send(response);
                }
                _ = sig.hup.recv() => self.reload().await,
                _ = sig.term.recv() => break "SIGTERM",
                _ = sig.int.recv() => break "SIGINT",
            }
        };
        info!("{why}: shutting down");
        notify("STOPPING=1");
        if self.driver.state() == EngineState::Running {
            let _ = self.driver.terminate(Instant::now(), None);
            self.drain().await;
        }
        self.flush_accounting(&mut ch.radius).await;
        drop(ch.control);
        // What the peers' down events did not already remove (a peer that never answered).
        match self.vips.remove_all(&mut self.dataplane).await {
            Ok(0) => {}
            Ok(n) => info!("removed {n} virtual addresses"),
            Err(e) => error!("removing virtual addresses: {e}"),
        }
        let report = self.dataplane.flush_all().await.map_err(Fatal::Flush)?;
        info!("removed {report}; bye");
        Ok(())
    }

    /// Tells the engine which inbound SAs carried packets since the last look, so that dead
    /// peer detection does not probe busy tunnels (their counters, from the kernel or the
    /// userspace dataplane).
    async fn esp_liveness(&mut self) {
        let Ok(counts) = self.dataplane.counters(&*self.driver).await else {
            return;
        };
        let mut seen = HashMap::with_capacity(counts.len() / 2);
        let mut alive = Vec::new();
        for c in counts.iter().filter(|c| c.inbound) {
            if self
                .inbound_packets
                .get(&c.spi)
                .is_some_and(|before| c.packets > *before)
            {
                alive.push(c.spi);
            }
            seen.insert(c.spi, c.packets);
        }
        self.inbound_packets = seen;
        self.driver.esp_received(Instant::now(), &alive);
        if let Some(aaa) = &mut self.aaa {
            aaa.counters(Instant::now(), &octets(&counts));
        }
    }

    /// Initiates the peers with `auto-start = true`: all of them at start; after a reload
    /// (`before` is the previous configuration) only those that did not have it before, so
    /// that a reload leaves running tunnels alone.
    fn auto_start(&mut self, before: Option<&Snapshot>) {
        let config = Arc::clone(&self.config);
        for peer in config
            .peers()
            .iter()
            .filter(|p| p.auto_start && !p.disabled)
        {
            if before
                .and_then(|b| b.peer(&peer.name))
                .is_some_and(|old| old.auto_start)
            {
                continue;
            }
            match self.driver.initiate(Instant::now(), &peer.name) {
                Ok(()) => info!("auto-start: initiating peer {:?}", peer.name),
                Err(e) => warn!("auto-start: peer {:?}: {e}", peer.name),
            }
        }
    }

    /// Sends what the engine wants sent and carries out its events.
    async fn drain(&mut self) {
        loop {
            let mut progress = false;
            while let Some(t) = self.driver.poll_transmit() {
                progress = true;
                self.send(&t.payload, t.local, t.remote).await;
            }
            while let Some(e) = self.driver.poll_event() {
                progress = true;
                match e {
                    DriverEvent::InstallSa(mut sa) => {
                        sa.replay_window = self.config.daemon().replay_window;
                        match self.dataplane.install_sa(&sa).await {
                            Ok(()) => {
                                if let (Some(aaa), Some(session)) = (&mut self.aaa, sa.session) {
                                    aaa.sa_installed(Instant::now(), session, sa.spi, sa.inbound);
                                }
                                info!(
                                    "installed {} SA {:#010x} {} -> {} (peer {})",
                                    if sa.inbound { "inbound" } else { "outbound" },
                                    sa.spi,
                                    sa.src,
                                    sa.dst,
                                    sa.peer.as_deref().unwrap_or("?")
                                )
                            }
                            Err(e) => {
                                error!(
                                    "installing SA {:#010x} {} -> {}: {e}; dropping the pair",
                                    sa.spi, sa.src, sa.dst
                                );
                                // An SA the engine counts on but the kernel does not have would
                                // black-hole its traffic and stop new ACQUIREs: let the engine
                                // drop the pair (and tell the peer); the next ACQUIRE retries.
                                self.driver.sa_expired(Instant::now(), sa.spi, true);
                            }
                        }
                    }
                    DriverEvent::MoveSa(m) => match self.dataplane.move_sa(&m).await {
                        Ok(true) => info!(
                            "moved {} SA {:#010x} to {} -> {} (the peer's NAT mapping changed)",
                            if m.inbound { "inbound" } else { "outbound" },
                            m.spi,
                            m.src,
                            m.dst
                        ),
                        Ok(false) => debug!("SA {:#010x} not moved", m.spi),
                        Err(e) => error!("moving SA {:#010x}: {e}", m.spi),
                    },
                    DriverEvent::DeleteSa(d) => {
                        self.aaa_sa_deleting(d.spi).await;
                        match self.dataplane.delete_sa(&d).await {
                            Ok(false) => debug!(
                                "SA {:#010x} {} -> {} was not installed ({})",
                                d.spi, d.src, d.dst, d.reason
                            ),
                            Ok(true) => info!(
                                "deleted SA {:#010x} {} -> {} ({})",
                                d.spi, d.src, d.dst, d.reason
                            ),
                            Err(e) => error!("deleting SA {:#010x}: {e}", d.spi),
                        }
                    }
                    DriverEvent::XauthVerify(check) => match &mut self.aaa {
                        Some(aaa) => aaa.xauth_check(Instant::now(), *check),
                        None => {
                            warn!(
                                "XAuth user {:?} of peer {:?}: no RADIUS server configured; refused",
                                check.user, check.peer
                            );
                            let answer = crate::driver::XauthAnswer::default();
                            self.driver
                                .xauth_verdict(Instant::now(), check.request, answer);
                        }
                    },
                    DriverEvent::Session(ev) => {
                        if let Some(aaa) = &mut self.aaa {
                            aaa.session_event(Instant::now(), &ev);
                        }
                    }
                    DriverEvent::VirtualIp(v) => {
                        match self.vips.apply(&mut self.dataplane, &self.config, &v).await {
                            Ok(line) => info!("{line}"),
                            Err(e) => error!(
                                "mode-config from peer {:?}: cannot apply virtual IP {}: {e}",
                                v.peer, v.address
                            ),
                        }
                    }
                    DriverEvent::VirtualIpGone { peer, address } => {
                        match self.vips.remove(&mut self.dataplane, &peer, address).await {
                            Ok(true) => info!("virtual IP {address} of peer {peer:?} removed"),
                            Ok(false) => {}
                            Err(e) => error!("removing virtual IP {address} of peer {peer:?}: {e}"),
                        }
                    }
                    DriverEvent::Info(m) => info!("{m}"),
                    DriverEvent::Warn(m) => warn!("{m}"),
                }
            }
            if self.aaa_actions().await {
                progress = true;
            }
            if !progress {
                return;
            }
        }
    }

    /// Sends what RADIUS wants sent and carries out its actions; whether it did anything
    /// the engine must follow up on.
    async fn aaa_actions(&mut self) -> bool {
        let Some(aaa) = &mut self.aaa else {
            return false;
        };
        if let Some(sockets) = &self.radius_sockets {
            for g in 0..aaa.groups() {
                while let Some(t) = aaa.poll_transmit(g) {
                    sockets.send(g, &t).await;
                }
            }
        }
        let actions = aaa.take_actions();
        let mut engine = false;
        let now = Instant::now();
        for a in actions {
            match a {
                aaa::Action::Verdict { request, answer } => {
                    self.driver.xauth_verdict(now, request, answer);
                    engine = true;
                }
                aaa::Action::Terminate { session, why } => {
                    if self.driver.terminate_session(now, session) {
                        info!("{why}: session ended");
                        engine = true;
                    }
                }
                aaa::Action::Info(m) => info!("{m}"),
                aaa::Action::Warn(m) => warn!("{m}"),
            }
        }
        engine
    }

    /// An SA is about to be deleted: accounting takes its last counters first.
    async fn aaa_sa_deleting(&mut self, spi: u32) {
        if !self.aaa.as_ref().is_some_and(|a| a.tracks(spi)) {
            return;
        }
        if let Ok(Some(c)) = self.dataplane.counters_of(&*self.driver, spi).await
            && let Some(aaa) = &mut self.aaa
        {
            aaa.counters(Instant::now(), &octets(&[c]));
        }
        if let Some(aaa) = &mut self.aaa {
            aaa.sa_deleted(spi);
        }
    }

    /// RADIUS timers; Interim-Updates take fresh counters.
    async fn aaa_timeout(&mut self) {
        let now = Instant::now();
        if self.aaa.as_ref().is_some_and(|a| a.interim_due(now))
            && let Ok(counts) = self.dataplane.counters(&*self.driver).await
            && let Some(aaa) = &mut self.aaa
        {
            aaa.counters(now, &octets(&counts));
        }
        if let Some(aaa) = &mut self.aaa {
            aaa.handle_timeout(Instant::now());
        }
    }

    /// A datagram from a RADIUS server or a dynamic authorization client.
    async fn radius_in(&mut self, r: RadiusIn) {
        let Some(aaa) = &mut self.aaa else {
            return;
        };
        let now = Instant::now();
        match r.group {
            Some(g) => aaa.handle_reply(now, g, r.from, &r.data),
            None => {
                if let Some(answer) = aaa.handle_incoming(now, r.from, &r.data)
                    && let Some(s) = &self.radius_sockets
                {
                    s.answer(r.socket, r.from, &answer).await;
                }
            }
        }
    }

    /// Shutdown: the Stop records of the sessions just ended get a few seconds to reach a
    /// server (what does not is lost with the process, and logged).
    async fn flush_accounting(&mut self, radius: &mut mpsc::Receiver<RadiusIn>) {
        let deadline = tokio::time::Instant::now() + ACCOUNTING_FLUSH;
        while self.aaa.as_ref().is_some_and(|a| a.backlog() > 0) {
            let next = self
                .aaa
                .as_ref()
                .and_then(Aaa::poll_timeout)
                .map_or(deadline, |t| {
                    tokio::time::Instant::from_std(t).min(deadline)
                });
            tokio::select! {
                Some(r) = radius.recv() => self.radius_in(r).await,
                () = tokio::time::sleep_until(next) => {
                    if tokio::time::Instant::now() >= deadline {
                        break;
                    }
                    self.aaa_timeout().await;
                }
            }
            self.aaa_actions().await;
        }
        if let Some(n) = self.aaa.as_ref().map(Aaa::backlog).filter(|n| *n > 0) {
            warn!("{n} RADIUS accounting record(s) not acknowledged at shutdown");
        }
    }

    async fn send(&self, payload: &[u8], local: SocketAddr, remote: SocketAddr) {
        let fits = |s: &&Arc<IkeSocket>| {
            s.bound().port() == local.port() && s.bound().is_ipv4() == remote.is_ipv4()
        };
        let socket = self
            .sockets
            .iter()
            .filter(fits)
            .find(|s| s.bound().ip() == local.ip())
            .or_else(|| self.sockets.iter().filter(fits).find(|s| s.is_wildcard()))
            .or_else(|| self.sockets.iter().find(fits));
        match socket {
            Some(s) => {
                if let Err(e) = s.send(payload, remote, Some(local.ip())).await {
                    warn!("sending to {remote} from {}: {e}", s.bound());
                }
            }
            None => warn!("no socket for {local} -> {remote}; datagram dropped"),
        }
    }

    /// ACQUIRE and byte-lifetime EXPIRE from the userspace dataplane.
    fn dataplane_event(&mut self, ev: DpEvent) {
        let now = Instant::now();
        match ev {
            DpEvent::Acquire(p) => {
                debug!("userspace ACQUIRE for policy #{}", p + 1);
                if let Err(e) = self.driver.acquire(now, p) {
                    warn!("ACQUIRE for policy #{}: {e}", p + 1);
                }
            }
            DpEvent::Expired { spi, hard } => {
                debug!(
                    "{} byte lifetime of SA {spi:#010x} reached",
                    if hard { "hard" } else { "soft" }
                );
                self.driver.sa_expired(now, spi, hard);
            }
        }
    }

    async fn kernel_event(&mut self, ev: xfrm::Event) {
        let now = Instant::now();
        let Dataplane::Kernel(kernel) = &mut self.dataplane else {
            return;
        };
        match ev {
            xfrm::Event::Acquire(a) => match kernel.config_policy_of(a.policy.index) {
                Some(p) => {
                    debug!("ACQUIRE {} -> {} for policy #{}", a.src, a.dst, p + 1);
                    if let Err(e) = self.driver.acquire(now, p) {
                        warn!(
                            "ACQUIRE for policy #{} ({} -> {}): {e}",
                            p + 1,
                            a.src,
                            a.dst
                        );
                    }
                }
                None => debug!("ACQUIRE {} -> {} for a policy not ours", a.src, a.dst),
            },
            xfrm::Event::Expire(x) => {
                if !kernel.xfrm().owns_sa(&x.sa) {
                    return;
                }
                debug!(
                    "{} EXPIRE of SA {:#010x} {} -> {}",
                    if x.hard { "hard" } else { "soft" },
                    x.sa.id.spi,
                    x.sa.id.src,
                    x.sa.id.dst
                );
                self.driver.sa_expired(now, x.sa.id.spi, x.hard);
                if x.hard {
                    kernel.forget_sa(x.sa.id.dst, x.sa.id.spi).await;
                }
            }
            xfrm::Event::Lost => warn!("XFRM events were lost (socket overflow)"),
            other => debug!("XFRM event {other:?}"),
        }
    }

    async fn reload(&mut self) {
        let path = self.args.config.clone();
        info!("SIGHUP: reloading {}", path.display());
        let (new, credentials) = match config::load(&path) {
            Ok(l) => (Arc::new(l.snapshot), l.credentials),
            Err(e) => {
                for line in e.lines() {
                    error!("{line}");
                }
                error!("reload failed: keeping the running configuration");
                return;
            }
        };
        for w in new.warnings() {
            warn!("{w}");
        }
        let (old, cur) = (self.config.daemon(), new.daemon());
        if old.listen != cur.listen || old.port != cur.port || old.nat_t_port != cur.nat_t_port {
            warn!("[daemon] listen, port and nat-t-port take effect at the next start");
        }
        if old.control_socket != cur.control_socket && self.args.socket.is_none() {
            warn!("[daemon] control-socket takes effect at the next start");
        }
        if old.dataplane != cur.dataplane {
            warn!("[daemon] dataplane takes effect at the next start");
        }
        if self.config.radius() != new.radius()
            || old.radius_incoming_port != cur.radius_incoming_port
            || old.nas_identifier != cur.nas_identifier
        {
            warn!("[[radius]] and the [daemon] RADIUS settings take effect at the next start");
        }
        if self.args.log_level.is_none() {
            self.log.set(logging::from_config(cur.log_level));
        }
        let (c, problems) = self.dataplane.apply_policies(&new).await;
        for p in &problems {
            error!("{}: {p}", new.file());
        }
        self.driver.set_config(Arc::clone(&new), credentials);
        let old = std::mem::replace(&mut self.config, new);
        self.auto_start(Some(&old));
        info!(
            "configuration reloaded: policies {} added, {} changed, {} removed, {} unchanged",
            c.added, c.replaced, c.removed, c.unchanged
        );
    }

    async fn request(&mut self, req: Request) -> Response {
        let now = Instant::now();
        let engine_err = |e: DriverError| match e {
            DriverError::NotWired => Response::error(ErrorKind::NotWired, e.to_string()),
            DriverError::Refused(m) => Response::error(ErrorKind::Refused, m),
        };
        let kernel_err =
            |e: userspace::DataplaneError| Response::error(ErrorKind::Kernel, e.to_string());
        match req {
            Request::Status => {
                let peers = self.driver.peers(now).unwrap_or_default();
                Response::Ok(Reply::Status(StatusReply {
                    version: env!("CARGO_PKG_VERSION").into(),
                    pid: std::process::id(),
                    config: self.config.file().into(),
                    uptime: self.started.elapsed().as_secs(),
                    engine: self.driver.state(),
                    listening: self.sockets.iter().map(|s| s.bound().to_string()).collect(),
                    peers,
                    radius: self.aaa.as_ref().map(|a| a.status(now)).unwrap_or_default(),
                    radius_accounting_backlog: self.aaa.as_ref().map(Aaa::backlog),
                }))
            }
            Request::Sas => match self.dataplane.list_sas(&*self.driver).await {
                Ok(rows) => Response::Ok(Reply::Sas(rows)),
                Err(e) => kernel_err(e),
            },
            Request::Policies => match self.dataplane.list_policies().await {
                Ok(rows) => Response::Ok(Reply::Policies(rows)),
                Err(e) => kernel_err(e),
            },
            Request::Stats => {
                // The dataplane's counters: the kernel's xfrm_stat, or the userspace
                // dataplane's under the same names where they mean the same.
                let kernel = match self.dataplane.stats() {
                    Ok(v) => v
                        .into_iter()
                        .map(|(name, value)| Counter { name, value })
                        .collect(),
                    Err(e) => return kernel_err(e),
                };
                let mut engine = self.driver.stats().unwrap_or_default();
                if let Some(aaa) = &self.aaa {
                    engine.extend(
                        aaa.stats()
                            .into_iter()
                            .map(|(name, value)| Counter { name, value }),
                    );
                }
                Response::Ok(Reply::Stats(StatsReply {
                    kernel,
                    engine,
                    engine_state: self.driver.state(),
                }))
            }
            Request::Up { name } => {
                if self.config.peer(&name).is_none() {
                    return Response::error(ErrorKind::Refused, format!("no peer named {name:?}"));
                }
                match self.driver.initiate(now, &name) {
                    Ok(()) => Response::done(format!("initiating peer {name:?}"), None),
                    Err(e) => engine_err(e),
                }
            }
            Request::Down { name } => match self.driver.terminate(now, Some(&name)) {
                Ok(n) => {
                    self.drain().await;
                    Response::done(
                        format!("terminated {n} session(s) with peer {name:?}"),
                        Some(n),
                    )
                }
                Err(e) => engine_err(e),
            },
            Request::KillConnections => {
                let peers = match self.driver.terminate(now, None) {
                    Ok(n) => {
                        self.drain().await;
                        Some(n)
                    }
                    Err(DriverError::NotWired) => None,
                    Err(e) => return engine_err(e),
                };
                // What the engine did not account for (or all, without an engine).
                match self.dataplane.flush_sas(None).await {
                    Ok(rest) => Response::done(
                        match peers {
                            Some(n) => format!(
                                "terminated {n} peer session(s); flushed {} remaining SAs",
                                rest.len()
                            ),
                            None => format!(
                                "engine not wired, no peer sessions; flushed {} SAs",
                                rest.len()
                            ),
                        },
                        peers,
                    ),
                    Err(e) => kernel_err(e),
                }
            }
            Request::Flush { what } => {
                let proto = match what {
                    FlushWhat::Ah => Some(xfrm::IpsecProto::Ah),
                    FlushWhat::Esp => Some(xfrm::IpsecProto::Esp),
                    FlushWhat::All => None,
                };
                match self.dataplane.flush_sas(proto).await {
                    Ok(gone) => {
                        for &(_, spi) in &gone {
                            self.driver.sa_expired(now, spi, true);
                        }
                        self.drain().await;
                        Response::done(format!("flushed {} SAs", gone.len()), Some(gone.len()))
                    }
                    Err(e) => kernel_err(e),
                }
            }
        }
    }
}

/// `[daemon] dataplane`: whether to use the kernel's XFRM (else the userspace dataplane).
/// `auto` probes whether the kernel can hold an ESP SA and says what it chose; with
/// `transport-nat-aliases` set it takes the userspace dataplane, the only one that has them.
async fn choose_dataplane(wanted: ConfigDataplane, aliases: bool, kernel: &Kernel) -> bool {
    match wanted {
        ConfigDataplane::Kernel => {
            info!("dataplane: kernel XFRM (configured)");
            true
        }
        ConfigDataplane::Userspace => {
            info!("dataplane: userspace ESP over a TUN device (configured)");
            false
        }
        ConfigDataplane::Auto if aliases => {
            info!(
                "dataplane: userspace ESP over a TUN device (dataplane = \"auto\" with \
                 transport-nat-aliases, which only the userspace dataplane has)"
            );
            false
        }
        ConfigDataplane::Auto => match userspace::probe_kernel_esp(kernel).await {
            Ok(()) => {
                info!("dataplane: kernel XFRM (dataplane = \"auto\": this kernel has ESP)");
                true
            }
            Err(e) => {
                info!(
                    "dataplane: userspace ESP over a TUN device (dataplane = \"auto\": this \
                     kernel cannot hold an ESP SA: {e})"
                );
                false
            }
        },
    }
}

async fn read_socket(socket: Arc<IkeSocket>, tx: mpsc::Sender<Incoming>) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        match socket.recv(&mut buf).await {
            Ok((n, remote, local)) => {
                let d = Incoming {
                    local,
                    remote,
                    data: buf[..n].to_vec(),
                };
                if tx.send(d).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                warn!("receiving on {}: {e}", socket.bound());
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

async fn read_monitor(mut monitor: xfrm::Monitor, tx: mpsc::Sender<xfrm::Event>) {
    loop {
        match monitor.next().await {
            Ok(ev) => {
                if tx.send(ev).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                warn!("XFRM events: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    }
}

/// The counters as accounting takes them: (SPI, octets, packets).
fn octets(counts: &[userspace::SaCount]) -> Vec<(u32, u64, u64)> {
    counts.iter().map(|c| (c.spi, c.bytes, c.packets)).collect()
}
