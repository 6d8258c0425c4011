//! What the guest scenarios share: iked configurations, daemons in lab namespaces, pings, and
//! reading `iked sas --json` and `ip xfrm state`.

use std::net::Ipv4Addr;
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

/// One `[[policy]]`: traffic `src` -> `dst` (prefixes), in tunnel mode between `sa` (our end,
/// the peer's end) or in transport mode when `sa` is `None`.
pub struct PolicySpec {
    pub src: String,
    pub dst: String,
    pub sa: Option<(Ipv4Addr, Ipv4Addr)>,
}

impl PolicySpec {
    /// Tunnel mode between the hosts `src` and `dst` (/32), outer addresses `me` -> `peer`.
    pub fn tunnel(src: Ipv4Addr, dst: Ipv4Addr, me: Ipv4Addr, peer: Ipv4Addr) -> Self {
        PolicySpec {
            src: format!("{src}/32"),
            dst: format!("{dst}/32"),
            sa: Some((me, peer)),
        }
    }

    /// Transport mode between the hosts `me` and `peer`.
    pub fn transport(me: Ipv4Addr, peer: Ipv4Addr) -> Self {
        PolicySpec {
            src: format!("{me}/32"),
            dst: format!("{peer}/32"),
            sa: None,
        }
    }
}

/// An iked configuration with one peer, one proposal and one policy.
pub struct Conf {
    /// Our IKE address (`[daemon] listen`).
    pub listen: Ipv4Addr,
    /// The peer's name and address (prefix).
    pub peer: (&'static str, String),
    /// Authentication lines of the `[[peer]]` (default: the PSK).
    pub auth: String,
    /// Further `[[peer]]` lines (algorithms, nat-traversal, ...).
    pub peer_extra: String,
    /// The `[[proposal]]` lines after its name.
    pub proposal: String,
    pub policy: PolicySpec,
}

impl Conf {
    /// PSK, default phase 1 algorithms, ESP aes-128-gcm, PFS modp2048 (the defaults).
    pub fn new(
        listen: Ipv4Addr,
        peer: &'static str,
        peer_addr: Ipv4Addr,
        policy: PolicySpec,
    ) -> Self {
        Conf {
            listen,
            peer: (peer, format!("{peer_addr}/32")),
            auth: format!("secret = \"{PSK}\""),
            peer_extra: String::new(),
            proposal: "enc-algorithms = [\"aes-128-gcm\"]".into(),
            policy,
        }
    }

    /// The TOML text.
    pub fn toml(&self) -> String {
        let p = &self.policy;
        let mode = match p.sa {
            Some((me, peer)) => {
                format!("tunnel = true\nsa-src-address = \"{me}\"\nsa-dst-address = \"{peer}\"")
            }
            None => "tunnel = false".into(),
        };
        format!(
            r#"[daemon]
listen = ["{listen}"]

[[peer]]
name = "{name}"
address = "{addr}"
local-address = "{listen}"
{auth}
{peer_extra}

[[proposal]]
name = "p"
{proposal}

[[policy]]
src-address = "{src}"
dst-address = "{dst}"
{mode}
proposal = "p"
"#,
            listen = self.listen,
            name = self.peer.0,
            addr = self.peer.1,
            auth = self.auth,
            peer_extra = self.peer_extra,
            proposal = self.proposal,
            src = p.src,
            dst = p.dst,
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
