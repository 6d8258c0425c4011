//! `auto-start = true`: a's daemon brings peer b up at start, phase 1 and a quick mode for
//! each of the peer's two policies, with no traffic at all. Then `iked flush esp` on a
//! removes a's SAs from the kernel, and the tunnel comes back.
//!
//! ```text
//!  lo 198.51.100.1, .2 [a] 198.18.0.1 --veth-- 198.18.0.2 [b] lo 203.0.113.1, .2
//!  policies 198.51.100.1 <-> 203.0.113.1 and 198.51.100.2 <-> 203.0.113.2
//! ```

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::support::{
    Conf, LogsOnPanic, PolicySpec, lab, ping, ping_until, route, sas, spis, start_iked, stop_clean,
    xfrm_state,
};
use crate::common::wait_for;

/// The two inner host pairs (a's, b's), one policy each.
const PAIRS: [(Ipv4Addr, Ipv4Addr); 2] = [
    (
        Ipv4Addr::new(198, 51, 100, 1),
        Ipv4Addr::new(203, 0, 113, 1),
    ),
    (
        Ipv4Addr::new(198, 51, 100, 2),
        Ipv4Addr::new(203, 0, 113, 2),
    ),
];

#[test]
#[ignore = "runs inside the kernel VM (started by site_to_site_in_vm)"]
fn guest_flush_and_auto_start() {
    if !super::support::in_guest() {
        return;
    }
    let lab = lab("flush");
    let net = lab.two_hosts().unwrap();
    let (aa, ba) = (net.a.addr(), net.b.addr());
    // two_hosts gives the first inner pair; the second is ours.
    net.a.add_addr("lo", PAIRS[1].0, 32).unwrap();
    net.b.add_addr("lo", PAIRS[1].1, 32).unwrap();
    for (ai, bi) in PAIRS {
        route(&net.a, &format!("{bi}/32"), ba, ai);
        route(&net.b, &format!("{ai}/32"), aa, bi);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut ca = Conf::new(
        aa,
        "b",
        ba,
        PolicySpec::tunnel(PAIRS[0].0, PAIRS[0].1, aa, ba),
    );
    ca.policies
        .push(PolicySpec::tunnel(PAIRS[1].0, PAIRS[1].1, aa, ba));
    ca.peer_extra = "auto-start = true".into();
    let mut cb = Conf::new(
        ba,
        "a",
        aa,
        PolicySpec::tunnel(PAIRS[0].1, PAIRS[0].0, ba, aa),
    );
    cb.policies
        .push(PolicySpec::tunnel(PAIRS[1].1, PAIRS[1].0, ba, aa));
    // b first, so that a's first message finds it listening.
    let mut db = start_iked(&net.b, dir.path(), "b", &cb);
    let t0 = Instant::now();
    let mut da = start_iked(&net.a, dir.path(), "a", &ca);
    let _logs = LogsOnPanic::of(&[&da, &db]);

    // No packet sent: the SAs come from auto-start alone (two pairs, one per policy).
    wait_for(
        "auto-start: two SA pairs on both sides, without traffic",
        Duration::from_secs(60),
        || (sas(&da).len() == 4 && sas(&db).len() == 4).then_some(()),
    );
    eprintln!("auto-start: both pairs up after {:.1?}", t0.elapsed());
    assert!(
        da.log_text().contains("auto-start: initiating peer \"b\""),
        "{}",
        da.log_text()
    );
    let pols = da.json(&["policies"]);
    assert!(
        pols.as_array()
            .unwrap()
            .iter()
            .filter(|p| p["ph2-state"] != "")
            .all(|p| p["ph2-state"] == "established"),
        "{pols:#}"
    );
    for (ai, bi) in PAIRS {
        assert!(ping(&net.a, ai, bi), "ping {ai} -> {bi} through the tunnel");
    }
    let old = spis(&sas(&da));

    // flush esp: a's SAs leave the kernel at once.
    let done = da.json(&["flush", "esp"]);
    eprintln!("flush: {done}");
    let state = xfrm_state(&net.a);
    eprintln!("a: ip xfrm state right after the flush:\n{state}");
    assert_eq!(state.trim(), "", "SAs left in a's kernel after the flush");
    // What iked does next on its own, with no traffic for 3 s: it tells b (DELETE) and waits
    // for an ACQUIRE (auto-start acts at start and reload only); printed for the record.
    std::thread::sleep(Duration::from_secs(3));
    eprintln!(
        "flush: 3 s later, without traffic: a has {} SAs, b {}",
        sas(&da).len(),
        sas(&db).len()
    );

    // The next pings make the kernel ACQUIRE: traffic passes again, on new SAs; b holds only
    // those (a told it of the old ones).
    for (ai, bi) in PAIRS {
        let took = ping_until(&net.a, ai, bi, Duration::from_secs(60));
        eprintln!("flush: {ai} -> {bi} answered again after {took:.1?}");
    }
    let new = spis(&sas(&da));
    assert_eq!(new.len(), 4, "{new:?}");
    assert!(new.iter().all(|s| !old.contains(s)), "{old:?} -> {new:?}");
    wait_for(
        "b to hold only the new pairs",
        Duration::from_secs(15),
        || {
            let b = spis(&sas(&db));
            (b.len() == 4 && b.iter().all(|s| !old.contains(s))).then_some(())
        },
    );

    stop_clean(&mut da, &net.a);
    stop_clean(&mut db, &net.b);
}
