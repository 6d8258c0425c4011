//! `iked run` end to end, as root, in network namespaces made for the test: control socket,
//! on-demand SAs (ACQUIRE), flush, reload (a broken file keeps the running configuration),
//! clean shutdown, and the removal of a killed run's leftovers at the next start.
//!
//! The host kernel has no ESP (see shared/lab/README.md): SAs cannot be keyed here, but
//! policies install and ACQUIRE makes larval SAs, which is what these tests use.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Daemon, Netns, is_root, pair, wait_for};
use serde_json::Value;

fn config(dir: &Path, name: &str, net: u8, dst: &str) -> std::path::PathBuf {
    let text = format!(
        r#"# iked test configuration
[daemon]
listen = ["0.0.0.0", "::"]
# These tests look at the kernel's XFRM policies; `auto` would pick the userspace dataplane
# on a host without kernel ESP (tests/userspace.rs covers that one).
dataplane = "kernel"

[[peer]]
name = "b"
address = "198.18.{net}.2"
secret = "correct horse battery staple"

[[policy]]
src-address = "198.19.1.0/24"
dst-address = "{dst}"
tunnel = true
sa-src-address = "198.18.{net}.1"
sa-dst-address = "198.18.{net}.2"
"#
    );
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// b's side of `config`: it answers a on 198.18.NET.1.
fn responder_config(dir: &Path, net: u8) -> std::path::PathBuf {
    let p = dir.join("b.toml");
    std::fs::write(
        &p,
        format!(
            r#"[daemon]
listen = ["198.18.{net}.2"]
dataplane = "kernel"

[[peer]]
name = "a"
address = "198.18.{net}.1"
secret = "correct horse battery staple"

[[policy]]
src-address = "198.19.2.0/24"
dst-address = "198.19.1.0/24"
tunnel = true
sa-src-address = "198.18.{net}.2"
sa-dst-address = "198.18.{net}.1"
"#
        ),
    )
    .unwrap();
    p
}

fn skip() -> bool {
    if !is_root() {
        eprintln!("skipped: needs root (network namespaces, XFRM)");
        return true;
    }
    false
}

/// Sends one packet that matches the encrypt policy, so that the kernel sends an ACQUIRE and
/// makes a larval SA with the policy's reqid.
fn trigger(a: &Netns) {
    let _ = a.exec(
        "ping",
        &["-n", "-c", "1", "-W", "1", "-I", "198.19.1.1", "198.19.2.1"],
    );
}

fn array(v: &Value) -> &Vec<Value> {
    v.as_array().expect("a JSON array")
}

#[test]
fn run_control_reload_and_clean_shutdown() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (a, _b) = pair(61);
    // Someone else's policy: iked must leave it alone.
    a.ip(&[
        "xfrm",
        "policy",
        "add",
        "src",
        "198.19.9.0/24",
        "dst",
        "198.19.8.0/24",
        "dir",
        "out",
        "action",
        "block",
    ]);
    let cfg = config(dir.path(), "iked.toml", 61, "198.19.2.0/24");
    let sock = dir.path().join("ctl.sock");
    let mut d = Daemon::start(&a, &cfg, &sock, &dir.path().join("iked.log"));

    // status: version, sockets on both families and both ports.
    let st = d.json(&["status"]);
    assert_eq!(st["version"], env!("CARGO_PKG_VERSION"));
    let listening: Vec<&str> = array(&st["listening"])
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for want in ["0.0.0.0:500", "0.0.0.0:4500", "[::]:500", "[::]:4500"] {
        assert!(listening.contains(&want), "{listening:?}");
    }
    assert!(matches!(
        st["engine"].as_str(),
        Some("running" | "not-wired")
    ));
    let text = d.client(&["status"]);
    assert!(text.status.success());
    assert!(String::from_utf8_lossy(&text.stdout).contains("listening: 0.0.0.0:500"));

    // The configuration's policy is in the kernel: out, in, fwd.
    let pols = d.json(&["policies"]);
    let pols = array(&pols);
    assert_eq!(pols.len(), 3, "{pols:?}");
    for p in pols {
        assert_eq!(p["policy"], 1);
        assert_eq!(p["action"], "encrypt");
        assert_eq!(p["ph2-state"], "no-phase2");
        assert_eq!(p["tunnel"], true);
    }
    let out = pols.iter().find(|p| p["direction"] == "out").unwrap();
    assert_eq!(out["src-address"], "198.19.1.0/24");
    assert_eq!(out["sa-dst-address"], "198.18.61.2");

    // Traffic for the policy: ACQUIRE, a larval SA of ours.
    assert!(array(&d.json(&["sas"])).is_empty());
    let sas = wait_for("a larval SA after ACQUIRE", Duration::from_secs(10), || {
        trigger(&a);
        let v = d.json(&["sas"]);
        (!array(&v).is_empty()).then_some(v)
    });
    let sa = &array(&sas)[0];
    assert_eq!(sa["state"], "larval");
    assert_eq!(sa["protocol"], "esp");
    assert_eq!(sa["dst-address"], "198.18.61.2");
    assert_eq!(sa["mode"], "tunnel");
    let text = String::from_utf8_lossy(&d.client(&["sas"]).stdout).into_owned();
    assert!(text.starts_with("SPI "), "{text}");

    // flush ah leaves it, flush (all) removes it.
    let done = d.json(&["flush", "ah"]);
    assert_eq!(done["count"], 0);
    assert_eq!(array(&d.json(&["sas"])).len(), 1);
    let done = d.json(&["flush"]);
    assert!(done["count"].as_u64().unwrap() >= 1, "{done}");
    assert!(array(&d.json(&["sas"])).is_empty());

    // stats: the manual's names for the kernel counters.
    let stats = d.json(&["stats"]);
    let names: Vec<&str> = array(&stats["kernel"])
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for want in [
        "in-no-states",
        "out-no-states",
        "in-template-mismatches",
        "out-policy-dead",
    ] {
        assert!(names.contains(&want), "{names:?}");
    }

    // Requests the daemon refuses name the reason.
    let out = d.client(&["up", "nobody"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no peer named \"nobody\""));

    // SIGHUP with a broken file: still running, same policies, the error in the log.
    std::fs::write(&cfg, "[[peer]]\nname = \"b\"\nlifetime = \"1y\"\n").unwrap();
    d.signal(libc::SIGHUP);
    wait_for(
        "the failed reload in the log",
        Duration::from_secs(10),
        || {
            d.log_text()
                .contains("reload failed: keeping the running configuration")
                .then_some(())
        },
    );
    let log = d.log_text();
    assert!(
        log.contains(&format!(
            "{}:3: peer \"b\": key \"lifetime\"",
            cfg.display()
        )),
        "{log}"
    );
    assert!(d.running());
    assert_eq!(array(&d.json(&["policies"])).len(), 3);

    // SIGHUP with a changed policy: only that changes.
    let cfg2 = config(dir.path(), "iked.toml", 61, "198.19.3.0/24");
    assert_eq!(cfg, cfg2);
    d.signal(libc::SIGHUP);
    wait_for("the new policy", Duration::from_secs(10), || {
        let v = d.json(&["policies"]);
        array(&v)
            .iter()
            .any(|p| p["dst-address"] == "198.19.3.0/24")
            .then_some(())
    });
    let pols = d.json(&["policies"]);
    assert_eq!(array(&pols).len(), 3);
    assert!(d.log_text().contains("configuration reloaded"));

    // SIGTERM: exit 0, nothing of ours left, the foreign policy kept, the socket removed.
    d.signal(libc::SIGTERM);
    let st = d.wait_exit(Duration::from_secs(15));
    assert!(st.success(), "{st}: {}", d.log_text());
    assert_eq!(a.xfrm_state().trim(), "", "SAs left");
    let left = a.xfrm_policy();
    assert!(
        left.contains("198.19.9.0/24"),
        "foreign policy removed: {left}"
    );
    assert!(!left.contains("198.19.1.0/24"), "our policies left: {left}");
    assert!(!sock.exists());
}

#[test]
fn a_second_start_after_sigkill_removes_the_leftovers() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (a, _b) = pair(62);
    let cfg = config(dir.path(), "one.toml", 62, "198.19.2.0/24");
    let sock = dir.path().join("ctl.sock");
    let mut d = Daemon::start(&a, &cfg, &sock, &dir.path().join("one.log"));
    wait_for("a larval SA", Duration::from_secs(10), || {
        trigger(&a);
        (!array(&d.json(&["sas"])).is_empty()).then_some(())
    });
    d.signal(libc::SIGKILL);
    let st = d.wait_exit(Duration::from_secs(10));
    assert!(!st.success());
    drop(d);
    // The killed run's policies and SA are still in the kernel, and its socket file too.
    assert!(a.xfrm_policy().contains("198.19.2.0/24"));
    assert!(!a.xfrm_state().trim().is_empty());
    assert!(sock.exists());

    // The next run (with another policy) removes them, and takes over the stale socket.
    let cfg = config(dir.path(), "two.toml", 62, "198.19.3.0/24");
    let mut d = Daemon::start(&a, &cfg, &sock, &dir.path().join("two.log"));
    let log = d.log_text();
    assert!(
        log.contains("removed what an earlier run left: 1 SAs, 3 policies"),
        "{log}"
    );
    let pols = a.xfrm_policy();
    assert!(!pols.contains("198.19.2.0/24"), "{pols}");
    assert!(pols.contains("198.19.3.0/24"), "{pols}");
    assert_eq!(a.xfrm_state().trim(), "");

    d.signal(libc::SIGTERM);
    assert!(d.wait_exit(Duration::from_secs(15)).success());
    assert_eq!(a.xfrm_policy().trim(), "");
}

#[test]
fn a_second_daemon_on_the_same_socket_is_refused() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair(63);
    let cfg = config(dir.path(), "iked.toml", 63, "198.19.2.0/24");
    let sock = dir.path().join("ctl.sock");
    let mut d = Daemon::start(&a, &cfg, &sock, &dir.path().join("one.log"));
    // Another namespace, so that the UDP ports are free: only the socket is in the way.
    let out = common::run_bounded(
        b.command(
            common::iked(),
            &[
                "run",
                "-c",
                cfg.to_str().unwrap(),
                "--socket",
                sock.to_str().unwrap(),
            ],
        ),
        Duration::from_secs(15),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another iked is listening there"), "{err}");
    assert!(d.running());
    assert!(d.json(&["status"])["pid"].as_u64().is_some());
    d.signal(libc::SIGTERM);
    assert!(d.wait_exit(Duration::from_secs(15)).success());
    assert_eq!(
        b.xfrm_policy().trim(),
        "",
        "the refused daemon left policies"
    );
}

/// Two daemons negotiate through the real sockets when the kernel asks (ACQUIRE). The host
/// kernel cannot key ESP SAs, so only phase 1 and the engine's view are checked here; the VM
/// lab checks traffic.
#[cfg(feature = "engine")]
#[test]
fn two_daemons_establish_phase_1_on_demand() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair(64);
    let ca = config(dir.path(), "a.toml", 64, "198.19.2.0/24");
    let cb = responder_config(dir.path(), 64);
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
    let established = |d: &Daemon| {
        let st = d.json(&["status"]);
        array(&st["peers"])
            .iter()
            .find(|p| p["state"] == "established")
            .cloned()
    };
    let pa = wait_for("phase 1 on a", Duration::from_secs(20), || {
        trigger(&a);
        established(&da)
    });
    assert_eq!(pa["name"], "b");
    assert_eq!(pa["side"], "initiator");
    assert_eq!(pa["remote-address"], "198.18.64.2:500");
    let pb = wait_for("phase 1 on b", Duration::from_secs(10), || established(&db));
    assert_eq!(pb["side"], "responder");
    let stats = da.json(&["stats"]);
    assert_eq!(stats["engine-state"], "running");
    // `down` ends it.
    let done = da.json(&["down", "b"]);
    assert_eq!(done["count"], 1);
    for d in [&mut da, &mut db] {
        d.signal(libc::SIGTERM);
        assert!(
            d.wait_exit(Duration::from_secs(15)).success(),
            "{}",
            d.log_text()
        );
        // Shown with --nocapture.
        eprintln!("--- {}\n{}", d.log.display(), d.log_text());
    }
    assert_eq!(a.xfrm_policy().trim(), "");
    assert_eq!(b.xfrm_policy().trim(), "");
}

/// `auto-start = true`: phase 1 comes up at start without any traffic, and a reload that
/// keeps the setting does not start it again.
#[cfg(feature = "engine")]
#[test]
fn auto_start_peers_come_up_without_traffic() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair(66);
    let ca = config(dir.path(), "a.toml", 66, "198.19.2.0/24");
    let text = std::fs::read_to_string(&ca).unwrap().replace(
        "secret = \"correct horse battery staple\"\n",
        "secret = \"correct horse battery staple\"\nauto-start = true\n",
    );
    std::fs::write(&ca, text).unwrap();
    let cb = responder_config(dir.path(), 66);
    let db = Daemon::start(
        &b,
        &cb,
        &dir.path().join("b.sock"),
        &dir.path().join("b.log"),
    );
    wait_for("b listening", Duration::from_secs(10), || {
        (db.json(&["status"])["listening"].as_array()?.len() == 2).then_some(())
    });
    let mut da = Daemon::start(
        &a,
        &ca,
        &dir.path().join("a.sock"),
        &dir.path().join("a.log"),
    );
    let up = |d: &Daemon| {
        let st = d.json(&["status"]);
        let peers = array(&st["peers"]);
        (peers.len() == 1 && peers[0]["state"] == "established").then_some(())
    };
    wait_for(
        "phase 1 on a without traffic",
        Duration::from_secs(20),
        || up(&da),
    );
    wait_for("phase 1 on b", Duration::from_secs(10), || up(&db));
    assert_eq!(
        array(&da.json(&["status"])["peers"])[0]["side"],
        "initiator"
    );

    da.signal(libc::SIGHUP);
    wait_for("the reload", Duration::from_secs(10), || {
        da.log_text()
            .contains("configuration reloaded")
            .then_some(())
    });
    assert_eq!(da.log_text().matches("auto-start: initiating").count(), 1);
    assert_eq!(array(&da.json(&["status"])["peers"]).len(), 1);
    da.signal(libc::SIGTERM);
    assert!(
        da.wait_exit(Duration::from_secs(15)).success(),
        "{}",
        da.log_text()
    );
}
