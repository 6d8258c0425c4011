//! `iked demo` (the README's first command) on this machine: it brings a tunnel up between
//! two namespaces, pings through it, and removes everything again. Root only (namespaces).

mod common;

use std::os::unix::process::CommandExt;
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
    assert_nothing_left(&pid.to_string());
}

/// The demo's pid, from the namespace names it printed.
fn out_pid(stdout: &str) -> String {
    let at = stdout.find("iked-demo-").expect("namespace names") + "iked-demo-".len();
    stdout[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect()
}

/// Ctrl-C in the middle (SIGINT to the demo, as a terminal sends it to the whole foreground
/// group): the daemons and the namespaces go all the same.
#[test]
fn ctrl_c_in_the_middle_cleans_up() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    if !is_root() {
        eprintln!("skipped: needs root (network namespaces)");
        return;
    }
    let mut child = Command::new(common::iked())
        .arg("demo")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        // Its own process group, so that the signal reaches the daemons too, as in a terminal.
        .process_group(0)
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        // Both daemons run and the namespaces exist: interrupt now.
        if line.contains("right: engine: running") || std::time::Instant::now() > deadline {
            break;
        }
    }
    assert!(seen.contains("right: engine: running"), "{seen}");
    // SAFETY: kill(2) on the process group we created; no memory involved.
    unsafe {
        libc::kill(-(pid as i32), libc::SIGINT);
    }
    for line in lines {
        seen.push_str(&line.unwrap());
        seen.push('\n');
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "interrupted, so not a success:\n{seen}");
    assert!(seen.contains("interrupted (Ctrl-C)"), "{seen}");
    assert!(seen.contains("deleting the namespaces"), "{seen}");
    assert_nothing_left(&pid.to_string());
}

/// The demo run `pid` left no namespace and no directory behind.
fn assert_nothing_left(pid: &str) {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let netns = String::from_utf8_lossy(&out.stdout);
    assert!(!netns.contains(&format!("iked-demo-{pid}-")), "{netns}");
    assert!(!std::path::Path::new(&format!("/tmp/iked-demo-{pid}")).exists());
}
