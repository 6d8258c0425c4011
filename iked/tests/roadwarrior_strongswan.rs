//! iked as a road-warrior concentrator (XAuth PSK, mode-config, generate-policy, NAT-T, DPD)
//! with strongSwan charon as the clients, on the host's userspace dataplane.
//!
//! The lab's NAT topology (`Lab::nat`): the clients sit in 100.64.k.0/24 behind a router
//! that masquerades them to 198.18.0.254 and remaps UDP 500/4500 to 40000-40999; iked runs
//! in the server namespace (198.18.0.2, LAN address 203.0.113.1 on lo) with
//! `dataplane = "userspace"`. charon uses kernel-libipsec (userspace ESP over TUN), a virtual
//! IP (`vips = 0.0.0.0`: mode-config pull) and XAuth (`auth = xauth` as second round).
//!
//! Scenarios, each as its client sends it:
//! - the Cisco-style client (iOS/macOS "Cisco IPsec"): aggressive mode, a KEY_ID group
//!   identity and group PSK, XAuth, mode-config; two of them behind the same NAT at once,
//!   each with its own address (one from the pool, one a user's fixed address), pinging
//!   the LAN through the tunnel;
//! - the Android-style client ("IPsec Xauth PSK"): main mode, modp1024; a wrong password is
//!   refused (XAUTH-STATUS FAIL), the right one gets through;
//! - a user who comes back from elsewhere (a second client namespace, another NAT mapping)
//!   replaces its old session at once and keeps its address; a client that vanishes is
//!   declared dead by DPD and its SAs go.
//!
//! Root only (like the other lab tests): without root the lab panics unless `IKT_ALLOW_SKIP=1`.

mod common;

use std::time::Duration;

use common::Daemon;
use common::traffic::Logs;
use common::wait_for;
use ipsec_tests::lab::{Charon, Lab, Netns};
use serde_json::Value;

const GROUP_PSK: &str = "group secret for road warriors";
const LAN: &str = "203.0.113.1";

/// iked's configuration: road warriors in `mode` with `dh` groups.
fn iked_conf(mode: &str, dh: &str) -> String {
    format!(
        r#"[daemon]
listen = ["198.18.0.2"]
dataplane = "userspace"

[[peer]]
name = "rw"
address = "0.0.0.0/0"
auth-method = "pre-shared-key-xauth"
exchange-mode = "{mode}"
secret = "{GROUP_PSK}"
passive = true
nat-traversal = true
generate-policy = "port-strict"
policy-group = "rw"
mode-config = "rw-cfg"
dh-group = [{dh}]
enc-algorithm = ["aes-256", "aes-128", "3des"]
hash-algorithm = ["sha256", "sha1"]
dpd-interval = "3s"
dpd-maximum-failures = 2

[[proposal]]
name = "rw"
enc-algorithms = ["aes-128-gcm", "aes-256-cbc", "aes-128-cbc"]
auth-algorithms = ["sha1", "sha256"]
pfs-group = "none"

[[policy]]
template = true
group = "rw"
src-address = "203.0.113.0/24"
dst-address = "100.100.0.0/24"
tunnel = true
proposal = "rw"

[[policy-group]]
name = "rw"

[[mode-config]]
name = "rw-cfg"
address-pool = "pool"
address-prefix-length = 24
split-include = ["203.0.113.0/24"]
static-dns = ["203.0.113.53"]

[[user]]
name = "alice"
password = "alice's password"

[[user]]
name = "bob"
password = "bob's password"
address = "100.100.0.200"

[[ip-pool]]
name = "pool"
ranges = ["100.100.0.10-100.100.0.50"]
"#
    )
}

/// iked's configuration for road warriors of a client `profile` (`ios`, `android`): the
/// profile supplies exchange mode, groups, algorithms, lifetime, DPD and NAT-T.
fn iked_profile_conf(profile: &str) -> String {
    let full = iked_conf("main", "\"modp2048\"");
    full.lines()
        .filter(|l| {
            ![
                "exchange-mode",
                "dh-group",
                "enc-algorithm",
                "hash-algorithm",
                "dpd-",
                "nat-traversal",
            ]
            .iter()
            .any(|k| l.starts_with(k))
        })
        .map(|l| {
            if l == "passive = true" {
                format!("passive = true\nprofile = \"{profile}\"")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A charon road warrior: `aggressive` with a KEY_ID group identity, or main mode with its
/// address as identity; `proposals` for IKE; XAuth as `user` with `password`.
fn client_conf(aggressive: bool, proposals: &str, user: &str, password: &str) -> String {
    let (am, id) = if aggressive {
        ("yes", "id = keyid:roadwarriors")
    } else {
        ("no", "")
    };
    format!(
        r#"
connections {{
  rw {{
    version = 1
    aggressive = {am}
    remote_addrs = 198.18.0.2
    vips = 0.0.0.0
    proposals = {proposals}
    dpd_delay = 0s
    local-1 {{
      auth = psk
      {id}
    }}
    local-2 {{
      auth = xauth
      xauth_id = {user}
    }}
    remote {{
      auth = psk
      id = %any
    }}
    children {{
      lan {{
        remote_ts = 203.0.113.0/24
        esp_proposals = aes128gcm16,aes128-sha1
        start_action = none
      }}
    }}
  }}
}}
secrets {{
  ike-group {{
    secret = "{GROUP_PSK}"
  }}
  xauth-user {{
    id = {user}
    secret = "{password}"
  }}
}}
"#
    )
}

fn start_iked(server: &Netns, conf: &str) -> (tempfile::TempDir, Daemon) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("iked.toml");
    std::fs::write(&path, conf).unwrap();
    let d = Daemon::start_in(
        server.name(),
        &path,
        &dir.path().join("iked.sock"),
        &dir.path().join("iked.log"),
    );
    (dir, d)
}

fn client(ns: &Netns, conf: &str) -> Charon {
    Charon::builder(ns)
        .aggressive_psk(true)
        .start(conf)
        .expect("charon")
}

/// The virtual IP charon installed, from its log.
fn virtual_ip(c: &Charon) -> String {
    let line = c
        .wait_log("installing new virtual IP ", Duration::from_secs(10))
        .expect("charon installed no virtual IP");
    line.split("installing new virtual IP ")
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Connects `c` and pings the LAN from its virtual IP.
fn connect_and_ping(name: &str, c: &Charon, ns: &Netns) -> String {
    let out = c.initiate("lan").unwrap();
    assert!(
        out.stdout.contains("established"),
        "{name}: {}\n{}",
        out.stdout,
        c.log_tail(60)
    );
    c.wait_child_installed("lan", Duration::from_secs(5))
        .unwrap();
    let vip = virtual_ip(c);
    ns.wait_route(
        220,
        LAN.split('.')
            .take(3)
            .collect::<Vec<_>>()
            .join(".")
            .as_str(),
        Duration::from_secs(5),
    )
    .unwrap();
    let took = ns
        .ping_until(
            Some(vip.parse().unwrap()),
            LAN.parse().unwrap(),
            Duration::from_secs(15),
        )
        .unwrap_or_else(|e| panic!("{name}: ping from {vip} to {LAN}: {e}"));
    eprintln!("{name}: {vip} pinged {LAN} after {took:.1?}");
    vip
}

fn sas(d: &Daemon) -> Vec<Value> {
    d.json(&["sas"]).as_array().cloned().unwrap_or_default()
}

#[test]
fn cisco_style_clients_two_behind_one_nat() {
    let Some(lab) = Lab::new("rw-unity") else {
        return;
    };
    let mut nat = lab.nat().unwrap();
    nat.add_client().unwrap();
    // The iOS profile: aggressive mode, modp1024/modp2048, AES/3DES x SHA1/MD5, NAT-T.
    let (_dir, d) = start_iked(&nat.server, &iked_profile_conf("ios"));
    let logs = Logs(vec![&d]);
    let proposals = "aes256-sha1-modp1024";
    let alice = client(
        &nat.clients[0],
        &client_conf(true, proposals, "alice", "alice's password"),
    );
    let bob = client(
        &nat.clients[1],
        &client_conf(true, proposals, "bob", "bob's password"),
    );
    let va = connect_and_ping("alice", &alice, &nat.clients[0]);
    let vb = connect_and_ping("bob", &bob, &nat.clients[1]);
    assert_eq!(va, "100.100.0.10");
    assert_eq!(vb, "100.100.0.200", "bob's fixed address");
    // Both at once: alice still gets through after bob came up.
    nat.clients[0]
        .ping_until(
            Some(va.parse().unwrap()),
            LAN.parse().unwrap(),
            Duration::from_secs(10),
        )
        .expect("alice after bob");
    // Four SAs, all UDP-encapsulated towards the NAT's public address on distinct ports.
    let list = sas(&d);
    assert_eq!(list.len(), 4, "{list:?}");
    let mut ports: Vec<String> = list
        .iter()
        .filter(|s| s["direction"] == "in")
        .map(|s| s["encap"].as_str().unwrap_or("none").to_owned())
        .collect();
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), 2, "two clients, two NAT mappings: {list:?}");
    // charon received the split-include and the DNS server.
    assert!(
        alice.log().contains("203.0.113.53"),
        "{}",
        alice.log_tail(80)
    );
    let log = d.log_text();
    assert!(log.contains("XAuth user \"alice\" authenticated"), "{log}");
    assert!(log.contains("mode-config: 100.100.0.200 for bob"), "{log}");
    drop(logs);
}

#[test]
fn android_style_client_wrong_then_right_password() {
    let Some(lab) = Lab::new("rw-android") else {
        return;
    };
    let nat = lab.nat().unwrap();
    // The Android profile: main mode, modp1024, AES/3DES x SHA1/MD5/SHA2, NAT-T.
    let (_dir, d) = start_iked(&nat.server, &iked_profile_conf("android"));
    let logs = Logs(vec![&d]);
    let proposals = "aes128-sha1-modp1024,3des-md5-modp1024";
    let c = client(
        nat.client(),
        &client_conf(false, proposals, "alice", "not the password"),
    );
    // swanctl fails (exit status 1) when the server refuses the password.
    if let Ok(out) = c.initiate("lan") {
        assert!(
            !out.stdout.contains("CHILD_SA lan{1} established"),
            "{}",
            out.stdout
        );
    }
    wait_for(
        "iked refuses the password three times",
        Duration::from_secs(20),
        || d.log_text().contains("XAuth failed").then_some(()),
    );
    assert!(sas(&d).is_empty());
    drop(c);
    let c = client(
        nat.client(),
        &client_conf(false, proposals, "alice", "alice's password"),
    );
    let vip = connect_and_ping("alice", &c, nat.client());
    assert!(vip.starts_with("100.100.0."), "{vip}");
    drop(logs);
}

#[test]
fn returning_user_replaces_its_session_and_dpd_removes_a_vanished_client() {
    let Some(lab) = Lab::new("rw-roam") else {
        return;
    };
    let mut nat = lab.nat().unwrap();
    nat.add_client().unwrap();
    let (_dir, d) = start_iked(&nat.server, &iked_conf("aggressive", "\"modp2048\""));
    let logs = Logs(vec![&d]);
    let conf = client_conf(true, "aes128-sha256-modp2048", "alice", "alice's password");
    let first = client(&nat.clients[0], &conf);
    let v1 = connect_and_ping("alice at home", &first, &nat.clients[0]);
    // The laptop moves: the first network goes silent (no Delete is sent), alice connects
    // from the second.
    nat.clients[0].ip(&["link", "set", "eth0", "down"]).unwrap();
    let second = client(&nat.clients[1], &conf);
    let v2 = connect_and_ping("alice elsewhere", &second, &nat.clients[1]);
    assert_eq!(v1, v2, "alice keeps her address");
    let list = sas(&d);
    assert_eq!(list.len(), 2, "only the new session's SAs: {list:?}");
    // Now the second vanishes too: DPD (3 s, 2 failures) removes its SAs.
    nat.clients[1].ip(&["link", "set", "eth0", "down"]).unwrap();
    wait_for(
        "DPD removes the vanished client's SAs",
        Duration::from_secs(40),
        || sas(&d).is_empty().then_some(()),
    );
    assert!(d.log_text().contains("DeadPeer"), "{}", d.log_text());
    drop(logs);
    drop((first, second));
}

/// Hybrid RSA (the Cisco "certificate + XAuth" profile, iOS "Cisco IPsec" with a server
/// certificate): iked proves itself with its certificate (sun, with its intermediate), the
/// charon client only with XAuth (`local { auth = xauth }`, `remote { auth = pubkey }`, which
/// makes charon propose HybridInitRSA, 64221).
#[test]
fn hybrid_rsa_client() {
    let Some(lab) = Lab::new("rw-hybrid") else {
        return;
    };
    let nat = lab.nat().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("sun.bundle.pem");
    let mut pem = std::fs::read(ipsec_tests::vector("pki/sun.key.pem")).unwrap();
    pem.extend(std::fs::read(ipsec_tests::vector("pki/sun.pem")).unwrap());
    pem.extend(std::fs::read(ipsec_tests::vector("pki/intermediate.pem")).unwrap());
    std::fs::write(&bundle, pem).unwrap();
    let conf = iked_conf("main", "\"modp2048\"")
        .replace(
            "auth-method = \"pre-shared-key-xauth\"",
            &format!(
                "auth-method = \"rsa-signature-hybrid\"\ncertificate = \"{}\"",
                bundle.display()
            ),
        )
        .replace(&format!("secret = \"{GROUP_PSK}\"\n"), "");
    let (_d, d) = start_iked(&nat.server, &conf);
    let logs = Logs(vec![&d]);
    let swanctl = r#"
connections {
  rw {
    version = 1
    remote_addrs = 198.18.0.2
    vips = 0.0.0.0
    proposals = aes128-sha256-modp2048
    local {
      auth = xauth
      xauth_id = alice
    }
    remote {
      auth = pubkey
      id = 198.18.0.2
    }
    children {
      lan {
        remote_ts = 203.0.113.0/24
        esp_proposals = aes128gcm16
        start_action = none
      }
    }
  }
}
secrets {
  xauth-user {
    id = alice
    secret = "alice's password"
  }
}
"#;
    let c = Charon::builder(nat.client())
        .load(false)
        .start(swanctl)
        .expect("charon");
    std::fs::copy(
        ipsec_tests::vector("pki/ca.pem"),
        c.dir().join("x509ca/ca.pem"),
    )
    .unwrap();
    c.load_all().unwrap();
    let vip = connect_and_ping("hybrid", &c, nat.client());
    assert!(vip.starts_with("100.100.0."), "{vip}");
    let log = c.log();
    assert!(
        log.contains("HybridInitRSA") || log.contains("HYBRID_INIT_RSA") || log.contains("hybrid"),
        "charon did not use hybrid authentication"
    );
    assert!(
        log.contains("authentication of '198.18.0.2' with RSA"),
        "charon did not check iked's signature"
    );
    drop(logs);
}

/// The client's NAT forgets its mappings (here: a new port range and the UDP conntrack
/// entries flushed on the router): the client's next DPD probe reaches iked from a new
/// port, iked follows it and moves the ESP-in-UDP SAs there, and the ping gets through again
/// with the same SAs.
#[test]
fn a_changed_nat_mapping_is_followed() {
    let Some(lab) = Lab::new("rw-rebind") else {
        return;
    };
    ipsec_tests::lab::ensure_packages(&["conntrack"]).expect("conntrack");
    let nat = lab.nat().unwrap();
    let conf = iked_conf("aggressive", "\"modp2048\"")
        .replace("dpd-interval = \"3s\"", "dpd-interval = \"60s\"");
    let (_dir, d) = start_iked(&nat.server, &conf);
    let logs = Logs(vec![&d]);
    let c = client(
        nat.client(),
        &client_conf(true, "aes128-sha256-modp2048", "alice", "alice's password")
            .replace("dpd_delay = 0s", "dpd_delay = 2s"),
    );
    let vip = connect_and_ping("before", &c, nat.client());
    let spis: Vec<String> = sas(&d)
        .iter()
        .map(|s| s["spi"].as_str().unwrap_or_default().to_owned())
        .collect();
    // New mappings from 42000-42999 from now on.
    nat.router
        .sh(
            "nft flush chain ip ikt_nat postrouting && \
             nft add rule ip ikt_nat postrouting oifname wan meta l4proto udp masquerade to :42000-42999 && \
             nft add rule ip ikt_nat postrouting oifname wan masquerade && \
             conntrack -D -p udp >/dev/null 2>&1; true",
        )
        .unwrap();
    let took = nat
        .client()
        .ping_until(
            Some(vip.parse().unwrap()),
            LAN.parse().unwrap(),
            Duration::from_secs(30),
        )
        .unwrap_or_else(|e| panic!("no ping after the NAT rebinding: {e}\n{}", nat.ruleset()));
    eprintln!("ping through again after {took:.1?}");
    let log = d.log_text();
    assert!(log.contains("moved outbound SA"), "{log}");
    let after = sas(&d);
    let same: Vec<String> = after
        .iter()
        .map(|s| s["spi"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(spis, same, "the same SAs, moved");
    assert!(
        after.iter().all(|s| s["encap"]
            .as_str()
            .is_some_and(|e| e.contains(":42") || e.starts_with("42"))),
        "{after:?}"
    );
    drop(logs);
}
