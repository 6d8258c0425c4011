//! iked as a mode-config client of iked, both on the userspace dataplane, in lab namespaces
//! (`ipsec_tests::lab`, two hosts):
//!
//! - the server in namespace b (198.18.0.2, LAN address 203.0.113.1 on lo): a passive
//!   road-warrior peer with XAuth PSK, a user, an address pool in 100.100.0.0/24, a
//!   mode-config with split-include 203.0.113.0/24 and a DNS server, a template policy with
//!   `generate-policy`;
//! - the client in namespace a (198.18.0.1): `mode-config = "request-only"`, XAuth login,
//!   `auto-start`, one tunnel policy from anywhere to the server's LAN.
//!
//! Checked: the client's log names the virtual IP and its DNS servers (not applied), the
//! address is on the client's loopback and the route into the TUN carries it as source, a ping from the
//! client (no `-I`: the route picks the source) reaches the server's LAN through the tunnel,
//! the SAs on both sides carried it and the server's generated policy goes to the virtual IP
//! (`iked sas` has no selector column; the userspace inbound check passes only packets inside
//! an SA's selector). `iked down` removes the address and leaves the policy's route; `iked up`
//! brings both back; after SIGTERM of the client the address and its routes are gone.
//!
//! Root only (like the other lab tests): without root the lab panics unless `IKT_ALLOW_SKIP=1`.

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::{Daemon, wait_for};
use ipsec_tests::lab::{Lab, Netns};
use serde_json::Value;

const PSK: &str = "group secret for the mode-config test";
const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// The server's LAN address (on its lo).
const LAN: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
/// The first address of the server's pool: what the only client gets.
const VIP: &str = "100.100.0.10";
/// Our routing table of the userspace dataplane (`iked::userspace::net::TABLE`).
const TABLE: &str = "27497";

fn server_conf() -> String {
    format!(
        r#"[daemon]
listen = ["{B}"]
dataplane = "userspace"

[[peer]]
name = "rw"
address = "0.0.0.0/0"
auth-method = "pre-shared-key-xauth"
exchange-mode = "main"
secret = "{PSK}"
passive = true
generate-policy = "port-strict"
policy-group = "rw"
mode-config = "rw-cfg"
dh-group = ["modp2048"]

[[proposal]]
name = "p"
enc-algorithms = ["aes-128-gcm"]
pfs-group = "none"

[[policy]]
template = true
group = "rw"
src-address = "203.0.113.0/24"
dst-address = "100.100.0.0/24"
tunnel = true
proposal = "p"

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

[[ip-pool]]
name = "pool"
ranges = ["100.100.0.10-100.100.0.50"]
"#
    )
}

fn client_conf() -> String {
    format!(
        r#"[daemon]
listen = ["{A}"]
dataplane = "userspace"

[[peer]]
name = "gw"
address = "{B}/32"
local-address = "{A}"
auth-method = "pre-shared-key-xauth"
exchange-mode = "main"
secret = "{PSK}"
xauth-login = "alice"
xauth-password = "alice's password"
mode-config = "request-only"
dh-group = ["modp2048"]
auto-start = true

[[proposal]]
name = "p"
enc-algorithms = ["aes-128-gcm"]
pfs-group = "none"

[[policy]]
src-address = "0.0.0.0/0"
dst-address = "203.0.113.0/24"
tunnel = true
sa-dst-address = "{B}"
proposal = "p"
"#
    )
}

/// Prints the daemons' logs (these files) if the test panics.
struct Logs(Vec<std::path::PathBuf>);

impl Drop for Logs {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for p in &self.0 {
                let text = std::fs::read_to_string(p).unwrap_or_default();
                eprintln!("---- {} ----\n{text}", p.display());
            }
        }
    }
}

fn start(ns: &Netns, dir: &std::path::Path, name: &str, conf: &str) -> Daemon {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, conf).unwrap();
    Daemon::start_in(
        ns.name(),
        &path,
        &dir.join(format!("{name}.sock")),
        &dir.join(format!("{name}.log")),
    )
}

fn sas(d: &Daemon) -> Vec<Value> {
    d.json(&["sas"]).as_array().cloned().unwrap_or_default()
}

fn ip(ns: &Netns, args: &[&str]) -> String {
    ns.ip(args).unwrap()
}

#[test]
fn modecfg_client_applies_virtual_ip() {
    let Some(lab) = Lab::new("modecfg-client") else {
        return;
    };
    let h = lab.two_hosts().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = start(&h.b, dir.path(), "server", &server_conf());
    let mut client = start(&h.a, dir.path(), "client", &client_conf());
    let logs = Logs(vec![server.log.clone(), client.log.clone()]);

    // auto-start: main mode, XAuth, mode-config, then the quick mode from the virtual IP.
    let line = wait_for("the client's virtual IP", Duration::from_secs(20), || {
        client
            .log_text()
            .lines()
            .find(|l| l.contains("virtual IP") && l.contains(VIP))
            .map(str::to_string)
    });
    assert!(
        line.contains(" on lo ")
            && line.contains("203.0.113.0/24")
            && line.contains("203.0.113.53")
            && line.contains("DNS servers")
            && line.contains("not applied"),
        "the log line names the address, routes and DNS servers: {line}"
    );
    let addrs = ip(&h.a, &["-4", "addr", "show", "dev", "lo"]);
    assert!(
        addrs.contains(&format!("inet {VIP}/32")),
        "virtual IP on lo: {addrs}"
    );
    let routes = ip(&h.a, &["route", "show", "table", TABLE]);
    assert!(
        routes
            .lines()
            .any(|l| l.starts_with("203.0.113.0/24") && l.contains(&format!("src {VIP}"))),
        "the route to the server's LAN leaves from the virtual IP: {routes}"
    );

    // Wait for the SAs on both sides, then a ping with the source the route picks.
    wait_for("the client's SAs", Duration::from_secs(15), || {
        (sas(&client).len() >= 2).then_some(())
    });
    let took =
        h.a.ping_until(None, LAN, Duration::from_secs(15))
            .expect("ping from the client to the server's LAN through the tunnel");
    eprintln!("first ping answered after {took:.1?}");

    // The client's SAs carried the ping; the server's SAs and generated policy are for the
    // virtual IP (the userspace inbound check only passes packets inside the selector).
    let c = sas(&client);
    for dir in ["in", "out"] {
        let s = c
            .iter()
            .find(|s| s["direction"] == dir)
            .unwrap_or_else(|| panic!("no {dir} SA on the client: {c:?}"));
        assert_eq!(s["peer"], "gw", "{s}");
        assert!(s["current-packets"].as_u64().unwrap() >= 1, "{s}");
    }
    let s = sas(&server);
    let with_client: Vec<&Value> = s.iter().filter(|s| s["peer"] == "rw").collect();
    assert!(
        with_client.len() >= 2
            && with_client
                .iter()
                .all(|s| s["current-packets"].as_u64().unwrap() >= 1),
        "the server's SAs with the client carried the ping: {s:?}"
    );
    let pol = server.json(&["policies"]);
    let vip32 = format!("{VIP}/32");
    assert!(
        pol.as_array()
            .unwrap()
            .iter()
            .any(|p| p["direction"] == "out" && p["dst-address"] == vip32.as_str()),
        "the server's generated policy goes to the virtual IP: {pol}"
    );
    let log = server.log_text();
    assert!(
        log.contains(&format!("mode-config: {VIP} for alice")),
        "{log}"
    );

    // The session goes down: the address and its source go, the policy's route stays.
    let out = client.client(&["down", "gw"]);
    assert!(out.status.success(), "iked down: {out:?}");
    wait_for("the virtual IP to go", Duration::from_secs(10), || {
        (!ip(&h.a, &["-4", "addr", "show"]).contains(VIP)).then_some(())
    });
    let routes = ip(&h.a, &["route", "show", "table", TABLE]);
    assert!(
        routes
            .lines()
            .any(|l| l.starts_with("203.0.113.0/24") && !l.contains(" src ")),
        "the policy's route into the TUN is back, without the source: {routes}"
    );

    // Up again: an address again (the pool's choice), a ping again.
    let out = client.client(&["up", "gw"]);
    assert!(out.status.success(), "iked up: {out:?}");
    let vip = wait_for("a second virtual IP", Duration::from_secs(20), || {
        let log = client.log_text();
        let line = log
            .lines()
            .filter(|l| l.contains("virtual IP") && l.contains(" on lo "))
            .nth(1)?
            .to_string();
        let (_, rest) = line.split_once("virtual IP ")?;
        rest.split_once('/').map(|(a, _)| a.to_string())
    });
    let addrs = ip(&h.a, &["-4", "addr", "show", "dev", "lo"]);
    assert!(addrs.contains(&format!("inet {vip}/32")), "{addrs}");
    h.a.ping_until(None, LAN, Duration::from_secs(15))
        .expect("ping through the tunnel after `iked up`");

    // SIGTERM: the address and its routes go with the client.
    client.signal(libc::SIGTERM);
    let st = client.wait_exit(Duration::from_secs(15));
    assert!(st.success(), "iked exited with {st}");
    let addrs = ip(&h.a, &["-4", "addr", "show"]);
    assert!(!addrs.contains(&vip), "virtual IP left behind: {addrs}");
    let routes = ip(&h.a, &["route", "show", "table", "all"]);
    assert!(
        !routes.contains(&vip),
        "route with the virtual IP left: {routes}"
    );
    let clog = client.log_text();
    assert!(
        clog.contains(&format!("virtual IP {vip} of peer \"gw\" removed")),
        "the client says it removed the address: {clog}"
    );
    drop(logs);
}
