//! Embedding `ipsec-core`: your program owns the sockets, the clock and the threads; the
//! engine only says what to send and what happened.
//!
//! ```text
//! cargo run -p ipsec-core --example embed -- [CONFIG.toml] [--listen ADDR] [--initiate PEER]
//!                                            [--sas N] [--linger SECS] [--timeout SECS]
//! ```
//!
//! Without CONFIG.toml it uses [`BUILT_IN`]: 198.18.0.1 with a pre-shared key to a peer at
//! 198.18.0.2 (198.51.100.1/32 === 203.0.113.1/32). It binds UDP 500 and 4500 on `--listen`
//! (default: the configuration's first `[daemon] listen` address), optionally starts a tunnel
//! to `--initiate PEER`, prints phase 1 / phase 2 / delete events (SA parameters, never
//! keys), and stops after `--sas N` IPsec SAs were up for `--linger` seconds, or after
//! `--timeout` seconds (default 60). Stopping deletes every SA with the peers (a clean exit).
//! Exit status: 0, or 1 if `--sas N` was not reached in time, 2 for bad arguments.
//!
//! This program installs nothing in the kernel: a real embedder would hand `InstallSa` to
//! XFRM or to `ipsec_core::esp` (a userspace dataplane), as `iked` does.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant, SystemTime};

use ipsec_core::config::Config;
use ipsec_core::engine::{Credentials, Direction, Engine, EngineOptions, Event, TsAddr};
use ipsec_core::pki::UnixTime;
use ipsec_core::wire::ExchangeType;

/// The configuration used when none is given (the same format `iked` reads).
const BUILT_IN: &str = r#"
[daemon]
listen = ["198.18.0.1"]

[[peer]]
name = "office"
address = "198.18.0.2/32"
local-address = "198.18.0.1"
exchange-mode = "main"
secret = "embed-example-psk"
dh-group = ["modp2048"]
enc-algorithm = ["aes-128"]
hash-algorithm = ["sha256"]
nat-traversal = true

[[proposal]]
name = "esp"
enc-algorithms = ["aes-128-cbc"]
auth-algorithms = ["sha1"]
pfs-group = "none"

[[policy]]
src-address = "198.51.100.1/32"
dst-address = "203.0.113.1/32"
tunnel = true
sa-src-address = "198.18.0.1"
sa-dst-address = "198.18.0.2"
proposal = "esp"
"#;

fn main() {
    // --- Arguments (std only, to keep the example about the engine) -------------------
    let (mut file, mut listen, mut initiate) = (None, None, None);
    let (mut want_sas, mut linger, mut timeout): (Option<u64>, u64, u64) = (None, 0, 60);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| fail(&"an option needs a value"))
        };
        let mut number = || value().parse::<u64>().unwrap_or_else(|e| fail(&e));
        match a.as_str() {
            "--listen" => listen = Some(value().parse::<IpAddr>().unwrap_or_else(|e| fail(&e))),
            "--initiate" => initiate = Some(value()),
            "--sas" => want_sas = Some(number()),
            "--linger" => linger = number(),
            "--timeout" => timeout = number(),
            _ if !a.starts_with("--") && file.is_none() => file = Some(a),
            _ => fail(&format!("unexpected argument {a:?}")),
        }
    }

    // --- Configuration: parsed and validated once into an immutable snapshot ------------
    let text = match &file {
        Some(f) => std::fs::read_to_string(f).unwrap_or_else(|e| fail(&format!("{f}: {e}"))),
        None => BUILT_IN.to_string(),
    };
    let name = file.as_deref().unwrap_or("<built-in>");
    let snapshot = Config::from_toml_str(&text, name).unwrap_or_else(|errors| {
        // Every error says file, line, key and what was expected.
        errors.iter().for_each(|e| eprintln!("{e}"));
        std::process::exit(2)
    });
    for w in snapshot.warnings() {
        eprintln!("warning: {w}");
    }
    // The engine reads no files: certificates named by the configuration (none for a PSK)
    // are read here (relative paths from the working directory; `iked` uses the file's).
    let credentials =
        Credentials::from_config(&snapshot, |p| std::fs::read(p)).unwrap_or_else(|e| fail(&e));
    let listen = listen
        .or_else(|| snapshot.daemon().listen.first().copied())
        .unwrap_or_else(|| fail(&"--listen ADDR (or [daemon] listen) is required"));
    let options = EngineOptions {
        ike_port: snapshot.daemon().port,
        nat_t_port: snapshot.daemon().nat_t_port,
        ..EngineOptions::default()
    };

    // --- Sockets: ours, not the engine's. One reader thread per socket feeds a channel, so
    // that the engine itself lives on this thread only and needs no locking. ---------------
    let (tx, rx) = mpsc::channel::<(SocketAddr, SocketAddr, Vec<u8>)>();
    let mut sockets = Vec::new();
    for port in [options.ike_port, options.nat_t_port] {
        let local = SocketAddr::new(listen, port);
        let socket = UdpSocket::bind(local).unwrap_or_else(|e| fail(&format!("{local}: {e}")));
        let (reader, tx) = (socket.try_clone().unwrap_or_else(|e| fail(&e)), tx.clone());
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65_535];
            while let Ok((n, remote)) = reader.recv_from(&mut buf) {
                if tx.send((local, remote, buf[..n].to_vec())).is_err() {
                    break; // main loop is gone
                }
            }
        });
        sockets.push(socket);
    }
    println!("listening on {listen}");

    // --- The engine: configuration, randomness and options go in; no I/O comes out. ------
    let start = Instant::now();
    let rng = Arc::new(ring::rand::SystemRandom::new());
    let mut engine = Engine::new(Arc::new(snapshot), rng, options);
    engine.set_credentials(credentials);
    // Certificate validity needs wall-clock time; the engine only ever sees `Instant`s.
    engine.set_wall_clock(start, UnixTime::from(SystemTime::now()));
    if let Some(peer) = &initiate {
        // Phase 1, then a quick mode for each of the peer's policies.
        engine.initiate(start, peer).unwrap_or_else(|e| fail(&e));
        println!("initiating to {peer}");
    }

    // --- The loop: send, react, wait for a datagram or the engine's next timer. ----------
    let mut stop_at = start + Duration::from_secs(timeout);
    let mut sas = 0u64;
    loop {
        send_all(&mut engine, &sockets);
        while let Some(event) = engine.poll_event() {
            // An SA pair is usable once we may send on it: count its outbound half.
            if matches!(&event, Event::InstallSa(s) if s.direction == Direction::Outbound) {
                sas += 1;
                if want_sas.is_some_and(|n| sas == n) {
                    stop_at = stop_at.min(Instant::now() + Duration::from_secs(linger));
                }
            }
            print_event(&engine, &event);
        }
        let now = Instant::now();
        if now >= stop_at {
            break;
        }
        // Sleep until a datagram arrives or the engine's next deadline (retransmission,
        // rekey, expiry, DPD), whichever comes first; never past our own stop time.
        let wake = engine.poll_timeout().map_or(stop_at, |t| t.min(stop_at));
        match rx.recv_timeout(wake.saturating_duration_since(now)) {
            Ok((local, remote, payload)) => {
                engine.handle_datagram(Instant::now(), local, remote, &payload)
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        // Timers fire on time even while datagrams keep arriving.
        let now = Instant::now();
        if engine.poll_timeout().is_some_and(|t| t <= now) {
            engine.handle_timeout(now);
        }
    }

    // --- A clean stop: Delete notifications to every peer, then report what went away. ---
    let now = Instant::now();
    for (peer, name) in engine.peers() {
        println!("terminating {name}");
        engine.terminate(now, peer);
    }
    send_all(&mut engine, &sockets);
    while let Some(event) = engine.poll_event() {
        print_event(&engine, &event);
    }
    println!(
        "stopped after {:.1} s with {sas} IPsec SA(s)",
        start.elapsed().as_secs_f64()
    );
    std::process::exit(i32::from(want_sas.is_some_and(|n| sas < n)));
}

/// Sends every datagram the engine queued, from the socket bound to its source port. (The
/// source address may be unspecified before the engine knows it; our sockets fix it.)
fn send_all(engine: &mut Engine, sockets: &[UdpSocket]) {
    while let Some(t) = engine.poll_transmit() {
        let socket = sockets
            .iter()
            .find(|s| s.local_addr().is_ok_and(|a| a.port() == t.local.port()));
        match socket.map(|s| s.send_to(&t.payload, t.remote)) {
            Some(Ok(_)) => {}
            Some(Err(e)) => eprintln!("send to {}: {e}", t.remote),
            None => eprintln!("no socket for source {}", t.local),
        }
    }
}

/// One line per event. `InstallSa` carries the ESP keys: an embedder hands them to its
/// dataplane and never prints them.
fn print_event(engine: &Engine, event: &Event) {
    match event {
        // The first ISAKMP SA with a peer also brings `PeerUp`: the phase 1 line says it all.
        Event::PeerUp { .. } => {}
        Event::PeerDown { reason, .. } => println!("peer down: {reason:?}"),
        Event::IsakmpSaUp { spi, .. } => {
            // The engine's view of the new ISAKMP SA: what was negotiated, with whom.
            let Some(sa) = engine.isakmp_sas().into_iter().find(|s| s.spi == *spi) else {
                return;
            };
            let peer = sa.peer_name.as_deref().unwrap_or("?");
            let aggressive = sa.exchange == ExchangeType::Aggressive;
            let mode = if aggressive { "aggressive" } else { "main" };
            let suite = sa.suite.map_or(String::new(), |s| {
                let a = s.algorithms;
                let (cipher, hash) = (a.cipher.name(), a.hash.name());
                format!("{cipher} {hash} {:?}, {:?} s", a.group, s.lifetime.seconds)
            });
            println!(
                "phase 1 up: {peer} {} <-> {} {mode} mode as {:?}, {suite}, NAT (us, peer) {:?}",
                sa.local, sa.remote, sa.role, sa.nat
            );
        }
        Event::IsakmpSaDown { spi, .. } => {
            println!("phase 1 down: cookies {}", hex::encode(spi.initiator))
        }
        Event::InstallSa(s) => {
            let ts = |t: &TsAddr| match t {
                TsAddr::Prefix(p) => p.to_string(),
                TsAddr::Range(r) => r.to_string(),
            };
            println!(
                "phase 2 up: {:?} SPI {:08x} {} -> {} {:?} {}/{} encap {:?}, {} === {}, lifetime {:?}",
                s.direction,
                s.spi,
                s.src,
                s.dst,
                s.mode,
                s.transform.encryption.name(),
                s.transform.integrity.name(),
                s.encap.map(|e| (e.local_port, e.remote_port)),
                ts(&s.selector.local),
                ts(&s.selector.remote),
                s.lifetime.hard,
            );
        }
        Event::DeleteSa(d) => println!(
            "deleted: {:?} SPI {:08x} ({:?})",
            d.direction, d.spi, d.reason
        ),
        Event::NegotiationFailed { phase, reason, .. } => {
            println!("negotiation failed: phase {phase:?}: {reason}")
        }
        Event::Rejected { remote, reason, .. } => {
            println!("rejected datagram from {remote}: {reason}")
        }
        // XAuth, mode-config and NAT mapping changes do not arise in a PSK site-to-site setup.
        other => println!("event: {other:?}"),
    }
}

fn fail(e: &dyn std::fmt::Display) -> ! {
    eprintln!("embed: {e}");
    std::process::exit(2)
}
