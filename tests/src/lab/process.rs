//! Child processes of the lab: bounded runs ([`run`]) and guards ([`Proc`]) that kill the whole
//! process group on drop.
//!
//! Every child gets its own process group (so a guard can signal the daemon together with anything
//! it forked) and `PR_SET_PDEATHSIG = SIGKILL`, so it dies with the test binary even when that is
//! killed (SIGKILL, CI timeout) and no destructor runs. That signal fires when the *thread* that
//! forked the child exits, so every child is forked by one spawner thread that lives as long as
//! the process: guards can be created and moved on any thread.

use std::fmt::Write as _;
use std::fs::File;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

use super::{LabError, Result};

/// What a bounded command returned.
#[derive(Clone, Debug)]
pub struct Output {
    /// The command line, for messages.
    pub cmdline: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Output {
    /// Exit status 0?
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// `Ok(self)` if the command succeeded, else a [`LabError::Command`] with all its output.
    pub fn check(self) -> Result<Output> {
        if self.success() {
            Ok(self)
        } else {
            Err(LabError::Command(self.describe()))
        }
    }

    /// stdout followed by stderr.
    pub fn combined(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Command line, status and output, for error messages.
    pub fn describe(&self) -> String {
        let mut s = format!("`{}` exited with {}", self.cmdline, self.status);
        if !self.stdout.trim().is_empty() {
            let _ = write!(s, "\n--- stdout:\n{}", self.stdout.trim_end());
        }
        if !self.stderr.trim().is_empty() {
            let _ = write!(s, "\n--- stderr:\n{}", self.stderr.trim_end());
        }
        s
    }
}

/// `prog arg arg` of a command, for messages.
pub(crate) fn cmdline(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        let a = a.to_string_lossy();
        if a.is_empty() || a.contains(char::is_whitespace) {
            let _ = write!(s, "'{a}'");
        } else {
            s.push_str(&a);
        }
    }
    s
}

/// Own process group, and SIGKILL when the spawning thread dies.
pub(crate) fn harden(cmd: &mut Command) {
    cmd.process_group(0);
    // SAFETY: the closure runs between fork and exec; prctl is async-signal-safe and touches no
    // memory shared with the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

/// Forks `cmd` on the lab's spawner thread (see the module doc: the death signal is tied to the
/// forking thread, which must therefore outlive every child).
fn spawn_on_spawner(cmd: Command) -> std::io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let tx = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("ikt-lab-spawner".into())
            .spawn(move || {
                // runs until the process exits (the sender lives in a static)
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("cannot start the lab's spawner thread");
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    tx.lock()
        .unwrap_or_else(|e| e.into_inner())
        .send((cmd, reply_tx))
        .map_err(|_| std::io::Error::other("the lab's spawner thread is gone"))?;
    reply_rx
        .recv_timeout(Duration::from_secs(30))
        .map_err(|_| std::io::Error::other("the lab's spawner thread did not answer"))?
}

/// Sends `sig` to the process group `pgid`; false if there is no such group.
pub(crate) fn signal_group(pgid: u32, sig: i32) -> bool {
    let Ok(pgid) = i32::try_from(pgid) else {
        return false;
    };
    if pgid <= 1 {
        return false;
    }
    // SAFETY: kill(2) with a negative pid signals a process group; no memory is involved.
    unsafe { libc::kill(-pgid, sig) == 0 }
}

/// Sends `sig` to the process `pid`; false if there is no such process.
pub(crate) fn signal_pid(pid: u32, sig: i32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    if pid <= 1 {
        return false;
    }
    // SAFETY: kill(2) on one pid; no memory is involved.
    unsafe { libc::kill(pid, sig) == 0 }
}

/// Does process `pid` exist (zombies included)?
pub fn pid_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn reader(src: Option<impl Read + Send + 'static>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    if let Some(mut src) = src {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = src.read_to_end(&mut buf);
            let _ = tx.send(buf);
        });
    }
    rx
}

/// Polls `child` until it exits or `timeout` passes; `None` on timeout.
fn wait_child(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    let mut step = Duration::from_millis(1);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) => {}
            Err(_) => return None,
        }
        let elapsed = start.elapsed();
        if elapsed >= timeout {
            return None;
        }
        std::thread::sleep(step.min(timeout - elapsed));
        step = (step * 2).min(Duration::from_millis(20));
    }
}

/// Runs `cmd` to completion, at most `timeout`: stdin is /dev/null, stdout and stderr are
/// collected. On timeout the whole process group is killed and a [`LabError::Timeout`] (with the
/// output so far) returned. A non-zero exit is *not* an error here: see [`Output::check`].
pub fn run(mut cmd: Command, timeout: Duration) -> Result<Output> {
    let line = cmdline(&cmd);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    harden(&mut cmd);
    let start = Instant::now();
    let mut child =
        spawn_on_spawner(cmd).map_err(|e| LabError::other(format!("cannot run `{line}`: {e}")))?;
    let pgid = child.id();
    let out_rx = reader(child.stdout.take());
    let err_rx = reader(child.stderr.take());
    let status = wait_child(&mut child, timeout);
    // Leftovers of the group (a backgrounded grandchild) must not outlive a bounded command.
    signal_group(pgid, libc::SIGKILL);
    let (status, timed_out) = match status {
        Some(s) => (s, false),
        None => {
            let s = wait_child(&mut child, Duration::from_secs(5))
                .unwrap_or_else(|| ExitStatus::from_raw(libc::SIGKILL));
            (s, true)
        }
    };
    let grace = Duration::from_secs(2);
    let stdout = out_rx.recv_timeout(grace).unwrap_or_default();
    let stderr = err_rx.recv_timeout(grace).unwrap_or_default();
    let out = Output {
        cmdline: line,
        status,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        elapsed: start.elapsed(),
    };
    if timed_out {
        return Err(LabError::Timeout(format!(
            "no exit within {timeout:?}, killed: {}",
            out.describe()
        )));
    }
    Ok(out)
}

/// A running child process (and its process group), stopped on drop: `stop_signal` (SIGTERM by
/// default) to the group, up to `grace` for it to exit, then SIGKILL.
pub struct Proc {
    child: Child,
    name: String,
    stop_signal: i32,
    grace: Duration,
    output: Option<PathBuf>,
    exited: Option<ExitStatus>,
    _dir: Option<super::WorkDir>,
}

impl Proc {
    /// Spawns `cmd` (hardened: own process group, death signal). stdin is /dev/null; stdout and
    /// stderr go to `output` (appended) if given, else to /dev/null.
    pub fn spawn(mut cmd: Command, name: &str, output: Option<&Path>) -> Result<Proc> {
        let line = cmdline(&cmd);
        cmd.stdin(Stdio::null());
        match output {
            Some(path) => {
                let f = File::options()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| LabError::other(format!("{}: {e}", path.display())))?;
                cmd.stdout(f.try_clone()?).stderr(f);
            }
            None => {
                cmd.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        harden(&mut cmd);
        let child = spawn_on_spawner(cmd)
            .map_err(|e| LabError::other(format!("cannot start {name} (`{line}`): {e}")))?;
        Ok(Proc {
            child,
            name: name.to_string(),
            stop_signal: libc::SIGTERM,
            grace: Duration::from_secs(3),
            output: output.map(Path::to_path_buf),
            exited: None,
            _dir: None,
        })
    }

    pub(crate) fn with_dir(mut self, dir: super::WorkDir) -> Proc {
        self._dir = Some(dir);
        self
    }

    /// The signal [`Proc::stop`] sends first (default SIGTERM; tcpdump uses SIGINT).
    pub fn set_stop_signal(&mut self, sig: i32, grace: Duration) {
        self.stop_signal = sig;
        self.grace = grace;
    }

    /// Process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Name given at spawn.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Still running? (Reaps it if it has exited.)
    pub fn is_running(&mut self) -> bool {
        if self.exited.is_some() {
            return false;
        }
        match self.child.try_wait() {
            Ok(Some(s)) => {
                self.exited = Some(s);
                false
            }
            Ok(None) => true,
            Err(_) => false,
        }
    }

    /// Exit status, if it has exited.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.is_running();
        self.exited
    }

    /// Waits (bounded) for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        if let Some(s) = self.exited {
            return Ok(s);
        }
        match wait_child(&mut self.child, timeout) {
            Some(s) => {
                self.exited = Some(s);
                Ok(s)
            }
            None => Err(LabError::Timeout(format!(
                "{} (pid {}) did not exit within {timeout:?}",
                self.name,
                self.pid()
            ))),
        }
    }

    /// What it wrote to stdout/stderr so far (if they went to a file).
    pub fn output(&self) -> String {
        self.output
            .as_deref()
            .map(super::read_lossy)
            .unwrap_or_default()
    }

    /// Path of its stdout/stderr file, if any.
    pub fn output_path(&self) -> Option<&Path> {
        self.output.as_deref()
    }

    /// Stops the process group (idempotent): stop signal, up to `grace`, SIGKILL; then reaps.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let pgid = self.pid();
        if self.is_running() {
            signal_group(pgid, self.stop_signal);
            if let Some(s) = wait_child(&mut self.child, self.grace) {
                self.exited = Some(s);
            } else {
                signal_group(pgid, libc::SIGKILL);
                signal_pid(pgid, libc::SIGKILL);
                self.exited = wait_child(&mut self.child, Duration::from_secs(5));
                if self.exited.is_none() {
                    eprintln!("[lab] {} (pid {pgid}) survived SIGKILL for 5 s", self.name);
                }
            }
        }
        // whatever else is still in its group (forked helpers) goes too
        signal_group(pgid, libc::SIGKILL);
        self.exited
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for Proc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proc")
            .field("name", &self.name)
            .field("pid", &self.child.id())
            .field("exited", &self.exited)
            .finish()
    }
}
