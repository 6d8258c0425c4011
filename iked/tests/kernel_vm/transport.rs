//! Transport mode between the two hosts' own addresses (no inner networks):
//!
//! ```text
//!  [a] 198.18.0.1 --veth-- 198.18.0.2 [b]      policy 198.18.0.1/32 <-> 198.18.0.2/32, tunnel = false
//! ```
//!
//! The IKE datagrams between the same two addresses must not be caught by the policy (iked's
//! socket bypass); the ping between them must be.

use std::time::Duration;

use super::support::{
    Conf, LogsOnPanic, PolicySpec, lab, out_bytes, ping, ping_until, sas, start_iked, stop_clean,
    xfrm_state,
};

#[test]
#[ignore = "runs inside the kernel VM (started by site_to_site_in_vm)"]
fn guest_transport_mode() {
    if !super::support::in_guest() {
        return;
    }
    let lab = lab("transport");
    let net = lab.two_hosts().unwrap();
    let (aa, ba) = (net.a.addr(), net.b.addr());
    let dir = tempfile::tempdir().unwrap();
    let mut da = start_iked(
        &net.a,
        dir.path(),
        "a",
        &Conf::new(aa, "b", ba, PolicySpec::transport(aa, ba)),
    );
    let mut db = start_iked(
        &net.b,
        dir.path(),
        "b",
        &Conf::new(ba, "a", aa, PolicySpec::transport(ba, aa)),
    );
    let _logs = LogsOnPanic::of(&[&da, &db]);

    let took = ping_until(&net.a, aa, ba, Duration::from_secs(60));
    eprintln!("transport: first ping answered after {took:.1?}");

    for (d, ns, name) in [(&da, &net.a, "a"), (&db, &net.b, "b")] {
        let sas = sas(d);
        assert_eq!(sas.len(), 2, "{name}: {sas:?}");
        for s in &sas {
            assert_eq!(s["mode"], "transport", "{name}: {s}");
            assert_eq!(s["state"], "mature", "{name}: {s}");
            assert!(s["encap"].is_null(), "{name}: no NAT, raw ESP: {s}");
        }
        let kernel = xfrm_state(ns);
        assert_eq!(
            kernel.matches("mode transport").count(),
            2,
            "{name}: kernel SAs:\n{kernel}"
        );
    }
    let before = out_bytes(&da);
    for _ in 0..3 {
        assert!(ping(&net.a, aa, ba), "ping through the transport SAs");
    }
    let after = out_bytes(&da);
    assert!(after > before, "counters did not rise: {before} -> {after}");

    stop_clean(&mut da, &net.a);
    stop_clean(&mut db, &net.b);
}
