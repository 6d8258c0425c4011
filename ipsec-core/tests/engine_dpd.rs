//! Dead peer detection (RFC 3706): a quiet peer is probed and answers; a peer that stops
//! answering is declared dead after `dpd-maximum-failures` probes and every SA with it goes;
//! `dpd-interval = "disable-dpd"` never probes.

mod engine_sim;

use std::time::Duration;

use std::sync::Arc;

use engine_sim::{A, B, Scenario, Sim, established};
use ipsec_core::config::Config;
use ipsec_core::engine::{DeleteReason, DownReason, EngineOptions, Event};

const DPD: &str = "dpd-interval = \"10s\"\ndpd-maximum-failures = 3";

/// Both sides of `s` with `dpd` added to their [[peer]].
fn up_with(s: &Scenario, dpd: &str) -> Sim {
    let mut sim = Sim::new(7);
    for (name, addr, initiator) in [("a", A, true), ("b", B, false)] {
        let text =
            s.side_text(initiator)
                .replacen("\n[[peer]]\n", &format!("\n[[peer]]\n{dpd}\n"), 1);
        let config = Config::from_toml_str(&text, name).unwrap();
        sim.add(name, addr, Arc::new(config), EngineOptions::default());
    }
    let now = sim.now;
    sim.nodes[0].engine.initiate(now, "b").unwrap();
    assert!(sim.run_until(Duration::from_secs(10), established));
    sim
}

#[test]
fn a_quiet_peer_is_probed_and_answers() {
    let mut sim = up_with(&Scenario::default(), DPD);
    sim.run_for(Duration::from_secs(95), |_| {});
    for n in &sim.nodes {
        let st = n.engine.stats();
        // Both sides probe a silent peer every 10 s; each probe's ACK resets the other's
        // silence too, so between them at least 95 / 10 / 2 probes went out.
        assert!(st.dpd_probes_sent >= 4, "{}: {st:?}", n.name);
        assert_eq!(st.dead_peers, 0);
        assert_eq!(n.installed.len(), 2, "{}: {:?}", n.name, n.events);
        assert_eq!(st.total_rejected(), 0, "{st:?}");
    }
}

#[test]
fn a_dead_peer_loses_its_sas() {
    let mut sim = up_with(&Scenario::default(), DPD);
    let died = sim.now;
    // b falls silent: nothing it sends arrives.
    sim.filter = Some(Box::new(|p| p.from == 1));
    let mut dead_at = None;
    sim.run_for(Duration::from_secs(80), |sim| {
        if dead_at.is_none()
            && sim.nodes[0].count(|e| {
                matches!(
                    e,
                    Event::PeerDown {
                        reason: DownReason::DeadPeer,
                        ..
                    }
                )
            }) == 1
        {
            dead_at = Some(sim.now);
        }
    });
    let a = &sim.nodes[0];
    let after = dead_at.expect("a never declared b dead") - died;
    // Silence 10 s, three probes 10 s apart, unanswered: dead 40 s after the last word.
    assert!(
        (Duration::from_secs(39)..=Duration::from_secs(41)).contains(&after),
        "{after:?}"
    );
    assert!(a.installed.is_empty(), "{:?}", a.installed);
    assert_eq!(
        a.count(|e| matches!(e, Event::DeleteSa(d) if d.reason == DeleteReason::DeadPeer)),
        2
    );
    assert_eq!(a.count(|e| matches!(e, Event::IsakmpSaDown { .. })), 1);
    assert_eq!(a.engine.stats().dead_peers, 1);
    assert_eq!(a.engine.stats().dpd_probes_sent, 3);
    assert!(a.engine.isakmp_sas().is_empty());
}

#[test]
fn disabled_dpd_never_probes() {
    let mut sim = up_with(&Scenario::default(), "dpd-interval = \"disable-dpd\"");
    sim.filter = Some(Box::new(|p| p.from == 1));
    sim.run_for(Duration::from_secs(600), |_| {});
    let a = &sim.nodes[0];
    assert_eq!(a.engine.stats().dpd_probes_sent, 0);
    assert_eq!(a.installed.len(), 2);
}

/// ESP traffic is a sign of life (RFC 3706 §5.3): while the dataplane reports packets on the
/// inbound SAs, nobody is probed; once it stops, the probes start again.
#[test]
fn esp_traffic_spares_busy_tunnels_the_probes() {
    let mut sim = up_with(&Scenario::default(), DPD);
    let inbound: Vec<Vec<u32>> = sim
        .nodes
        .iter()
        .map(|n| n.inbound().map(|s| s.spi).collect())
        .collect();
    for _ in 0..12 {
        sim.run_for(Duration::from_secs(5), |_| {});
        let now = sim.now;
        for (n, spis) in sim.nodes.iter_mut().zip(&inbound) {
            n.engine.esp_received(now, spis);
        }
    }
    for n in &sim.nodes {
        assert_eq!(n.engine.stats().dpd_probes_sent, 0, "{}", n.name);
    }
    sim.run_for(Duration::from_secs(25), |_| {});
    assert!(
        sim.nodes
            .iter()
            .any(|n| n.engine.stats().dpd_probes_sent > 0)
    );
}
