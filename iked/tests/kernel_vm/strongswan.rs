//! iked against strongSwan's charon, both with real kernel ESP (charon through kernel-netlink,
//! not kernel-libipsec: no faked NAT-D, raw ESP), main mode PSK, tunnel mode, PFS modp2048:
//!
//! ```text
//!  lo 198.51.100.1 [a: iked] 198.18.0.1 --veth-- 198.18.0.2 [b: charon] lo 203.0.113.1
//! ```
//!
//! Both ways: iked initiates on demand (the ping makes the kernel ACQUIRE), and charon
//! initiates (`swanctl --initiate`).

use std::net::Ipv4Addr;
use std::time::Duration;

use ipsec_tests::lab::{Charon, Lab, TwoHosts};

use super::support::{
    Conf, LogsOnPanic, PSK, PolicySpec, lab, out_bytes, ping, ping_until, route, sas, start_iked,
    stop_clean, xfrm_state,
};
use crate::common::Daemon;

const OURS: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const THEIRS: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);

fn charon_conf() -> String {
    format!(
        r#"
connections {{
  iked {{
    version = 1
    local_addrs = 198.18.0.2
    remote_addrs = 198.18.0.1
    proposals = aes128-sha256-modp2048
    local {{
      auth = psk
    }}
    remote {{
      auth = psk
    }}
    children {{
      net {{
        mode = tunnel
        local_ts = {THEIRS}/32
        remote_ts = {OURS}/32
        esp_proposals = aes128-sha256-modp2048
        start_action = none
      }}
    }}
  }}
}}
secrets {{
  ike-iked {{
    id-a = 198.18.0.2
    id-b = 198.18.0.1
    secret = "{PSK}"
  }}
}}
"#
    )
}

/// The namespaces, charon (loaded, idle) and iked (policies installed, idle).
struct Setup {
    _lab: Lab,
    net: TwoHosts,
    charon: Charon,
    iked: Daemon,
    _dir: tempfile::TempDir,
}

fn setup(name: &str) -> Setup {
    let lab = lab(name);
    let net = lab.two_hosts().unwrap();
    let (aa, ba) = (net.a.addr(), net.b.addr());
    route(&net.a, &format!("{THEIRS}/32"), ba, OURS);
    route(&net.b, &format!("{OURS}/32"), aa, THEIRS);
    let charon = Charon::builder(&net.b)
        .kernel_esp(true)
        .start(&charon_conf())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut conf = Conf::new(aa, "charon", ba, PolicySpec::tunnel(OURS, THEIRS, aa, ba));
    conf.peer_extra = "hash-algorithm = [\"sha256\"]".into();
    conf.proposal = "enc-algorithms = [\"aes-128-cbc\"]\nauth-algorithms = [\"sha256\"]".into();
    let iked = start_iked(&net.a, dir.path(), "a", &conf);
    Setup {
        _lab: lab,
        net,
        charon,
        iked,
        _dir: dir,
    }
}

/// Once the CHILD SA is up: both kernels carry raw ESP tunnel SAs, pings pass both ways, our
/// counters rise; then iked stops cleanly.
fn check_tunnel(mut s: Setup) {
    s.charon
        .wait_child_installed("net", Duration::from_secs(10))
        .unwrap();
    let sas = sas(&s.iked);
    assert_eq!(sas.len(), 2, "{sas:?}");
    for sa in &sas {
        assert_eq!(sa["mode"], "tunnel", "{sa}");
        assert_eq!(sa["state"], "mature", "{sa}");
        assert!(sa["encap"].is_null(), "no NAT, raw ESP: {sa}");
        assert_eq!(sa["enc-algorithm"], "aes-128-cbc", "{sa}");
    }
    let theirs = xfrm_state(&s.net.b);
    assert_eq!(
        theirs.matches("proto esp").count(),
        2,
        "charon's kernel SAs:\n{theirs}"
    );
    assert!(!theirs.contains("encap"), "charon's kernel SAs:\n{theirs}");
    let before = out_bytes(&s.iked);
    for _ in 0..3 {
        assert!(
            ping(&s.net.a, OURS, THEIRS),
            "ping iked side -> charon side"
        );
        assert!(
            ping(&s.net.b, THEIRS, OURS),
            "ping charon side -> iked side"
        );
    }
    let after = out_bytes(&s.iked);
    assert!(after > before, "counters did not rise: {before} -> {after}");
    eprintln!("charon SAs:\n{}", s.charon.list_sas().unwrap());
    stop_clean(&mut s.iked, &s.net.a);
}

#[test]
#[ignore = "runs inside the kernel VM (started by site_to_site_in_vm)"]
fn guest_strongswan_iked_initiates() {
    if !super::support::in_guest() {
        return;
    }
    let s = setup("sw-iked-init");
    let _logs = LogsOnPanic::of(&[&s.iked]);
    let took = ping_until(&s.net.a, OURS, THEIRS, Duration::from_secs(60));
    eprintln!("iked -> charon: first ping answered after {took:.1?}");
    check_tunnel(s);
}

#[test]
#[ignore = "runs inside the kernel VM (started by site_to_site_in_vm)"]
fn guest_strongswan_charon_initiates() {
    if !super::support::in_guest() {
        return;
    }
    let s = setup("sw-charon-init");
    let _logs = LogsOnPanic::of(&[&s.iked]);
    let out = s.charon.initiate("net").unwrap();
    assert!(out.stdout.contains("established"), "{}", out.stdout);
    // iked is the responder: no ACQUIRE on our side, the SAs come from charon's quick mode.
    let took = ping_until(&s.net.b, THEIRS, OURS, Duration::from_secs(20));
    eprintln!("charon -> iked: first ping answered after {took:.1?}");
    check_tunnel(s);
}
