//! Android's HMAC-SHA2-256 truncation quirk: with `sha256-96 = true` on a peer, an
//! HMAC-SHA2-256 ESP SA is installed with 96-bit ICVs (the wire says "SHA2-256" either way),
//! on that side only; other integrity algorithms and other peers are untouched.

mod engine_sim;

use std::sync::Arc;
use std::time::Duration;

use engine_sim::{A, B, Scenario, Sim, established};
use ipsec_core::config::Config;
use ipsec_core::crypto::esp::EspIntegrity;
use ipsec_core::engine::EngineOptions;

fn run(esp_auth: &'static str, quirk_on_a: bool) -> Sim {
    let s = Scenario {
        esp_enc: "aes-128-cbc",
        esp_auth,
        ..Scenario::default()
    };
    let mut sim = Sim::new(5);
    for (name, addr, initiator) in [("a", A, true), ("b", B, false)] {
        let mut text = s.side_text(initiator);
        if initiator && quirk_on_a {
            text = text.replacen("\n[[peer]]\n", "\n[[peer]]\nsha256-96 = true\n", 1);
        }
        let config = Config::from_toml_str(&text, name).unwrap();
        sim.add(name, addr, Arc::new(config), EngineOptions::default());
    }
    let now = sim.now;
    sim.nodes[0].engine.initiate(now, "b").unwrap();
    assert!(sim.run_until(Duration::from_secs(10), established));
    sim
}

fn integrity(sim: &Sim, node: usize) -> Vec<EspIntegrity> {
    sim.nodes[node]
        .installed
        .values()
        .map(|s| s.transform.integrity)
        .collect()
}

#[test]
fn sha256_96_on_the_configured_side_only() {
    let sim = run("sha256", true);
    assert_eq!(integrity(&sim, 0), vec![EspIntegrity::HmacSha256_96; 2]);
    assert_eq!(integrity(&sim, 1), vec![EspIntegrity::HmacSha256_128; 2]);
    assert_eq!(EspIntegrity::HmacSha256_96.icv_len(), 12);
    let sim = run("sha256", false);
    assert_eq!(integrity(&sim, 0), vec![EspIntegrity::HmacSha256_128; 2]);
    let sim = run("sha1", true);
    assert_eq!(integrity(&sim, 0), vec![EspIntegrity::HmacSha1_96; 2]);
}
