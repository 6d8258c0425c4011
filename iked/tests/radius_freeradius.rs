//! RADIUS against a real FreeRADIUS (Debian's `freeradius` 3.2) in its own namespace: iked as
//! a road-warrior concentrator whose XAuth users, accounting and disconnects are the RADIUS
//! server's (issue "7 · RADIUS").
//!
//! Topology: the lab's NAT (`Lab::nat`: a strongSwan charon client behind 198.18.0.254, iked
//! on 198.18.0.2 with the LAN 203.0.113.1 and the userspace dataplane); FreeRADIUS servers
//! in namespaces of their own on veth links from iked's: A at 198.19.250.2 (iked
//! 198.19.250.1), B at 198.19.251.2 (iked 198.19.251.1).
//!
//! - `radius_login_accounting_and_disconnect`: a wrong password is refused by Access-Reject;
//!   the right one gets the Framed-IP-Address; accounting Start, Interim-Updates (2 s) and the
//!   counters in them match `iked sas`; radclient's Disconnect-Request ends the tunnel
//!   (Disconnect-ACK, SAs gone, Stop with Admin-Reset); an unknown session gets a NAK.
//! - `radius_failover_and_buffered_accounting`: with A stopped, B answers; with both stopped,
//!   the Stop of a session ended meanwhile is kept and arrives when A is back.
//!
//! Root only (like the other lab tests).

mod common;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::Daemon;
use common::traffic::Logs;
use common::wait_for;
use ipsec_tests::lab::{Charon, FreeRadius, Lab, Netns};
use serde_json::Value;

const GROUP_PSK: &str = "group secret for road warriors";
const LAN: &str = "203.0.113.1";
const SECRET: &str = "radius shared secret";
const ALICE_IP: &str = "100.100.0.77";

/// FreeRADIUS's users: alice gets a fixed address, a Class and a session timeout.
const USERS: &str = r#"alice Cleartext-Password := "alice's password"
	Framed-IP-Address = 100.100.0.77,
	Framed-IP-Netmask = 255.255.255.0,
	Class = "gold",
	Session-Timeout = 3600
"#;

fn iked_conf(servers: &[&str], extra: &str) -> String {
    let radius: String = servers
        .iter()
        .map(|s| {
            format!(
                "[[radius]]\naddress = \"{s}\"\nsecret = \"{SECRET}\"\ntimeout = \"1s\"\n\
                 retries = 1\nincoming = true\n\n"
            )
        })
        .collect();
    format!(
        r#"[daemon]
listen = ["198.18.0.2"]
dataplane = "userspace"
nas-identifier = "iked-lab"
radius-hold-down = "3s"
{extra}

[[peer]]
name = "rw"
address = "0.0.0.0/0"
auth-method = "pre-shared-key-xauth"
exchange-mode = "aggressive"
secret = "{GROUP_PSK}"
passive = true
nat-traversal = true
generate-policy = "port-strict"
policy-group = "rw"
mode-config = "rw-cfg"
dpd-interval = "disable-dpd"
hash-algorithm = ["sha256", "sha1"]

[[proposal]]
name = "rw"
enc-algorithms = ["aes-128-gcm", "aes-128-cbc"]
auth-algorithms = ["sha1"]
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

[[ip-pool]]
name = "pool"
ranges = ["100.100.0.10-100.100.0.50"]

{radius}"#
    )
}

fn client_conf(password: &str) -> String {
    format!(
        r#"
connections {{
  rw {{
    version = 1
    aggressive = yes
    remote_addrs = 198.18.0.2
    vips = 0.0.0.0
    proposals = aes128-sha256-modp2048
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
        remote_ts = 203.0.113.0/24
        esp_proposals = aes128gcm16
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
    id = alice
    secret = "{password}"
  }}
}}
"#
    )
}

/// A FreeRADIUS in a namespace of its own, linked to iked's: it at `198.19.N.2`, iked at
/// `198.19.N.1` (and its `listen` address 198.18.0.2 through that link).
fn radius_server(lab: &Lab, iked: &Netns, n: u8) -> FreeRadius {
    let ns = lab.netns(&format!("rad{n}")).unwrap();
    let ifname = format!("rad{n}");
    lab.veth(iked, &ifname, &ns, "eth0").unwrap();
    iked.add_addr(&ifname, Ipv4Addr::new(198, 19, n, 1), 24)
        .unwrap();
    ns.add_addr("eth0", Ipv4Addr::new(198, 19, n, 2), 24)
        .unwrap();
    // iked takes Disconnect/CoA on its `listen` address.
    ns.default_route(Ipv4Addr::new(198, 19, n, 1)).unwrap();
    FreeRadius::builder(&ns)
        .client("198.19.0.0/16", SECRET)
        .users(USERS)
        .start()
        .expect("FreeRADIUS")
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

fn client(ns: &Netns, password: &str) -> Charon {
    Charon::builder(ns)
        .aggressive_psk(true)
        .start(&client_conf(password))
        .expect("charon")
}

fn sas(d: &Daemon) -> Vec<Value> {
    d.json(&["sas"]).as_array().cloned().unwrap_or_default()
}

/// Octets and packets over the SAs in `dir`.
fn sa_totals(d: &Daemon, dir: &str) -> (u64, u64) {
    sas(d)
        .iter()
        .filter(|s| s["direction"] == dir)
        .fold((0, 0), |(o, p), s| {
            (
                o + s["current-bytes"].as_u64().unwrap_or(0),
                p + s["current-packets"].as_u64().unwrap_or(0),
            )
        })
}

fn num(r: &BTreeMap<String, String>, k: &str) -> u64 {
    r.get(k)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {k} in {r:?}"))
}

fn is(r: &BTreeMap<String, String>, k: &str, v: &str) -> bool {
    r.get(k).is_some_and(|x| x == v)
}

/// Brings the tunnel up and pings the LAN from alice's address.
fn connect(c: &Charon, ns: &Netns) {
    let out = c.initiate("lan").unwrap();
    assert!(
        out.stdout.contains("established"),
        "{}\n{}",
        out.stdout,
        c.log_tail(60)
    );
    ns.ping_until(
        Some(ALICE_IP.parse().unwrap()),
        LAN.parse().unwrap(),
        Duration::from_secs(15),
    )
    .expect("ping through the tunnel from the RADIUS-given address");
}

#[test]
fn radius_login_accounting_and_disconnect() {
    let Some(lab) = Lab::new("radius") else {
        return;
    };
    let nat = lab.nat().unwrap();
    let a = radius_server(&lab, &nat.server, 250);
    let (_dir, d) = start_iked(
        &nat.server,
        &iked_conf(
            &["198.19.250.2"],
            "radius-interim-update = \"2s\"\nradius-require-message-authenticator = true",
        ),
    );
    let logs = Logs(vec![&d]);

    // A wrong password: Access-Reject, XAuth refused, no SAs.
    let wrong = client(nat.client(), "not the password");
    let _ = wrong.initiate("lan");
    wait_for(
        "iked logs the Access-Reject",
        Duration::from_secs(20),
        || {
            d.log_text()
                .contains("RADIUS Access-Reject for \"alice\"")
                .then_some(())
        },
    );
    assert!(sas(&d).is_empty());
    drop(wrong);

    // The right one: the Framed-IP-Address becomes alice's virtual address.
    let c = client(nat.client(), "alice's password");
    connect(&c, nat.client());
    let log = d.log_text();
    assert!(log.contains("Framed-IP-Address 100.100.0.77"), "{log}");
    let start = a
        .wait_accounting(
            |r| is(r, "Acct-Status-Type", "Start") && is(r, "User-Name", "alice"),
            Duration::from_secs(10),
        )
        .expect("accounting Start");
    eprintln!("FreeRADIUS Start record: {start:?}");
    assert_eq!(start["Framed-IP-Address"], ALICE_IP);
    assert_eq!(start["NAS-Identifier"], "iked-lab");
    assert_eq!(
        start["Calling-Station-Id"].split(':').next(),
        Some("198.18.0.254")
    );
    assert!(start["Class"].contains("676f6c64") || start["Class"].contains("gold"));
    let session_id = start["Acct-Session-Id"].clone();

    // Traffic, then quiet: an Interim-Update's counters are those of `iked sas`.
    nat.client()
        .exec(&["ping", "-c", "5", "-i", "0.2", "-I", ALICE_IP, LAN])
        .unwrap();
    let (in_octets, in_packets) = sa_totals(&d, "in");
    let (out_octets, out_packets) = sa_totals(&d, "out");
    assert!(in_packets >= 5, "{:?}", sas(&d));
    let interim = a
        .wait_accounting(
            |r| {
                is(r, "Acct-Status-Type", "Interim-Update")
                    && r.get("Acct-Input-Packets")
                        .and_then(|v| v.parse::<u64>().ok())
                        == Some(in_packets)
            },
            Duration::from_secs(15),
        )
        .unwrap_or_else(|e| {
            panic!(
                "no Interim-Update with {in_packets} packets: {e}\n{:?}",
                a.accounting()
            )
        });
    eprintln!("FreeRADIUS Interim-Update: {interim:?}");
    assert_eq!(num(&interim, "Acct-Input-Octets"), in_octets);
    assert_eq!(num(&interim, "Acct-Output-Octets"), out_octets);
    assert_eq!(num(&interim, "Acct-Output-Packets"), out_packets);
    assert_eq!(interim["Acct-Session-Id"], session_id);

    // A Disconnect-Request for another user: NAK (Session-Context-Not-Found).
    let iked_addr: SocketAddr = "198.18.0.2:3799".parse().unwrap();
    let nak = a
        .radclient(iked_addr, "disconnect", SECRET, "User-Name = \"mallory\"\n")
        .unwrap();
    assert!(nak.stdout.contains("Disconnect-NAK"), "{nak:?}");
    // With the wrong secret: dropped, no answer.
    let forged = a
        .radclient(iked_addr, "disconnect", "guess", "User-Name = \"alice\"\n")
        .unwrap();
    assert!(!forged.stdout.contains("Disconnect-ACK"), "{forged:?}");
    assert!(!sas(&d).is_empty());

    // Disconnect-Request by Acct-Session-Id: ACK, the tunnel goes, Stop with Admin-Reset.
    let ack = a
        .radclient(
            iked_addr,
            "disconnect",
            SECRET,
            &format!("Acct-Session-Id = \"{session_id}\"\n"),
        )
        .unwrap();
    assert!(ack.stdout.contains("Disconnect-ACK"), "{ack:?}");
    wait_for("the SAs are gone", Duration::from_secs(10), || {
        sas(&d).is_empty().then_some(())
    });
    let stop = a
        .wait_accounting(
            |r| is(r, "Acct-Status-Type", "Stop"),
            Duration::from_secs(10),
        )
        .expect("accounting Stop");
    eprintln!("FreeRADIUS Stop record: {stop:?}");
    assert_eq!(stop["Acct-Terminate-Cause"], "Admin-Reset");
    assert!(num(&stop, "Acct-Input-Packets") >= in_packets);
    assert!(num(&stop, "Acct-Input-Octets") >= in_octets);
    assert_eq!(stop["Acct-Session-Id"], session_id);
    let status = d.client(&["status"]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("198.19.250.2"), "{text}");

    // Back in; a CoA-Request shortens the Session-Timeout to 2 s: the session ends then.
    drop(c);
    let c = client(nat.client(), "alice's password");
    connect(&c, nat.client());
    let coa = a
        .radclient(
            iked_addr,
            "coa",
            SECRET,
            "User-Name = \"alice\"\nSession-Timeout = 2\n",
        )
        .unwrap();
    assert!(coa.stdout.contains("CoA-ACK"), "{coa:?}");
    let unsupported = a
        .radclient(
            iked_addr,
            "coa",
            SECRET,
            "User-Name = \"alice\"\nFilter-Id = \"x\"\n",
        )
        .unwrap();
    assert!(unsupported.stdout.contains("CoA-NAK"), "{unsupported:?}");
    let stop = a
        .wait_accounting(
            |r| {
                is(r, "Acct-Status-Type", "Stop")
                    && is(r, "Acct-Terminate-Cause", "Session-Timeout")
            },
            Duration::from_secs(10),
        )
        .expect("Stop after the Session-Timeout from the CoA");
    assert_ne!(stop["Acct-Session-Id"], session_id);
    wait_for("the SAs are gone", Duration::from_secs(10), || {
        sas(&d).is_empty().then_some(())
    });
    drop(logs);
}

#[test]
fn radius_failover_and_buffered_accounting() {
    let Some(lab) = Lab::new("radius-fo") else {
        return;
    };
    let nat = lab.nat().unwrap();
    let mut a = radius_server(&lab, &nat.server, 250);
    let mut b = radius_server(&lab, &nat.server, 251);
    let (_dir, d) = start_iked(
        &nat.server,
        &iked_conf(&["198.19.250.2", "198.19.251.2"], ""),
    );
    let logs = Logs(vec![&d]);

    // A is down: B authenticates and takes the Start.
    a.stop();
    let c = client(nat.client(), "alice's password");
    connect(&c, nat.client());
    let log = d.log_text();
    assert!(
        log.contains("RADIUS Access-Accept for \"alice\" from 198.19.251.2"),
        "{log}"
    );
    assert!(log.contains("198.19.250.2 does not answer"), "{log}");
    b.wait_accounting(
        |r| is(r, "Acct-Status-Type", "Start"),
        Duration::from_secs(10),
    )
    .expect("Start at B");

    // Both down: the session ends; its Stop waits in iked's buffer.
    b.stop();
    let out = d.client(&["down", "rw"]);
    assert!(out.status.success(), "{out:?}");
    wait_for("the SAs are gone", Duration::from_secs(10), || {
        sas(&d).is_empty().then_some(())
    });
    std::thread::sleep(Duration::from_secs(3));
    let status = d.json(&["status"]);
    assert!(
        status["radius-accounting-backlog"].as_u64().unwrap_or(0) >= 1,
        "{status}"
    );
    // A is back: the Stop arrives, late and saying so.
    a.restart().unwrap();
    let stop = a
        .wait_accounting(
            |r| is(r, "Acct-Status-Type", "Stop"),
            Duration::from_secs(20),
        )
        .expect("buffered Stop at A");
    eprintln!("FreeRADIUS Stop after the outage: {stop:?}");
    assert!(num(&stop, "Acct-Delay-Time") >= 3);
    assert_eq!(stop["Acct-Terminate-Cause"], "Admin-Reset");
    wait_for("the backlog is empty", Duration::from_secs(10), || {
        (d.json(&["status"])["radius-accounting-backlog"].as_u64() == Some(0)).then_some(())
    });
    drop(logs);
}
