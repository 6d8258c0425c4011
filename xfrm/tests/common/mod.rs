//! Test helpers: a network namespace per test, and running async test bodies inside it.
//!
//! `setns(2)` moves only the calling thread, so [`NetNs::run`] starts a fresh thread, moves it
//! into the namespace, and builds a current-thread tokio runtime there: every socket the body
//! opens (netlink, UDP) belongs to the namespace. The namespace is deleted on drop, also when the
//! test panics; namespaces of earlier test processes that died are swept at creation.
#![allow(dead_code)]

use std::fs::File;
use std::future::Future;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

const PREFIX: &str = "xfrm-t-";
const NETNS_DIR: &str = "/run/netns";

/// True when running as root (the kernel tests need CAP_NET_ADMIN and CAP_SYS_ADMIN).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Returns early from a test that needs root, saying so.
#[macro_export]
macro_rules! require_root {
    () => {
        if !common::is_root() {
            common::skip_or_fail("needs root (network namespaces, XFRM)");
            return;
        }
    };
}

/// A test that cannot run here fails, unless `IKT_ALLOW_SKIP=1` says skipping is acceptable
/// (a developer without root): CI runs as root and must never pass by skipping.
pub fn skip_or_fail(why: &str) {
    if std::env::var_os("IKT_ALLOW_SKIP").is_some_and(|v| v == "1") {
        eprintln!("SKIPPED: {why}");
    } else {
        panic!("cannot run: {why} (set IKT_ALLOW_SKIP=1 to skip instead)");
    }
}

/// Runs a command; panics with its output if it fails.
pub fn sh(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "{:?} failed: {}{}",
        args,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command and returns its output, whatever its status.
pub fn run(args: &[&str]) -> Output {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", args))
}

/// A network namespace named `xfrm-t-<pid>-<tag>-<n>`, deleted on drop.
pub struct NetNs {
    name: String,
}

fn sweep_stale() {
    let Ok(dir) = std::fs::read_dir(NETNS_DIR) else {
        return;
    };
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = run(&["ip", "netns", "del", &name]);
        }
    }
}

impl NetNs {
    /// Creates the namespace, with `lo` up.
    pub fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        sweep_stale();
        let name = format!(
            "{PREFIX}{}-{tag}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        sh(&["ip", "netns", "add", &name]);
        let ns = NetNs { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n NAME ARGS`, panicking on failure; returns stdout.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut v = vec!["ip", "-n", &self.name];
        v.extend_from_slice(args);
        sh(&v)
    }

    /// `ip netns exec NAME ARGS`, whatever its status.
    pub fn exec(&self, args: &[&str]) -> Output {
        let mut v = vec!["ip", "netns", "exec", &self.name];
        v.extend_from_slice(args);
        run(&v)
    }

    /// Runs an async body on a new thread inside the namespace, on a current-thread tokio
    /// runtime created there; returns its result, re-raising its panic.
    pub fn run<F, Fut, T>(&self, body: F) -> T
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T>,
        T: Send + 'static,
    {
        let path = format!("{NETNS_DIR}/{}", self.name);
        let handle = std::thread::spawn(move || {
            enter(&path);
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            rt.block_on(async move {
                tokio::time::timeout(Duration::from_secs(120), body())
                    .await
                    .expect("test body exceeded 120 s")
            })
        });
        match handle.join() {
            Ok(v) => v,
            Err(p) => std::panic::resume_unwind(p),
        }
    }

    /// Runs a blocking closure on a new thread inside the namespace (to open sockets there).
    pub fn run_blocking<F, T>(&self, f: F) -> T
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let path = format!("{NETNS_DIR}/{}", self.name);
        let handle = std::thread::spawn(move || {
            enter(&path);
            f()
        });
        match handle.join() {
            Ok(v) => v,
            Err(p) => std::panic::resume_unwind(p),
        }
    }
}

fn enter(path: &str) {
    let f = File::open(path).unwrap_or_else(|e| panic!("open {path}: {e}"));
    // SAFETY: a valid namespace fd; CLONE_NEWNET moves only this thread.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = run(&["ip", "netns", "del", &self.name]);
    }
}
