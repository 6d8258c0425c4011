//! NAT traversal with ESP in UDP through a real masquerading NAT (the lab's [`Nat`]):
//!
//! ```text
//!  [client] 100.64.1.1 ── 100.64.1.254 [nat] 198.18.0.254 ── 198.18.0.2 [srv]
//!   lo 198.51.100.1        nft masquerade, UDP → :40000-40999      lo 203.0.113.1
//! ```
//!
//! The server knows the client only as the NAT's address. Both sides detect the NAT (NAT-D),
//! float to port 4500, and the kernel SAs carry `encap espinudp`; the ping passes and the
//! counters rise.

use std::net::Ipv4Addr;
use std::time::Duration;

use ipsec_tests::lab::Nat;

use super::support::{
    Conf, LogsOnPanic, PolicySpec, lab, out_bytes, ping, ping_until, route, sas, start_iked,
    stop_clean, xfrm_state,
};

const CLIENT_INNER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const SERVER_INNER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);

#[test]
#[ignore = "runs inside the kernel VM (started by site_to_site_in_vm)"]
fn guest_nat_traversal() {
    if !super::support::in_guest() {
        return;
    }
    let lab = lab("nat-t");
    let nat = lab.nat().unwrap();
    let (client, server) = (nat.client(), &nat.server);
    client.add_addr("lo", CLIENT_INNER, 32).unwrap();
    // The client routes through the NAT by default; the server needs a way back to the
    // client's inner network (through the NAT's public address).
    route(server, "198.51.100.0/24", Nat::PUBLIC, SERVER_INNER);
    let (ca, sa) = (client.addr(), server.addr());

    let dir = tempfile::tempdir().unwrap();
    let mut cc = Conf::new(
        ca,
        "srv",
        sa,
        PolicySpec::tunnel(CLIENT_INNER, SERVER_INNER, ca, sa),
    );
    cc.peer_extra = "nat-traversal = true".into();
    let mut sc = Conf::new(
        sa,
        "client",
        Nat::PUBLIC,
        PolicySpec::tunnel(SERVER_INNER, CLIENT_INNER, sa, Nat::PUBLIC),
    );
    sc.peer_extra = "nat-traversal = true".into();
    let mut dc = start_iked(client, dir.path(), "client", &cc);
    let mut ds = start_iked(server, dir.path(), "srv", &sc);
    let _logs = LogsOnPanic::of(&[&dc, &ds]);

    let took = ping_until(client, CLIENT_INNER, SERVER_INNER, Duration::from_secs(60));
    eprintln!("nat-t: first ping answered after {took:.1?}");
    eprintln!("nat ruleset:\n{}", nat.ruleset());

    for (d, ns, name) in [(&dc, client, "client"), (&ds, server, "srv")] {
        let sas = sas(d);
        assert_eq!(sas.len(), 2, "{name}: {sas:?}");
        for s in &sas {
            assert_eq!(s["mode"], "tunnel", "{name}: {s}");
            let encap = s["encap"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: no encap: {s}"));
            // Our end is always 4500; the client sees the server's 4500, the server sees
            // the port the NAT chose for the client's 4500.
            let (sport, dport) = encap.split_once(':').unwrap();
            let (local_port, remote_port) = if s["direction"] == "out" {
                (sport, dport)
            } else {
                (dport, sport)
            };
            assert_eq!(local_port, "4500", "{name}: {s}");
            if name == "client" {
                assert_eq!(remote_port, "4500", "{name}: {s}");
            } else {
                let p: u16 = remote_port.parse().unwrap();
                assert!((40000..=40999).contains(&p), "{name}: NAT port {p}: {s}");
            }
        }
        let kernel = xfrm_state(ns);
        assert_eq!(
            kernel.matches("encap type espinudp").count(),
            2,
            "{name}: kernel SAs:\n{kernel}"
        );
        // Phase 1 floated to 4500 on both ends; each knows which side the NAT is on.
        let status = d.json(&["status"]);
        let peer = &status["peers"][0];
        assert_eq!(peer["state"], "established", "{name}: {status}");
        let local = peer["local-address"].as_str().unwrap();
        assert!(local.ends_with(":4500"), "{name}: {status}");
        let remote = peer["remote-address"].as_str().unwrap();
        let (nat_side, remote_ok) = if name == "client" {
            ("local", remote == "198.18.0.2:4500")
        } else {
            ("remote", remote.starts_with("198.18.0.254:40"))
        };
        assert!(remote_ok, "{name}: {status}");
        assert_eq!(peer["nat"], nat_side, "{name}: {status}");
    }
    let before = out_bytes(&dc);
    let sbefore = out_bytes(&ds);
    for _ in 0..3 {
        assert!(
            ping(client, CLIENT_INNER, SERVER_INNER),
            "ping through the NAT-T tunnel"
        );
    }
    let (after, safter) = (out_bytes(&dc), out_bytes(&ds));
    assert!(after > before, "client counters: {before} -> {after}");
    assert!(safter > sbefore, "server counters: {sbefore} -> {safter}");

    stop_clean(&mut dc, client);
    stop_clean(&mut ds, server);
}
