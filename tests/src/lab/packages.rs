//! Debian packages the lab needs: installed on demand (apt-get, as root).
//!
//! The project's test script installs the list in `tests/lab/apt-packages.txt` up front; this is
//! the safety net for a test run on a machine that lacks one (and for libreswan's libraries).

use std::collections::{BTreeSet, HashSet};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use super::process;
use super::{LabError, Result};

struct AptState {
    updated: bool,
    installed: BTreeSet<String>,
}

/// One apt at a time in this process; remembers what is known to be installed.
static APT: Mutex<AptState> = Mutex::new(AptState {
    updated: false,
    installed: BTreeSet::new(),
});

const APT_TIMEOUT: Duration = Duration::from_secs(600);

/// Which of `pkgs` dpkg does not know as installed.
fn missing(pkgs: &[&str]) -> Result<Vec<String>> {
    let mut cmd = Command::new("dpkg-query");
    cmd.args(["-W", "-f", "${Package} ${db:Status-Abbrev}\\n"])
        .args(pkgs);
    // exit status 1 when some package is unknown: the output still lists the known ones
    let out = process::run(cmd, Duration::from_secs(30))?;
    let installed: HashSet<&str> = out
        .stdout
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let name = it.next()?;
            let status = it.next()?;
            (status == "ii").then_some(name)
        })
        .collect();
    Ok(pkgs
        .iter()
        .filter(|p| !installed.contains(p.split(':').next().unwrap_or(p)))
        .map(|p| p.to_string())
        .collect())
}

/// `apt-get update` once per process (the package lists of a fresh machine may be empty).
pub(crate) fn apt_update() -> Result<()> {
    let mut st = APT.lock().unwrap_or_else(|e| e.into_inner());
    apt_update_locked(&mut st)
}

fn apt_update_locked(st: &mut AptState) -> Result<()> {
    if st.updated {
        return Ok(());
    }
    let mut cmd = Command::new("apt-get");
    cmd.env("DEBIAN_FRONTEND", "noninteractive").args([
        "-qq",
        "-o",
        "DPkg::Lock::Timeout=120",
        "update",
    ]);
    process::run(cmd, APT_TIMEOUT)?.check()?;
    st.updated = true;
    Ok(())
}

/// Makes sure the Debian packages `pkgs` are installed: the missing ones are installed with
/// `apt-get install -y --no-install-recommends` (after one `apt-get update`). Needs root.
pub fn ensure_packages(pkgs: &[&str]) -> Result<()> {
    let mut st = APT.lock().unwrap_or_else(|e| e.into_inner());
    let todo: Vec<&str> = pkgs
        .iter()
        .copied()
        .filter(|p| !st.installed.contains(*p))
        .collect();
    if todo.is_empty() {
        return Ok(());
    }
    let missing = missing(&todo)?;
    if !missing.is_empty() {
        if !super::is_root() {
            return Err(LabError::other(format!(
                "Debian packages missing and not root to install them: {}",
                missing.join(" ")
            )));
        }
        eprintln!("[lab] apt-get install {}", missing.join(" "));
        apt_update_locked(&mut st)?;
        let mut cmd = Command::new("apt-get");
        cmd.env("DEBIAN_FRONTEND", "noninteractive")
            .args([
                "install",
                "-y",
                "-qq",
                "--no-install-recommends",
                "-o",
                "DPkg::Lock::Timeout=120",
            ])
            .args(&missing);
        process::run(cmd, APT_TIMEOUT)?.check()?;
        let still = self::missing(&todo)?;
        if !still.is_empty() {
            return Err(LabError::other(format!(
                "apt-get install did not install: {}",
                still.join(" ")
            )));
        }
    }
    st.installed.extend(todo.iter().map(|p| p.to_string()));
    Ok(())
}
