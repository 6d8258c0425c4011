//! IKE and ESP over IPv6 outer addresses. The lab's two hosts (IPv6 off) get IPv6 back, with
//! documentation addresses (no DAD, usable at once):
//!
//! ```text
//!  lo 2001:db8:a::1 [a] 2001:db8:65::1 --veth-- 2001:db8:65::2 [b] lo 2001:db8:b::1
//!  lo 198.51.100.1  [a] 198.18.0.1     --veth-- 198.18.0.2     [b] lo 203.0.113.1
//! ```
//!
//! `guest_ipv6_site_to_site`: IPv6 in IPv6, policy 2001:db8:a::/64 <-> 2001:db8:b::/64.
//! `guest_ipv4_in_ipv6_tunnel`: IPv4 inner addresses (the lab's) in ESP between the IPv6
//! outer addresses (the policy's selectors are IPv4, its sa-src/sa-dst IPv6).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use ipsec_tests::lab::{Netns, TwoHosts};

use super::support::{
    Conf, LogsOnPanic, PolicySpec, add_addr6, enable_ipv6, lab, out_bytes, ping, ping_until, ping6,
    ping6_until, route, route6, sas, start_iked, stop_clean, xfrm_state,
};
use crate::common::Daemon;

const A_OUTER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x65, 0, 0, 0, 0, 1);
const B_OUTER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x65, 0, 0, 0, 0, 2);
const A_INNER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xa, 0, 0, 0, 0, 1);
const B_INNER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xb, 0, 0, 0, 0, 1);
const A_NET: &str = "2001:db8:a::/64";
const B_NET: &str = "2001:db8:b::/64";

/// IPv6 on, the outer addresses on the link, the inner ones on lo, and each side's route to
/// the other's inner network (tunnel mode needs a route before the policy lookup).
fn ipv6_hosts(net: &TwoHosts) {
    enable_ipv6(&net.a);
    enable_ipv6(&net.b);
    add_addr6(&net.a, "eth0", A_OUTER, 64);
    add_addr6(&net.b, "eth0", B_OUTER, 64);
    add_addr6(&net.a, "lo", A_INNER, 128);
    add_addr6(&net.b, "lo", B_INNER, 128);
    route6(&net.a, B_NET, B_OUTER, A_INNER);
    route6(&net.b, A_NET, A_OUTER, B_INNER);
    // The link itself, in clear (no policy covers the outer addresses).
    assert!(
        ping6(&net.a, A_OUTER, B_OUTER),
        "no IPv6 between the hosts:\n{}",
        net.a.ip(&["-6", "addr"]).unwrap()
    );
}

/// Both sides hold one mature pair between the IPv6 outer addresses, in iked's view and (on
/// the kernel dataplane) in the kernel's.
fn check_sas(da: &Daemon, db: &Daemon, net: &TwoHosts, kernel: bool) {
    for (d, ns, name, me, peer) in [
        (da, &net.a, "a", A_OUTER, B_OUTER),
        (db, &net.b, "b", B_OUTER, A_OUTER),
    ] {
        let sas = sas(d);
        assert_eq!(sas.len(), 2, "{name}: {sas:?}");
        for s in &sas {
            assert_eq!(s["state"], "mature", "{name}: {s}");
            assert_eq!(s["mode"], "tunnel", "{name}: {s}");
            let (src, dst) = if s["direction"] == "out" {
                (me, peer)
            } else {
                (peer, me)
            };
            assert_eq!(s["src-address"], src.to_string(), "{name}: {s}");
            assert_eq!(s["dst-address"], dst.to_string(), "{name}: {s}");
        }
        if !kernel {
            continue;
        }
        let kernel = xfrm_state(ns);
        eprintln!("{name}: ip xfrm state:\n{kernel}");
        let v6 = ns.ip(&["-6", "xfrm", "state"]).unwrap();
        assert_eq!(
            v6.matches("proto esp").count(),
            2,
            "{name}: IPv6 SAs in the kernel:\n{v6}"
        );
        assert!(
            v6.contains(&format!("src {me} dst {peer}"))
                && v6.contains(&format!("src {peer} dst {me}")),
            "{name}: IPv6 SAs in the kernel:\n{v6}"
        );
    }
}

fn start_pair(
    net: &TwoHosts,
    dir: &std::path::Path,
    a: PolicySpec,
    b: PolicySpec,
    dataplane: &str,
) -> (Daemon, Daemon) {
    let conf = |me, peer_name, peer, policy| {
        let mut c = Conf::new(me, peer_name, peer, policy);
        c.daemon = format!("dataplane = \"{dataplane}\"");
        c
    };
    let da = start_iked(&net.a, dir, "a", &conf(A_OUTER, "b", B_OUTER, a));
    let db = start_iked(&net.b, dir, "b", &conf(B_OUTER, "a", A_OUTER, b));
    (da, db)
}

fn stop_both(mut da: Daemon, mut db: Daemon, a: &Netns, b: &Netns) {
    stop_clean(&mut da, a);
    stop_clean(&mut db, b);
}

#[test]
#[ignore = "runs inside the kernel VM (started by site_to_site_in_vm)"]
fn guest_ipv6_site_to_site() {
    if !super::support::in_guest() {
        return;
    }
    ipv6_site_to_site("ipv6", "kernel");
}

/// The same on iked's own ESP: raw IPv6 ESP sockets, the IPv6 rule and routes into the TUN.
#[test]
#[ignore = "runs inside the kernel VM (started by site_to_site_in_vm)"]
fn guest_ipv6_userspace() {
    if !super::support::in_guest() {
        return;
    }
    ipv6_site_to_site("ipv6u", "userspace");
}

fn ipv6_site_to_site(name: &str, dataplane: &str) {
    let kernel = dataplane == "kernel";
    let lab = lab(name);
    let net = lab.two_hosts().unwrap();
    ipv6_hosts(&net);
    let dir = tempfile::tempdir().unwrap();
    let policy = |src: &str, dst: &str, me: Ipv6Addr, peer: Ipv6Addr| PolicySpec {
        src: src.into(),
        dst: dst.into(),
        sa: Some((me.into(), peer.into())),
    };
    let (da, db) = start_pair(
        &net,
        dir.path(),
        policy(A_NET, B_NET, A_OUTER, B_OUTER),
        policy(B_NET, A_NET, B_OUTER, A_OUTER),
        dataplane,
    );
    let _logs = LogsOnPanic::of(&[&da, &db]);
    let status = da.json(&["status"]);
    eprintln!("{name}: a listens on {}", status["listening"]);

    let took = ping6_until(&net.a, A_INNER, B_INNER, Duration::from_secs(60));
    eprintln!("{name}: first ping6 answered after {took:.1?}");
    check_sas(&da, &db, &net, kernel);
    if kernel {
        let pols = net.a.ip(&["-6", "xfrm", "policy"]).unwrap();
        assert!(
            pols.contains(&format!("src {A_NET} dst {B_NET}")),
            "a: IPv6 policies:\n{pols}"
        );
    }

    let before = out_bytes(&da);
    for _ in 0..3 {
        assert!(ping6(&net.a, A_INNER, B_INNER), "ping6 through the tunnel");
    }
    let after = out_bytes(&da);
    assert!(after > before, "counters did not rise: {before} -> {after}");
    eprintln!("{name}: a's outbound bytes {before} -> {after}");

    stop_both(da, db, &net.a, &net.b);
}

#[test]
#[ignore = "runs inside the kernel VM (started by site_to_site_in_vm)"]
fn guest_ipv4_in_ipv6_tunnel() {
    if !super::support::in_guest() {
        return;
    }
    let lab = lab("v4in6");
    let net = lab.two_hosts().unwrap();
    ipv6_hosts(&net);
    // The inner IPv4 hosts of the lab; the IPv4 route only picks the way out (the policy then
    // wraps the packet in ESP over IPv6).
    let (a_inner, b_inner) = (net.a.inner(), net.b.inner());
    let (aa, ba): (Ipv4Addr, Ipv4Addr) = (net.a.addr(), net.b.addr());
    route(&net.a, &format!("{b_inner}/32"), ba, a_inner);
    route(&net.b, &format!("{a_inner}/32"), aa, b_inner);
    let dir = tempfile::tempdir().unwrap();
    let (da, db) = start_pair(
        &net,
        dir.path(),
        PolicySpec::tunnel(a_inner, b_inner, A_OUTER, B_OUTER),
        PolicySpec::tunnel(b_inner, a_inner, B_OUTER, A_OUTER),
        "kernel",
    );
    let _logs = LogsOnPanic::of(&[&da, &db]);

    let took = ping_until(&net.a, a_inner, b_inner, Duration::from_secs(60));
    eprintln!("v4in6: first ping answered after {took:.1?}");
    check_sas(&da, &db, &net, true);

    let before = out_bytes(&da);
    for _ in 0..3 {
        assert!(ping(&net.a, a_inner, b_inner), "ping through the tunnel");
    }
    let after = out_bytes(&da);
    assert!(after > before, "counters did not rise: {before} -> {after}");

    stop_both(da, db, &net.a, &net.b);
}
