//! A crashed iked's SAs and policies stay in the kernel (nothing removes them when the process
//! dies). Started again with the same configuration, iked removes what carries its tag (reqids
//! 0x6b69xxxx, policy indexes 0x6b7xxxxx) before anything else, and the tunnel comes back.
//!
//! ```text
//!  lo 198.51.100.1 [a] 198.18.0.1 --veth-- 198.18.0.2 [b] lo 203.0.113.1
//! ```

use std::net::Ipv4Addr;
use std::time::Duration;

use super::support::{
    Conf, LogsOnPanic, PolicySpec, lab, ping_until, restart_iked, route, sas, spis, start_iked,
    stop_clean, xfrm_state,
};
use crate::common::wait_for;

const A_INNER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const B_INNER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);

#[test]
#[ignore = "runs inside the kernel VM (started by site_to_site_in_vm)"]
fn guest_restart_cleanup() {
    if !super::support::in_guest() {
        return;
    }
    let lab = lab("restart");
    let net = lab.two_hosts().unwrap();
    let (aa, ba) = (net.a.addr(), net.b.addr());
    route(&net.a, &format!("{B_INNER}/32"), ba, A_INNER);
    route(&net.b, &format!("{A_INNER}/32"), aa, B_INNER);
    let dir = tempfile::tempdir().unwrap();
    let ca = Conf::new(aa, "b", ba, PolicySpec::tunnel(A_INNER, B_INNER, aa, ba));
    let cb = Conf::new(ba, "a", aa, PolicySpec::tunnel(B_INNER, A_INNER, ba, aa));
    let mut da = start_iked(&net.a, dir.path(), "a", &ca);
    let mut db = start_iked(&net.b, dir.path(), "b", &cb);
    let _logs = LogsOnPanic::of(&[&da, &db]);

    ping_until(&net.a, A_INNER, B_INNER, Duration::from_secs(60));
    let old = spis(&sas(&da));
    assert_eq!(old.len(), 2, "{old:?}");

    // The crash: SIGKILL, no cleanup. The SAs and policies stay.
    da.signal(libc::SIGKILL);
    da.wait_exit(Duration::from_secs(10));
    let state = xfrm_state(&net.a);
    for spi in &old {
        assert!(
            state.contains(spi.as_str()),
            "{spi} gone at the crash:\n{state}"
        );
    }
    let reqids = numbers_after(&state, "reqid");
    assert!(
        !reqids.is_empty() && reqids.iter().all(|r| r >> 16 == 0x6b69),
        "not our reqid tag:\n{state}"
    );
    // `-s` shows the policy index.
    let policies = net.a.ip(&["-s", "xfrm", "policy"]).unwrap();
    let ours = numbers_after(&policies, "index")
        .into_iter()
        .filter(|i| i >> 20 == 0x6b7)
        .count();
    assert!(
        ours >= 3,
        "our policies (in, out, fwd) gone at the crash:\n{policies}"
    );

    // Same configuration, same socket path (the stale socket file is replaced).
    let mut da = restart_iked(&net.a, dir.path(), "a");
    let log = da.log_text();
    let removed = log
        .lines()
        .find(|l| l.contains("removed what an earlier run left"))
        .unwrap_or_else(|| panic!("no cleanup at start:\n{log}"));
    eprintln!("restart: {removed}");
    assert!(removed.contains("2 SAs"), "{removed}");
    let state = xfrm_state(&net.a);
    for spi in &old {
        assert!(
            !state.contains(spi.as_str()),
            "{spi} survived the restart:\n{state}"
        );
    }

    // The tunnel comes back on demand; b replaces the pair the crashed run made
    // (INITIAL-CONTACT), so each side has exactly one pair again.
    let took = ping_until(&net.a, A_INNER, B_INNER, Duration::from_secs(60));
    eprintln!("restart: tunnel back after {took:.1?}");
    let new = spis(&sas(&da));
    assert_eq!(new.len(), 2, "{new:?}");
    assert!(new.iter().all(|s| !old.contains(s)), "{old:?} -> {new:?}");
    wait_for(
        "b to hold only the new pair",
        Duration::from_secs(15),
        || {
            let b = spis(&sas(&db));
            (b.len() == 2 && b.iter().all(|s| !old.contains(s))).then_some(())
        },
    );

    stop_clean(&mut da, &net.a);
    stop_clean(&mut db, &net.b);
}

/// Every number that follows the word `key` in `ip xfrm` output (`reqid 1802043393`,
/// `index 1803550746`).
fn numbers_after(text: &str, key: &str) -> Vec<u32> {
    let words: Vec<&str> = text.split_whitespace().collect();
    words
        .windows(2)
        .filter(|w| w[0] == key)
        .filter_map(|w| w[1].parse().ok())
        .collect()
}
