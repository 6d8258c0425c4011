//! The namespace lab: real IKEv1 peers (strongSwan charon, libreswan pluto, ike-scan) and our own
//! binaries in Linux network namespaces, for interop tests that are short and always clean up.
//!
//! ```no_run
//! use ipsec_tests::lab::{Charon, Lab};
//! # const CONF_A: &str = ""; const CONF_B: &str = "";
//! let Some(lab) = Lab::new("mm-psk") else { return }; // None only if IKT_ALLOW_SKIP=1
//! let net = lab.two_hosts().unwrap();                  // 198.18.0.1 <-> 198.18.0.2
//! let resp = Charon::start(&net.b, CONF_B).unwrap();   // swanctl.conf text, loaded
//! let init = Charon::start(&net.a, CONF_A).unwrap();
//! init.initiate("net").unwrap();
//! net.a.ping_until(Some(net.a.inner()), net.b.inner(), std::time::Duration::from_secs(5)).unwrap();
//! // everything (processes, namespaces, temporary directories) goes away on drop, also on panic
//! ```
//!
//! What is here:
//! - [`Lab`]: checks root (see [`ENV_ALLOW_SKIP`]), installs missing Debian packages
//!   ([`ensure_packages`]), sweeps what dead test runs left behind ([`sweep_stale`]), names and
//!   creates namespaces (`ikt-<pid>-<n>-<lab>-<role>`), and builds topologies: [`TwoHosts`],
//!   [`Nat`] (client(s) — nftables masquerade with UDP port remapping — server).
//! - [`Netns`]: one namespace (deleted, with every process still in it, when its last handle is
//!   dropped): bounded [`Netns::exec`], [`Netns::spawn`] ([`Proc`] guard), addresses, ping,
//!   and for in-process code [`Netns::run_in`] / [`Netns::bind_udp`] (sockets inside it).
//! - [`Charon`], [`Pluto`], [`IkeScan`], [`Tcpdump`]: the peers and tools.
//!
//! Rules the module keeps: addresses only from 198.18.0.0/15, 198.51.100.0/24, 203.0.113.0/24 and
//! 100.64.0.0/10; veth pairs are created directly inside the namespaces (never in the host's);
//! every wait has a deadline; every child runs in its own process group and is killed (group,
//! by pid) on drop and, through `PR_SET_PDEATHSIG`, when the test binary dies without unwinding
//! (what such a death leaves — namespaces, directories — the next [`Lab::new`] sweeps);
//! charon's resolve plugin writes into its own directory, never /etc/resolv.conf.
//!
//! Environment: [`ENV_ALLOW_SKIP`] (`IKT_ALLOW_SKIP=1`: skip instead of fail when not root or the
//! tools cannot be installed), [`ENV_KEEP`] (`IKT_KEEP=1`: keep the daemons' directories —
//! configs, logs, captures — and print their paths), `IKT_CACHE` (where libreswan is unpacked,
//! default `/var/cache/ikt`).

mod charon;
mod freeradius;
mod ike_scan;
mod netns;
mod packages;
mod pluto;
mod process;
mod tcpdump;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub use charon::{CHARON_PACKAGES, Charon, CharonBuilder};
pub use freeradius::{FREERADIUS_PACKAGES, FreeRadius, FreeRadiusBuilder};
pub use ike_scan::{IkeScan, ScanMode, ScanOutcome, ScanResult};
pub use netns::{IfAddr, Nat, Netns, Swept, TwoHosts, sweep_stale};
pub use packages::ensure_packages;
pub use pluto::{PLUTO_PACKAGES, Pluto, PlutoBuilder};
pub use process::{Output, Proc, pid_exists, run};
pub use tcpdump::{IKE_FILTER, Tcpdump};

/// `IKT_ALLOW_SKIP=1`: [`Lab::new`] returns `None` (the test returns early, printing why) when the
/// lab cannot run here (not root, tools missing). Unset, it panics: CI runs as root and must never
/// skip silently.
pub const ENV_ALLOW_SKIP: &str = "IKT_ALLOW_SKIP";
/// `IKT_KEEP=1`: keep every daemon's temporary directory (configs, logs, pcap) and print its path.
pub const ENV_KEEP: &str = "IKT_KEEP";
/// Prefix of every namespace and temporary directory the lab creates: `ikt-<pid>-...`.
pub const PREFIX: &str = "ikt-";
/// Default bound of [`Netns::exec`] and of the control commands (swanctl, whack, ike-scan).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// Debian packages the lab needs for namespaces, NAT and ping (checked by [`Lab::try_new`]).
pub const BASE_PACKAGES: &[&str] = &["iproute2", "nftables", "iputils-ping", "procps"];

/// What went wrong in the lab.
#[derive(Debug)]
pub enum LabError {
    /// The lab needs root (namespaces, veth, nftables, charon).
    NotRoot,
    /// A bounded wait ran out.
    Timeout(String),
    /// A command ran but failed (its output is in the message).
    Command(String),
    /// Anything else (spawn failure, I/O, parse).
    Other(String),
}

impl LabError {
    pub(crate) fn other(msg: impl Into<String>) -> Self {
        LabError::Other(msg.into())
    }
}

impl fmt::Display for LabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabError::NotRoot => write!(f, "the namespace lab needs root (euid 0)"),
            LabError::Timeout(m) => write!(f, "timeout: {m}"),
            LabError::Command(m) => write!(f, "command failed: {m}"),
            LabError::Other(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for LabError {}

impl From<std::io::Error> for LabError {
    fn from(e: std::io::Error) -> Self {
        LabError::Other(format!("I/O error: {e}"))
    }
}

/// Result of the lab's operations.
pub type Result<T> = std::result::Result<T, LabError>;

fn env_flag(name: &str) -> bool {
    matches!(
        std::env::var(name).as_deref(),
        Ok("1") | Ok("yes") | Ok("true")
    )
}

/// `IKT_KEEP=1` is set: daemons keep their directories.
pub fn keep_artifacts() -> bool {
    env_flag(ENV_KEEP)
}

/// `IKT_ALLOW_SKIP=1` is set.
pub fn skip_allowed() -> bool {
    env_flag(ENV_ALLOW_SKIP)
}

/// Running as root (effective uid 0)?
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Is `a` one of the lab's addresses: 198.18.0.0/15, 198.51.100.0/24, 203.0.113.0/24 or
/// 100.64.0.0/10? (Never 192.0.2.0/24: the host's own link is there.)
pub fn is_lab_addr(a: std::net::Ipv4Addr) -> bool {
    let o = a.octets();
    (o[0] == 198 && (o[1] & 0xfe) == 18)
        || (o[0] == 198 && o[1] == 51 && o[2] == 100)
        || (o[0] == 203 && o[1] == 0 && o[2] == 113)
        || (o[0] == 100 && (o[1] & 0xc0) == 64)
}

/// Polls `f` until it returns `Some` or `timeout` has passed (first poll at once, then every
/// 2..50 ms). `what` names the condition in the timeout error.
pub fn wait_for<T>(
    timeout: Duration,
    what: &str,
    mut f: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    let start = Instant::now();
    let mut step = Duration::from_millis(2);
    loop {
        if let Some(v) = f()? {
            return Ok(v);
        }
        let elapsed = start.elapsed();
        if elapsed >= timeout {
            return Err(LabError::Timeout(format!("{what} (waited {timeout:?})")));
        }
        std::thread::sleep(step.min(timeout - elapsed));
        step = (step * 2).min(Duration::from_millis(50));
    }
}

/// Keeps `s` to `[a-z0-9-]`, at most `max` characters (for namespace and file names).
fn sanitize(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() { c } else { '-' }
        })
        .take(max)
        .collect();
    if out.is_empty() {
        out.push('x');
    }
    out
}

/// Reads a file that a daemon writes (log), lossy UTF-8; empty if missing.
fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// The last `n` lines of `text` that `keep` accepts.
fn tail_lines(text: &str, n: usize, keep: impl Fn(&str) -> bool) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| keep(l)).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A private temporary directory named after `owner` (a namespace name, so that
/// [`sweep_stale`] finds it once the creating process is gone). Removed on drop unless kept.
pub(crate) struct WorkDir {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl WorkDir {
    fn new(owner: &str, what: &str) -> Result<WorkDir> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("{owner}-{}-", sanitize(what, 12)))
            .tempdir()
            .map_err(|e| LabError::other(format!("creating a temporary directory: {e}")))?;
        let path = dir.path().to_path_buf();
        Ok(WorkDir {
            dir: Some(dir),
            path,
        })
    }

    fn path(&self) -> &Path {
        &self.path
    }

    /// Drop-time: remove, or keep (IKT_KEEP=1) with a marker that the sweep respects.
    fn finish(&mut self, what: &str) {
        // without IKT_KEEP, dropping the TempDir removes it
        if let Some(dir) = self.dir.take()
            && keep_artifacts()
        {
            let path = dir.keep();
            let _ = std::fs::write(path.join(KEPT_MARKER), b"IKT_KEEP=1\n");
            eprintln!("[lab] {what}: kept {}", path.display());
        }
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        self.finish("directory");
    }
}

/// File in a kept directory that tells [`sweep_stale`] to leave the directory alone.
const KEPT_MARKER: &str = "KEPT";

static LAB_SEQ: AtomicU32 = AtomicU32::new(0);

/// One test's lab: a name, a unique namespace prefix, and the namespaces made from it.
///
/// Cheap to clone (shared). The lab itself owns nothing that needs cleaning: every [`Netns`] is
/// deleted when its last handle goes, every daemon is stopped when its guard goes.
#[derive(Clone)]
pub struct Lab {
    inner: Arc<LabInner>,
}

struct LabInner {
    name: String,
    /// `ikt-<pid>-<n>-<name>`
    id: String,
    started: Instant,
}

impl Lab {
    /// The lab for one test. Returns `None` (after printing why) only if the lab cannot run here
    /// and `IKT_ALLOW_SKIP=1` is set; otherwise such a problem panics with a clear message.
    /// Use as `let Some(lab) = Lab::new("name") else { return };`.
    pub fn new(name: &str) -> Option<Lab> {
        match Lab::try_new(name) {
            Ok(lab) => Some(lab),
            Err(e) if skip_allowed() => {
                eprintln!("SKIPPED lab test '{name}': {e} ({ENV_ALLOW_SKIP}=1 is set)");
                None
            }
            Err(e) => panic!(
                "lab test '{name}' cannot run: {e}. These tests run as root (CI does); \
                 set {ENV_ALLOW_SKIP}=1 to skip them instead"
            ),
        }
    }

    /// Like [`Lab::new`], but every problem is an error.
    pub fn try_new(name: &str) -> Result<Lab> {
        if !is_root() {
            return Err(LabError::NotRoot);
        }
        ensure_packages(BASE_PACKAGES)?;
        for tool in ["ip", "nft", "ping", "unshare", "mount"] {
            if which(tool).is_none() {
                return Err(LabError::other(format!("tool '{tool}' not found in PATH")));
            }
        }
        let swept = sweep_stale();
        if !swept.is_empty() {
            eprintln!("[lab] swept stale leftovers of dead test runs: {swept:?}");
        }
        let n = LAB_SEQ.fetch_add(1, Ordering::Relaxed);
        let id = format!("{PREFIX}{}-{n}-{}", std::process::id(), sanitize(name, 20));
        Ok(Lab {
            inner: Arc::new(LabInner {
                name: name.to_string(),
                id,
                started: Instant::now(),
            }),
        })
    }

    /// The name given to [`Lab::new`].
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// `ikt-<pid>-<n>-<name>`: every namespace of this lab is `<id>-<role>`.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// Time since the lab was made (for the tests' timing notes).
    pub fn elapsed(&self) -> Duration {
        self.inner.started.elapsed()
    }
}

/// Full path of `tool` in PATH (or the usual sbin directories).
pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.is_file())
}
