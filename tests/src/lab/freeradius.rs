//! FreeRADIUS (Debian's `freeradius` 3.2) as a real AAA server in a namespace.
//!
//! Each instance runs from a private copy of `/etc/freeradius/3.0` (`cp -a`) in its own
//! directory, as root, in the foreground with debug output (`freeradius -X -d DIR/raddb`, stdout
//! to `DIR/radiusd.log`). What the copy changes, and why:
//! - `radiusd.conf`: `raddbdir`, `logdir`, `radacctdir`, `run_dir` (so the pid file) and `db_dir`
//!   point into the directory (nothing is written outside it); `user`/`group` are commented out
//!   (runs as root: the copy belongs to root); `security.reject_delay = 0` (the default delays
//!   every Access-Reject by 1 s); `proxy_requests = no` (no proxy socket).
//! - `clients.conf` has only the builder's clients.
//! - `mods-config/files/authorize` (the `users` file) has only the builder's users.
//! - `sites-enabled/`: only our own `default` site (auth on `*:1812`, acct on `*:1813`, IPv4):
//!   authorize `preprocess chap mschap files pap`, authenticate PAP/CHAP/MS-CHAP, accounting
//!   `detail` + `attr_filter.accounting_response`, and a post-auth that adds a
//!   Message-Authenticator to every Access-Accept and Access-Reject. FreeRADIUS 3.2.1 does not
//!   sign its replies by itself, not even when the request carried a Message-Authenticator (an
//!   Accept for a signed request comes back without one); a reply item
//!   `Message-Authenticator := 0x00` makes it compute the real HMAC-MD5 when it encodes the
//!   reply. The stock `inner-tunnel` site and the `eap` module (which needs the snakeoil
//!   certificate) are removed: nothing here uses EAP.
//! - `mods-enabled/detail` writes every accounting record, of all clients, to the single file
//!   `DIR/radacct/detail` ([`FreeRadius::accounting`] parses it).
//!
//! [`FreeRadius::radclient`] runs `radclient` in the server's namespace: against the server itself,
//! or as a dynamic-authorization client (Disconnect-Request / CoA-Request to a NAS on port 3799).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::process::{self, Output, Proc};
use super::{LabError, Netns, Result, WorkDir, read_lossy, tail_lines};

/// Debian packages [`FreeRadius`] needs (`freeradius-utils`: radclient).
pub const FREERADIUS_PACKAGES: &[&str] = &["freeradius", "freeradius-utils"];

/// The packaged configuration every instance copies.
const STOCK_CONFIG: &str = "/etc/freeradius/3.0";
/// What `freeradius -X` prints once its sockets are open.
const READY: &str = "Ready to process requests";
/// Bound of the start-up (it takes about 0.1 s here).
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// Bound of one radclient run (`-r 1 -t 3`: at most 3 s of waiting for the answer).
const RADCLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Our `default` site: the only site enabled.
const SITE_DEFAULT: &str = r#"# default site (ipsec_tests::lab): PAP/CHAP/MS-CHAP from the users file, detail accounting
server default {
listen {
	type = auth
	ipaddr = *
	port = 1812
}
listen {
	type = acct
	ipaddr = *
	port = 1813
}
authorize {
	preprocess
	chap
	mschap
	files
	pap
}
authenticate {
	Auth-Type PAP {
		pap
	}
	Auth-Type CHAP {
		chap
	}
	Auth-Type MS-CHAP {
		mschap
	}
}
preacct {
	preprocess
	acct_unique
}
accounting {
	detail
	attr_filter.accounting_response
}
post-auth {
	# FreeRADIUS 3.2.1 does not sign replies by itself: a Message-Authenticator reply item
	# (any value) is encoded as the real HMAC-MD5 of the reply.
	update reply {
		&Message-Authenticator := 0x00
	}
	Post-Auth-Type REJECT {
		attr_filter.access_reject
		update reply {
			&Message-Authenticator := 0x00
		}
	}
}
}
"#;

/// The `detail` module: one file for every client.
const DETAIL_MODULE: &str = r#"# detail (ipsec_tests::lab): every accounting record in one file
detail {
	filename = ${radacctdir}/detail
	escape_filenames = no
	permissions = 0600
	header = "%t"
	locking = no
}
"#;

/// Options of a FreeRADIUS instance; [`FreeRadiusBuilder::start`] starts it.
pub struct FreeRadiusBuilder<'a> {
    ns: &'a Netns,
    clients: Vec<(String, String)>,
    users: String,
    require_message_authenticator: bool,
}

impl FreeRadiusBuilder<'_> {
    /// A NAS client: address or prefix as FreeRADIUS takes it (`"198.18.0.0/15"`,
    /// `"198.18.0.1"`), and its shared secret.
    pub fn client(mut self, ipaddr: &str, secret: &str) -> Self {
        self.clients.push((ipaddr.to_string(), secret.to_string()));
        self
    }

    /// Lines for `mods-config/files/authorize` (the `users` file), appended, e.g.
    /// `alice Cleartext-Password := "pw"\n\tFramed-IP-Address = 198.19.9.50, Class = "gold"`.
    pub fn users(mut self, text: &str) -> Self {
        self.users.push_str(text);
        if !text.ends_with('\n') {
            self.users.push('\n');
        }
        self
    }

    /// `require_message_authenticator` for every client (default no): with yes, FreeRADIUS
    /// drops any Access-Request without a Message-Authenticator.
    pub fn require_message_authenticator(mut self, yes: bool) -> Self {
        self.require_message_authenticator = yes;
        self
    }

    /// Writes the configuration and starts FreeRADIUS; returns once it is "Ready to process
    /// requests" (at most 15 s; the error carries the end of its output).
    pub fn start(self) -> Result<FreeRadius> {
        super::ensure_packages(FREERADIUS_PACKAGES)?;
        let bin = super::which("freeradius")
            .ok_or_else(|| LabError::other("freeradius not found (package freeradius)"))?;
        let ns = self.ns.clone();
        let workdir = WorkDir::new(ns.name(), "radius")?;
        let d = workdir.path().to_path_buf();
        self.write_config(&d)?;
        let mut radius = FreeRadius {
            proc: None,
            ns,
            dir: d,
            bin,
            _workdir: workdir,
        };
        radius.launch()?;
        Ok(radius)
    }

    fn write_config(&self, d: &Path) -> Result<()> {
        let raddb = d.join("raddb");
        let mut cp = Command::new("cp");
        cp.arg("-a").arg(STOCK_CONFIG).arg(&raddb);
        process::run(cp, Duration::from_secs(20))?.check()?;
        for sub in ["log", "radacct", "run", "db"] {
            std::fs::create_dir_all(d.join(sub))?;
        }

        let conf_path = raddb.join("radiusd.conf");
        let mut conf = std::fs::read_to_string(&conf_path)
            .map_err(|e| LabError::other(format!("{}: {e}", conf_path.display())))?;
        let path = |sub: &str| d.join(sub).display().to_string();
        let (raddb_s, log, radacct, run, db) = (
            raddb.display().to_string(),
            path("log"),
            path("radacct"),
            path("run"),
            path("db"),
        );
        let settings = [
            ("raddbdir", Some(raddb_s.as_str())),
            ("logdir", Some(log.as_str())),
            ("radacctdir", Some(radacct.as_str())),
            ("run_dir", Some(run.as_str())),
            ("db_dir", Some(db.as_str())),
            ("reject_delay", Some("0")),
            ("proxy_requests", Some("no")),
            ("user", None),
            ("group", None),
        ];
        for (key, value) in settings {
            conf = set_setting(&conf, key, value)
                .map_err(|e| LabError::other(format!("{}: {e}", conf_path.display())))?;
        }
        std::fs::write(&conf_path, conf)?;

        let mut clients = String::from("# clients.conf (ipsec_tests::lab)\n");
        for (i, (ipaddr, secret)) in self.clients.iter().enumerate() {
            clients.push_str(&format!(
                "client lab{i} {{\n\tipaddr = {ipaddr}\n\tsecret = \"{}\"\n\
                 \trequire_message_authenticator = {}\n}}\n",
                escape(secret),
                if self.require_message_authenticator {
                    "yes"
                } else {
                    "no"
                }
            ));
        }
        std::fs::write(raddb.join("clients.conf"), clients)?;
        std::fs::write(
            raddb.join("mods-config/files/authorize"),
            format!("# users (ipsec_tests::lab)\n{}", self.users),
        )?;

        // only our site; no EAP (needs the snakeoil certificate, unused here)
        for e in std::fs::read_dir(raddb.join("sites-enabled"))?.flatten() {
            std::fs::remove_file(e.path())?;
        }
        std::fs::write(raddb.join("sites-enabled/default"), SITE_DEFAULT)?;
        for module in ["eap", "detail"] {
            let p = raddb.join("mods-enabled").join(module);
            if std::fs::symlink_metadata(&p).is_ok() {
                std::fs::remove_file(&p)?;
            }
        }
        std::fs::write(raddb.join("mods-enabled/detail"), DETAIL_MODULE)?;
        Ok(())
    }
}

/// `"` and `\` escaped for a double-quoted FreeRADIUS string.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Sets `key = value` in radiusd.conf text (every uncommented `key = ...` line, keeping its
/// indentation), or comments it out (`value` None). Error if no such line exists.
fn set_setting(conf: &str, key: &str, value: Option<&str>) -> std::result::Result<String, String> {
    let mut found = false;
    let mut out = String::with_capacity(conf.len() + 64);
    for line in conf.lines() {
        let trimmed = line.trim_start();
        let is_key = trimmed
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='));
        if is_key {
            found = true;
            let indent = &line[..line.len() - trimmed.len()];
            match value {
                Some(v) => out.push_str(&format!("{indent}{key} = {v}")),
                None => out.push_str(&format!("{indent}# {trimmed}  # ipsec_tests::lab")),
            }
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    if found {
        Ok(out)
    } else {
        Err(format!("no `{key} = ...` line to change"))
    }
}

/// A running FreeRADIUS; stopped (process group killed) and its directory removed on drop (kept
/// and printed with `IKT_KEEP=1`; on panic the end of its output is printed).
pub struct FreeRadius {
    proc: Option<Proc>,
    ns: Netns,
    dir: PathBuf,
    bin: PathBuf,
    _workdir: WorkDir,
}

static RADCLIENT_SEQ: AtomicU32 = AtomicU32::new(0);

impl FreeRadius {
    /// FreeRADIUS in `ns`, listening on all its addresses, auth 1812 / acct 1813:
    /// `FreeRadius::builder(&ns).client("198.18.0.0/15", "s").users("...").start()`.
    pub fn builder(ns: &Netns) -> FreeRadiusBuilder<'_> {
        FreeRadiusBuilder {
            ns,
            clients: Vec::new(),
            users: String::new(),
            require_message_authenticator: false,
        }
    }

    /// Starts the process and waits for [`READY`] in the output written after this start.
    fn launch(&mut self) -> Result<()> {
        let log = self.log_path();
        let offset = std::fs::metadata(&log).map_or(0, |m| m.len() as usize);
        let raddb = self.dir.join("raddb");
        let cmd = self.ns.command(&[
            &self.bin.to_string_lossy(),
            "-X",
            "-d",
            &raddb.to_string_lossy(),
        ]);
        self.proc = Some(Proc::spawn(cmd, "freeradius", Some(&log))?);
        super::wait_for(
            START_TIMEOUT,
            &format!("FreeRADIUS in {} ready", self.ns.name()),
            || {
                let proc = self.proc.as_mut().expect("just started");
                let ready = read_lossy(&log)
                    .get(offset..)
                    .is_some_and(|t| t.contains(READY));
                if ready {
                    return Ok(Some(()));
                }
                if !proc.is_running() {
                    return Err(LabError::other(format!(
                        "FreeRADIUS in {} exited at start ({:?})",
                        self.ns.name(),
                        proc.exit_status()
                    )));
                }
                Ok(None)
            },
        )
        .map_err(|e| self.with_log(e))
    }

    /// The namespace it runs in.
    pub fn netns(&self) -> &Netns {
        &self.ns
    }

    /// Its directory: `raddb/` (the configuration), `radiusd.log`, `radacct/detail`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its pid, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().map(Proc::pid)
    }

    /// Path of the `-X` debug output (all starts appended).
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("radiusd.log")
    }

    /// The `-X` debug output so far (of every start since [`FreeRadiusBuilder::start`]).
    pub fn log(&self) -> String {
        read_lossy(&self.log_path())
    }

    /// The last `n` lines of the debug output (for failure messages).
    pub fn log_tail(&self, n: usize) -> String {
        tail_lines(&self.log(), n, |l| !l.trim().is_empty())
    }

    /// Waits until a line of the debug output (of any start) contains `needle`; returns it.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> Result<String> {
        super::wait_for(
            timeout,
            &format!("FreeRADIUS log line with {needle:?}"),
            || {
                Ok(self
                    .log()
                    .lines()
                    .find(|l| l.contains(needle))
                    .map(str::to_string))
            },
        )
        .map_err(|e| self.with_log(e))
    }

    /// Path of the detail file (every accounting record of every client).
    pub fn detail_path(&self) -> PathBuf {
        self.dir.join("radacct/detail")
    }

    /// Accounting records written so far by the `detail` module (all NAS clients, all starts),
    /// in order, each as attribute name -> value: values as FreeRADIUS prints them, surrounding
    /// quotes removed (octets such as Class are `0x...` hex; dates as text). A repeated
    /// attribute's values are joined with `\n`. A record still being written is left out.
    pub fn accounting(&self) -> Vec<BTreeMap<String, String>> {
        parse_detail(&read_lossy(&self.detail_path()))
    }

    /// Waits until some accounting record satisfies `pred`; returns the first that does.
    pub fn wait_accounting(
        &self,
        pred: impl Fn(&BTreeMap<String, String>) -> bool,
        timeout: Duration,
    ) -> Result<BTreeMap<String, String>> {
        super::wait_for(timeout, "FreeRADIUS accounting record", || {
            Ok(self.accounting().into_iter().find(|r| pred(r)))
        })
        .map_err(|e| match e {
            LabError::Timeout(m) => LabError::Timeout(format!(
                "{m}\n--- records so far: {:#?}\n--- FreeRADIUS output, last lines:\n{}",
                self.accounting(),
                self.log_tail(40)
            )),
            e => e,
        })
    }

    /// Stops it now (SIGTERM, then SIGKILL); the directory stays until drop.
    pub fn stop(&mut self) {
        if let Some(mut proc) = self.proc.take() {
            proc.stop();
        }
    }

    /// Starts it again (stopping it first if it runs) with the same directory and
    /// configuration; accounting records and earlier output are kept.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.launch()
    }

    /// Still running?
    pub fn is_running(&mut self) -> bool {
        self.proc.as_mut().is_some_and(Proc::is_running)
    }

    /// Runs `radclient -x -r 1 -t 3 -f FILE <target> <code> <secret>` in the server's namespace,
    /// FILE holding `attrs` (`User-Name = "alice"` lines; radclient reads them as it would
    /// stdin). `code`: auth, acct, status, coa, disconnect (or a number). Returns the output
    /// whatever the exit status (non-zero: no answer, or a reject/NAK).
    pub fn radclient(
        &self,
        target: SocketAddr,
        code: &str,
        secret: &str,
        attrs: &str,
    ) -> Result<Output> {
        let n = RADCLIENT_SEQ.fetch_add(1, Ordering::Relaxed);
        let file = self.dir.join(format!("radclient-{n}.txt"));
        std::fs::write(&file, attrs)?;
        let target = target.to_string();
        let file = file.to_string_lossy();
        let raddb = self.dir.join("raddb");
        let raddb = raddb.to_string_lossy();
        let cmd = self.ns.command(&[
            "radclient",
            "-x",
            "-r",
            "1",
            "-t",
            "3",
            "-d",
            &raddb,
            "-f",
            &file,
            &target,
            code,
            secret,
        ]);
        process::run(cmd, RADCLIENT_TIMEOUT)
    }

    fn with_log(&self, e: LabError) -> LabError {
        let tail = format!(
            "\n--- FreeRADIUS output ({}), last lines:\n{}",
            self.log_path().display(),
            self.log_tail(40)
        );
        match e {
            LabError::Timeout(m) => LabError::Timeout(m + &tail),
            LabError::Other(m) => LabError::Other(m + &tail),
            e => e,
        }
    }
}

impl Drop for FreeRadius {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!(
                "[lab] FreeRADIUS in {} ({}), last output lines:\n{}",
                self.ns.name(),
                self.dir.display(),
                self.log_tail(40)
            );
        }
        self._workdir
            .finish(&format!("FreeRADIUS in {}", self.ns.name()));
    }
}

/// Parses a detail file: records end with a blank line; each starts with a date line, then
/// `\tName = value` lines. An unterminated last record (being written) is left out.
fn parse_detail(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut records = Vec::new();
    let mut cur: Option<BTreeMap<String, String>> = None;
    for line in text.split_inclusive('\n') {
        if !line.ends_with('\n') {
            break; // a line still being written
        }
        let line = line.trim_end_matches(['\n', '\r']);
        if line.trim().is_empty() {
            if let Some(r) = cur.take() {
                records.push(r);
            }
            continue;
        }
        let record = cur.get_or_insert_with(BTreeMap::new);
        if !line.starts_with([' ', '\t']) {
            continue; // the date header
        }
        let Some((name, value)) = line.trim().split_once(" = ") else {
            continue;
        };
        let value = unquote(value.trim());
        record
            .entry(name.trim().to_string())
            .and_modify(|v| {
                v.push('\n');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    records
}

/// `"text"` without its quotes and with `\"`, `\\`, `\n`, `\r`, `\t` undone; anything else as is.
fn unquote(v: &str) -> String {
    let Some(inner) = v
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .filter(|_| v.len() >= 2)
    else {
        return v.to_string();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_records_parse_and_a_partial_one_is_left_out() {
        let text = "Sun Nov 22 14:16:27 2026\n\tUser-Name = \"alice\"\n\
                    \tAcct-Status-Type = Start\n\tClass = 0x676f6c64\n\
                    \tReply-Message = \"a \\\"b\\\" c\"\n\tClass = 0x01\n\n\
                    Sun Nov 22 14:16:28 2026\n\tUser-Name = \"bob\"\n\n\
                    Sun Nov 22 14:16:29 2026\n\tUser-Name = \"carol\"\n\tAcct-Sta";
        let r = parse_detail(text);
        assert_eq!(r.len(), 2, "{r:?}");
        assert_eq!(r[0]["User-Name"], "alice");
        assert_eq!(r[0]["Acct-Status-Type"], "Start");
        assert_eq!(r[0]["Class"], "0x676f6c64\n0x01");
        assert_eq!(r[0]["Reply-Message"], "a \"b\" c");
        assert_eq!(r[1]["User-Name"], "bob");
    }

    #[test]
    fn settings_are_replaced_or_commented_out() {
        let conf = "logdir = /var/log/x\n# logdir = old\nsecurity {\n\tuser = freerad\n\
                    \tuser_extra = 1\n}\n";
        let c = set_setting(conf, "logdir", Some("/tmp/l")).unwrap();
        assert!(c.starts_with("logdir = /tmp/l\n"), "{c}");
        assert!(c.contains("# logdir = old\n"));
        let c = set_setting(&c, "user", None).unwrap();
        assert!(c.contains("\t# user = freerad"), "{c}");
        assert!(c.contains("\tuser_extra = 1\n"), "{c}");
        assert!(set_setting(&c, "nothing", None).is_err());
    }
}
