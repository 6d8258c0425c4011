//! Phase-2 rekey under a continuous ping, with no packet lost. A 30 s phase-2 lifetime: the
//! initiator rekeys with 10-20 % of it left (make-before-break: the new pair is installed
//! before the old one goes), and the old pair is deleted at its hard expiry (30 s after it
//! was made) or 30 s after the rekey, whichever comes first.
//!
//! ```text
//!  lo 198.51.100.1 [a] 198.18.0.1 --veth-- 198.18.0.2 [b] lo 203.0.113.1
//! ```

use std::net::Ipv4Addr;
use std::time::Duration;

use super::support::{
    Conf, LogsOnPanic, PolicySpec, answered, assert_no_ping_lost, lab, ping_until, route, sas,
    sas_dir, spis, start_iked, stop_clean,
};
use crate::common::wait_for;

const A_INNER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const B_INNER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
const LIFETIME: &str = "30s";

#[test]
#[ignore = "runs inside the kernel VM (started by site_to_site_in_vm)"]
fn guest_rekey_under_ping() {
    if !super::support::in_guest() {
        return;
    }
    let lab = lab("rekey");
    let net = lab.two_hosts().unwrap();
    let (aa, ba) = (net.a.addr(), net.b.addr());
    route(&net.a, &format!("{B_INNER}/32"), ba, A_INNER);
    route(&net.b, &format!("{A_INNER}/32"), aa, B_INNER);
    let dir = tempfile::tempdir().unwrap();
    let proposal = format!("enc-algorithms = [\"aes-128-gcm\"]\nlifetime = \"{LIFETIME}\"");
    let mut ca = Conf::new(aa, "b", ba, PolicySpec::tunnel(A_INNER, B_INNER, aa, ba));
    ca.proposal = proposal.clone();
    let mut cb = Conf::new(ba, "a", aa, PolicySpec::tunnel(B_INNER, A_INNER, ba, aa));
    cb.proposal = proposal;
    let mut da = start_iked(&net.a, dir.path(), "a", &ca);
    let mut db = start_iked(&net.b, dir.path(), "b", &cb);
    let _logs = LogsOnPanic::of(&[&da, &db]);

    ping_until(&net.a, A_INNER, B_INNER, Duration::from_secs(60));
    let first = sas(&da);
    assert_eq!(first.len(), 2, "{first:?}");
    let old = spis(&first);
    eprintln!("rekey: tunnel up, SPIs {old:?}; pinging every 0.2 s across the rekey");

    // The ping runs until stopped (its -w deadline only bounds it); `-W 2`: an answer may
    // take up to 2 s before ping counts it lost.
    let (src, dst) = (A_INNER.to_string(), B_INNER.to_string());
    let mut pinger = net
        .a
        .spawn(&[
            "ping", "-n", "-i", "0.2", "-W", "2", "-w", "150", "-I", &src, &dst,
        ])
        .unwrap();
    pinger.set_stop_signal(libc::SIGINT, Duration::from_secs(5));

    // A new pair carries the traffic and the old one is gone, on both sides.
    let new = wait_for(
        "a rekeyed pair in use and the old one deleted",
        Duration::from_secs(90),
        || {
            let now = sas(&da);
            let fresh = spis(&now);
            let replaced = now.len() == 2 && fresh.iter().all(|s| !old.contains(s));
            let used = sas_dir(&da, "out")
                .iter()
                .all(|s| s["current-bytes"].as_u64().unwrap() > 0);
            let b_done = sas(&db).len() == 2;
            (replaced && used && b_done).then_some(fresh)
        },
    );
    eprintln!("rekey: new SPIs {new:?}");
    // Some more pings on the new pair alone, then stop (SIGINT: ping prints its summary).
    let seen = answered(&pinger.output()).len();
    wait_for("ten more answers", Duration::from_secs(10), || {
        (answered(&pinger.output()).len() >= seen + 10).then_some(())
    });
    pinger.stop();
    // The one echo request in flight when SIGINT came may be unanswered; none before it.
    assert_no_ping_lost(&pinger.output(), 50, "rekey");

    stop_clean(&mut da, &net.a);
    stop_clean(&mut db, &net.b);
}
