//! NAT traversal: floating to port 4500 behind a NAT, UDP-encapsulated modes, keepalives,
//! and a peer that claims a NAT on the same link (as strongSwan with kernel-libipsec does).

mod engine_sim;

use std::time::Duration;

use engine_sim::{A, B, Nat, Scenario, established, pairs_match};
use ipsec_core::engine::{EngineOptions, UdpEncap};

fn nat_scenario(mode: &'static str, tunnel: bool) -> Scenario {
    Scenario {
        exchange_mode: mode,
        tunnel,
        // B sees A at the NAT's public address.
        a_prefix: "203.0.113.0/24",
        a_seen_at: "203.0.113.9",
        ..Scenario::default()
    }
}

#[test]
fn initiator_behind_nat_floats_to_4500() {
    for mode in ["main", "aggressive"] {
        for initiator_side_tunnel in [true] {
            let s = nat_scenario(mode, initiator_side_tunnel);
            let mut sim = s.sim(11, EngineOptions::default());
            sim.nodes[0].nat = Some(Nat::new("203.0.113.9".parse().unwrap()));
            let now = sim.now;
            sim.nodes[0].engine.initiate(now, "b").unwrap();
            assert!(
                sim.run_until(Duration::from_secs(10), established),
                "{mode}: {:?} {:?}",
                sim.nodes[0].events,
                sim.nodes[1].events
            );
            assert!(pairs_match(&sim.nodes[0], &sim.nodes[1]));
            // A: its own port 4500 to B's 4500. B: its 4500 to the NAT's mapping of A's 4500.
            for sa in sim.nodes[0].installed.values() {
                assert_eq!(
                    sa.encap,
                    Some(UdpEncap {
                        local_port: 4500,
                        remote_port: 4500
                    })
                );
            }
            for sa in sim.nodes[1].installed.values() {
                let e = sa.encap.expect("encapsulated");
                assert_eq!(e.local_port, 4500);
                assert_ne!(e.remote_port, 4500, "the NAT maps A's port");
            }
            // Every datagram after the float carries the non-ESP marker on 4500.
            let floated: Vec<_> = sim.sent.iter().filter(|p| p.dst.port() == 4500).collect();
            assert!(!floated.is_empty());
            assert!(floated.iter().all(|p| p.payload.starts_with(&[0, 0, 0, 0])));
            // The last phase-1 message and everything after went on 4500.
            let first_4500 = sim.sent.iter().position(|p| p.dst.port() == 4500).unwrap();
            let expected = if mode == "main" { 4 } else { 2 };
            assert_eq!(first_4500, expected, "{mode}");
            // B's addresses as seen are the NAT's.
            let installed_b = sim.nodes[1].outbound().next().unwrap();
            assert_eq!(installed_b.dst.to_string(), "203.0.113.9");
            for n in &sim.nodes {
                assert_eq!(
                    n.engine.stats().total_rejected(),
                    0,
                    "{:?}",
                    n.engine.stats()
                );
            }
        }
    }
}

#[test]
fn keepalives_are_sent_from_behind_the_nat() {
    let s = nat_scenario("main", true);
    let mut sim = s.sim(12, EngineOptions::default());
    sim.nodes[0].nat = Some(Nat::new("203.0.113.9".parse().unwrap()));
    let now = sim.now;
    sim.nodes[0].engine.initiate(now, "b").unwrap();
    assert!(sim.run_until(Duration::from_secs(10), established));
    let before = sim.sent.len();
    sim.run_for(Duration::from_secs(65), |_| {});
    let keepalives = sim.sent[before..]
        .iter()
        .filter(|p| p.payload == [0xff])
        .count();
    assert_eq!(keepalives, 3);
    assert!(sim.nodes[1].engine.stats().keepalives_received >= 3);
    // Only the NATed side sends them.
    assert!(sim.sent[before..].iter().all(|p| p.from == 0));
}

#[test]
fn a_peer_that_claims_nat_is_accepted_on_the_same_link() {
    for mode in ["main", "aggressive"] {
        for claimer in [0usize, 1] {
            let s = Scenario {
                exchange_mode: mode,
                ..Scenario::default()
            };
            let mut sim = engine_sim::Sim::new(13);
            let fake = EngineOptions {
                force_udp_encapsulation: true,
                ..EngineOptions::default()
            };
            let (oa, ob) = if claimer == 0 {
                (fake, EngineOptions::default())
            } else {
                (EngineOptions::default(), fake)
            };
            sim.add("a", A, s.config(true), oa);
            sim.add("b", B, s.config(false), ob);
            let now = sim.now;
            sim.nodes[0].engine.initiate(now, "b").unwrap();
            assert!(
                sim.run_until(Duration::from_secs(10), established),
                "{mode} {claimer}"
            );
            assert!(pairs_match(&sim.nodes[0], &sim.nodes[1]));
            for n in &sim.nodes {
                for sa in n.installed.values() {
                    assert_eq!(
                        sa.encap,
                        Some(UdpEncap {
                            local_port: 4500,
                            remote_port: 4500
                        }),
                        "{mode} {claimer}"
                    );
                }
                let info = &n.engine.isakmp_sas()[0];
                assert_eq!(info.local.port(), 4500);
                assert_eq!(info.remote.port(), 4500);
            }
        }
    }
}

#[test]
fn nat_traversal_disabled_means_no_nat_t_vendor_ids_and_no_float() {
    let s = Scenario {
        nat_traversal: false,
        ..Scenario::default()
    };
    let mut sim = s.sim(14, EngineOptions::default());
    let now = sim.now;
    sim.nodes[0].engine.initiate(now, "b").unwrap();
    assert!(sim.run_until(Duration::from_secs(10), established));
    assert!(sim.sent.iter().all(|p| p.dst.port() == 500));
    for n in &sim.nodes {
        assert_eq!(n.engine.isakmp_sas()[0].nat, None);
    }
}

/// Both ends behind NATs: A behind a masquerading NAT, B behind one that forwards 500 and
/// 4500 to it (a home server). Both detect both NATs, float, encapsulate, and each keeps
/// its own side alive with keepalives.
#[test]
fn both_ends_behind_nats() {
    let s = Scenario {
        a_prefix: "203.0.113.0/24",
        a_seen_at: "203.0.113.9",
        b_seen_at: "198.51.100.7",
        ..Scenario::default()
    };
    let mut sim = s.sim(29, EngineOptions::default());
    sim.nodes[0].nat = Some(Nat::new("203.0.113.9".parse().unwrap()));
    let mut home = Nat::new("198.51.100.7".parse().unwrap());
    home.forward(500);
    home.forward(4500);
    sim.nodes[1].nat = Some(home);
    let now = sim.now;
    sim.nodes[0].engine.initiate(now, "b").unwrap();
    assert!(
        sim.run_until(Duration::from_secs(10), established),
        "{:?}\n{:?}",
        sim.nodes[0].events,
        sim.nodes[1].events
    );
    for n in &sim.nodes {
        let sa = &n.engine.isakmp_sas()[0];
        assert_eq!(sa.nat, Some((true, true)), "{}: {sa:?}", n.name);
        assert!(
            n.installed.values().all(|s| s.encap.is_some()),
            "{}",
            n.name
        );
    }
    sim.run_for(Duration::from_secs(45), |_| {});
    let senders: std::collections::BTreeSet<usize> = sim
        .sent
        .iter()
        .filter(|p| p.payload == [0xff])
        .map(|p| p.from)
        .collect();
    assert_eq!(senders.len(), 2, "keepalives from both sides");
}
