//! A tiny driver of the sans-IO engine on real UDP sockets, for interop checks.
//!
//! ```text
//! udp-driver CONFIG.toml --listen 198.18.0.1 [--initiate PEER]... [--exit-after-installs N]
//!            [--timeout SECS] [--linger SECS] [--terminate-after SECS]
//! ```
//!
//! It binds UDP ports 500 and 4500 (the configuration's `[daemon] port` / `nat-t-port`) on the
//! `--listen` address, feeds every datagram to the engine, sends what the engine asks, and
//! prints every event. Installed SAs are printed with their keys in hex (this is a test tool:
//! the keys are what an interop check compares with the peer's log). It exits after
//! `--exit-after-installs` SAs (one direction each) were installed and `--linger` seconds
//! passed, or after `--timeout` seconds. With `--terminate-after`, every peer is terminated
//! (Delete notifications sent) that many seconds after the start, and the driver goes on
//! until the exit condition.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ipsec_core::config::Config;
use ipsec_core::engine::{Credentials, Engine, EngineOptions, Event};
use ipsec_core::pki::UnixTime;

struct Args {
    config: String,
    listen: IpAddr,
    initiate: Vec<String>,
    exit_after_installs: Option<usize>,
    timeout: Duration,
    linger: Duration,
    terminate_after: Option<Duration>,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mut config = None;
    let mut listen = None;
    let mut initiate = Vec::new();
    let mut exit_after_installs = None;
    let mut timeout = Duration::from_secs(60);
    let mut linger = Duration::from_secs(2);
    let mut terminate_after = None;
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--listen" => {
                listen = Some(
                    value("--listen")?
                        .parse()
                        .map_err(|e| format!("--listen: {e}"))?,
                )
            }
            "--initiate" => initiate.push(value("--initiate")?),
            "--exit-after-installs" => {
                exit_after_installs = Some(
                    value("--exit-after-installs")?
                        .parse()
                        .map_err(|e| format!("{e}"))?,
                )
            }
            "--timeout" => {
                timeout =
                    Duration::from_secs(value("--timeout")?.parse().map_err(|e| format!("{e}"))?)
            }
            "--terminate-after" => {
                terminate_after = Some(Duration::from_secs(
                    value("--terminate-after")?
                        .parse()
                        .map_err(|e| format!("{e}"))?,
                ))
            }
            "--linger" => {
                linger =
                    Duration::from_secs(value("--linger")?.parse().map_err(|e| format!("{e}"))?)
            }
            _ if config.is_none() && !a.starts_with("--") => config = Some(a),
            _ => return Err(format!("unexpected argument {a:?}")),
        }
    }
    Ok(Args {
        config: config.ok_or("usage: udp-driver CONFIG.toml --listen ADDR [--initiate PEER]")?,
        listen: listen.ok_or("--listen ADDR is required (the engine needs its own address)")?,
        initiate,
        exit_after_installs,
        timeout,
        linger,
        terminate_after,
    })
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let text = std::fs::read_to_string(&args.config).unwrap_or_else(|e| {
        eprintln!("{}: {e}", args.config);
        std::process::exit(2);
    });
    let snapshot = Config::from_toml_str(&text, &args.config).unwrap_or_else(|errors| {
        for e in errors {
            eprintln!("{e}");
        }
        std::process::exit(2);
    });
    for w in snapshot.warnings() {
        eprintln!("warning: {w}");
    }
    let options = EngineOptions {
        ike_port: snapshot.daemon().port,
        nat_t_port: snapshot.daemon().nat_t_port,
        ..EngineOptions::default()
    };
    let ports = [options.ike_port, options.nat_t_port];
    let mut sockets = Vec::new();
    let (tx, rx) = mpsc::channel::<(SocketAddr, SocketAddr, Vec<u8>)>();
    for port in ports {
        let local = SocketAddr::new(args.listen, port);
        let socket = UdpSocket::bind(local).unwrap_or_else(|e| {
            eprintln!("bind {local}: {e}");
            std::process::exit(1);
        });
        let reader = socket.try_clone().expect("clone socket");
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65_536];
            while let Ok((n, remote)) = reader.recv_from(&mut buf) {
                if tx.send((local, remote, buf[..n].to_vec())).is_err() {
                    return;
                }
            }
        });
        sockets.push((port, socket));
    }
    // The certificate files the configuration names (`certificate`, `ca`,
    // `remote-certificate`, `crl`), relative to the working directory.
    let credentials =
        Credentials::from_config(&snapshot, |p| std::fs::read(p)).unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(2);
        });
    let rng = Arc::new(ring::rand::SystemRandom::new());
    let mut engine = Engine::new(Arc::new(snapshot), rng, options);
    let start = Instant::now();
    // RSA signatures: the engine reads no files and no clock; hand it both.
    engine.set_credentials(credentials);
    engine.set_wall_clock(start, UnixTime::from(std::time::SystemTime::now()));
    for peer in &args.initiate {
        match engine.initiate(start, peer) {
            Ok(id) => println!("INITIATE {peer} -> {id:?}"),
            Err(e) => {
                eprintln!("initiate {peer}: {e}");
                std::process::exit(1);
            }
        }
    }
    let mut installs = 0usize;
    let mut done_at: Option<Instant> = None;
    let mut terminated = false;
    loop {
        while let Some(t) = engine.poll_transmit() {
            let Some((_, socket)) = sockets.iter().find(|(p, _)| *p == t.local.port()) else {
                eprintln!("no socket for {}", t.local);
                continue;
            };
            if let Err(e) = socket.send_to(&t.payload, t.remote) {
                eprintln!("send to {}: {e}", t.remote);
            }
        }
        while let Some(e) = engine.poll_event() {
            print_event(&e);
            if matches!(e, Event::InstallSa(_)) {
                installs += 1;
                if args.exit_after_installs.is_some_and(|n| installs >= n) && done_at.is_none() {
                    done_at = Some(Instant::now() + args.linger);
                }
            }
        }
        let now = Instant::now();
        if let Some(after) = args.terminate_after
            && now.duration_since(start) >= after
            && !terminated
        {
            terminated = true;
            for (peer, name) in engine.peers() {
                println!("TERMINATE {name} {peer:?}");
                engine.terminate(now, peer);
            }
            continue;
        }
        if done_at.is_some_and(|t| now >= t) {
            println!("DONE installs={installs} stats={:?}", engine.stats());
            return;
        }
        if now.duration_since(start) >= args.timeout {
            println!("TIMEOUT installs={installs} stats={:?}", engine.stats());
            std::process::exit(1);
        }
        let mut wait = Duration::from_millis(200);
        if let Some(t) = engine.poll_timeout() {
            wait = wait.min(t.saturating_duration_since(now));
        }
        match rx.recv_timeout(wait) {
            Ok((local, remote, payload)) => {
                engine.handle_datagram(Instant::now(), local, remote, &payload)
            }
            Err(mpsc::RecvTimeoutError::Timeout) => engine.handle_timeout(Instant::now()),
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

fn print_event(e: &Event) {
    match e {
        Event::InstallSa(s) => {
            println!(
                "INSTALL {:?} spi={:08x} {}->{} {:?} encap={:?} {} {} enc_key={} salt={} integ_key={} lifetime={:?}",
                s.direction,
                s.spi,
                s.src,
                s.dst,
                s.mode,
                s.encap,
                s.transform.encryption.name(),
                s.transform.integrity.name(),
                hex::encode(s.keys.encryption.as_bytes()),
                s.keys
                    .salt
                    .as_ref()
                    .map(|k| hex::encode(k.as_bytes()))
                    .unwrap_or_default(),
                hex::encode(s.keys.integrity.as_bytes()),
                s.lifetime,
            );
            println!("  selector {:?}", s.selector);
        }
        other => println!("EVENT {other:?}"),
    }
}
