//! libreswan's pluto (4.x) in a namespace, driven through whack.
//!
//! libreswan conflicts with the strongSwan packages, so it is not installed: `apt-get download
//! libreswan` and `dpkg-deb -x` unpack it into a cache directory (`IKT_CACHE`, default
//! /var/cache/ikt) and only its libraries are installed. pluto has its helper directory compiled
//! in (`/usr/libexec/ipsec/addconn` is run at start), so it runs in a mount namespace of its own
//! where a read-only overlay of the unpacked tree on /usr/libexec provides it; everything else is
//! per instance: `--config`, `--secretsfile`, `--nssdir` (a fresh NSS db), `--rundir` (control
//! socket, pid file), `--ipsecdir`, `--logfile`.
//!
//! On this host's kernel (no ESP) pluto completes main and aggressive mode (+ XAuth) but its
//! quick mode fails at kernel SA install: `netlink response for Add SA esp...: Protocol not
//! supported (errno 93)`. Full tunnels with pluto need the VM. IKEv1 must be allowed
//! (`ikev1-policy=accept`, set here) and libreswan 4.10 refuses modp1024 (DH group 2).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use super::process::{self, Output, Proc};
use super::{DEFAULT_TIMEOUT, LabError, Netns, Result, WorkDir, read_lossy, tail_lines};

/// Debian packages libreswan's binaries need (its Depends, less the tools the lab does not use:
/// iptables, host, dns-root-data).
pub const PLUTO_PACKAGES: &[&str] = &[
    "libnss3-tools",
    "libnss3",
    "libnspr4",
    "libldns3",
    "libunbound8",
    "libevent-core-2.1-7",
    "libevent-pthreads-2.1-7",
    "libcurl3-nss",
    "libcap-ng0",
    "libaudit1",
    "libldap-2.5-0",
    "libpam0g",
    "libselinux1",
    "libsystemd0",
    "libcrypt1",
];

static INSTALL: Mutex<Option<PathBuf>> = Mutex::new(None);

fn cache_dir() -> PathBuf {
    std::env::var_os("IKT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/ikt"))
        .join("libreswan")
}

const PLUTO_REL: &str = "usr/libexec/ipsec/pluto";

/// An unpacked tree under the cache directory that has pluto.
fn find_unpacked(cache: &Path) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(cache)
        .ok()?
        .flatten()
        .map(|e| e.path().join("root"))
        .filter(|r| r.join(PLUTO_REL).is_file())
        .collect();
    found.sort();
    found.pop()
}

/// Options of a pluto instance; [`PlutoBuilder::start`] starts it.
pub struct PlutoBuilder<'a> {
    ns: &'a Netns,
    debug: String,
    setup_extra: String,
}

impl PlutoBuilder<'_> {
    /// `plutodebug=` (default "base"; "all" logs everything, "none" nothing).
    pub fn debug(mut self, what: &str) -> Self {
        self.debug = what.to_string();
        self
    }

    /// More `config setup` lines (e.g. "\tvirtual-private=%v4:100.64.0.0/10").
    pub fn setup(mut self, lines: &str) -> Self {
        self.setup_extra.push_str(lines);
        self.setup_extra.push('\n');
        self
    }

    /// Starts pluto with `conns` (ipsec.conf `conn` sections; those with `auto=add` are loaded
    /// at start) and `secrets` (ipsec.secrets text, e.g. `198.18.0.1 198.18.0.2 : PSK "x"`).
    /// Returns once pluto listens (at most 10 s).
    pub fn start(self, conns: &str, secrets: &str) -> Result<Pluto> {
        let root = Pluto::install()?;
        if !Path::new("/usr/libexec").is_dir() {
            return Err(LabError::other(
                "pluto needs /usr/libexec on the host (its overlay mount point)",
            ));
        }
        let ns = self.ns.clone();
        let dir = WorkDir::new(ns.name(), "pluto")?;
        let d = dir.path().to_path_buf();
        for sub in ["nss", "run", "policies", "cacerts", "crls"] {
            std::fs::create_dir_all(d.join(sub))?;
        }
        let conf = format!(
            "# ipsec.conf (ipsec_tests::lab)\nconfig setup\n\tikev1-policy=accept\n\
             \tdnssec-enable=no\n\tplutodebug={}\n{}\n{conns}\n",
            self.debug, self.setup_extra
        );
        std::fs::write(d.join("ipsec.conf"), conf)?;
        write_secrets(&d.join("ipsec.secrets"), secrets)?;
        let mut certutil = Command::new("certutil");
        certutil
            .args(["-N", "--empty-password", "-d"])
            .arg(format!("sql:{}", d.join("nss").display()));
        process::run(certutil, DEFAULT_TIMEOUT)?.check()?;

        let ds = d.display();
        let script = format!(
            "mount --make-rprivate / && \
             mount -t overlay overlay -o lowerdir={root}/usr/libexec:/usr/libexec /usr/libexec && \
             exec /usr/libexec/ipsec/pluto --nofork --config {ds}/ipsec.conf --rundir {ds}/run \
             --nssdir {ds}/nss --secretsfile {ds}/ipsec.secrets --ipsecdir {ds} \
             --dumpdir {ds}/run --logfile {ds}/pluto.log --no-dnssec",
            root = root.display()
        );
        let cmd = ns.command(&["unshare", "-m", "sh", "-c", &script]);
        let proc = Proc::spawn(cmd, "pluto", Some(&d.join("pluto.stdout")))?;
        let mut pluto = Pluto {
            proc,
            ns,
            dir: d,
            root,
            _workdir: dir,
        };
        let ctl = pluto.ctl_socket();
        super::wait_for(Duration::from_secs(10), "pluto listening", || {
            if !pluto.proc.is_running() {
                return Err(LabError::other(format!(
                    "pluto in {} exited at start ({:?}): {}\n{}",
                    pluto.ns.name(),
                    pluto.proc.exit_status(),
                    pluto.proc.output(),
                    pluto.log_tail(20)
                )));
            }
            let ready = std::fs::symlink_metadata(&ctl).is_ok()
                && pluto.log().contains("loading secrets from");
            Ok(ready.then_some(()))
        })?;
        Ok(pluto)
    }
}

fn write_secrets(path: &Path, secrets: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, secrets)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}

/// A running pluto; stopped (process group killed) and its directory removed on drop (kept with
/// `IKT_KEEP=1`; on panic the tail of its log is printed).
pub struct Pluto {
    proc: Proc,
    ns: Netns,
    dir: PathBuf,
    root: PathBuf,
    _workdir: WorkDir,
}

impl Pluto {
    /// Makes libreswan runnable (once per process): installs its libraries, downloads and
    /// unpacks the package into the cache unless already there. Returns the unpacked root.
    pub fn install() -> Result<PathBuf> {
        let mut g = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = g.as_ref() {
            return Ok(r.clone());
        }
        super::ensure_packages(PLUTO_PACKAGES)?;
        let cache = cache_dir();
        let root = match find_unpacked(&cache) {
            Some(r) => r,
            None => download(&cache)?,
        };
        // every library resolves?
        let mut ldd = Command::new("ldd");
        ldd.arg(root.join(PLUTO_REL));
        let out = process::run(ldd, DEFAULT_TIMEOUT)?;
        if out.stdout.contains("not found") {
            return Err(LabError::other(format!(
                "libreswan's pluto misses libraries:\n{}",
                out.stdout
            )));
        }
        *g = Some(root.clone());
        Ok(root)
    }

    /// Options: `Pluto::builder(&ns).debug("all").start(conns, secrets)`.
    pub fn builder(ns: &Netns) -> PlutoBuilder<'_> {
        PlutoBuilder {
            ns,
            debug: "base".into(),
            setup_extra: String::new(),
        }
    }

    /// Starts pluto in `ns`; see [`PlutoBuilder::start`].
    pub fn start(ns: &Netns, conns: &str, secrets: &str) -> Result<Pluto> {
        Pluto::builder(ns).start(conns, secrets)
    }

    /// Its directory (ipsec.conf, ipsec.secrets, nss/, run/pluto.ctl, pluto.log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// The namespace it runs in.
    pub fn netns(&self) -> &Netns {
        &self.ns
    }

    /// Still running?
    pub fn is_running(&mut self) -> bool {
        self.proc.is_running()
    }

    fn ctl_socket(&self) -> PathBuf {
        self.dir.join("run/pluto.ctl")
    }

    fn tool(&self, name: &str) -> Command {
        Command::new(self.root.join("usr/libexec/ipsec").join(name))
    }

    /// Path of pluto.log.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("pluto.log")
    }

    /// The whole log so far.
    pub fn log(&self) -> String {
        read_lossy(&self.log_path())
    }

    /// The last `n` log lines without debug (`| `) lines.
    pub fn log_tail(&self, n: usize) -> String {
        tail_lines(&self.log(), n, |l| !l.contains(": | "))
    }

    /// `whack --ctlsocket ... ARGS`, bounded by `timeout`; status not checked (whack's exit
    /// status is the last RC_ code of the operation).
    pub fn whack_timeout(&self, args: &[&str], timeout: Duration) -> Result<Output> {
        let mut cmd = self.tool("whack");
        cmd.arg("--ctlsocket").arg(self.ctl_socket()).args(args);
        process::run(cmd, timeout)
    }

    /// `whack ARGS` bounded by [`DEFAULT_TIMEOUT`].
    pub fn whack(&self, args: &[&str]) -> Result<Output> {
        self.whack_timeout(args, DEFAULT_TIMEOUT)
    }

    /// Replaces the `conn` sections of its ipsec.conf with `conns` (then [`Pluto::add_conn`]).
    pub fn set_conns(&self, conns: &str) -> Result<()> {
        let path = self.dir.join("ipsec.conf");
        let old = read_lossy(&path);
        let setup_end = old.find("\nconn ").map_or(old.len(), |i| i + 1);
        std::fs::write(&path, format!("{}{conns}\n", &old[..setup_end]))?;
        Ok(())
    }

    /// Replaces its secrets and tells pluto to re-read them.
    pub fn set_secrets(&self, secrets: &str) -> Result<()> {
        write_secrets(&self.dir.join("ipsec.secrets"), secrets)?;
        self.whack(&["--rereadsecrets"])?.check()?;
        Ok(())
    }

    /// `addconn NAME` from its ipsec.conf (loads or replaces the connection).
    pub fn add_conn(&self, name: &str) -> Result<Output> {
        let mut cmd = self.tool("addconn");
        cmd.arg("--config")
            .arg(self.dir.join("ipsec.conf"))
            .arg("--ctlsocket")
            .arg(self.ctl_socket())
            .arg(name);
        process::run(cmd, DEFAULT_TIMEOUT)?.check()
    }

    /// `whack --initiate --name NAME`, waiting for the outcome (at most 15 s). The output is
    /// returned whatever the status (quick mode fails here at SA install, see the module doc):
    /// read its lines (`004 ... IKE SA established`, `ERROR: ... Add SA`).
    pub fn initiate(&self, name: &str) -> Result<Output> {
        self.whack_timeout(&["--initiate", "--name", name], Duration::from_secs(15))
    }

    /// `whack --initiate --asynchronous --name NAME`: returns at once.
    pub fn initiate_async(&self, name: &str) -> Result<Output> {
        self.whack(&["--initiate", "--asynchronous", "--name", name])?
            .check()
    }

    /// `whack --terminate --name NAME`.
    pub fn terminate(&self, name: &str) -> Result<Output> {
        self.whack(&["--terminate", "--name", name])
    }

    /// `whack --status`.
    pub fn status(&self) -> Result<String> {
        Ok(self.whack(&["--status"])?.stdout)
    }

    /// Waits until a log line contains `needle`; returns that line.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> Result<String> {
        super::wait_for(timeout, &format!("pluto log line with {needle:?}"), || {
            Ok(self
                .log()
                .lines()
                .find(|l| l.contains(needle))
                .map(str::to_string))
        })
        .map_err(|e| match e {
            LabError::Timeout(m) => LabError::Timeout(format!(
                "{m}\n--- pluto log ({}), last lines:\n{}",
                self.log_path().display(),
                self.log_tail(30)
            )),
            e => e,
        })
    }

    /// Stops pluto now (as drop does).
    pub fn stop(&mut self) {
        self.proc.stop();
    }
}

/// `apt-get download libreswan` + `dpkg-deb -x` into `cache/<deb name>/root`.
fn download(cache: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(cache)?;
    super::packages::apt_update()?;
    let tmp = tempfile::Builder::new()
        .prefix("download-")
        .tempdir_in(cache)?;
    let mut dl = Command::new("apt-get");
    dl.current_dir(tmp.path())
        .args(["download", "-qq", "libreswan"]);
    process::run(dl, Duration::from_secs(300))?.check()?;
    let deb = std::fs::read_dir(tmp.path())?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or_else(|| LabError::other("apt-get download libreswan left no .deb"))?;
    let stem = deb
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "libreswan".into());
    let unpack = tmp.path().join("root");
    let mut x = Command::new("dpkg-deb");
    x.arg("-x").arg(&deb).arg(&unpack);
    process::run(x, Duration::from_secs(120))?.check()?;
    if !unpack.join(PLUTO_REL).is_file() {
        return Err(LabError::other(format!(
            "{} has no {PLUTO_REL}",
            deb.display()
        )));
    }
    let dest = cache.join(&stem);
    if dest.exists() {
        let _ = std::fs::remove_dir_all(&dest);
    }
    std::fs::create_dir_all(&dest)?;
    std::fs::rename(&unpack, dest.join("root"))?;
    eprintln!("[lab] libreswan unpacked into {}", dest.display());
    Ok(dest.join("root"))
}

impl Drop for Pluto {
    fn drop(&mut self) {
        self.proc.stop();
        if std::thread::panicking() {
            eprintln!(
                "[lab] pluto in {} ({}), last log lines:\n{}",
                self.ns.name(),
                self.dir.display(),
                self.log_tail(40)
            );
        }
        self._workdir
            .finish(&format!("pluto in {}", self.ns.name()));
    }
}
