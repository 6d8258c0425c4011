//! What the guest scenarios share: iked configurations, daemons in lab namespaces, pings, and
//! reading `iked sas --json` and `ip xfrm state`.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ipsec_tests::lab::{Lab, Netns};
use serde_json::Value;

use crate::common::{Daemon, wait_for};

pub const PSK: &str = "correct horse battery staple";

/// True inside the kernel VM; elsewhere prints why the guest test does nothing.
pub fn in_guest() -> bool {
    if std::env::var_os("IKEV1_VM").is_some() {
        true
    } else {
        eprintln!("SKIPPED: runs inside the kernel VM (started by site_to_site_in_vm)");
        false
    }
}

/// The lab of one guest scenario (the VM runs as root with every package of the host).
pub fn lab(name: &str) -> Lab {
    Lab::new(name).expect("the lab runs in the VM")
}

/// `addr/32` or `addr/128`: the host prefix of an address of either family.
pub fn host_prefix(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(a) => format!("{a}/32"),
        IpAddr::V6(a) => format!("{a}/128"),
    }
}

/// One `[[policy]]`: traffic `src` -> `dst` (prefixes), in tunnel mode between `sa` (our end,
/// the peer's end) or in transport mode when `sa` is `None`. The outer family may differ from
/// the inner one (IPv4 in IPv6).
pub struct PolicySpec {
    pub src: String,
    pub dst: String,
    pub sa: Option<(IpAddr, IpAddr)>,
}

impl PolicySpec {
    /// Tunnel mode between the hosts `src` and `dst`, outer addresses `me` -> `peer`.
    pub fn tunnel(
        src: impl Into<IpAddr>,
        dst: impl Into<IpAddr>,
        me: impl Into<IpAddr>,
        peer: impl Into<IpAddr>,
    ) -> Self {
        PolicySpec {
            src: host_prefix(src.into()),
            dst: host_prefix(dst.into()),
            sa: Some((me.into(), peer.into())),
        }
    }

    /// Transport mode between the hosts `me` and `peer`.
    pub fn transport(me: impl Into<IpAddr>, peer: impl Into<IpAddr>) -> Self {
        PolicySpec {
            src: host_prefix(me.into()),
            dst: host_prefix(peer.into()),
            sa: None,
        }
    }

    /// The `[[policy]]` table (proposal `p`).
    pub fn toml(&self) -> String {
        let mode = match self.sa {
            Some((me, peer)) => {
                format!("tunnel = true\nsa-src-address = \"{me}\"\nsa-dst-address = \"{peer}\"")
            }
            None => "tunnel = false".into(),
        };
        format!(
            "[[policy]]\nsrc-address = \"{}\"\ndst-address = \"{}\"\n{mode}\nproposal = \"p\"\n",
            self.src, self.dst
        )
    }
}

/// An iked configuration with one peer, one proposal and (usually) one policy.
pub struct Conf {
    /// Our IKE address (`[daemon] listen`).
    pub listen: IpAddr,
    /// The peer's name and address (prefix).
    pub peer: (&'static str, String),
    /// Authentication lines of the `[[peer]]` (default: the PSK).
    pub auth: String,
    /// Further `[[peer]]` lines (algorithms, nat-traversal, auto-start, ...).
    pub peer_extra: String,
    /// The `[[proposal]]` lines after its name.
    pub proposal: String,
    /// The policies, in file order (`[[policy]]` 1, 2, ...).
    pub policies: Vec<PolicySpec>,
    /// Further tables at the end of the file (other `[[peer]]`s and their `[[policy]]`s).
    pub extra: String,
    /// Further `[daemon]` lines (`dataplane = "userspace"`, ...).
    pub daemon: String,
}

impl Conf {
    /// PSK, default phase 1 algorithms, ESP aes-128-gcm, PFS modp2048 (the defaults).
    pub fn new(
        listen: impl Into<IpAddr>,
        peer: &'static str,
        peer_addr: impl Into<IpAddr>,
        policy: PolicySpec,
    ) -> Self {
        Conf {
            listen: listen.into(),
            peer: (peer, host_prefix(peer_addr.into())),
            auth: format!("secret = \"{PSK}\""),
            peer_extra: String::new(),
            proposal: "enc-algorithms = [\"aes-128-gcm\"]".into(),
            policies: vec![policy],
            extra: String::new(),
            daemon: String::new(),
        }
    }

    /// The TOML text.
    pub fn toml(&self) -> String {
        let policies: Vec<String> = self.policies.iter().map(PolicySpec::toml).collect();
        format!(
            r#"[daemon]
listen = ["{listen}"]
{daemon}

[[peer]]
name = "{name}"
address = "{addr}"
local-address = "{listen}"
{auth}
{peer_extra}

[[proposal]]
name = "p"
{proposal}

{policies}
{extra}"#,
            listen = self.listen,
            name = self.peer.0,
            addr = self.peer.1,
            auth = self.auth,
            peer_extra = self.peer_extra,
            proposal = self.proposal,
            policies = policies.join("\n"),
            extra = self.extra,
            daemon = self.daemon,
        )
    }
}

/// Writes `conf` as `<dir>/<name>.toml` and starts iked in `ns` with it (socket
/// `<dir>/<name>.sock`, log `<dir>/<name>.log`).
pub fn start_iked(ns: &Netns, dir: &Path, name: &str, conf: &Conf) -> Daemon {
    let path = config_path(dir, name);
    std::fs::write(&path, conf.toml()).unwrap();
    restart_iked(ns, dir, name)
}

/// Starts iked in `ns` again with the configuration [`start_iked`] wrote.
pub fn restart_iked(ns: &Netns, dir: &Path, name: &str) -> Daemon {
    Daemon::start_in(
        ns.name(),
        &config_path(dir, name),
        &dir.join(format!("{name}.sock")),
        &dir.join(format!("{name}.log")),
    )
}

fn config_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.toml"))
}

/// `iked sas --json`.
pub fn sas(d: &Daemon) -> Vec<Value> {
    d.json(&["sas"]).as_array().expect("a JSON array").clone()
}

/// The SAs of one direction (`"in"` / `"out"`).
pub fn sas_dir(d: &Daemon, direction: &str) -> Vec<Value> {
    sas(d)
        .into_iter()
        .filter(|s| s["direction"] == direction)
        .collect()
}

/// Sum of the outbound SAs' byte counters.
pub fn out_bytes(d: &Daemon) -> u64 {
    sas_dir(d, "out")
        .iter()
        .map(|s| s["current-bytes"].as_u64().unwrap())
        .sum()
}

/// The SPIs of the SAs, as `iked sas` prints them.
pub fn spis(sas: &[Value]) -> Vec<String> {
    sas.iter()
        .map(|s| s["spi"].as_str().unwrap().to_string())
        .collect()
}

/// One ping from `src` to `dst` in `ns` (1 s to answer).
pub fn ping(ns: &Netns, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
    ns.ping(Some(src), dst).expect("ping runs").success()
}

/// Pings until one is answered (the first ones make the kernel ACQUIRE and wait for the SAs);
/// returns how long it took.
pub fn ping_until(ns: &Netns, src: Ipv4Addr, dst: Ipv4Addr, timeout: Duration) -> Duration {
    let t0 = Instant::now();
    wait_for(
        &format!("a ping {src} -> {dst} in {}", ns.name()),
        timeout,
        || ping(ns, src, dst).then_some(()),
    );
    t0.elapsed()
}

/// `ip route add DST via GW src SRC` in `ns`: the way to the far inner address (tunnel mode
/// needs a route before the policy lookup).
pub fn route(ns: &Netns, dst: &str, gw: Ipv4Addr, src: Ipv4Addr) {
    ns.ip(&[
        "route",
        "add",
        dst,
        "via",
        &gw.to_string(),
        "src",
        &src.to_string(),
    ])
    .unwrap();
}

/// `ip xfrm state` in `ns`.
pub fn xfrm_state(ns: &Netns) -> String {
    ns.ip(&["xfrm", "state"]).unwrap()
}

/// `ip xfrm policy` in `ns`.
pub fn xfrm_policy(ns: &Netns) -> String {
    ns.ip(&["xfrm", "policy"]).unwrap()
}

/// SIGTERM, a clean exit, and nothing of ours left in the kernel of `ns`.
pub fn stop_clean(d: &mut Daemon, ns: &Netns) {
    d.signal(libc::SIGTERM);
    let st = d.wait_exit(Duration::from_secs(15));
    assert!(st.success(), "iked exit {st}: {}", d.log_text());
    assert_eq!(xfrm_state(ns).trim(), "", "SAs left in {}", ns.name());
    assert_eq!(xfrm_policy(ns).trim(), "", "policies left in {}", ns.name());
}

/// Prints the daemons' logs (by path) if the scenario panics: a guard made right after they
/// start, so that a failed assertion shows what they did.
pub struct LogsOnPanic(pub Vec<PathBuf>);

impl LogsOnPanic {
    pub fn of(daemons: &[&Daemon]) -> Self {
        LogsOnPanic(daemons.iter().map(|d| d.log.clone()).collect())
    }
}

impl Drop for LogsOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for p in &self.0 {
                let text = std::fs::read_to_string(p).unwrap_or_default();
                eprintln!("--- {}\n{text}", p.display());
            }
        }
    }
}

/// The icmp_seq numbers ping reported an answer for.
pub fn answered(ping_output: &str) -> BTreeSet<u32> {
    ping_output
        .lines()
        .filter(|l| l.contains("bytes from"))
        .filter_map(|l| {
            let rest = l.split("icmp_seq=").nth(1)?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .collect()
}

/// How many echo requests ping sent, from its summary line.
pub fn transmitted(ping_output: &str) -> Option<u32> {
    let line = ping_output
        .lines()
        .find(|l| l.contains("packets transmitted"))?;
    line.split_whitespace().next()?.parse().ok()
}

/// Checks the output of a continuous ping stopped with SIGINT: every echo request was
/// answered (but the one in flight when SIGINT came), and at least `min_sent` were sent.
pub fn assert_no_ping_lost(out: &str, min_sent: u32, what: &str) {
    let got = answered(out);
    let sent = transmitted(out).unwrap_or_else(|| panic!("{what}: no ping summary:\n{out}"));
    let last = *got
        .last()
        .unwrap_or_else(|| panic!("{what}: no answer:\n{out}"));
    let missing: Vec<u32> = (1..=last).filter(|n| !got.contains(n)).collect();
    eprintln!(
        "{what}: {sent} sent, {} answered; summary: {}",
        got.len(),
        out.lines().rev().take(2).collect::<Vec<_>>().join(" / ")
    );
    assert!(
        missing.is_empty(),
        "{what}: lost icmp_seq {missing:?}:\n{out}"
    );
    assert!(
        sent <= last + 1,
        "{what}: {sent} sent, last answered {last}:\n{out}"
    );
    assert!(
        sent >= min_sent,
        "{what}: the ping ran only {sent} times:\n{out}"
    );
}

/// Writes `text` as the configuration of the daemon `name` (the file [`start_iked`] wrote),
/// sends SIGHUP and waits (bounded) until the daemon logs the reload's outcome; returns that
/// log line ("configuration reloaded: policies ...").
pub fn reload(d: &Daemon, dir: &Path, name: &str, text: &str) -> String {
    const DONE: &str = "configuration reloaded";
    let count = |log: &str| log.lines().filter(|l| l.contains(DONE)).count();
    let before = count(&d.log_text());
    std::fs::write(config_path(dir, name), text).unwrap();
    d.signal(libc::SIGHUP);
    wait_for(
        &format!("{name} to log the reload"),
        Duration::from_secs(15),
        || {
            let log = d.log_text();
            if log.contains("reload failed") {
                panic!("{name}: reload failed:\n{log}");
            }
            (count(&log) > before)
                .then(|| log.lines().rfind(|l| l.contains(DONE)).unwrap().to_string())
        },
    )
}

/// Turns IPv6 back on in `ns` (the lab turns it off), with no duplicate address detection so
/// that addresses are usable at once.
pub fn enable_ipv6(ns: &Netns) {
    for key in ["all", "default", "lo", "eth0"] {
        ns.run(&[
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{key}.accept_dad=0"),
            &format!("net.ipv6.conf.{key}.disable_ipv6=0"),
        ])
        .unwrap();
    }
}

/// `ip -6 addr add ADDR/LEN dev IF nodad` in `ns`.
pub fn add_addr6(ns: &Netns, ifname: &str, addr: Ipv6Addr, prefix_len: u8) {
    assert!(
        addr.segments()[..2] == [0x2001, 0xdb8],
        "{addr} is not a documentation address (2001:db8::/32)"
    );
    ns.ip(&[
        "-6",
        "addr",
        "add",
        &format!("{addr}/{prefix_len}"),
        "dev",
        ifname,
        "nodad",
    ])
    .unwrap();
}

/// `ip -6 route add DST via GW src SRC` in `ns`.
pub fn route6(ns: &Netns, dst: &str, gw: Ipv6Addr, src: Ipv6Addr) {
    ns.ip(&[
        "-6",
        "route",
        "add",
        dst,
        "via",
        &gw.to_string(),
        "src",
        &src.to_string(),
    ])
    .unwrap();
}

/// One IPv6 ping from `src` to `dst` in `ns` (1 s to answer).
pub fn ping6(ns: &Netns, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
    let (src, dst) = (src.to_string(), dst.to_string());
    ns.exec_timeout(
        &["ping", "-6", "-n", "-c", "1", "-W", "1", "-I", &src, &dst],
        Duration::from_secs(5),
    )
    .expect("ping runs")
    .success()
}

/// [`ping_until`] for IPv6.
pub fn ping6_until(ns: &Netns, src: Ipv6Addr, dst: Ipv6Addr, timeout: Duration) -> Duration {
    let t0 = Instant::now();
    wait_for(
        &format!("a ping {src} -> {dst} in {}", ns.name()),
        timeout,
        || ping6(ns, src, dst).then_some(()),
    );
    t0.elapsed()
}
