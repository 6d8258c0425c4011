//! Full phase 1 (main mode, PSK) + quick mode handshakes per second of an in-process engine
//! pair, per Diffie-Hellman group: datagrams are handed from one engine to the other
//! directly, both sides' work (DH, key derivation, encryption, hashing) is measured.
//!
//! `cargo bench -p ipsec-core --bench handshake`

#[path = "../tests/engine_sim/mod.rs"]
mod engine_sim;

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use engine_sim::Scenario;
use ipsec_core::config::Snapshot;
use ipsec_core::engine::{Engine, EngineOptions, Event};

/// One handshake: A initiates to B; returns when both installed their SA pair.
fn handshake(a_cfg: &Arc<Snapshot>, b_cfg: &Arc<Snapshot>, rng: &Arc<ring::rand::SystemRandom>) {
    let mut a = Engine::new(Arc::clone(a_cfg), rng.clone(), EngineOptions::default());
    let mut b = Engine::new(Arc::clone(b_cfg), rng.clone(), EngineOptions::default());
    let now = Instant::now();
    a.initiate(now, "b").expect("initiate");
    let mut installed = [0usize; 2];
    let addr = |side: usize| -> std::net::IpAddr {
        if side == 0 {
            engine_sim::A
        } else {
            engine_sim::B
        }
        .parse()
        .unwrap()
    };
    for _ in 0..64 {
        let mut moved = false;
        for from in [0usize, 1] {
            let (src, dst) = if from == 0 {
                (&mut a, &mut b)
            } else {
                (&mut b, &mut a)
            };
            while let Some(t) = src.poll_transmit() {
                moved = true;
                let mut local = t.local;
                if local.ip().is_unspecified() {
                    local = SocketAddr::new(addr(from), local.port());
                }
                dst.handle_datagram(now, t.remote, local, &t.payload);
            }
        }
        for (i, e) in [&mut a, &mut b].into_iter().enumerate() {
            while let Some(ev) = e.poll_event() {
                if matches!(ev, Event::InstallSa(_)) {
                    installed[i] += 1;
                }
            }
        }
        if installed == [2, 2] {
            black_box((&a, &b));
            return;
        }
        if !moved {
            break;
        }
    }
    panic!("handshake did not complete: {installed:?}");
}

fn bench(c: &mut Criterion) {
    let rng = Arc::new(ring::rand::SystemRandom::new());
    let mut group = c.benchmark_group("main mode PSK + quick mode");
    group.throughput(Throughput::Elements(1));
    for dh in ["modp2048", "ecp256", "modp1024"] {
        let s = Scenario {
            dh_group: dh,
            ..Scenario::default()
        };
        let (a, b) = (s.config(true), s.config(false));
        group.bench_function(dh, |bench| bench.iter(|| handshake(&a, &b, &rng)));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
