//! A site-to-site tunnel through a real kernel: the host kernel has no ESP, so
//! `site_to_site_in_vm` boots Debian's kernel under qemu with `tests/vm/run.sh` and runs this
//! very test binary inside it, filtered to the `guest_` tests (ignored elsewhere; they run
//! only where `IKEV1_VM` is set). Two `iked` in two namespaces:
//!
//! ```text
//!  198.19.1.1 (lo) [a] 198.18.65.1 --veth-- 198.18.65.2 [b] (lo) 198.19.2.1
//! ```
//!
//! A ping from a's inside address makes the kernel ACQUIRE, the daemons negotiate, the SAs go
//! into the kernel, the ping passes, and `iked sas` shows the byte counters rise.
//!
//! The other guest scenarios live in `kernel_vm/` and use the lab harness of `ipsec-tests`
//! (namespaces, NAT, strongSwan): transport mode, NAT-T through a masquerading NAT, strongSwan
//! with kernel ESP both ways, rekey under a continuous ping, cleanup after a crash, RSA
//! signatures, IKE and ESP over IPv6 (IPv6 and IPv4 inside), SIGHUP reloads under a continuous
//! ping, auto-start and `iked flush`, L2TP/IPsec with xl2tpd and pppd (one client on each
//! dataplane, two behind one NAT on the userspace one). One VM runs them all, one after the other. To run one of them alone in the VM:
//!
//! ```text
//! tests/vm/run.sh target/debug/deps/kernel_vm-HASH guest_nat_traversal --ignored --nocapture
//! ```
#![cfg(feature = "engine")]

mod common;
#[path = "kernel_vm/flush.rs"]
mod flush;
#[path = "kernel_vm/ipv6.rs"]
mod ipv6;
#[path = "kernel_vm/l2tp.rs"]
mod l2tp;
#[path = "kernel_vm/nat_t.rs"]
mod nat_t;
#[path = "kernel_vm/rekey.rs"]
mod rekey;
#[path = "kernel_vm/reload.rs"]
mod reload;
#[path = "kernel_vm/restart.rs"]
mod restart;
#[path = "kernel_vm/rsa.rs"]
mod rsa;
#[path = "kernel_vm/strongswan.rs"]
mod strongswan;
#[path = "kernel_vm/support.rs"]
mod support;
#[path = "kernel_vm/transport.rs"]
mod transport;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Daemon, Netns, is_root, pair, wait_for};
use serde_json::Value;

fn in_vm() -> bool {
    std::env::var_os("IKEV1_VM").is_some()
}

fn skip_or_fail(why: &str) {
    if std::env::var_os("IKT_ALLOW_SKIP").is_some_and(|v| v == "1") {
        eprintln!("SKIPPED: {why}");
    } else {
        panic!("cannot run: {why} (set IKT_ALLOW_SKIP=1 to skip instead)");
    }
}

/// How many `guest_` tests run in the VM (all of them but [`FINDINGS`]): the host side checks
/// that each one ran and passed.
const GUEST_TESTS: usize = 17;

/// Guest tests that show a bug not fixed yet (`docs/vm-findings.md`): every guest test is
/// `#[ignore]`d (they run only in the VM, with `--ignored`), so these are left out of the VM
/// run by name. Run one alone with `tests/vm/run.sh BINARY NAME --ignored --nocapture`.
const FINDINGS: &[&str] = &[];

/// Host side: boots the VM and runs the `guest_` tests of this binary inside.
#[test]
fn site_to_site_in_vm() {
    if in_vm() {
        return;
    }
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    if Command::new("qemu-system-x86_64")
        .arg("--version")
        .output()
        .is_err()
    {
        skip_or_fail("qemu-system-x86_64 missing (install tests/vm/apt-packages.txt)");
        return;
    }
    // The guest sees the host's root read-only: strongSwan must be installed here, first.
    if let Err(e) = ipsec_tests::lab::ensure_packages(ipsec_tests::lab::CHARON_PACKAGES) {
        skip_or_fail(&format!("strongSwan packages: {e}"));
        return;
    }
    // The L2TP/IPsec scenarios run xl2tpd and pppd.
    if let Err(e) = ipsec_tests::lab::ensure_packages(&["xl2tpd", "ppp"]) {
        skip_or_fail(&format!("xl2tpd and ppp: {e}"));
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vm/run.sh");
    let exe = std::env::current_exe().unwrap();
    let t0 = Instant::now();
    let out = common::run_bounded(
        {
            let mut c = Command::new(&script);
            c.args(["--timeout", "540"]).arg(&exe).args([
                "guest_",
                "--ignored",
                "--test-threads=1",
                "--color=never",
                "--nocapture",
            ]);
            for name in FINDINGS {
                c.args(["--skip", name]);
            }
            c
        },
        Duration::from_secs(600),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    eprintln!("kernel VM run: {:.1?}", t0.elapsed());
    assert!(out.status.success(), "guest tests failed: {:?}", out.status);
    assert!(
        stdout.contains(&format!("test result: ok. {GUEST_TESTS} passed; 0 failed")),
        "not every guest test ran"
    );
}

fn array(v: &Value) -> &Vec<Value> {
    v.as_array().expect("a JSON array")
}

fn write_config(
    dir: &Path,
    name: &str,
    me: &str,
    peer: &str,
    local: &str,
    remote: &str,
) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(
        &p,
        format!(
            r#"[daemon]
listen = ["{me}"]

[[peer]]
name = "{peer}"
address = "{remote}"
secret = "correct horse battery staple"

[[proposal]]
name = "site"
enc-algorithms = ["aes-128-gcm", "aes-128-cbc"]
auth-algorithms = ["sha256"]

[[policy]]
src-address = "{local}"
dst-address = "{other}"
tunnel = true
sa-src-address = "{me}"
sa-dst-address = "{remote}"
proposal = "site"
"#,
            other = if local.starts_with("198.19.1") {
                "198.19.2.0/24"
            } else {
                "198.19.1.0/24"
            }
        ),
    )
    .unwrap();
    p
}

fn ping(a: &Netns) -> bool {
    a.exec(
        "ping",
        &["-n", "-c", "1", "-W", "1", "-I", "198.19.1.1", "198.19.2.1"],
    )
    .status
    .success()
}

fn out_bytes(d: &Daemon) -> u64 {
    let sas = d.json(&["sas"]);
    array(&sas)
        .iter()
        .filter(|s| s["direction"] == "out")
        .map(|s| s["current-bytes"].as_u64().unwrap())
        .sum()
}

/// Guest side: the tunnel, its counters, kill-connections, clean shutdown.
#[test]
#[ignore = "runs inside the kernel VM (started by site_to_site_in_vm)"]
fn guest_site_to_site_tunnel() {
    if !in_vm() {
        eprintln!("SKIPPED: runs inside the kernel VM");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair(65);
    let ca = write_config(
        dir.path(),
        "a.toml",
        "198.18.65.1",
        "b",
        "198.19.1.0/24",
        "198.18.65.2",
    );
    let cb = write_config(
        dir.path(),
        "b.toml",
        "198.18.65.2",
        "a",
        "198.19.2.0/24",
        "198.18.65.1",
    );
    let mut da = Daemon::start(
        &a,
        &ca,
        &dir.path().join("a.sock"),
        &dir.path().join("a.log"),
    );
    let mut db = Daemon::start(
        &b,
        &cb,
        &dir.path().join("b.sock"),
        &dir.path().join("b.log"),
    );

    let t0 = Instant::now();
    wait_for("a ping through the tunnel", Duration::from_secs(60), || {
        ping(&a).then_some(())
    });
    eprintln!("tunnel up, first ping answered after {:.1?}", t0.elapsed());

    for (d, name) in [(&da, "a"), (&db, "b")] {
        let sas = d.json(&["sas"]);
        let sas = array(&sas);
        eprintln!(
            "{name}: {}",
            String::from_utf8_lossy(&d.client(&["sas"]).stdout)
        );
        assert_eq!(sas.len(), 2, "{name}: {sas:?}");
        for s in sas {
            assert_eq!(s["state"], "mature");
            assert_eq!(s["mode"], "tunnel");
            assert_eq!(s["enc-algorithm"], "aes-128-gcm16");
            assert_eq!(s["policy"], 1);
        }
        let pols = d.json(&["policies"]);
        assert!(
            array(&pols).iter().all(|p| p["ph2-state"] == "established"),
            "{name}: {pols:?}"
        );
        let st = d.json(&["status"]);
        assert_eq!(array(&st["peers"])[0]["state"], "established");
    }
    let before = out_bytes(&da);
    for _ in 0..5 {
        assert!(ping(&a), "ping through the established tunnel");
    }
    let after = out_bytes(&da);
    assert!(after > before, "counters did not rise: {before} -> {after}");
    eprintln!("a: outbound bytes {before} -> {after}");
    eprintln!(
        "{}",
        String::from_utf8_lossy(&da.client(&["status"]).stdout)
    );

    // kill-connections: no SA left on either side, the peers told.
    let done = da.json(&["kill-connections"]);
    eprintln!("kill-connections: {done}");
    assert!(array(&da.json(&["sas"])).is_empty());
    wait_for("b to drop its SAs", Duration::from_secs(10), || {
        array(&db.json(&["sas"])).is_empty().then_some(())
    });
    // And it comes back on demand.
    wait_for("the tunnel again", Duration::from_secs(60), || {
        ping(&a).then_some(())
    });

    for d in [&mut da, &mut db] {
        d.signal(libc::SIGTERM);
        assert!(
            d.wait_exit(Duration::from_secs(15)).success(),
            "{}",
            d.log_text()
        );
        eprintln!("--- {}\n{}", d.log.display(), d.log_text());
    }
    assert_eq!(a.xfrm_state().trim(), "");
    assert_eq!(a.xfrm_policy().trim(), "");
    assert_eq!(b.xfrm_state().trim(), "");
    assert_eq!(b.xfrm_policy().trim(), "");
}
