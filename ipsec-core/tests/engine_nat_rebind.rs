//! A NAT mapping that changes is followed: after the NAT in front of A forgets its mappings,
//! A's next authenticated message (a DPD probe here) reaches B from a new public port; B moves
//! the ISAKMP SA and both directions of the IPsec SA to it ([`Event::MoveSa`], same SPIs), and
//! an unauthenticated datagram from elsewhere moves nothing.

mod engine_sim;

use std::sync::Arc;
use std::time::Duration;

use engine_sim::{A, B, Nat, Scenario, Sim, established};
use ipsec_core::config::Config;
use ipsec_core::engine::{Direction, EngineOptions, Event};

fn behind_nat_with_dpd() -> Sim {
    let s = Scenario {
        a_prefix: "203.0.113.0/24",
        a_seen_at: "203.0.113.9",
        ..Scenario::default()
    };
    let mut sim = Sim::new(13);
    for (name, addr, initiator) in [("a", A, true), ("b", B, false)] {
        let text = s.side_text(initiator).replacen(
            "\n[[peer]]\n",
            "\n[[peer]]\ndpd-interval = \"10s\"\n",
            1,
        );
        let config = Config::from_toml_str(&text, name).unwrap();
        sim.add(name, addr, Arc::new(config), EngineOptions::default());
    }
    sim.nodes[0].nat = Some(Nat::new("203.0.113.9".parse().unwrap()));
    let now = sim.now;
    sim.nodes[0].engine.initiate(now, "b").unwrap();
    assert!(sim.run_until(Duration::from_secs(10), established));
    sim
}

fn moves(sim: &Sim, node: usize) -> Vec<ipsec_core::engine::MoveSa> {
    sim.nodes[node]
        .events
        .iter()
        .filter_map(|e| match e {
            Event::MoveSa(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn the_responder_follows_a_new_nat_mapping() {
    let mut sim = behind_nat_with_dpd();
    let before = sim.nodes[1].engine.ipsec_sas()[0].encap.unwrap();
    if let Some(nat) = sim.nodes[0].nat.as_mut() {
        nat.rebind();
    }
    // Keepalives (unauthenticated) from the new port move nothing; the next DPD probe does.
    sim.run_for(Duration::from_secs(40), |_| {});
    let m = moves(&sim, 1);
    assert_eq!(m.len(), 2, "{:?}", sim.nodes[1].events);
    let after = sim.nodes[1].engine.ipsec_sas()[0].encap.unwrap();
    assert_ne!(after.remote_port, before.remote_port);
    assert_eq!(after.local_port, 4500);
    let out = m
        .iter()
        .find(|m| m.direction == Direction::Outbound)
        .unwrap();
    assert_eq!(out.encap, Some(after));
    assert_eq!(out.dst.to_string(), "203.0.113.9");
    // The SPIs are those installed.
    for mv in &m {
        assert!(
            sim.nodes[1].installed.contains_key(&(mv.direction, mv.spi)),
            "{mv:?}"
        );
    }
    assert_eq!(sim.nodes[1].engine.stats().sas_moved, 1);
    // B's IKE follows too: its DPD answers reach A through the new mapping.
    assert_eq!(sim.nodes[0].engine.stats().dead_peers, 0);
    assert_eq!(sim.nodes[1].engine.stats().dead_peers, 0);
    // A itself (behind the NAT) never moves.
    assert!(moves(&sim, 0).is_empty());
}

/// A road warrior with a certificate restarts and comes back through its NAT from a new
/// port with INITIAL-CONTACT: a new session (road warriors behind one NAT are told apart by
/// port), and the old one, same identity, goes at once.
#[test]
fn a_returning_certificate_client_replaces_its_old_session() {
    use engine_sim::{MOON, SUN, Y2030, credentials, rsa_config, rsa_sim_with};
    use ipsec_core::engine::{DeleteReason, Engine};
    use ipsec_core::pki::UnixTime;
    let s = Scenario {
        a_prefix: "203.0.113.0/24",
        a_seen_at: "203.0.113.9",
        ..Scenario::default()
    };
    let mut sim = rsa_sim_with(&s, &MOON, &SUN, 19, EngineOptions::default());
    sim.nodes[0].nat = Some(Nat::new("203.0.113.9".parse().unwrap()));
    let now = sim.now;
    sim.nodes[0].engine.initiate(now, "b").unwrap();
    assert!(sim.run_until(Duration::from_secs(10), established));
    assert_eq!(sim.nodes[1].engine.peers().len(), 1);
    // A restarts (a fresh engine: no SAs) and its NAT hands out new ports.
    let rng = Arc::new(ring::rand::SystemRandom::new());
    let mut fresh = Engine::new(rsa_config(&s, true, &MOON), rng, EngineOptions::default());
    fresh.set_credentials(credentials("b", &MOON));
    fresh.set_wall_clock(now, UnixTime::from_secs(Y2030));
    sim.nodes[0].engine = fresh;
    sim.nodes[0].installed.clear();
    if let Some(nat) = sim.nodes[0].nat.as_mut() {
        nat.rebind();
    }
    let now = sim.now;
    sim.nodes[0].engine.initiate(now, "b").unwrap();
    assert!(sim.run_until(Duration::from_secs(10), established));
    sim.run_for(Duration::from_secs(1), |_| {});
    let b = &sim.nodes[1];
    assert_eq!(b.engine.peers().len(), 1, "{:?}", b.engine.peers());
    assert_eq!(
        b.installed.len(),
        2,
        "only the new pair: {:?}",
        b.installed.keys()
    );
    assert_eq!(
        b.deleted
            .iter()
            .filter(|d| d.reason == DeleteReason::InitialContact)
            .count(),
        2
    );
}
