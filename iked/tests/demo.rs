//! `iked demo` (the README's first command) on this machine: it brings a tunnel up between
//! two namespaces, pings through it, and removes everything again. Root only (namespaces).

mod common;

use std::process::Command;
use std::time::Duration;

use common::{is_root, run_bounded};

#[test]
fn the_demo_pings_through_a_tunnel_and_cleans_up() {
    if !is_root() {
        eprintln!("skipped: needs root (network namespaces)");
        return;
    }
    let mut c = Command::new(common::iked());
    c.arg("demo");
    let out = run_bounded(c, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(" 0% packet loss"), "{stdout}");
    assert!(stdout.contains("aes-128-gcm16"), "{stdout}");
    assert!(stdout.contains("Nothing is left behind."), "{stdout}");
    let pid = out_pid(&stdout);
    let netns = String::from_utf8_lossy(
        &Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    assert!(!netns.contains(&format!("iked-demo-{pid}-")), "{netns}");
    assert!(!std::path::Path::new(&format!("/tmp/iked-demo-{pid}")).exists());
}

/// The demo's pid, from the namespace names it printed.
fn out_pid(stdout: &str) -> String {
    let at = stdout.find("iked-demo-").expect("namespace names") + "iked-demo-".len();
    stdout[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect()
}
