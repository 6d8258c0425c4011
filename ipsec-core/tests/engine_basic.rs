//! Main mode and aggressive mode with pre-shared keys, then quick mode: both roles, with and
//! without PFS, tunnel and transport, in a simulated network.

mod engine_sim;

use std::time::Duration;

use engine_sim::{Scenario, Sim, established, pairs_match};
use ipsec_core::crypto::esp::{EspEncryption, EspIntegrity};
use ipsec_core::engine::{Direction, EngineOptions, Event, Phase, PolicyId, Reject, UdpEncap};
use ipsec_core::proposal::phase2::Mode;

/// Runs a handshake started by node `initiator` and checks both sides' SAs.
fn handshake_from(s: &Scenario, initiator: usize) -> Sim {
    let mut sim = s.sim(1, EngineOptions::default());
    let now = sim.now;
    let peer = if initiator == 0 { "b" } else { "a" };
    sim.nodes[initiator]
        .engine
        .initiate(now, peer)
        .expect("initiate");
    assert!(
        sim.run_until(Duration::from_secs(10), established),
        "no SA pair for {s:?}: a {:?}\nb {:?}\nstats a {:?}\nstats b {:?}",
        sim.nodes[0].events,
        sim.nodes[1].events,
        sim.nodes[0].engine.stats(),
        sim.nodes[1].engine.stats()
    );
    let (a, b) = (&sim.nodes[0], &sim.nodes[1]);
    assert!(pairs_match(a, b));
    assert_eq!(a.installed.len(), 2);
    assert_eq!(b.installed.len(), 2);
    // The initiator's outbound keys are the responder's inbound keys for the same SPI, and
    // the other way round.
    for (x, y) in [(a, b), (b, a)] {
        let out = x.outbound().next().unwrap();
        let inb = &y.installed[&(Direction::Inbound, out.spi)];
        assert_eq!(out.keys, inb.keys);
        assert_eq!(out.transform, inb.transform);
        assert_eq!((out.src, out.dst), (inb.src, inb.dst));
        assert_eq!(out.mode, inb.mode);
        assert_eq!(out.selector.local, inb.selector.remote);
        assert_eq!(out.selector.remote, inb.selector.local);
        assert_ne!(out.spi, x.inbound().next().unwrap().spi);
    }
    let mode = a.outbound().next().unwrap().mode;
    assert_eq!(
        mode,
        if s.tunnel {
            Mode::Tunnel
        } else {
            Mode::Transport
        }
    );
    for n in [a, b] {
        assert_eq!(
            n.engine.stats().total_rejected(),
            0,
            "{:?}",
            n.engine.stats()
        );
        assert_eq!(n.count(|e| matches!(e, Event::PeerUp { .. })), 1);
        assert_eq!(n.count(|e| matches!(e, Event::IsakmpSaUp { .. })), 1);
        assert_eq!(n.engine.isakmp_sas().len(), 1);
        assert_eq!(n.engine.ipsec_sas().len(), 1);
    }
    sim
}

fn handshake(s: &Scenario) -> Sim {
    handshake_from(s, 0)
}

const MODES: [&str; 2] = ["main", "aggressive"];
const PFS: [&str; 3] = ["none", "modp2048", "ecp256"];

#[test]
fn main_and_aggressive_psk_every_pfs_and_mode_both_roles() {
    for mode in MODES {
        for pfs in PFS {
            for tunnel in [true, false] {
                for initiator in [0, 1] {
                    let s = Scenario {
                        exchange_mode: mode,
                        pfs_group: pfs,
                        tunnel,
                        ..Scenario::default()
                    };
                    handshake_from(&s, initiator);
                }
            }
        }
    }
}

#[test]
fn algorithms() {
    for (ike_enc, ike_hash, dh, esp_enc, esp_auth) in [
        ("aes-256", "sha1", "ecp256", "aes-256-gcm", "null"),
        ("3des", "sha1", "modp2048", "3des", "md5"),
        ("aes-192", "sha384", "ecp384", "aes-128-gcm", "sha1"),
        ("aes-128", "sha512", "curve25519", "aes-256-cbc", "sha512"),
        ("aes-128", "md5", "modp1024", "aes-192-cbc", "sha256"),
    ] {
        let s = Scenario {
            ike_enc,
            ike_hash,
            dh_group: dh,
            esp_enc,
            esp_auth,
            ..Scenario::default()
        };
        let sim = handshake(&s);
        let t = sim.nodes[0].outbound().next().unwrap().transform;
        if esp_enc == "aes-256-gcm" {
            assert_eq!(t.encryption, EspEncryption::AesGcm16_256);
            assert_eq!(t.integrity, EspIntegrity::None);
        }
        if esp_auth == "sha512" {
            assert_eq!(t.integrity, EspIntegrity::HmacSha512_256);
        }
    }
}

#[test]
fn several_quick_modes_under_one_isakmp_sa() {
    let extra = |lo: &str, ro: &str, src: &str, dst: &str| {
        format!(
            "\n[[policy]]\nsrc-address = \"{lo}\"\ndst-address = \"{ro}\"\ntunnel = true\nsa-src-address = \"{src}\"\nsa-dst-address = \"{dst}\"\nproposal = \"p\"\n"
        )
    };
    let a = extra("10.11.0.0/16", "10.12.0.0/16", engine_sim::A, engine_sim::B)
        + &extra("10.21.0.0/24", "10.22.0.7/32", engine_sim::A, engine_sim::B);
    let b = extra("10.12.0.0/16", "10.11.0.0/16", engine_sim::B, engine_sim::A)
        + &extra("10.22.0.0/24", "10.21.0.0/24", engine_sim::B, engine_sim::A);
    let s = Scenario {
        extra_a: Box::leak(a.into_boxed_str()),
        extra_b: Box::leak(b.into_boxed_str()),
        ..Scenario::default()
    };
    let mut sim = s.sim(3, EngineOptions::default());
    let now = sim.now;
    sim.nodes[0].engine.initiate(now, "b").unwrap();
    assert!(sim.run_until(Duration::from_secs(10), |sim| {
        sim.nodes[0].installed.len() == 6 && sim.nodes[1].installed.len() == 6
    }));
    assert!(pairs_match(&sim.nodes[0], &sim.nodes[1]));
    assert_eq!(sim.nodes[0].engine.isakmp_sas().len(), 1);
    assert_eq!(sim.nodes[1].engine.ipsec_sas().len(), 3);
    // The third policy was narrower on B's side (10.22.0.0/24 covers 10.22.0.7/32): the SA
    // carries what A proposed.
    let narrow = sim.nodes[1]
        .inbound()
        .find(|s| {
            s.selector.local == ipsec_core::engine::TsAddr::Prefix("10.22.0.7/32".parse().unwrap())
        })
        .expect("narrowed selector");
    assert_eq!(narrow.policy, Some(PolicyId(2)));
}

#[test]
fn acquire_negotiates_one_policy() {
    let s = Scenario::default();
    let mut sim = s.sim(4, EngineOptions::default());
    let now = sim.now;
    sim.nodes[0].engine.acquire(now, PolicyId(0)).unwrap();
    // A second acquire while it runs does nothing more.
    sim.nodes[0].engine.acquire(now, PolicyId(0)).unwrap();
    assert!(sim.run_until(Duration::from_secs(10), established));
    sim.run_for(Duration::from_secs(5), |_| {});
    assert_eq!(sim.nodes[0].installed.len(), 2);
    let now = sim.now;
    sim.nodes[0].engine.acquire(now, PolicyId(0)).unwrap();
    sim.run_for(Duration::from_secs(5), |_| {});
    assert_eq!(sim.nodes[0].installed.len(), 2);
    assert!(sim.nodes[0].engine.acquire(now, PolicyId(9)).is_err());
}

#[test]
fn responder_lifetime_claim_shortens_the_initiators_sa() {
    let s = Scenario {
        p2_lifetime: "1h",
        extra_b: "",
        ..Scenario::default()
    };
    let mut b_cfg = s.clone();
    b_cfg.p2_lifetime = "20m";
    let mut sim = engine_sim::Sim::new(5);
    sim.add("a", engine_sim::A, s.config(true), EngineOptions::default());
    sim.add(
        "b",
        engine_sim::B,
        b_cfg.config(false),
        EngineOptions::default(),
    );
    let now = sim.now;
    sim.nodes[0].engine.initiate(now, "b").unwrap();
    assert!(sim.run_until(Duration::from_secs(10), established));
    for n in &sim.nodes {
        for sa in n.installed.values() {
            assert_eq!(sa.lifetime.hard, Duration::from_secs(1200), "{}", n.name);
            assert!(sa.lifetime.soft < sa.lifetime.hard);
        }
    }
}

#[test]
fn proposal_check_strict_and_exact_refuse_longer_lifetimes() {
    for check in ["strict", "exact"] {
        let a = Scenario {
            p2_lifetime: "1h",
            ..Scenario::default()
        };
        let b = Scenario {
            p2_lifetime: "20m",
            proposal_check: check,
            ..Scenario::default()
        };
        let mut sim = engine_sim::Sim::new(6);
        sim.add("a", engine_sim::A, a.config(true), EngineOptions::default());
        sim.add(
            "b",
            engine_sim::B,
            b.config(false),
            EngineOptions::default(),
        );
        let now = sim.now;
        sim.nodes[0].engine.initiate(now, "b").unwrap();
        assert!(sim.run_until(Duration::from_secs(10), |sim| {
            sim.nodes[0].count(|e| {
                matches!(
                    e,
                    Event::NegotiationFailed {
                        phase: Phase::Two,
                        ..
                    }
                )
            }) > 0
        }));
        assert!(sim.nodes[0].installed.is_empty());
        assert!(sim.nodes[1].installed.is_empty());
        assert_eq!(
            sim.nodes[1]
                .engine
                .stats()
                .rejected(Reject::LifetimeRefused),
            1
        );
        // The initiator learnt it from the responder's NO-PROPOSAL-CHOSEN.
        assert!(sim.nodes[0].events.iter().any(|e| matches!(
            e,
            Event::NegotiationFailed {
                reason: Reject::PeerError(14),
                ..
            }
        )));
    }
}

#[test]
fn wrong_pre_shared_key_fails_phase_1() {
    for mode in MODES {
        let s = Scenario {
            exchange_mode: mode,
            secret_b: "another key",
            ..Scenario::default()
        };
        let mut sim = s.sim(7, EngineOptions::default());
        let now = sim.now;
        sim.nodes[0].engine.initiate(now, "b").unwrap();
        assert!(sim.run_until(Duration::from_secs(120), |sim| {
            sim.nodes[0].count(|e| {
                matches!(
                    e,
                    Event::NegotiationFailed {
                        phase: Phase::One,
                        ..
                    }
                )
            }) > 0
        }));
        // A wrong key shows as a message that does not decrypt to payloads, or whose HASH
        // does not verify.
        let failed: u64 = [Reject::AuthenticationFailed, Reject::DecryptFailed]
            .iter()
            .map(|r| {
                sim.nodes[0].engine.stats().rejected(*r) + sim.nodes[1].engine.stats().rejected(*r)
            })
            .sum();
        assert!(failed > 0, "{mode}");
        sim.run_for(Duration::from_secs(300), |_| {});
        for n in &sim.nodes {
            assert!(n.installed.is_empty());
            assert!(n.engine.isakmp_sas().is_empty(), "{} {mode}", n.name);
            assert!(n.engine.poll_timeout().is_none(), "{} {mode}", n.name);
        }
    }
}

#[test]
fn no_udp_encapsulation_without_nat() {
    let sim = handshake(&Scenario::default());
    for n in &sim.nodes {
        for sa in n.installed.values() {
            assert_eq!(sa.encap, None::<UdpEncap>);
        }
    }
    // Everything stayed on port 500.
    assert!(
        sim.sent
            .iter()
            .all(|p| p.src.port() == 500 && p.dst.port() == 500)
    );
}
