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
//! - roadwarrior: the concentrator's file as printed; an iPhone-like strongSwan client behind
//!   the lab NAT (aggressive mode, KEY_ID group, XAuth as alice with the generated password)
//!   gets an address from the pool and pings the office LAN.
//! - l2tp: `tests/kernel_vm/l2tp.rs` runs the same example files in the VM (PPP needs it).
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

/// The value of the first `key = "..."` line after the line containing `after`.
fn value_after(text: &str, after: &str, key: &str) -> String {
    text.lines()
        .skip_while(|l| !l.contains(after))
        .find_map(|l| l.trim().strip_prefix(key))
        .and_then(|v| v.split('"').nth(1))
        .unwrap_or_else(|| panic!("no {key} after {after:?} in:\n{text}"))
        .to_string()
}

/// The road-warrior template with an iPhone-like client (strongSwan charon: aggressive mode, a
/// KEY_ID group identity, the group secret, XAuth as alice, mode-config) behind the lab NAT:
/// the client gets an address from the template's pool and pings the office LAN.
#[test]
fn roadwarrior_from_the_template() {
    let Some(lab) = Lab::new("tpl-rw") else {
        return;
    };
    let nat = lab.nat().unwrap();
    let server = template(&["roadwarrior", "--server", "198.18.0.2"]);
    let group_secret = value_after(&server, "name = \"ios\"", "secret");
    let alice_password = value_after(&server, "name = \"alice\"", "password");
    let office_lan = Ipv4Addr::new(198, 19, 1, 1);
    nat.server.add_addr("lo", office_lan, 32).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = start(&nat.server, dir.path(), "office", &userspace(&server));
    let logs = Logs(vec![&d]);
    let conf = format!(
        r#"
connections {{
  ios {{
    version = 1
    aggressive = yes
    remote_addrs = 198.18.0.2
    vips = 0.0.0.0
    proposals = aes256-sha1-modp1024
    dpd_delay = 0s
    local-1 {{
      auth = psk
      id = keyid:roadwarriors
    }}
    local-2 {{
      auth = xauth
      xauth_id = alice
    }}
    remote {{
      auth = psk
      id = %any
    }}
    children {{
      lan {{
        remote_ts = 198.19.1.0/24
        esp_proposals = aes256-sha1
        start_action = none
      }}
    }}
  }}
}}
secrets {{
  ike-group {{
    secret = "{group_secret}"
  }}
  xauth-alice {{
    id = alice
    secret = "{alice_password}"
  }}
}}
"#
    );
    let c = ipsec_tests::lab::Charon::builder(nat.client())
        .aggressive_psk(true)
        .start(&conf)
        .expect("charon");
    let out = c.initiate("lan").unwrap();
    assert!(
        out.stdout.contains("established"),
        "{}\n{}",
        out.stdout,
        c.log_tail(60)
    );
    let line = c
        .wait_log("installing new virtual IP ", Duration::from_secs(10))
        .expect("a virtual IP from the template's pool");
    let vip: Ipv4Addr = line
        .split("installing new virtual IP ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert_eq!(
        vip.octets()[..3],
        [198, 19, 9],
        "from the pool 198.19.9.10-99: {vip}"
    );
    let took = nat
        .client()
        .ping_until(Some(vip), office_lan, Duration::from_secs(15))
        .expect("a ping from the virtual IP to the office LAN");
    eprintln!("roadwarrior template: {vip} reached the office LAN after {took:.1?}");
    drop(logs);
}
