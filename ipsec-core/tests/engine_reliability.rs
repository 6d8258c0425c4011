//! Reliability: the loss of each single message in turn, duplication, reordering, random
//! loss; timeouts that clean up; the caps on half-open phase 1 negotiations.

mod engine_sim;

use std::net::SocketAddr;
use std::time::Duration;

use engine_sim::{Scenario, Sim, established, pairs_match};
use ipsec_core::engine::{EngineOptions, Event, Phase, Reject};

fn start(s: &Scenario, seed: u64) -> Sim {
    let mut sim = s.sim(seed, EngineOptions::default());
    let now = sim.now;
    sim.nodes[0].engine.initiate(now, "b").unwrap();
    sim
}

/// After things settled: one ISAKMP SA and one SA pair on each side, nothing half-open.
fn assert_clean_pair(sim: &Sim, what: &str) {
    let (a, b) = (&sim.nodes[0], &sim.nodes[1]);
    assert!(pairs_match(a, b), "{what}");
    for n in [a, b] {
        assert_eq!(
            n.installed.len(),
            2,
            "{what}: {} installed {:?}",
            n.name,
            n.installed.keys()
        );
        assert_eq!(n.engine.ipsec_sas().len(), 1, "{what}: {}", n.name);
        let sas = n.engine.isakmp_sas();
        assert_eq!(sas.len(), 1, "{what}: {} {sas:?}", n.name);
        assert!(sas[0].established, "{what}");
        assert_eq!(n.bad_deletes, 0);
    }
}

#[test]
fn loss_of_each_single_message_is_recovered() {
    for (mode, pfs) in [("main", "none"), ("main", "ecp256"), ("aggressive", "none")] {
        let s = Scenario {
            exchange_mode: mode,
            pfs_group: pfs,
            ..Scenario::default()
        };
        // How many IKE messages a lossless run takes.
        let mut clean = start(&s, 20);
        assert!(clean.run_until(Duration::from_secs(10), established));
        clean.run_for(Duration::from_secs(2), |_| {});
        let total = clean.sent.len();
        assert_eq!(total, if mode == "main" { 9 } else { 6 }, "{mode}");
        for k in 0..total as u64 {
            let mut sim = start(&s, 21);
            sim.filter = Some(Box::new(move |p| p.seq == k));
            assert!(
                sim.run_until(Duration::from_secs(60), |sim| {
                    established(sim) && sim.nodes[1].installed.len() == 2
                }),
                "{mode}/{pfs}: drop message {k}: a {:?}\nb {:?}",
                sim.nodes[0].events,
                sim.nodes[1].events
            );
            // Let retransmission caches and timers run out.
            sim.run_for(Duration::from_secs(120), |_| {});
            assert_clean_pair(&sim, &format!("{mode}/{pfs} drop {k}"));
            let resent: u64 = sim
                .nodes
                .iter()
                .map(|n| n.engine.stats().retransmissions + n.engine.stats().replies_resent)
                .sum();
            assert!(resent > 0, "{mode}: drop {k}: nothing was retransmitted");
        }
    }
}

#[test]
fn duplicated_messages_are_dropped_or_answered_again() {
    for mode in ["main", "aggressive"] {
        let s = Scenario {
            exchange_mode: mode,
            ..Scenario::default()
        };
        let mut sim = start(&s, 30);
        sim.duplicate = 1.0;
        assert!(
            sim.run_until(Duration::from_secs(20), established),
            "{mode}"
        );
        sim.duplicate = 0.0;
        sim.run_for(Duration::from_secs(120), |_| {});
        assert_clean_pair(&sim, mode);
        let dups: u64 = sim
            .nodes
            .iter()
            .map(|n| n.engine.stats().duplicates + n.engine.stats().replies_resent)
            .sum();
        assert!(dups > 0);
    }
}

#[test]
fn reordering_and_random_loss() {
    for seed in 0..20u64 {
        let s = Scenario {
            exchange_mode: if seed % 2 == 0 { "main" } else { "aggressive" },
            pfs_group: if seed % 3 == 0 { "ecp256" } else { "none" },
            ..Scenario::default()
        };
        let mut sim = start(&s, 100 + seed);
        sim.reorder = 0.5;
        sim.loss = 0.1;
        sim.duplicate = 0.1;
        assert!(
            sim.run_until(Duration::from_secs(60), |sim| established(sim)
                && sim.nodes[1].installed.len() == 2),
            "seed {seed}"
        );
        sim.loss = 0.0;
        sim.duplicate = 0.0;
        sim.run_for(Duration::from_secs(150), |_| {});
        assert_clean_pair(&sim, &format!("seed {seed}"));
    }
}

#[test]
fn a_silent_peer_times_out_and_everything_is_cleaned_up() {
    // Everything B sends is lost: A gives up after its retransmissions, B after its own.
    for cut_after in [0u64, 1, 2, 3, 4, 6, 7] {
        let s = Scenario::default();
        let mut sim = start(&s, 40);
        sim.filter = Some(Box::new(move |p| p.seq >= cut_after));
        sim.run_for(Duration::from_secs(200), |_| {});
        let a = &sim.nodes[0];
        if cut_after < 6 {
            assert_eq!(
                a.count(|e| matches!(
                    e,
                    Event::NegotiationFailed {
                        phase: Phase::One,
                        reason: Reject::Timeout,
                        ..
                    }
                )),
                1,
                "cut {cut_after}: {:?}",
                a.events
            );
        }
        for n in &sim.nodes {
            assert!(
                n.engine.isakmp_sas().is_empty() || cut_after >= 6,
                "cut {cut_after}: {}",
                n.name
            );
            assert!(n.installed.is_empty(), "cut {cut_after}");
        }
        if cut_after < 6 {
            for n in &sim.nodes {
                assert_eq!(
                    n.engine.poll_timeout(),
                    None,
                    "cut {cut_after}: {} keeps timers",
                    n.name
                );
                assert!(n.engine.peers().is_empty(), "cut {cut_after}: {}", n.name);
            }
        }
        // The exchange lasted 63 s of retransmissions (1+2+4+8+16 and a final 32).
        let first_fail = a
            .events
            .iter()
            .position(|e| matches!(e, Event::NegotiationFailed { .. }));
        if cut_after == 0 {
            assert!(first_fail.is_some());
            assert_eq!(a.engine.stats().retransmissions, 5);
        }
    }
}

#[test]
fn quick_mode_timeout_with_a_silent_peer_is_reported_and_ends_phase_1() {
    let s = Scenario::default();
    let mut sim = start(&s, 41);
    // Drop every quick-mode message (messages 6.. of a main mode run): the peer says
    // nothing during the whole exchange, as one that lost the ISAKMP SA (a restart).
    sim.filter = Some(Box::new(|p| p.seq >= 6));
    sim.run_for(Duration::from_secs(200), |_| {});
    let a = &sim.nodes[0];
    assert_eq!(
        a.count(|e| matches!(
            e,
            Event::NegotiationFailed {
                phase: Phase::Two,
                reason: Reject::Timeout,
                ..
            }
        )),
        1
    );
    assert_eq!(a.engine.stats().dead_peers, 1);
    assert!(
        a.engine.isakmp_sas().is_empty(),
        "the initiator gives phase 1 up"
    );
    for n in &sim.nodes {
        assert!(n.installed.is_empty());
    }
}

#[test]
fn half_open_negotiations_are_capped_and_the_oldest_make_room() {
    let s = Scenario {
        a_prefix: "0.0.0.0/0",
        ..Scenario::default()
    };
    let options = EngineOptions {
        max_half_open: 10,
        max_half_open_per_source: 4,
        ..EngineOptions::default()
    };
    let mut sim = Sim::new(50);
    sim.add("a", engine_sim::A, s.config(true), EngineOptions::default());
    sim.add("b", engine_sim::B, s.config(false), options);
    // A real MM1 from A, replayed with other cookies and from other addresses.
    let now = sim.now;
    sim.nodes[0].engine.initiate(now, "b").unwrap();
    let mm1 = sim.nodes[0].engine.poll_transmit().unwrap().payload;
    let b_addr: SocketAddr = "198.18.0.2:500".parse().unwrap();
    let inject = |sim: &mut Sim, src: &str, cookie: u64| {
        let mut m = mm1.clone();
        m[..8].copy_from_slice(&cookie.to_be_bytes());
        let now = sim.now;
        sim.nodes[1]
            .engine
            .handle_datagram(now, b_addr, src.parse().unwrap(), &m);
    };
    for i in 0..6 {
        inject(&mut sim, "198.18.0.1:500", 1000 + i);
    }
    assert_eq!(sim.nodes[1].engine.isakmp_sas().len(), 4);
    assert_eq!(
        sim.nodes[1].engine.stats().rejected(Reject::HalfOpenLimit),
        2
    );
    // Ten more from ten sources: six fill the table, the last four each push out the
    // oldest half-open negotiation (the four from 198.18.0.1), so a flood from spoofed
    // sources cannot lock real clients out.
    for i in 0..10 {
        inject(&mut sim, &format!("198.18.5.{i}:500"), 2000 + i);
    }
    assert_eq!(sim.nodes[1].engine.isakmp_sas().len(), 10);
    assert_eq!(
        sim.nodes[1].engine.stats().rejected(Reject::HalfOpenLimit),
        2
    );
    assert_eq!(sim.nodes[1].engine.stats().half_open_evicted, 4);
    assert!(
        sim.nodes[1].engine.isakmp_sas().iter().all(|sa| sa
            .remote
            .ip()
            .to_string()
            .starts_with("198.18.5."))
    );
    // A retransmission of an accepted MM1 is answered, not counted as new.
    inject(&mut sim, "198.18.5.9:500", 2009);
    assert_eq!(sim.nodes[1].engine.stats().replies_resent, 1);
    // They time out; then new ones are accepted again.
    sim.nodes[0] = {
        let mut n = std::mem::replace(&mut sim.nodes[0], dummy(&s));
        while n.engine.poll_transmit().is_some() {}
        n
    };
    sim.run_for(Duration::from_secs(200), |_| {});
    // The half-open ones are gone; A's own retransmitted MM1, no longer held back by the
    // four spoofed ones from its address (they were pushed out), may have made a real SA.
    let left = sim.nodes[1].engine.isakmp_sas();
    assert!(left.iter().all(|sa| sa.established), "{left:?}");
    inject(&mut sim, "198.18.0.1:500", 3000);
    assert_eq!(sim.nodes[1].engine.isakmp_sas().len(), left.len() + 1);
}

fn dummy(s: &Scenario) -> engine_sim::Node {
    let mut sim = Sim::new(0);
    sim.add("x", "198.18.9.9", s.config(true), EngineOptions::default());
    sim.nodes.pop().unwrap()
}

/// The quick-mode responder installs its inbound SA as QM2 leaves (the initiator may send on
/// the new pair before QM3 is processed), the outbound one at QM3; when QM3 never comes, the
/// inbound SA is taken back.
#[test]
fn responder_inbound_sa_goes_in_with_qm2_and_out_without_qm3() {
    use ipsec_core::engine::{DeleteReason, Direction};
    let s = Scenario::default();
    let mut sim = start(&s, 91);
    // Every second quick-mode message of an exchange from a (its QM3) is lost.
    let mut seen = std::collections::BTreeSet::new();
    sim.filter = Some(Box::new(move |p| {
        let quick = p.from == 0 && p.payload.get(18) == Some(&32);
        let mid = p.payload.get(20..24).map(|m| m.to_vec());
        quick && !seen.insert(mid)
    }));
    let b_inbound = |sim: &Sim| {
        sim.nodes[1]
            .events
            .iter()
            .filter(|e| matches!(e, Event::InstallSa(i) if i.direction == Direction::Inbound))
            .count()
    };
    assert!(sim.run_until(Duration::from_secs(10), |sim| b_inbound(sim) == 1));
    let b = &sim.nodes[1];
    assert_eq!(b.installed.len(), 1, "only the inbound SA before QM3");
    assert!(b.installed.keys().all(|(d, _)| *d == Direction::Inbound));
    // No QM3 ever: b gives up after its retransmissions and takes the SA back.
    sim.run_for(Duration::from_secs(120), |_| {});
    let b = &sim.nodes[1];
    assert!(b.installed.is_empty(), "{:?}", b.installed);
    assert_eq!(
        b.count(|e| matches!(e, Event::DeleteSa(d) if d.reason == DeleteReason::Abandoned)),
        1
    );
    assert_eq!(b.bad_deletes, 0);
}
