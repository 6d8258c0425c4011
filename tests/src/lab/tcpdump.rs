//! tcpdump capture guard.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::process::Proc;
use super::{LabError, Netns, Result, WorkDir, read_lossy};
use crate::pcap;

/// IKE (500, 4500: also ESP-in-UDP and NAT-T keepalives) and raw ESP.
pub const IKE_FILTER: &str = "udp port 500 or udp port 4500 or ip proto 50";

/// A running tcpdump writing a pcap file (`--immediate-mode`, `-U`: every packet is on disk as
/// soon as it is seen). Stopped with SIGINT (flushes) on [`Tcpdump::stop`] or drop; the file lives
/// in a temporary directory that drop removes (kept, and its path printed, with `IKT_KEEP=1`;
/// [`Tcpdump::save`] copies it elsewhere).
pub struct Tcpdump {
    proc: Proc,
    pcap: PathBuf,
    stderr: PathBuf,
    ns: Netns,
    dir: WorkDir,
}

impl Tcpdump {
    /// Captures on `iface` (e.g. "eth0", or "any") in `ns` with the pcap `filter` (e.g.
    /// [`IKE_FILTER`]); returns once tcpdump is listening (at most 5 s).
    pub fn start(ns: &Netns, iface: &str, filter: &str) -> Result<Tcpdump> {
        super::ensure_packages(&["tcpdump"])?;
        let dir = WorkDir::new(ns.name(), &format!("tcpdump-{iface}"))?;
        let pcap = dir.path().join("capture.pcap");
        let stderr = dir.path().join("tcpdump.stderr");
        let pcap_s = pcap.to_string_lossy().into_owned();
        let cmd = ns.command(&[
            "tcpdump",
            "-i",
            iface,
            "-n",
            "-U",
            "--immediate-mode",
            "-Z",
            "root",
            "-s",
            "0",
            "-w",
            &pcap_s,
            filter,
        ]);
        let mut proc = Proc::spawn(cmd, "tcpdump", Some(&stderr))?;
        proc.set_stop_signal(libc::SIGINT, Duration::from_secs(3));
        let mut t = Tcpdump {
            proc,
            pcap,
            stderr,
            ns: ns.clone(),
            dir,
        };
        super::wait_for(Duration::from_secs(5), "tcpdump listening", || {
            let err = read_lossy(&t.stderr);
            if err.contains("listening on") {
                return Ok(Some(()));
            }
            if !t.proc.is_running() {
                return Err(LabError::other(format!("tcpdump exited: {err}")));
            }
            Ok(None)
        })?;
        Ok(t)
    }

    /// The pcap file (complete only after [`Tcpdump::stop`]).
    pub fn path(&self) -> &Path {
        &self.pcap
    }

    /// Stops the capture (SIGINT, bounded) and returns the pcap path. Idempotent.
    pub fn stop(&mut self) -> PathBuf {
        self.proc.stop();
        self.pcap.clone()
    }

    /// Stops the capture and reads it ([`crate::pcap`]).
    pub fn capture(&mut self) -> Result<pcap::Capture> {
        let path = self.stop();
        pcap::read(&path).map_err(|e| LabError::other(format!("{}: {e}", path.display())))
    }

    /// Copies the capture (stopped first) to `dest`, e.g. to keep it as a test artifact.
    pub fn save(&mut self, dest: &Path) -> Result<()> {
        let path = self.stop();
        std::fs::copy(&path, dest)?;
        Ok(())
    }
}

impl Drop for Tcpdump {
    fn drop(&mut self) {
        self.proc.stop();
        self.dir.finish(&format!("tcpdump in {}", self.ns.name()));
    }
}
