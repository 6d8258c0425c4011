//! Informational exchanges: deletes both ways, INITIAL-CONTACT.

mod engine_sim;

use std::time::Duration;

use engine_sim::{A, Scenario, Sim, established};
use ipsec_core::engine::{DeleteReason, DownReason, EngineOptions, Event};

fn up(s: &Scenario, seed: u64) -> Sim {
    let mut sim = s.sim(seed, EngineOptions::default());
    let now = sim.now;
    sim.nodes[0].engine.initiate(now, "b").unwrap();
    assert!(sim.run_until(Duration::from_secs(10), established));
    sim.run_for(Duration::from_secs(1), |_| {});
    sim
}

#[test]
fn terminate_sends_deletes_both_ways() {
    for (who, mode) in [
        (0usize, "main"),
        (1, "main"),
        (0, "aggressive"),
        (1, "aggressive"),
    ] {
        let s = Scenario {
            exchange_mode: mode,
            ..Scenario::default()
        };
        let mut sim = up(&s, 60);
        let other = 1 - who;
        let peer = sim.nodes[who].engine.peers()[0].0;
        let now = sim.now;
        sim.nodes[who].engine.terminate(now, peer);
        sim.run_for(Duration::from_secs(5), |_| {});
        let n = &sim.nodes[who];
        assert!(n.installed.is_empty());
        assert_eq!(
            n.count(|e| matches!(e, Event::DeleteSa(d) if d.reason == DeleteReason::Terminated)),
            2
        );
        assert_eq!(
            n.count(|e| matches!(
                e,
                Event::PeerDown {
                    reason: DownReason::Terminated,
                    ..
                }
            )),
            1
        );
        let o = &sim.nodes[other];
        assert!(o.installed.is_empty(), "{who} {mode}: {:?}", o.events);
        assert_eq!(
            o.count(|e| matches!(e, Event::DeleteSa(d) if d.reason == DeleteReason::DeletedByPeer)),
            2
        );
        assert_eq!(o.count(|e| matches!(e, Event::IsakmpSaDown { .. })), 1);
        assert_eq!(o.count(|e| matches!(e, Event::PeerDown { .. })), 1);
        for n in &sim.nodes {
            assert!(n.engine.isakmp_sas().is_empty());
            assert!(n.engine.ipsec_sas().is_empty());
            assert!(n.engine.peers().is_empty());
            assert_eq!(
                n.engine.stats().total_rejected(),
                0,
                "{:?}",
                n.engine.stats()
            );
            assert_eq!(n.bad_deletes, 0);
        }
        assert!(sim.nodes[other].engine.stats().informational_received >= 2);
    }
}

#[test]
fn initial_contact_removes_the_peers_older_sas() {
    for mode in ["main", "aggressive"] {
        let s = Scenario {
            exchange_mode: mode,
            ..Scenario::default()
        };
        let mut sim = up(&s, 61);
        let old: Vec<u32> = sim.nodes[1].installed.keys().map(|(_, spi)| *spi).collect();
        // A restarts: a fresh engine with no memory of its SAs.
        let restarted = {
            let mut fresh = Sim::new(0);
            fresh.add("a", A, s.config(true), EngineOptions::default());
            fresh.nodes.pop().unwrap()
        };
        sim.nodes[0] = restarted;
        let now = sim.now;
        sim.nodes[0].engine.initiate(now, "b").unwrap();
        assert!(sim.run_until(Duration::from_secs(10), established));
        sim.run_for(Duration::from_secs(1), |_| {});
        let b = &sim.nodes[1];
        assert_eq!(
            b.count(
                |e| matches!(e, Event::DeleteSa(d) if d.reason == DeleteReason::InitialContact)
            ),
            2,
            "{mode}"
        );
        assert_eq!(b.installed.len(), 2);
        assert!(b.installed.keys().all(|(_, spi)| !old.contains(spi)));
        assert_eq!(b.engine.isakmp_sas().len(), 1);
        assert_eq!(b.engine.ipsec_sas().len(), 1);
        // B's peer never went down: the session carried on with the new SAs.
        assert_eq!(b.count(|e| matches!(e, Event::PeerDown { .. })), 0);
    }
}

#[test]
fn no_initial_contact_when_sas_exist() {
    // A second initiate while up does not restart anything.
    let mut sim = up(&Scenario::default(), 62);
    let now = sim.now;
    sim.nodes[0].engine.initiate(now, "b").unwrap();
    sim.run_for(Duration::from_secs(5), |_| {});
    for n in &sim.nodes {
        assert_eq!(n.installed.len(), 2);
        assert_eq!(n.count(|e| matches!(e, Event::DeleteSa(_))), 0);
    }
}
