//! strongSwan's charon in a namespace, driven through swanctl (VICI).
//!
//! One charon per namespace, each with its own directory: a generated `strongswan.conf`
//! (`STRONGSWAN_CONF`), VICI socket, log file (ike=4 chd=4 enc=3: keys and decrypted payloads),
//! resolve-plugin file (never /etc/resolv.conf) and a private `/run` (charon's pid file is
//! compiled in as /var/run/charon.pid), bind-mounted in a mount namespace of its own.
//! kernel-libipsec does ESP in userspace over TUN `ipsec0` (the host has no kernel ESP); it only
//! speaks ESP-in-UDP, so charon fakes NAT-D and every exchange floats to port 4500. Where the
//! kernel has ESP (the test VM, `tests/vm`), [`CharonBuilder::kernel_esp`] leaves it out: charon
//! then installs SAs and policies through kernel-netlink, and ESP is raw unless a NAT is there.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::process::{self, Output, Proc};
use super::{DEFAULT_TIMEOUT, LabError, Netns, Result, WorkDir, read_lossy, tail_lines};

/// Debian packages charon and swanctl need (XAuth from swanctl secrets: xauth-generic, in
/// libcharon-extauth-plugins).
pub const CHARON_PACKAGES: &[&str] = &[
    "strongswan-charon",
    "strongswan-swanctl",
    "strongswan-libcharon",
    "libstrongswan",
    "libstrongswan-standard-plugins",
    "libstrongswan-extra-plugins",
    "libcharon-extra-plugins",
    "libcharon-extauth-plugins",
];

const CHARON_BIN: &str = "/usr/lib/ipsec/charon";

/// Subdirectories swanctl scans next to the swanctl.conf it loads (missing ones are warnings).
const SWANCTL_DIRS: &[&str] = &[
    "x509", "x509ca", "x509ocsp", "x509aa", "x509ac", "x509crl", "pubkey", "private", "rsa",
    "ecdsa", "bliss", "pkcs8", "pkcs12",
];

/// Options of a charon instance; [`CharonBuilder::start`] starts it.
pub struct CharonBuilder<'a> {
    ns: &'a Netns,
    aggressive_psk: bool,
    cisco_unity: bool,
    extra: String,
    load: bool,
    kernel_esp: bool,
}

impl CharonBuilder<'_> {
    /// `charon.i_dont_care_about_security_and_use_aggressive_mode_psk = yes`: needed to respond
    /// to aggressive mode with PSK (default off).
    pub fn aggressive_psk(mut self, yes: bool) -> Self {
        self.aggressive_psk = yes;
        self
    }

    /// `charon.cisco_unity` (default on: sends the Cisco Unity vendor ID and the 14-byte
    /// UNITY_SPLIT_INCLUDE entries).
    pub fn cisco_unity(mut self, yes: bool) -> Self {
        self.cisco_unity = yes;
        self
    }

    /// Extra strongswan.conf text, appended after the lab's settings (so it overrides them).
    pub fn extra_conf(mut self, text: &str) -> Self {
        self.extra.push_str(text);
        self.extra.push('\n');
        self
    }

    /// Real kernel ESP (`true`): do not load kernel-libipsec, so charon installs its SAs and
    /// policies with kernel-netlink and sends raw ESP (no faked NAT-D). Only where the kernel has
    /// ESP (the test VM). Default `false`: kernel-libipsec, userspace ESP over TUN.
    pub fn kernel_esp(mut self, yes: bool) -> Self {
        self.kernel_esp = yes;
        self
    }

    /// Whether [`CharonBuilder::start`] runs `swanctl --load-all` (default yes).
    pub fn load(mut self, yes: bool) -> Self {
        self.load = yes;
        self
    }

    /// Starts charon with `swanctl_conf` (the text of a swanctl.conf: connections, secrets,
    /// pools) and, by default, loads it.
    pub fn start(self, swanctl_conf: &str) -> Result<Charon> {
        super::ensure_packages(CHARON_PACKAGES)?;
        let ns = self.ns.clone();
        let dir = WorkDir::new(ns.name(), "charon")?;
        let d = dir.path().to_path_buf();
        let vici = d.join("charon.vici");
        if vici.as_os_str().len() > 100 {
            return Err(LabError::other(format!(
                "VICI socket path too long for a unix socket: {} (set TMPDIR shorter)",
                vici.display()
            )));
        }
        std::fs::create_dir_all(d.join("run"))?;
        for sub in SWANCTL_DIRS {
            std::fs::create_dir_all(d.join(sub))?;
        }
        std::fs::write(d.join("strongswan.conf"), self.strongswan_conf(&d))?;
        std::fs::write(d.join("swanctl.conf"), swanctl_conf)?;

        let script = format!(
            "mount --make-rprivate / && mount --bind '{}' /run && exec {CHARON_BIN}",
            d.join("run").display()
        );
        let mut cmd = ns.command(&["unshare", "-m", "sh", "-c", &script]);
        cmd.env("STRONGSWAN_CONF", d.join("strongswan.conf"));
        let proc = Proc::spawn(cmd, "charon", Some(&d.join("charon.stdout")))?;
        let mut charon = Charon {
            proc,
            ns,
            dir: d.clone(),
            _workdir: dir,
        };
        // Generous: charon loads ~40 plugins, slow under an emulated (TCG) kernel on a busy
        // machine.
        super::wait_for(
            Duration::from_secs(40),
            &format!("charon's VICI socket {}", vici.display()),
            || {
                if !charon.proc.is_running() {
                    return Err(LabError::other(format!(
                        "charon in {} exited at start ({:?}): {}\n{}",
                        charon.ns.name(),
                        charon.proc.exit_status(),
                        charon.proc.output(),
                        charon.log_tail(20)
                    )));
                }
                Ok(std::fs::symlink_metadata(&vici).is_ok().then_some(()))
            },
        )?;
        if self.load {
            charon.load_all()?;
        }
        Ok(charon)
    }

    fn strongswan_conf(&self, d: &Path) -> String {
        let d = d.display();
        let yn = |b: bool| if b { "yes" } else { "no" };
        format!(
            r#"# per-instance strongswan.conf (ipsec_tests::lab), selected with STRONGSWAN_CONF
charon {{
  load_modular = yes
  plugins {{
    include /etc/strongswan.d/charon/*.conf
  }}
}}
include /etc/strongswan.d/*.conf
# --- overrides (must come after the includes) ---
charon {{
  plugins {{
    {libipsec}
    vici {{ socket = unix://{d}/charon.vici }}
    stroke {{ load = no }}                 # no /run/charon.ctl, no ipsec.secrets
    forecast {{ load = no }}
    ha {{ load = no }}
    tpm {{ load = no }}
    pkcs11 {{ load = no }}
    ldap {{ load = no }}
    resolve {{ file = {d}/resolv.conf }}   # NEVER the host's /etc/resolv.conf
  }}
  cisco_unity = {unity}
  i_dont_care_about_security_and_use_aggressive_mode_psk = {am}
  syslog {{ daemon {{ default = -1 }} auth {{ default = -1 }} }}
  filelog {{
    log {{
      path = {d}/charon.log
      append = no
      time_format = %H:%M:%S
      time_add_ms = yes
      ike_name = yes
      flush_line = yes
      default = 2
      ike = 4
      chd = 4
      enc = 3
      net = 2
      knl = 2
      cfg = 2
      lib = 1
    }}
  }}
}}
swanctl {{ socket = unix://{d}/charon.vici }}
{extra}"#,
            unity = yn(self.cisco_unity),
            am = yn(self.aggressive_psk),
            libipsec = if self.kernel_esp {
                "kernel-libipsec { load = no }        # real kernel ESP through kernel-netlink"
            } else {
                "kernel-libipsec { load = yes }       # userspace ESP over TUN ipsec0 (no kernel ESP here)"
            },
            extra = self.extra,
        )
    }
}

/// A running charon; stopped (process group killed) and its directory removed on drop (kept and
/// printed with `IKT_KEEP=1`; on panic the tail of its log is printed).
pub struct Charon {
    proc: Proc,
    ns: Netns,
    dir: PathBuf,
    _workdir: WorkDir,
}

impl Charon {
    /// Options: `Charon::builder(&ns).aggressive_psk(true).start(conf)`.
    pub fn builder(ns: &Netns) -> CharonBuilder<'_> {
        CharonBuilder {
            ns,
            aggressive_psk: false,
            cisco_unity: true,
            extra: String::new(),
            load: true,
            kernel_esp: false,
        }
    }

    /// Starts charon in `ns` with the default options and loads `swanctl_conf`.
    pub fn start(ns: &Netns, swanctl_conf: &str) -> Result<Charon> {
        Charon::builder(ns).start(swanctl_conf)
    }

    /// Its directory (strongswan.conf, swanctl.conf, charon.log, resolv.conf, charon.vici).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The namespace it runs in.
    pub fn netns(&self) -> &Netns {
        &self.ns
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// Still running?
    pub fn is_running(&mut self) -> bool {
        self.proc.is_running()
    }

    /// Path of charon.log.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("charon.log")
    }

    /// The whole log so far.
    pub fn log(&self) -> String {
        read_lossy(&self.log_path())
    }

    /// What the resolve plugin wrote (DNS servers from mode config), if anything.
    pub fn resolv_conf(&self) -> String {
        read_lossy(&self.dir.join("resolv.conf"))
    }

    /// The last `n` log lines without hex dumps (for failure messages).
    pub fn log_tail(&self, n: usize) -> String {
        tail_lines(&self.log(), n, is_summary_line)
    }

    /// `swanctl ARGS` against this charon (bounded by [`DEFAULT_TIMEOUT`]); status not checked.
    pub fn swanctl(&self, args: &[&str]) -> Result<Output> {
        self.swanctl_timeout(args, DEFAULT_TIMEOUT)
    }

    fn swanctl_timeout(&self, args: &[&str], timeout: Duration) -> Result<Output> {
        let mut cmd = Command::new("swanctl");
        cmd.env("STRONGSWAN_CONF", self.dir.join("strongswan.conf"))
            .args(args);
        process::run(cmd, timeout)
    }

    fn checked(&self, out: Output) -> Result<Output> {
        if out.success() {
            Ok(out)
        } else {
            Err(LabError::Command(format!(
                "{}\n--- charon log ({}), last lines:\n{}",
                out.describe(),
                self.log_path().display(),
                self.log_tail(30)
            )))
        }
    }

    /// `swanctl --load-all` of its swanctl.conf.
    pub fn load_all(&self) -> Result<Output> {
        let file = self.dir.join("swanctl.conf");
        let file = file.to_string_lossy();
        let args = ["--load-all", "--noprompt", "--file", &file];
        // the VICI socket file appears at bind(), a moment before listen(): retry a refusal
        let mut out = self.swanctl(&args)?;
        for _ in 0..20 {
            if out.success() || !out.combined().contains("Connection refused") {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
            out = self.swanctl(&args)?;
        }
        self.checked(out)
    }

    /// Replaces its swanctl.conf with `swanctl_conf` and loads it.
    pub fn reload(&self, swanctl_conf: &str) -> Result<Output> {
        std::fs::write(self.dir.join("swanctl.conf"), swanctl_conf)?;
        self.load_all()
    }

    /// `swanctl --initiate --child CHILD` (waits until the CHILD SA is up or failed, at most
    /// 15 s). Error if it failed.
    pub fn initiate(&self, child: &str) -> Result<Output> {
        let out = self.swanctl_timeout(
            &["--initiate", "--child", child, "--timeout", "15"],
            Duration::from_secs(20),
        )?;
        self.checked(out)
    }

    /// `swanctl --initiate --ike IKE` (the IKE SA only, IKEv1: main/aggressive mode + XAuth and
    /// mode config, no quick mode).
    pub fn initiate_ike(&self, ike: &str) -> Result<Output> {
        let out = self.swanctl_timeout(
            &["--initiate", "--ike", ike, "--timeout", "15"],
            Duration::from_secs(20),
        )?;
        self.checked(out)
    }

    /// `swanctl --terminate --ike NAME` (informational deletes for its SAs).
    pub fn terminate_ike(&self, name: &str) -> Result<Output> {
        let out = self.swanctl_timeout(
            &["--terminate", "--ike", name, "--timeout", "10"],
            Duration::from_secs(15),
        )?;
        self.checked(out)
    }

    /// `swanctl --list-sas`.
    pub fn list_sas(&self) -> Result<String> {
        let out = self.swanctl(&["--list-sas"])?;
        Ok(self.checked(out)?.stdout)
    }

    /// Is CHILD SA `child` INSTALLED (per `--list-sas`)?
    pub fn child_installed(&self, child: &str) -> Result<bool> {
        let sas = self.list_sas()?;
        let prefix = format!("{child}:");
        Ok(sas
            .lines()
            .any(|l| l.trim_start().starts_with(&prefix) && l.contains("INSTALLED")))
    }

    /// Is IKE SA `ike` ESTABLISHED (per `--list-sas`)?
    pub fn ike_established(&self, ike: &str) -> Result<bool> {
        let sas = self.list_sas()?;
        let prefix = format!("{ike}:");
        Ok(sas
            .lines()
            .any(|l| l.starts_with(&prefix) && l.contains("ESTABLISHED")))
    }

    /// Waits until CHILD SA `child` is INSTALLED.
    pub fn wait_child_installed(&self, child: &str, timeout: Duration) -> Result<()> {
        super::wait_for(timeout, &format!("CHILD SA {child} installed"), || {
            Ok(self.child_installed(child)?.then_some(()))
        })
        .map_err(|e| self.with_log(e))
    }

    /// Waits until IKE SA `ike` is ESTABLISHED.
    pub fn wait_ike_established(&self, ike: &str, timeout: Duration) -> Result<()> {
        super::wait_for(timeout, &format!("IKE SA {ike} established"), || {
            Ok(self.ike_established(ike)?.then_some(()))
        })
        .map_err(|e| self.with_log(e))
    }

    /// Waits until a log line contains `needle`; returns that line.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> Result<String> {
        super::wait_for(timeout, &format!("charon log line with {needle:?}"), || {
            Ok(self
                .log()
                .lines()
                .find(|l| l.contains(needle))
                .map(str::to_string))
        })
        .map_err(|e| self.with_log(e))
    }

    fn with_log(&self, e: LabError) -> LabError {
        match e {
            LabError::Timeout(m) => LabError::Timeout(format!(
                "{m}\n--- charon log ({}), last lines:\n{}",
                self.log_path().display(),
                self.log_tail(30)
            )),
            e => e,
        }
    }

    /// Stops charon now (as drop does, but keeps the directory until drop).
    pub fn stop(&mut self) {
        self.proc.stop();
    }
}

/// A log line worth showing in a failure message: the IKE, CHILD, config, kernel and daemon
/// subsystems, without hex-dump rows.
fn is_summary_line(l: &str) -> bool {
    const TAGS: &[&str] = &["[IKE]", "[CHD]", "[CFG]", "[KNL]", "[DMN]", "[NET]"];
    if !TAGS.iter().any(|t| l.contains(t)) || l.contains("waiting for data on sockets") {
        return false;
    }
    // hex dump rows: "...[IKE] <name|1>   16: C0 11 ..."
    let body = l.split_once(']').map_or(l, |(_, b)| b).trim_start();
    let body = match body.strip_prefix('<').and_then(|b| b.split_once('>')) {
        Some((_, rest)) => rest.trim_start(),
        None => body,
    };
    !body
        .split_once(": ")
        .is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

impl Drop for Charon {
    fn drop(&mut self) {
        self.proc.stop();
        if std::thread::panicking() {
            eprintln!(
                "[lab] charon in {} ({}), last log lines:\n{}",
                self.ns.name(),
                self.dir.display(),
                self.log_tail(40)
            );
        }
        self._workdir
            .finish(&format!("charon in {}", self.ns.name()));
    }
}
