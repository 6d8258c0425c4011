//! Arbitrary bytes into `handle_datagram` of a responder, of an initiator in the middle of
//! its handshake, and of an established pair: the engine never panics, counts every
//! rejection, and the real handshake still completes afterwards.

mod engine_sim;

use std::net::SocketAddr;
use std::time::Duration;

use engine_sim::{Scenario, Sim, established};
use ipsec_core::engine::EngineOptions;
use proptest::prelude::*;

fn scenario(mode: &'static str) -> Scenario {
    Scenario {
        exchange_mode: mode,
        dh_group: "ecp256",
        pfs_group: "ecp256",
        ..Scenario::default()
    }
}

/// Feeds `payload` to node `to` on port `port`, from the other node's address.
fn feed(sim: &mut Sim, to: usize, port: u16, payload: &[u8]) {
    let local = SocketAddr::new(sim.nodes[to].addr, port);
    let remote = SocketAddr::new(sim.nodes[1 - to].addr, port);
    let now = sim.now;
    sim.nodes[to]
        .engine
        .handle_datagram(now, local, remote, payload);
    let later = now + Duration::from_millis(1);
    sim.nodes[to].engine.handle_timeout(later);
}

/// An ISAKMP header with these cookies, exchange type and flags, followed by `body`.
fn with_header(
    cky_i: [u8; 8],
    cky_r: [u8; 8],
    exchange: u8,
    flags: u8,
    mid: u32,
    next: u8,
    body: &[u8],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(28 + body.len());
    m.extend_from_slice(&cky_i);
    m.extend_from_slice(&cky_r);
    m.push(next);
    m.push(0x10);
    m.push(exchange);
    m.push(flags);
    m.extend_from_slice(&mid.to_be_bytes());
    m.extend_from_slice(&((28 + body.len()) as u32).to_be_bytes());
    m.extend_from_slice(body);
    m
}

fn exchange_type() -> impl Strategy<Value = u8> {
    prop_oneof![Just(2u8), Just(4), Just(5), Just(6), Just(32), any::<u8>()]
}

proptest! {
    // 128 cases by default; PROPTEST_CASES=N for a longer run.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(128),
        .. ProptestConfig::default()
    })]

    #[test]
    fn responder_survives_arbitrary_datagrams(
        datagrams in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..600), 1..8),
        nat_t in any::<bool>(),
    ) {
        let mut sim = scenario("main").sim(1, EngineOptions::default());
        for d in &datagrams {
            feed(&mut sim, 1, if nat_t { 4500 } else { 500 }, d);
        }
        let stats = sim.nodes[1].engine.stats();
        prop_assert_eq!(stats.datagrams_received, datagrams.len() as u64);
    }

    #[test]
    fn responder_survives_well_framed_garbage(
        cky_i in any::<[u8; 8]>(),
        exchange in exchange_type(),
        flags in 0u8..8,
        mid in any::<u32>(),
        next in 0u8..25,
        body in prop::collection::vec(any::<u8>(), 0..800),
    ) {
        let mut sim = scenario("aggressive").sim(2, EngineOptions::default());
        feed(&mut sim, 1, 500, &with_header(cky_i, [0; 8], exchange, flags, mid, next, &body));
        // The real exchange still works afterwards.
        let now = sim.now;
        sim.nodes[0].engine.initiate(now, "b").unwrap();
        prop_assert!(sim.run_until(Duration::from_secs(10), established));
    }

    #[test]
    fn initiator_mid_handshake_survives_garbage_with_its_cookies(
        mode in prop_oneof![Just("main"), Just("aggressive")],
        after in 1usize..5,
        exchange in exchange_type(),
        flags in 0u8..8,
        mid in any::<u32>(),
        next in 0u8..25,
        body in prop::collection::vec(any::<u8>(), 0..800),
        to_responder in any::<bool>(),
    ) {
        let mut sim = scenario(mode).sim(3, EngineOptions::default());
        let now = sim.now;
        sim.nodes[0].engine.initiate(now, "b").unwrap();
        // Run until `after` messages went by, then inject garbage with the SA's cookies.
        sim.run_until(Duration::from_secs(10), |sim| sim.sent.len() >= after);
        let sas = sim.nodes[0].engine.isakmp_sas();
        let spi = sas[0].spi;
        let to = if to_responder { 1 } else { 0 };
        let port = sim.nodes[to].engine.isakmp_sas().first().map_or(500, |s| s.local.port());
        let mut m = with_header(spi.initiator, spi.responder, exchange, flags, mid, next, &body);
        if port == 4500 {
            m.splice(0..0, [0u8; 4]);
        }
        feed(&mut sim, to, port, &m);
        // The handshake is not disturbed by what does not authenticate.
        prop_assert!(sim.run_until(Duration::from_secs(120), |sim| established(sim)
            && sim.nodes[1].installed.len() == 2));
    }

    #[test]
    fn mutated_real_messages_never_panic(
        mode in prop_oneof![Just("main"), Just("aggressive")],
        which in 0usize..9,
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        truncate in prop::option::of(any::<usize>()),
    ) {
        let mut sim = scenario(mode).sim(4, EngineOptions::default());
        let now = sim.now;
        sim.nodes[0].engine.initiate(now, "b").unwrap();
        sim.run_until(Duration::from_secs(10), established);
        let Some(p) = sim.sent.get(which.min(sim.sent.len() - 1)).cloned() else {
            return Ok(());
        };
        let mut m = p.payload.clone();
        for (at, x) in &flips {
            let i = at % m.len();
            m[i] ^= x | 1;
        }
        if let Some(t) = truncate {
            m.truncate(t % (m.len() + 1));
        }
        feed(&mut sim, p.to, p.dst.port(), &m);
        feed(&mut sim, 1 - p.to, p.src.port(), &m);
        sim.run_for(Duration::from_secs(5), |_| {});
    }
}
