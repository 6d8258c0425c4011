//! Helpers of the iked integration tests: the binary, bounded waits, network namespaces
//! (`iked-t-<pid>-<n>-<tag>`, deleted on drop with everything still running inside) and
//! daemons (killed on drop).
#![allow(dead_code)]

pub mod traffic;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The `iked` binary under test.
pub fn iked() -> &'static str {
    env!("CARGO_BIN_EXE_iked")
}

/// Whether we may create namespaces and touch XFRM.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Runs `cmd` to completion, killing it after `timeout`. Its output is read while it runs
/// (an output larger than a pipe's buffer would otherwise block it until the timeout).
pub fn run_bounded(mut cmd: Command, timeout: Duration) -> Output {
    use std::io::Read;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout")));
    let err = drain(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + timeout;
    let (status, killed) = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break (st, false);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break (child.wait().expect("wait"), true);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    };
    if killed {
        panic!(
            "{cmd:?} did not finish within {timeout:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    output
}

/// Runs the iked binary with `args` (bounded to 30 s).
pub fn iked_cmd(args: &[&str]) -> Output {
    let mut c = Command::new(iked());
    c.args(args);
    run_bounded(c, Duration::from_secs(30))
}

/// Polls `f` every 50 ms until it gives `Some`, at most `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A network namespace of this test run.
pub struct Netns {
    pub name: String,
}

fn ip(args: &[&str]) -> Output {
    let mut c = Command::new("ip");
    c.args(args);
    run_bounded(c, Duration::from_secs(10))
}

fn check(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Netns {
    /// Creates `iked-t-<pid>-<n>-<tag>` with lo up.
    pub fn new(tag: &str) -> Netns {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("iked-t-{}-{n}-{tag}", std::process::id());
        check(ip(&["netns", "add", &name]), "ip netns add");
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n NAME args` (must succeed); its stdout.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        check(ip(&full), &format!("ip {args:?}"))
    }

    /// A command run inside the namespace.
    pub fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]).args(args);
        c
    }

    /// Runs `program args` inside (bounded to 10 s); its output whatever the status.
    pub fn exec(&self, program: &str, args: &[&str]) -> Output {
        run_bounded(self.command(program, args), Duration::from_secs(10))
    }

    /// `ip xfrm state` + `ip xfrm policy` inside, as text.
    pub fn xfrm_state(&self) -> String {
        self.ip(&["xfrm", "state"])
    }

    /// `ip xfrm policy` inside.
    pub fn xfrm_policy(&self) -> String {
        self.ip(&["xfrm", "policy"])
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Whatever this test started inside and did not stop: by pid, then the namespace.
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                if let Ok(pid) = pid.parse::<i32>() {
                    // SAFETY: plain kill(2) of a pid inside our own namespace.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                    }
                }
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Two namespaces joined by a veth: `a` has `198.18.<net>.1/24`, `b` `198.18.<net>.2/24`;
/// `a` has `198.19.1.1` on lo and `b` `198.19.2.1`, each routing the other's 198.19.x.0/24
/// through the link.
pub fn pair(net: u8) -> (Netns, Netns) {
    let a = Netns::new("a");
    let b = Netns::new("b");
    let (va, vb) = (format!("ia{net}"), format!("ib{net}"));
    a.ip(&[
        "link", "add", &va, "type", "veth", "peer", "name", &vb, "netns", &b.name,
    ]);
    let (aa, ba) = (format!("198.18.{net}.1"), format!("198.18.{net}.2"));
    a.ip(&["addr", "add", &format!("{aa}/24"), "dev", &va]);
    b.ip(&["addr", "add", &format!("{ba}/24"), "dev", &vb]);
    a.ip(&["link", "set", &va, "up"]);
    b.ip(&["link", "set", &vb, "up"]);
    a.ip(&["addr", "add", "198.19.1.1/32", "dev", "lo"]);
    b.ip(&["addr", "add", "198.19.2.1/32", "dev", "lo"]);
    a.ip(&[
        "route",
        "add",
        "198.19.2.0/24",
        "via",
        &ba,
        "src",
        "198.19.1.1",
    ]);
    b.ip(&[
        "route",
        "add",
        "198.19.1.0/24",
        "via",
        &aa,
        "src",
        "198.19.2.1",
    ]);
    (a, b)
}

/// A running `iked run` inside a namespace; SIGKILLed on drop if still running.
pub struct Daemon {
    pub child: Child,
    pub socket: PathBuf,
    pub log: PathBuf,
}

impl Daemon {
    /// Starts `iked run -c config --socket socket` in `ns`, logging to `log`, and waits (at
    /// most 15 s) until its control socket answers.
    pub fn start(ns: &Netns, config: &Path, socket: &Path, log: &Path) -> Daemon {
        Daemon::start_in(&ns.name, config, socket, log)
    }

    /// [`Daemon::start`] in the namespace called `netns` (one made by another harness, such
    /// as `ipsec_tests::lab`). The log file is appended to, so a restarted daemon keeps the
    /// earlier run's lines.
    pub fn start_in(netns: &str, config: &Path, socket: &Path, log: &Path) -> Daemon {
        let logf = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", netns]);
        let child = cmd
            .arg(iked())
            .args([
                "run",
                "-c",
                config.to_str().unwrap(),
                "--socket",
                socket.to_str().unwrap(),
                "--log-level",
                "debug",
            ])
            .stdin(Stdio::null())
            .stdout(logf.try_clone().unwrap())
            .stderr(logf)
            .spawn()
            .expect("spawn iked");
        let mut d = Daemon {
            child,
            socket: socket.to_owned(),
            log: log.to_owned(),
        };
        // Generous for the emulated (TCG) kernel VM on a busy machine.
        wait_for("the control socket", Duration::from_secs(45), || {
            if let Ok(Some(st)) = d.child.try_wait() {
                panic!("iked exited early with {st}: {}", d.log_text());
            }
            d.client(&["status", "--json"])
                .status
                .success()
                .then_some(())
        });
        d
    }

    /// The daemon's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs `iked ARGS --socket SOCKET` (a client command).
    pub fn client(&self, args: &[&str]) -> Output {
        let mut full: Vec<&str> = args.to_vec();
        full.extend_from_slice(&["--socket", self.socket.to_str().unwrap(), "--timeout", "10"]);
        iked_cmd(&full)
    }

    /// A client command with `--json` that must succeed; its parsed output.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut full: Vec<&str> = args.to_vec();
        full.push("--json");
        let out = self.client(&full);
        assert!(
            out.status.success(),
            "iked {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON output")
    }

    /// Sends `sig`.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) of the child we started (`ip netns exec` execs iked in place).
        let rc = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(rc, 0, "kill");
    }

    /// Waits (bounded) for the daemon to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        wait_for("iked to exit", timeout, || {
            self.child.try_wait().ok().flatten()
        })
    }

    /// Whether it still runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
