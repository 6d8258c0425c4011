//! IKE fragmentation (Cisco/Microsoft) in simulation: certificate messages larger than the
//! fragment size travel in fragments both ways, main and aggressive mode, also with loss,
//! duplication and reordering (a retransmission keeps its fragment ID, so pieces of
//! several transmissions complete one message).

mod engine_sim;

use std::time::Duration;

use engine_sim::{MOON, SUN, Scenario, established, rsa_sim_with, start};
use ipsec_core::engine::EngineOptions;

fn small_fragments() -> EngineOptions {
    EngineOptions {
        fragment_size: 512,
        ..EngineOptions::default()
    }
}

#[test]
fn certificate_messages_go_in_fragments_both_ways() {
    for mode in ["main", "aggressive"] {
        let s = Scenario {
            exchange_mode: mode,
            ..Scenario::default()
        };
        let mut sim = rsa_sim_with(&s, &MOON, &SUN, 3, small_fragments());
        start(&mut sim, 0);
        assert!(
            sim.run_until(Duration::from_secs(10), established),
            "{mode}"
        );
        for n in &sim.nodes {
            let st = n.engine.stats();
            assert!(st.fragmented_sent >= 1, "{mode} {}: {st:?}", n.name);
            assert!(st.fragmented_received >= 1, "{mode} {}: {st:?}", n.name);
            assert_eq!(st.total_rejected(), 0, "{mode} {}: {st:?}", n.name);
        }
        // No datagram above the fragment size (plus the non-ESP marker) once the peer's
        // Vendor IDs are known (aggressive mode's first message is sent before).
        assert!(
            mode == "aggressive" || sim.sent.iter().all(|p| p.payload.len() <= 512 + 4),
            "{mode}: {:?}",
            sim.sent.iter().map(|p| p.payload.len()).max()
        );
    }
}

#[test]
fn fragments_survive_loss_duplication_and_reordering() {
    for seed in 0..6 {
        let s = Scenario::default();
        let mut sim = rsa_sim_with(&s, &MOON, &SUN, seed, small_fragments());
        sim.loss = 0.1;
        sim.duplicate = 0.1;
        sim.reorder = 0.3;
        start(&mut sim, 0);
        assert!(
            sim.run_until(Duration::from_secs(120), established),
            "seed {seed}: {:?}\n{:?}\n{:?}",
            sim.nodes[0].engine.stats(),
            sim.nodes[1].engine.stats(),
            sim.nodes[1].events
        );
    }
}
