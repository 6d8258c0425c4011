//! L2TP/IPsec as Windows, macOS and Android dial it, with xl2tpd + pppd on both ends:
//!
//! ```text
//!  [c1] 100.64.1.1 ─┐                                  [srv] 198.18.0.2
//!   charon          ├─ [nat] 198.18.0.254 ──────────── iked (main-l2tp, transport, udp/1701)
//!   xl2tpd (LAC)    │   masquerade, UDP → 40000-40999   xl2tpd (LNS) + pppd, 100.96.0.1
//!  [c2] 100.64.2.1 ─┘
//! ```
//!
//! Each client's charon (kernel ESP) brings up a transport-mode SA for its UDP port 1701 with
//! iked through the NAT (NAT-T, NAT-OA); its xl2tpd then opens an L2TP tunnel and a PPP
//! session over it to the server's xl2tpd, pppd authenticates the user with MS-CHAPv2 and
//! gives it an address from 100.96.0.10-100.96.0.20, and a ping crosses the PPP link (ICMP
//! in PPP in L2TP in ESP in UDP).
//!
//! The server's files are the project's own L2TP example (`examples/l2tp.toml`,
//! `examples/l2tp/`: what `iked template l2tp` prints), with the addresses of this lab.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ipsec_tests::lab::{Charon, Netns, Proc};

use super::support::{LogsOnPanic, lab, sas};
use crate::common::{Daemon, wait_for};

const PSK: &str = "l2tp group secret";
const LNS_ADDR: Ipv4Addr = Ipv4Addr::new(100, 96, 0, 1);

/// The project's L2TP example (`examples/l2tp.toml`, `examples/l2tp/`), with this lab's
/// addresses and the test's paths: what a user of `iked template l2tp` runs.
const EXAMPLE_IKED: &str = include_str!("../../../examples/l2tp.toml");
const EXAMPLE_XL2TPD: &str = include_str!("../../../examples/l2tp/xl2tpd.conf");
const EXAMPLE_PPP: &str = include_str!("../../../examples/l2tp/options.xl2tpd");

/// Replaces `from` in `text`, which must contain it (so that a changed example fails here,
/// not later with a puzzling tunnel).
fn swap(text: &str, from: &str, to: &str) -> String {
    assert!(
        text.contains(from),
        "the example no longer has {from:?}:\n{text}"
    );
    text.replace(from, to)
}

/// iked on the server: the L2TP example (Windows profile, transport mode for UDP 1701
/// generated from a template for whoever has the PSK) on the server's address, with
/// `dataplane`; `aliases`: its `transport-nat-aliases` line uncommented (which makes `auto`
/// choose the userspace dataplane).
fn iked_conf(dataplane: &str, aliases: bool) -> String {
    let mut c = swap(EXAMPLE_IKED, "\"198.51.100.1", "\"198.18.0.2");
    c = swap(&c, "CHANGE-ME-l2tp-secret", PSK);
    c = swap(
        &c,
        "[daemon]\n",
        &format!("[daemon]\ndataplane = \"{dataplane}\"\n"),
    );
    if aliases {
        c = swap(&c, "# transport-nat-aliases", "transport-nat-aliases");
    }
    c
}

/// charon as the client's IPsec half: main mode PSK, transport mode for its L2TP port.
fn charon_conf() -> String {
    format!(
        r#"
connections {{
  l2tp {{
    version = 1
    remote_addrs = 198.18.0.2
    proposals = aes256-sha256-modp2048
    local {{
      auth = psk
    }}
    remote {{
      auth = psk
    }}
    children {{
      l2tp {{
        mode = transport
        local_ts = dynamic[udp/1701]
        remote_ts = dynamic[udp/1701]
        esp_proposals = aes128-sha1
        start_action = none
      }}
    }}
  }}
}}
secrets {{
  ike-l2tp {{
    secret = "{PSK}"
  }}
}}
"#
    )
}

/// Writes the LNS side from the example: xl2tpd.conf and the pppd options with this lab's
/// addresses and the test's paths, and CHAP secrets for `users` in the example's form.
fn write_lns(dir: &Path, users: &[(&str, &str)]) {
    let mut x = swap(
        EXAMPLE_XL2TPD,
        "198.19.1.200-198.19.1.239",
        "100.96.0.10-100.96.0.20",
    );
    x = swap(
        &x,
        "local ip = 198.19.1.2",
        &format!("local ip = {LNS_ADDR}"),
    );
    x = swap(&x, "ppp debug = no", "ppp debug = yes");
    x = swap(
        &x,
        "pppoptfile = /etc/ppp/options.xl2tpd",
        &format!("pppoptfile = {}", dir.join("options.xl2tpd").display()),
    );
    std::fs::write(dir.join("xl2tpd.conf"), x).unwrap();
    let mut o = swap(EXAMPLE_PPP, "ms-dns 198.19.1.53", "ms-dns 100.96.0.1");
    // The PPP addresses are not on an Ethernet here: nothing to answer ARP for.
    o = swap(&o, "\nproxyarp", "\n");
    o.push_str(&format!("logfile {}\n", dir.join("pppd-lns.log").display()));
    std::fs::write(dir.join("options.xl2tpd"), o).unwrap();
    let secrets: String = users
        .iter()
        .map(|(u, p)| format!("\"{u}\"    l2tp-server    \"{p}\"   *\n"))
        .collect();
    std::fs::write(dir.join("chap-secrets"), secrets).unwrap();
}

/// Writes client `k`'s LAC side: xl2tpd.conf that dials the server at once, and the pppd
/// options with the user's name and password.
fn write_lac(dir: &Path, k: usize, user: &str, password: &str) {
    let opts = dir.join(format!("options.lac{k}"));
    std::fs::write(
        dir.join(format!("lac{k}.conf")),
        format!(
            "[global]\nport = 1701\n\n[lac server]\nlns = 198.18.0.2\nppp debug = yes\n\
             pppoptfile = {}\nlength bit = yes\nautodial = yes\nredial = no\n",
            opts.display()
        ),
    )
    .unwrap();
    std::fs::write(
        &opts,
        format!(
            "name {user}\npassword \"{password}\"\nnoauth\nrefuse-eap\nrefuse-pap\n\
             nodefaultroute\nnoccp\nmtu 1400\nmru 1400\nipcp-accept-local\n\
             ipcp-accept-remote\nlogfile {}\n",
            dir.join(format!("pppd-lac{k}.log")).display()
        ),
    )
    .unwrap();
}

/// xl2tpd in `ns` in the foreground with its own pid and control files under `dir`.
fn xl2tpd(ns: &Netns, dir: &Path, conf: &str, tag: &str) -> Proc {
    let d = |f: String| dir.join(f).display().to_string();
    ns.spawn(&[
        "xl2tpd",
        "-D",
        "-c",
        &d(conf.into()),
        "-p",
        &d(format!("xl2tpd-{tag}.pid")),
        "-C",
        &d(format!("l2tp-control-{tag}")),
    ])
    .expect("xl2tpd starts")
}

/// pppd reads CHAP secrets only from /etc/ppp/chap-secrets: inside the VM (whose root is
/// the host's, read-only) the test's file is bind-mounted there for as long as this lives.
struct ChapSecrets;

impl ChapSecrets {
    fn mount(file: &Path) -> ChapSecrets {
        let st = Command::new("mount")
            .args(["--bind"])
            .arg(file)
            .arg("/etc/ppp/chap-secrets")
            .status()
            .expect("mount runs");
        assert!(st.success(), "bind-mount chap-secrets");
        ChapSecrets
    }
}

impl Drop for ChapSecrets {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("/etc/ppp/chap-secrets").status();
    }
}

/// The IPv4 address of `ppp0` in `ns` and its peer, once IPCP has set them.
fn ppp_addresses(ns: &Netns) -> Option<(Ipv4Addr, Ipv4Addr)> {
    let out = ns.ip(&["-4", "-o", "addr", "show", "dev", "ppp0"]).ok()?;
    // "3: ppp0    inet 100.96.0.10 peer 100.96.0.1/32 scope global ppp0"
    let mut words = out.split_whitespace();
    let local = words.by_ref().skip_while(|w| *w != "inet").nth(1)?;
    let peer = words.skip_while(|w| *w != "peer").nth(1)?;
    let peer = peer.split('/').next()?;
    Some((local.parse().ok()?, peer.parse().ok()?))
}

/// One L2TP client: charon with its SA up, xl2tpd dialled, PPP up. Returns its PPP address.
struct Client {
    charon: Charon,
    lac: Proc,
    ppp: Ipv4Addr,
}

fn connect(ns: &Netns, dir: &Path, k: usize, user: &str, password: &str) -> Client {
    let charon = Charon::builder(ns)
        .kernel_esp(true)
        .start(&charon_conf())
        .expect("charon starts");
    let out = charon.initiate("l2tp").expect("swanctl runs");
    assert!(
        out.status.success(),
        "client {k}: IPsec SA: {}\n{}",
        out.combined(),
        charon.log_tail(60)
    );
    write_lac(dir, k, user, password);
    let lac = xl2tpd(ns, dir, &format!("lac{k}.conf"), &format!("lac{k}"));
    let ppp = wait_for(
        &format!("client {k}: ppp0 with an address"),
        Duration::from_secs(45),
        || ppp_addresses(ns),
    );
    assert_eq!(ppp.1, LNS_ADDR, "client {k}: the LNS is the PPP peer");
    Client {
        charon,
        lac,
        ppp: ppp.0,
    }
}

fn ping_lns(ns: &Netns, from: Ipv4Addr) -> bool {
    ns.ping(Some(from), LNS_ADDR).expect("ping runs").success()
}

/// Runs the scenario with `clients` L2TP clients behind one NAT on iked's `dataplane`
/// (`auto+aliases`: `auto` with `transport-nat-aliases`, which selects the userspace one).
fn l2tp_behind_nat(name: &str, dataplane: &str, clients: usize) {
    let aliases = dataplane != "kernel";
    let dataplane = dataplane.trim_end_matches("+aliases");
    let lab = lab(name);
    let mut nat = lab.nat().unwrap();
    for _ in 1..clients {
        nat.add_client().unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let users: Vec<(String, String)> = (1..=clients)
        .map(|k| (format!("user{k}"), format!("password of user {k}")))
        .collect();
    let user_refs: Vec<(&str, &str)> = users
        .iter()
        .map(|(u, p)| (u.as_str(), p.as_str()))
        .collect();
    write_lns(dir.path(), &user_refs);
    let _secrets = ChapSecrets::mount(&dir.path().join("chap-secrets"));

    let conf = dir.path().join("iked.toml");
    std::fs::write(&conf, iked_conf(dataplane, aliases)).unwrap();
    let iked = Daemon::start_in(
        nat.server.name(),
        &conf,
        &dir.path().join("iked.sock"),
        &dir.path().join("iked.log"),
    );
    let _logs = LogsOnPanic::of(&[&iked]);
    if dataplane == "auto" {
        assert!(
            iked.log_text().contains("with transport-nat-aliases"),
            "auto with aliases takes the userspace dataplane: {}",
            iked.log_text()
        );
    }
    let mut lns = xl2tpd(&nat.server, dir.path(), "xl2tpd.conf", "lns");
    let show_logs = |what: &str| {
        let mut s = format!("{what}\n--- xl2tpd (LNS)\n{}", lns.output());
        for f in ["pppd-lns.log", "pppd-lac1.log", "pppd-lac2.log"] {
            let text = std::fs::read_to_string(dir.path().join(f)).unwrap_or_default();
            s.push_str(&format!("\n--- {f}\n{text}"));
        }
        s
    };

    let mut up = Vec::new();
    for (k, (user, password)) in users.iter().enumerate() {
        let ns = &nat.clients[k];
        let c = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            connect(ns, dir.path(), k + 1, user, password)
        }));
        let c = c.unwrap_or_else(|e| {
            eprintln!("{}", show_logs("connect failed"));
            std::panic::resume_unwind(e)
        });
        eprintln!("{name}: client {} got PPP address {}", k + 1, c.ppp);
        up.push(c);
    }
    // Every client, again after the others came up: each PPP link carries its own pings.
    for (k, c) in up.iter().enumerate() {
        let ns = &nat.clients[k];
        assert!(
            ping_lns(ns, c.ppp) || ping_lns(ns, c.ppp),
            "{}",
            show_logs(&format!("client {}: ping over PPP", k + 1))
        );
    }
    if aliases {
        // xl2tpd saw each client under its own alias, not the NAT's address.
        let log = lns.output();
        for k in 1..=clients {
            let alias = format!("Connection established to 100.127.0.{k}, 1701");
            assert!(log.contains(&alias), "{}", show_logs(&alias));
        }
    }
    let addrs: std::collections::BTreeSet<_> = up.iter().map(|c| c.ppp).collect();
    assert_eq!(addrs.len(), clients, "each client its own PPP address");

    let sas = sas(&iked);
    assert_eq!(sas.len(), 2 * clients, "{sas:?}");
    for s in &sas {
        assert_eq!(s["mode"], "transport", "{s}");
        assert!(s["encap"].is_string(), "ESP in UDP through the NAT: {s}");
        assert!(s["current-bytes"].as_u64().unwrap() > 0, "{s}");
        if aliases {
            let alias = s["alias"]
                .as_str()
                .unwrap_or_else(|| panic!("no alias: {s}"));
            assert!(alias.starts_with("100.127.0."), "{s}");
        }
    }
    for mut c in up {
        c.lac.stop();
        c.charon.stop();
    }
    lns.stop();
}

#[test]
#[ignore = "runs inside the kernel VM (started by site_to_site_in_vm)"]
fn guest_l2tp_one_client() {
    if !super::support::in_guest() {
        return;
    }
    l2tp_behind_nat("l2tp1", "kernel", 1);
}

/// Two clients behind one NAT, both from UDP 1701: the userspace dataplane (which `auto`
/// takes because of `transport-nat-aliases`) shows each to xl2tpd under its own address. (With kernel XFRM the second
/// client's SA takes the first one's replies: XFRM finds SAs by address, and both clients
/// have the NAT's.)
#[test]
#[ignore = "runs inside the kernel VM (started by site_to_site_in_vm)"]
fn guest_l2tp_two_clients_behind_one_nat() {
    if !super::support::in_guest() {
        return;
    }
    l2tp_behind_nat("l2tp2", "auto+aliases", 2);
}

#[test]
#[ignore = "runs inside the kernel VM (started by site_to_site_in_vm)"]
fn guest_l2tp_userspace() {
    if !super::support::in_guest() {
        return;
    }
    l2tp_behind_nat("l2tp1u", "userspace", 1);
}
