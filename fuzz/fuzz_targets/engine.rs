//! Fuzz target `engine`: datagrams from the network into a responder engine.
//!
//! Input: like `datagram` (2 bytes of local UDP port, then the UDP payload), optionally several
//! datagrams separated by the 4-byte marker `IKE|`. They are handed, in order and from two
//! source addresses, to one `Engine` configured as a main-mode and an aggressive-mode PSK
//! responder; the engine's timers are run between datagrams and everything it wants to send is
//! drained. Checks: nothing panics, every datagram is counted, and the engine's queues stay
//! bounded. (The handshake-in-progress cases, where fuzzed bytes carry live cookies, are in
//! `ipsec-core/tests/engine_fuzz.rs`: they need a cooperating peer.)
#![no_main]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use ipsec_core::config::{Config, Snapshot};
use ipsec_core::engine::{Engine, EngineOptions};
use libfuzzer_sys::fuzz_target;

const CONFIG: &str = r#"
[[peer]]
name = "main"
address = "198.18.0.0/24"
local-address = "198.18.1.1"
secret = "fuzz-secret"
exchange-mode = "main"

[[peer]]
name = "aggressive"
address = "198.18.0.0/24"
local-address = "198.18.1.1"
secret = "fuzz-secret"
exchange-mode = "aggressive"

[[proposal]]
name = "p"

[[policy]]
src-address = "203.0.113.0/24"
dst-address = "198.51.100.0/24"
tunnel = true
sa-src-address = "198.18.1.1"
sa-dst-address = "198.18.0.1"
proposal = "p"
"#;

fn snapshot() -> Arc<Snapshot> {
    static SNAPSHOT: OnceLock<Arc<Snapshot>> = OnceLock::new();
    SNAPSHOT
        .get_or_init(|| {
            Arc::new(Config::from_toml_str(CONFIG, "fuzz.toml").expect("fuzz config is valid"))
        })
        .clone()
}

fuzz_target!(|data: &[u8]| {
    let mut engine = Engine::new(
        snapshot(),
        Arc::new(ring::rand::SystemRandom::new()),
        EngineOptions::default(),
    );
    let start = Instant::now();
    let mut now = start;
    let mut fed = 0u64;
    for (i, chunk) in split(data).enumerate().take(16) {
        let Some((port, payload)) = chunk.split_first_chunk::<2>() else {
            continue;
        };
        let local_port = u16::from_be_bytes(*port);
        let local = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 18, 1, 1)), local_port);
        let source = Ipv4Addr::new(198, 18, 0, 1 + (i % 2) as u8);
        let remote = SocketAddr::new(IpAddr::V4(source), local_port);
        engine.handle_datagram(now, local, remote, payload);
        fed += 1;
        now += Duration::from_millis(700);
        engine.handle_timeout(now);
        for _ in 0..64 {
            if engine.poll_transmit().is_none() {
                break;
            }
        }
        for _ in 0..64 {
            if engine.poll_event().is_none() {
                break;
            }
        }
    }
    assert_eq!(engine.stats().datagrams_received, fed);
    // Whatever is left behind times out: run the clock well past every state's deadline.
    engine.handle_timeout(start + Duration::from_secs(3600));
});

/// Splits the input at each `IKE|` marker.
fn split(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(data);
    std::iter::from_fn(move || {
        let r = rest?;
        match r.windows(4).position(|w| w == b"IKE|") {
            Some(i) => {
                rest = r.get(i + 4..);
                r.get(..i)
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}
