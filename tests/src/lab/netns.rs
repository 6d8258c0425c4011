//! Network namespaces, veth links and the two standard topologies; the sweep of stale leftovers.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::process::{self, Output, Proc};
use super::{DEFAULT_TIMEOUT, KEPT_MARKER, Lab, LabError, PREFIX, Result, WorkDir, sanitize};

/// An IPv4 address on an interface of a namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfAddr {
    pub ifname: String,
    pub addr: Ipv4Addr,
    pub prefix_len: u8,
}

/// One network namespace made by the lab. Cheap to clone (shared); when the last handle is
/// dropped every process still inside is killed and the namespace deleted.
#[derive(Clone)]
pub struct Netns {
    inner: Arc<NetnsInner>,
}

struct NetnsInner {
    name: String,
    addrs: Mutex<Vec<IfAddr>>,
}

/// `ip netns add` of concurrent tests must not race on the first mount of /run/netns.
static NETNS_ADD: Mutex<()> = Mutex::new(());

fn ip(args: &[&str]) -> Result<Output> {
    let mut cmd = Command::new("ip");
    cmd.args(args);
    process::run(cmd, DEFAULT_TIMEOUT)?.check()
}

impl Netns {
    /// Creates namespace `name` (must start with the lab's prefix): lo up, IPv6 off (no DAD or
    /// router solicitations in captures).
    fn create(name: String) -> Result<Netns> {
        {
            let _g = NETNS_ADD.lock().unwrap_or_else(|e| e.into_inner());
            ip(&["netns", "add", &name])?;
        }
        // From here on the handle owns it: an error below still deletes it.
        let ns = Netns {
            inner: Arc::new(NetnsInner {
                name,
                addrs: Mutex::new(Vec::new()),
            }),
        };
        ns.run(&[
            "sysctl",
            "-qw",
            "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1",
        ])?;
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name (`ikt-<pid>-<n>-<lab>-<role>`).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Every address added through the lab, in order.
    pub fn addrs(&self) -> Vec<IfAddr> {
        self.inner
            .addrs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The first address on an interface other than lo (the "outer" address IKE runs on).
    /// Panics if there is none (a topology always gives one).
    pub fn addr(&self) -> Ipv4Addr {
        self.addrs()
            .iter()
            .find(|a| a.ifname != "lo")
            .map(|a| a.addr)
            .unwrap_or_else(|| panic!("namespace {} has no address outside lo", self.name()))
    }

    /// The first address on lo (the "inner" host behind the gateway, a tunnel endpoint for
    /// pings). Panics if there is none.
    pub fn inner(&self) -> Ipv4Addr {
        self.addrs()
            .iter()
            .find(|a| a.ifname == "lo")
            .map(|a| a.addr)
            .unwrap_or_else(|| panic!("namespace {} has no address on lo", self.name()))
    }

    /// A command that runs `args` inside the namespace (`ip netns exec NAME args...`).
    /// Run it with [`run`](super::run) / [`Proc::spawn`], or better [`Netns::exec`] /
    /// [`Netns::spawn`].
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", self.name()]).args(args);
        cmd
    }

    /// Runs `args` in the namespace, bounded by [`DEFAULT_TIMEOUT`] (timeout: the process group
    /// is killed and an error returned). A non-zero exit is returned, not an error.
    pub fn exec(&self, args: &[&str]) -> Result<Output> {
        self.exec_timeout(args, DEFAULT_TIMEOUT)
    }

    /// [`Netns::exec`] with another bound.
    pub fn exec_timeout(&self, args: &[&str], timeout: Duration) -> Result<Output> {
        process::run(self.command(args), timeout)
    }

    /// Runs `args` in the namespace and requires exit status 0; returns stdout.
    pub fn run(&self, args: &[&str]) -> Result<String> {
        Ok(self.exec(args)?.check()?.stdout)
    }

    /// `sh -c script` in the namespace (bounded, status not checked).
    pub fn sh(&self, script: &str) -> Result<Output> {
        self.exec(&["sh", "-c", script])
    }

    /// `ip -n NAME args...` (from the host side; requires success).
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        let mut full = vec!["-n", self.name()];
        full.extend_from_slice(args);
        Ok(ip(&full)?.stdout)
    }

    /// Starts `args` in the namespace in the background. The guard kills its process group on
    /// drop; stdout and stderr go to a file ([`Proc::output`]) in a temporary directory.
    pub fn spawn(&self, args: &[&str]) -> Result<Proc> {
        let what = args
            .first()
            .map(|a| {
                Path::new(a)
                    .file_name()
                    .map_or(*a, |f| f.to_str().unwrap_or("proc"))
            })
            .unwrap_or("proc");
        let dir = WorkDir::new(self.name(), what)?;
        let out = dir.path().join("output.txt");
        let proc = Proc::spawn(self.command(args), what, Some(&out))?;
        Ok(proc.with_dir(dir))
    }

    /// Adds `addr/prefix_len` to `ifname` (and remembers it for [`Netns::addr`]/[`Netns::inner`]).
    pub fn add_addr(&self, ifname: &str, addr: Ipv4Addr, prefix_len: u8) -> Result<()> {
        check_lab_addr(addr)?;
        self.ip(&[
            "addr",
            "add",
            &format!("{addr}/{prefix_len}"),
            "dev",
            ifname,
        ])?;
        self.inner
            .addrs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(IfAddr {
                ifname: ifname.to_string(),
                addr,
                prefix_len,
            });
        Ok(())
    }

    /// `ip route add default via GW`.
    pub fn default_route(&self, gw: Ipv4Addr) -> Result<()> {
        check_lab_addr(gw)?;
        self.ip(&["route", "add", "default", "via", &gw.to_string()])?;
        Ok(())
    }

    /// `ip link set IF up`.
    pub fn link_up(&self, ifname: &str) -> Result<()> {
        self.ip(&["link", "set", ifname, "up"])?;
        Ok(())
    }

    /// One ping (`-c 1 -W 1`, from `src` if given). `Ok(output)` whether or not it was answered.
    pub fn ping(&self, src: Option<Ipv4Addr>, dst: Ipv4Addr) -> Result<Output> {
        check_lab_addr(dst)?;
        let dst = dst.to_string();
        let src = src.map(|s| s.to_string());
        let mut args = vec!["ping", "-n", "-c", "1", "-W", "1"];
        if let Some(s) = &src {
            args.extend_from_slice(&["-I", s]);
        }
        args.push(&dst);
        self.exec_timeout(&args, Duration::from_secs(5))
    }

    /// Pings until one is answered or `timeout` passes; returns how long it took.
    pub fn ping_until(
        &self,
        src: Option<Ipv4Addr>,
        dst: Ipv4Addr,
        timeout: Duration,
    ) -> Result<Duration> {
        let start = Instant::now();
        let mut last = None;
        while start.elapsed() < timeout {
            let out = self.ping(src, dst)?;
            if out.success() {
                return Ok(start.elapsed());
            }
            last = Some(out);
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(LabError::Timeout(format!(
            "no ping answer from {dst} in {} within {timeout:?}; last: {}",
            self.name(),
            last.map(|o| o.describe()).unwrap_or_default()
        )))
    }

    /// Waits until `ip route show table TABLE` mentions `needle` (kernel-libipsec puts its
    /// routes in table 220 once a CHILD SA is installed).
    pub fn wait_route(&self, table: u32, needle: &str, timeout: Duration) -> Result<String> {
        let t = table.to_string();
        super::wait_for(
            timeout,
            &format!("route to {needle} in table {table} of {}", self.name()),
            || {
                let out = self.exec(&["ip", "route", "show", "table", &t])?;
                Ok(out
                    .stdout
                    .lines()
                    .find(|l| l.contains(needle))
                    .map(str::to_string))
            },
        )
    }

    /// Runs `f` on a fresh thread that has entered this network namespace (`setns`), and
    /// returns what it returns (a panic in `f` is an error). Sockets `f` creates belong to the
    /// namespace for good, also when moved to other threads: this is how in-process code (our
    /// engine driven by a test) gets its sockets in a namespace. `f` must be bounded itself.
    pub fn run_in<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        use std::os::fd::AsRawFd;
        let path = Path::new("/run/netns").join(self.name());
        let file = std::fs::File::open(&path)
            .map_err(|e| LabError::other(format!("{}: {e}", path.display())))?;
        let name = self.name().to_string();
        std::thread::Builder::new()
            .name(format!("in-{name}"))
            .spawn(move || {
                // SAFETY: setns on a valid namespace fd; affects only this thread.
                let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                if rc != 0 {
                    return Err(LabError::other(format!(
                        "setns into {name}: {}",
                        std::io::Error::last_os_error()
                    )));
                }
                drop(file);
                Ok(f())
            })
            .map_err(|e| LabError::other(format!("thread for {}: {e}", self.name())))?
            .join()
            .map_err(|_| LabError::other(format!("code run in {} panicked", self.name())))?
    }

    /// A UDP socket bound to `addr` (e.g. `"198.18.0.1:500"`) inside this namespace.
    pub fn bind_udp(&self, addr: &str) -> Result<std::net::UdpSocket> {
        let a = addr.to_string();
        self.run_in(move || std::net::UdpSocket::bind(&a))?
            .map_err(|e| LabError::other(format!("bind UDP {addr} in {}: {e}", self.name())))
    }

    /// Pids of the processes in this namespace (`ip netns pids`).
    pub fn pids(&self) -> Vec<u32> {
        netns_pids(self.name())
    }
}

impl std::fmt::Debug for Netns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Netns")
            .field("name", &self.inner.name)
            .field("addrs", &self.addrs())
            .finish()
    }
}

impl Drop for NetnsInner {
    fn drop(&mut self) {
        delete_netns(&self.name);
    }
}

fn netns_pids(name: &str) -> Vec<u32> {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "pids", name]);
    match process::run(cmd, Duration::from_secs(10)) {
        Ok(out) => out
            .stdout
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Kills every process left in namespace `name` and deletes it (bounded, best effort, loud).
fn delete_netns(name: &str) {
    for round in 0..3 {
        let pids = netns_pids(name);
        if pids.is_empty() {
            break;
        }
        if round == 0 {
            eprintln!("[lab] killing processes left in {name}: {pids:?}");
        }
        for pid in pids {
            process::signal_pid(pid, libc::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for _ in 0..3 {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "del", name]);
        match process::run(cmd, Duration::from_secs(10)) {
            Ok(out) if out.success() => return,
            Ok(out) if !Path::new("/run/netns").join(name).exists() => {
                let _ = out;
                return;
            }
            Ok(out) => eprintln!("[lab] {}", out.describe()),
            Err(e) => eprintln!("[lab] deleting namespace {name}: {e}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn check_lab_addr(a: Ipv4Addr) -> Result<()> {
    if super::is_lab_addr(a) {
        Ok(())
    } else {
        Err(LabError::other(format!(
            "{a} is not a lab address (198.18.0.0/15, 198.51.100.0/24, 203.0.113.0/24, 100.64.0.0/10)"
        )))
    }
}

/// What [`sweep_stale`] removed.
#[derive(Debug, Default)]
pub struct Swept {
    pub namespaces: Vec<String>,
    pub dirs: Vec<PathBuf>,
}

impl Swept {
    pub fn is_empty(&self) -> bool {
        self.namespaces.is_empty() && self.dirs.is_empty()
    }
}

/// The creating pid of an `ikt-<pid>-...` name.
fn creator_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?;
    rest.split('-').next()?.parse().ok()
}

/// Deletes the `ikt-<pid>-*` namespaces (killing what is still inside) and temporary directories
/// whose creating process `pid` no longer exists: what a test binary that was killed (SIGKILL,
/// timeout) or aborted left behind. Directories kept with `IKT_KEEP=1` stay. Called by
/// [`Lab::new`].
pub fn sweep_stale() -> Swept {
    let mut swept = Swept::default();
    let stale = |name: &str| creator_pid(name).is_some_and(|pid| !process::pid_exists(pid));
    if let Ok(entries) = std::fs::read_dir("/run/netns") {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if stale(&name) {
                delete_netns(&name);
                swept.namespaces.push(name);
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            if stale(&name)
                && path.is_dir()
                && !path.join(KEPT_MARKER).exists()
                && std::fs::remove_dir_all(&path).is_ok()
            {
                swept.dirs.push(path);
            }
        }
    }
    swept
}

/// Two hosts on one link: `a` (198.18.0.1/24 on eth0, inner 198.51.100.1/32 on lo) and `b`
/// (198.18.0.2/24 on eth0, inner 203.0.113.1/32 on lo).
#[derive(Clone, Debug)]
pub struct TwoHosts {
    pub a: Netns,
    pub b: Netns,
}

/// Client(s) behind a masquerading NAT router, and a server:
///
/// ```text
/// client k: eth0 100.64.k.1/24 (gw 100.64.k.254)
///      ── router: ck 100.64.k.254/24 | wan 198.18.0.254/24, nft masquerade, UDP → :40000-40999
///      ── server: eth0 198.18.0.2/24, inner 203.0.113.1/32 on lo
/// ```
///
/// The server sees every client as 198.18.0.254 with remapped UDP source ports (500 and 4500
/// become 40000-40999), like a CGN or a home router under port pressure.
pub struct Nat {
    pub clients: Vec<Netns>,
    pub router: Netns,
    pub server: Netns,
    lab: Lab,
}

impl Nat {
    /// The router's public address: what the server sees as the clients' address.
    pub const PUBLIC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 254);

    /// The first client.
    pub fn client(&self) -> &Netns {
        &self.clients[0]
    }

    /// Adds another client behind the same NAT (client k gets 100.64.k.1/24).
    pub fn add_client(&mut self) -> Result<&Netns> {
        let k = self.clients.len() + 1;
        if k > 250 {
            return Err(LabError::other("too many NAT clients"));
        }
        let k8 = k as u8;
        let c = self.lab.netns(&format!("c{k}"))?;
        let rif = format!("c{k}");
        self.lab.veth(&c, "eth0", &self.router, &rif)?;
        c.add_addr("eth0", Ipv4Addr::new(100, 64, k8, 1), 24)?;
        self.router
            .add_addr(&rif, Ipv4Addr::new(100, 64, k8, 254), 24)?;
        c.default_route(Ipv4Addr::new(100, 64, k8, 254))?;
        self.clients.push(c);
        Ok(&self.clients[k - 1])
    }

    /// The router's nftables ruleset (for failure messages).
    pub fn ruleset(&self) -> String {
        self.router
            .exec(&["nft", "list", "ruleset"])
            .map(|o| o.stdout)
            .unwrap_or_default()
    }
}

const NAT_RULESET: &str = "table ip ikt_nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname \"wan\" meta l4proto udp masquerade to :40000-40999
    oifname \"wan\" masquerade
  }
}
";

impl Lab {
    /// A bare namespace `<lab id>-<role>` (lo up, IPv6 off).
    pub fn netns(&self, role: &str) -> Result<Netns> {
        Netns::create(format!("{}-{}", self.id(), sanitize(role, 12)))
    }

    /// A veth pair `a:if_a` <-> `b:if_b`, created directly inside the two namespaces (it never
    /// exists in the host's), both ends up.
    pub fn veth(&self, a: &Netns, if_a: &str, b: &Netns, if_b: &str) -> Result<()> {
        ip(&[
            "link",
            "add",
            if_a,
            "netns",
            a.name(),
            "type",
            "veth",
            "peer",
            "name",
            if_b,
            "netns",
            b.name(),
        ])?;
        a.link_up(if_a)?;
        b.link_up(if_b)?;
        Ok(())
    }

    /// See [`TwoHosts`].
    pub fn two_hosts(&self) -> Result<TwoHosts> {
        let a = self.netns("a")?;
        let b = self.netns("b")?;
        self.veth(&a, "eth0", &b, "eth0")?;
        a.add_addr("eth0", Ipv4Addr::new(198, 18, 0, 1), 24)?;
        b.add_addr("eth0", Ipv4Addr::new(198, 18, 0, 2), 24)?;
        a.add_addr("lo", Ipv4Addr::new(198, 51, 100, 1), 32)?;
        b.add_addr("lo", Ipv4Addr::new(203, 0, 113, 1), 32)?;
        Ok(TwoHosts { a, b })
    }

    /// See [`Nat`]: one client; [`Nat::add_client`] adds more.
    pub fn nat(&self) -> Result<Nat> {
        let router = self.netns("nat")?;
        let server = self.netns("srv")?;
        self.veth(&router, "wan", &server, "eth0")?;
        router.add_addr("wan", Nat::PUBLIC, 24)?;
        server.add_addr("eth0", Ipv4Addr::new(198, 18, 0, 2), 24)?;
        server.add_addr("lo", Ipv4Addr::new(203, 0, 113, 1), 32)?;
        router.run(&["sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
        // nft reads the ruleset from a private temporary file
        let dir = WorkDir::new(router.name(), "nft")?;
        let file = dir.path().join("nat.nft");
        std::fs::write(&file, NAT_RULESET)?;
        router.run(&["nft", "-f", &file.to_string_lossy()])?;
        let mut nat = Nat {
            clients: Vec::new(),
            router,
            server,
            lab: self.clone(),
        };
        nat.add_client()?;
        Ok(nat)
    }
}
