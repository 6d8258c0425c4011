//! NAT-OA (RFC 3947 §5.2): a transport-mode pair through a NAT carries the peer's original
//! addresses in its InstallSa events, for the driver's checksum fix-up (RFC 3948 §3.1.2);
//! tunnel mode carries none. (Malformed NAT-OA payloads are refused with typed errors: unit
//! tests in `phase2::quick_mode`, since a hand-made QM1 needs the ISAKMP SA's keys.)

mod engine_sim;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use engine_sim::{A, B, Nat, Scenario, Sim, established, pairs_match};
use ipsec_core::config::Config;
use ipsec_core::engine::EngineOptions;

const PUBLIC: &str = "203.0.113.9";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A behind a NAT at `PUBLIC`, B on the public side, in `tunnel` mode or transport.
fn through_nat(seed: u64, tunnel: bool) -> Sim {
    let s = Scenario {
        tunnel,
        a_prefix: "203.0.113.0/24",
        a_seen_at: PUBLIC,
        ..Scenario::default()
    };
    let mut b = s.side_text(false);
    if !tunnel {
        // In transport mode A proposes its own (private) address as its selector; B takes
        // the NAT's address instead (what A's packets carry) and generates the policy from a
        // template, as an L2TP/IPsec server does.
        let cut = b.find("[[policy]]").unwrap();
        b.truncate(cut);
        b = b.replace(
            "passive = false",
            "passive = false\ngenerate-policy = \"port-override\"",
        );
        b.push_str(&format!(
            "[[policy]]\ntemplate = true\nsrc-address = \"{B}/32\"\n\
             dst-address = \"203.0.113.0/24\"\ntunnel = false\nproposal = \"p\"\n"
        ));
    }
    let b = Config::from_toml_str(&b, "b.toml").unwrap_or_else(|e| panic!("{e:?}\n{b}"));
    let mut sim = Sim::new(seed);
    sim.add("a", A, s.config(true), EngineOptions::default());
    sim.add("b", B, Arc::new(b), EngineOptions::default());
    sim.nodes[0].nat = Some(Nat::new(ip(PUBLIC)));
    let now = sim.now;
    sim.nodes[0].engine.initiate(now, "b").unwrap();
    assert!(
        sim.run_until(Duration::from_secs(10), established),
        "{:?}\n{:?}",
        sim.nodes[0].events,
        sim.nodes[1].events
    );
    assert!(pairs_match(&sim.nodes[0], &sim.nodes[1]));
    for n in &sim.nodes {
        assert_eq!(
            n.engine.stats().total_rejected(),
            0,
            "{:?}",
            n.engine.stats()
        );
    }
    sim
}

#[test]
fn transport_through_nat_reports_both_original_addresses() {
    let sim = through_nat(41, false);
    // A (initiator, behind the NAT): B's own address, and A as B sees it (the NAT's).
    for sa in sim.nodes[0].installed.values() {
        assert!(sa.encap.is_some());
        let oa = sa.nat_oa.expect("A got B's NAT-OA");
        assert_eq!((oa.remote, oa.local), (ip(B), ip(PUBLIC)), "{sa:?}");
    }
    // B (responder): A's private address, and B as A sees it.
    for sa in sim.nodes[1].installed.values() {
        assert!(sa.encap.is_some());
        assert!(sa.dst == ip(PUBLIC) || sa.src == ip(PUBLIC));
        let oa = sa.nat_oa.expect("B got A's NAT-OA");
        assert_eq!((oa.remote, oa.local), (ip(A), ip(B)), "{sa:?}");
        // A proposed its private address; its packets arrive with the NAT's, so B's SA
        // and policy carry that one (the ID payloads stay as A sent them).
        let public = ipsec_core::engine::TsAddr::Prefix(format!("{PUBLIC}/32").parse().unwrap());
        assert_eq!(sa.selector.remote, public, "{sa:?}");
    }
    assert_eq!(sim.nodes[0].installed.len(), 2);
    assert_eq!(sim.nodes[1].installed.len(), 2);
}

#[test]
fn transport_rekey_keeps_the_original_addresses() {
    let mut sim = through_nat(42, false);
    // The policy lifetime is 30 minutes: run past the rekey.
    sim.run_for(Duration::from_secs(35 * 60), |_| {});
    for (n, remote) in [(0, B), (1, A)] {
        let all: Vec<_> = sim.nodes[n].installed.values().collect();
        assert!(all.len() >= 2);
        assert!(
            all.iter()
                .all(|sa| sa.nat_oa.is_some_and(|o| o.remote == ip(remote))),
            "{all:?}"
        );
    }
}

#[test]
fn tunnel_mode_sends_and_reports_none() {
    let sim = through_nat(43, true);
    for n in &sim.nodes {
        for sa in n.installed.values() {
            assert!(sa.encap.is_some());
            assert_eq!(sa.nat_oa, None, "{sa:?}");
        }
    }
}

#[test]
fn transport_without_nat_reports_none() {
    let s = Scenario {
        tunnel: false,
        ..Scenario::default()
    };
    let mut sim = s.sim(44, EngineOptions::default());
    let now = sim.now;
    sim.nodes[0].engine.initiate(now, "b").unwrap();
    assert!(sim.run_until(Duration::from_secs(10), established));
    for n in &sim.nodes {
        for sa in n.installed.values() {
            assert_eq!((sa.encap, sa.nat_oa), (None, None), "{sa:?}");
        }
    }
}
