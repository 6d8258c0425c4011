//! A new configuration under running SAs (`Engine::set_config`, iked's SIGHUP): the SAs keep
//! running, and one whose `[[policy]]` moved in the file follows it to its new number, so
//! its rekey is installed for the right policy (found by iked's kernel VM test
//! `guest_reload_renumbers_policies`: the rekeyed pair went to the policy now at the old
//! position).

mod engine_sim;

use std::sync::Arc;
use std::time::Duration;

use engine_sim::{Scenario, established};
use ipsec_core::config::Config;
use ipsec_core::engine::{Direction, EngineOptions, Event, PolicyId};

/// `s`'s configuration of side a with an unrelated policy (to the same peer) first.
fn with_policy_before(s: &Scenario) -> Arc<ipsec_core::config::Snapshot> {
    let text = s.side_text(true).replacen(
        "[[policy]]",
        "[[policy]]\nsrc-address = \"10.1.0.0/16\"\ndst-address = \"10.9.0.0/16\"\ntunnel = true\n\
         sa-src-address = \"198.18.0.1\"\nsa-dst-address = \"198.18.0.2\"\n\n[[policy]]",
        1,
    );
    Arc::new(Config::from_toml_str(&text, "a2.toml").unwrap())
}

#[test]
fn a_renumbered_policy_keeps_its_sas_and_rekeys_for_its_new_number() {
    let s = Scenario {
        p2_lifetime: "10m",
        ..Scenario::default()
    };
    let mut sim = s.sim(11, EngineOptions::default());
    let now = sim.now;
    sim.nodes[0].engine.initiate(now, "b").unwrap();
    assert!(sim.run_until(Duration::from_secs(10), established));
    let before: Vec<_> = sim.nodes[0].installed.values().map(|i| i.policy).collect();
    assert!(before.iter().all(|p| *p == Some(PolicyId(0))), "{before:?}");
    let installs = |sim: &engine_sim::Sim| {
        sim.nodes[0]
            .events
            .iter()
            .filter(|e| matches!(e, Event::InstallSa(i) if i.direction == Direction::Outbound))
            .count()
    };
    let first = installs(&sim);

    let moved = with_policy_before(&s);
    assert_eq!(
        moved.all_policies()[1].dst_address.to_string(),
        "10.2.0.0/16"
    );
    sim.nodes[0].engine.set_config(moved);
    // Past the rekey (at 80-90 % of 10 min) and the old pair's deletion.
    sim.run_for(Duration::from_secs(11 * 60), |_| {});
    assert!(installs(&sim) > first, "no rekey happened");
    let a = &sim.nodes[0];
    for sa in a.installed.values() {
        assert_eq!(sa.policy, Some(PolicyId(1)), "{sa:?}");
    }
    for sa in a.engine.ipsec_sas() {
        assert_eq!(sa.policy, Some(PolicyId(1)));
    }
    assert!(established(&sim));
}
