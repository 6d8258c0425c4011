//! The templates brought up for real, as a newcomer would: `iked template NAME --server ADDR`,
//! the other side's file mirrored from it, both daemons started in lab namespaces on the
//! userspace dataplane, traffic through the tunnel.
//!
//! - site-to-site-psk: office A's file from the template, office B's the mirror image (the
//!   addresses and LANs swapped, the same fresh secret); the tunnel comes up by itself
//!   (`auto-start`) and a ping crosses from LAN to LAN.
//! - mobile-unit: the concentrator's file and the unit's own (`unit-1.toml` of `--out`), both
//!   from one run of the template (so their secrets match); the unit logs in with XAuth, gets
//!   its fixed address and brings its routed LAN; a ping from the unit's LAN reaches the
//!   office LAN.
//!
//! Root only (like the other lab tests): without root the lab panics unless `IKT_ALLOW_SKIP=1`.

mod common;

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::Daemon;
use common::traffic::Logs;
use ipsec_tests::lab::{Lab, Netns};

fn template(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_iked"))
        .arg("template")
        .args(args)
        .output()
        .expect("iked template runs");
    assert!(
        out.status.success(),
        "iked template {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Replaces `from` by `to`, which the text must contain.
fn swap(text: &str, from: &str, to: &str) -> String {
    assert!(
        text.contains(from),
        "the template no longer has {from:?}:\n{text}"
    );
    text.replace(from, to)
}

/// The userspace dataplane (this host has no kernel ESP).
fn userspace(text: &str) -> String {
    swap(text, "[daemon]\n", "[daemon]\ndataplane = \"userspace\"\n")
}

fn start(ns: &Netns, dir: &Path, name: &str, text: &str) -> Daemon {
    let c = dir.join(format!("{name}.toml"));
    std::fs::write(&c, text).unwrap();
    let check = Command::new(env!("CARGO_BIN_EXE_iked"))
        .args(["check-config", "-c"])
        .arg(&c)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    Daemon::start_in(
        ns.name(),
        &c,
        &dir.join(format!("{name}.sock")),
        &dir.join(format!("{name}.log")),
    )
}

#[test]
fn site_to_site_psk_from_the_template() {
    let Some(lab) = Lab::new("tpl-s2s") else {
        return;
    };
    let h = lab.two_hosts().unwrap();
    let (aa, ba) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));
    // Office A: the template as printed, for A's public address.
    let a = template(&["site-to-site-psk", "--server", &aa.to_string()]);
    let a = swap(&a, "203.0.113.1", &ba.to_string());
    // Office B: the mirror image (what the template's comments tell the user to write).
    let b = a
        .replace(&aa.to_string(), "GW-A")
        .replace(&ba.to_string(), &aa.to_string())
        .replace("GW-A", &ba.to_string())
        .replace("198.19.1.0/24", "LAN-A")
        .replace("198.19.2.0/24", "198.19.1.0/24")
        .replace("LAN-A", "198.19.2.0/24")
        .replace("\"office-b\"", "\"office-a\"");
    h.a.add_addr("lo", Ipv4Addr::new(198, 19, 1, 1), 32)
        .unwrap();
    h.b.add_addr("lo", Ipv4Addr::new(198, 19, 2, 1), 32)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = start(&h.b, dir.path(), "b", &userspace(&b));
    let da = start(&h.a, dir.path(), "a", &userspace(&a));
    let logs = Logs(vec![&da, &db]);
    let took =
        h.a.ping_until(
            Some(Ipv4Addr::new(198, 19, 1, 1)),
            Ipv4Addr::new(198, 19, 2, 1),
            Duration::from_secs(30),
        )
        .expect("a ping from LAN A to LAN B through the template's tunnel");
    eprintln!("site-to-site-psk template: LAN to LAN after {took:.1?}");
    // Both ends auto-start: the pair each side started may both come up, the older one then
    // goes (dying), so two pairs at most.
    let sas = da.json(&["sas"]);
    let sas = sas.as_array().unwrap();
    let mature = sas.iter().filter(|s| s["state"] == "mature").count();
    assert!(mature >= 2 && sas.len() <= 4, "{sas:?}");
    assert!(sas.iter().all(|s| s["mode"] == "tunnel"), "{sas:?}");
    drop(logs);
}

#[test]
fn mobile_unit_from_the_template() {
    let Some(lab) = Lab::new("tpl-unit") else {
        return;
    };
    let h = lab.two_hosts().unwrap();
    let (unit, office) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tpl");
    let st = Command::new(env!("CARGO_BIN_EXE_iked"))
        .args([
            "template",
            "mobile-unit",
            "--server",
            &office.to_string(),
            "--out",
        ])
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    let server = std::fs::read_to_string(out.join("iked.toml")).unwrap();
    let client = std::fs::read_to_string(out.join("unit-1.toml")).unwrap();
    eprintln!("--- concentrator\n{server}\n--- unit\n{client}");
    let client = userspace(&client);
    let server = userspace(&server);
    // The unit dials the office's address: --server put it in both files.
    assert!(
        client.contains(&format!("address = \"{office}\"")),
        "{client}"
    );
    let (unit_lan, office_lan) = (Ipv4Addr::new(198, 19, 65, 1), Ipv4Addr::new(198, 19, 1, 1));
    h.a.add_addr("lo", unit_lan, 32).unwrap();
    h.b.add_addr("lo", office_lan, 32).unwrap();
    let ds = start(&h.b, dir.path(), "office", &server);
    let dc = start(&h.a, dir.path(), "unit", &client);
    let logs = Logs(vec![&dc, &ds]);
    let took =
        h.a.ping_until(Some(unit_lan), office_lan, Duration::from_secs(30))
            .expect("a ping from the unit's LAN to the office LAN");
    eprintln!("mobile-unit template: unit LAN to office LAN after {took:.1?}");
    // The office knows the unit by its fixed address and its routed LAN.
    let status = ds.json(&["sas"]);
    let text = status.to_string();
    assert!(text.contains(&unit.to_string()), "{text}");
    let log = ds.log_text();
    assert!(
        log.contains("198.19.40.11"),
        "unit-1's fixed address: {log}"
    );
    drop(logs);
}
