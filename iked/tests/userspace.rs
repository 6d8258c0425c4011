//! The userspace ESP dataplane end to end on the host (which has no kernel ESP): iked against
//! iked in lab namespaces (`ipsec_tests::lab`), `dataplane = "userspace"`:
//!
//! - tunnel and transport mode, AES-128-GCM and AES-128-CBC/HMAC-SHA1: a ping and an iperf3 TCP
//!   transfer through the tunnel, the SA counters of `iked sas --json` rising;
//! - NAT-T through the lab's nftables masquerading NAT (ESP in UDP 4500, remapped ports);
//! - hostile ESP injected from the peer's namespace with a raw socket (a replayed, a corrupted,
//!   a truncated and a wrong-SPI packet): each dropped and counted, the daemon still running
//!   and the tunnel still carrying traffic;
//! - SIGTERM removes the routes and rules (`ip rule` has no trace of iked afterwards); after a
//!   SIGKILL the next start removes them;
//! - `dataplane = "auto"` on one side says its choice in the log (the userspace dataplane on
//!   this host, which has no kernel ESP).
//!
//! Root only (like the other lab tests): without root the lab panics unless `IKT_ALLOW_SKIP=1`.

mod common;

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use common::traffic::{Logs, counter, iperf, sa};
use common::{Daemon, wait_for};
use ipsec_tests::lab::{Lab, Nat, Netns, ensure_packages};

const PSK: &str = "correct horse battery staple";
/// The routing rule's priority (`iked/src/userspace/net.rs`: `RULE_PRIORITY`).
const RULE_PRIORITY: &str = "27497";

#[derive(Clone, Copy)]
enum Suite {
    Gcm,
    CbcSha1,
}

impl Suite {
    fn proposal(self) -> &'static str {
        match self {
            Suite::Gcm => "enc-algorithms = [\"aes-128-gcm\"]",
            Suite::CbcSha1 => "enc-algorithms = [\"aes-128-cbc\"]\nauth-algorithms = [\"sha1\"]",
        }
    }
}

/// One side's configuration: our IKE address, the peer, the policy.
fn conf(
    listen: Ipv4Addr,
    peer: Ipv4Addr,
    policy: (Ipv4Addr, Ipv4Addr, bool),
    suite: Suite,
    extra: &str,
) -> String {
    conf_with(listen, peer, policy, suite, extra, "userspace")
}

/// [`conf`] with another `[daemon] dataplane`.
fn conf_with(
    listen: Ipv4Addr,
    peer: Ipv4Addr,
    policy: (Ipv4Addr, Ipv4Addr, bool),
    suite: Suite,
    extra: &str,
    dataplane: &str,
) -> String {
    let (src, dst, tunnel) = policy;
    let mode = if tunnel {
        format!("tunnel = true\nsa-src-address = \"{listen}\"\nsa-dst-address = \"{peer}\"")
    } else {
        "tunnel = false".to_string()
    };
    format!(
        r#"[daemon]
listen = ["{listen}"]
dataplane = "{dataplane}"

[[peer]]
name = "peer"
address = "{peer}/32"
local-address = "{listen}"
secret = "{PSK}"
{extra}

[[proposal]]
name = "p"
{proposal}

[[policy]]
src-address = "{src}/32"
dst-address = "{dst}/32"
{mode}
proposal = "p"
"#,
        proposal = suite.proposal()
    )
}

fn start(ns: &Netns, dir: &Path, name: &str, text: &str) -> Daemon {
    let c = dir.join(format!("{name}.toml"));
    std::fs::write(&c, text).unwrap();
    Daemon::start_in(
        ns.name(),
        &c,
        &dir.join(format!("{name}.sock")),
        &dir.join(format!("{name}.log")),
    )
}

/// The clean stop: exit 0, and no route or rule of ours left.
fn stop(mut d: Daemon, ns: &Netns) {
    d.signal(libc::SIGTERM);
    let st = d.wait_exit(Duration::from_secs(15));
    assert!(st.success(), "iked exited with {st}: {}", d.log_text());
    let rules = ns.ip(&["rule"]).unwrap();
    assert!(!rules.contains(RULE_PRIORITY), "rule left behind: {rules}");
    let routes = ns.ip(&["route", "show", "table", "all"]).unwrap();
    assert!(!routes.contains("iked0"), "routes left behind: {routes}");
}

/// Ping, iperf3 and counters through an established tunnel from `a` to `b`.
fn traffic(name: &str, a: (&Netns, &Daemon, Ipv4Addr), b: (&Netns, &Daemon, Ipv4Addr)) {
    let (na, da, ia) = a;
    let (nb, db, ib) = b;
    let took = na
        .ping_until(Some(ia), ib, Duration::from_secs(30))
        .expect("ping through the tunnel");
    eprintln!("{name}: first ping answered after {took:.1?}");
    let bps = iperf(na, nb, ia, ib, 2);
    eprintln!("{name}: iperf3 TCP {:.0} Mbit/s", bps / 1e6);
    assert!(bps > 1e6, "{name}: iperf3 too slow: {bps} bit/s");
    // The data flows a -> b; b's SAs carry the acknowledgements.
    for (d, who, dir, least) in [
        (da, "a", "out", 1_000_000),
        (db, "b", "in", 1_000_000),
        (db, "b", "out", 1_000),
        (da, "a", "in", 1_000),
    ] {
        let s = sa(d, dir);
        assert!(
            s["current-bytes"].as_u64().unwrap() > least,
            "{name}: {who}'s {dir} SA counted too little: {s}"
        );
    }
    // The dataplane's totals (b may be the kernel's, with `auto` on a host with ESP).
    assert!(counter(da, "out-packets") > 1000);
    assert!(counter(da, "in-packets") > 100);
}

fn two_hosts(name: &str, suite: Suite, tunnel: bool) {
    let Some(lab) = Lab::new(name) else { return };
    ensure_packages(&["iperf3"]).expect("iperf3");
    let h = lab.two_hosts().unwrap();
    let (aa, ba) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));
    let (ia, ib) = if tunnel {
        (
            Ipv4Addr::new(198, 51, 100, 1),
            Ipv4Addr::new(203, 0, 113, 1),
        )
    } else {
        (aa, ba)
    };
    let dir = tempfile::tempdir().unwrap();
    // b says `auto`: the userspace dataplane on a host without kernel ESP (this one), the
    // kernel's elsewhere, which must interoperate all the same.
    let db = start(
        &h.b,
        dir.path(),
        "b",
        &conf_with(ba, aa, (ib, ia, tunnel), suite, "", "auto"),
    );
    assert!(
        db.log_text().contains("(dataplane = \"auto\": this"),
        "the automatic choice is said in the log: {}",
        db.log_text()
    );
    let da = start(
        &h.a,
        dir.path(),
        "a",
        &conf(aa, ba, (ia, ib, tunnel), suite, "auto-start = true"),
    );
    let logs = Logs(vec![&da, &db]);
    assert!(da.log_text().contains("userspace ESP over a TUN"));
    traffic(name, (&h.a, &da, ia), (&h.b, &db, ib));
    let s = sa(&da, "out");
    assert_eq!(s["mode"], if tunnel { "tunnel" } else { "transport" });
    if matches!(suite, Suite::CbcSha1) {
        assert_eq!(s["auth-algorithm"], "hmac-sha1-96", "{s}");
    }
    drop(logs);
    stop(da, &h.a);
    stop(db, &h.b);
}

#[test]
fn userspace_tunnel_gcm() {
    two_hosts("us-tun-gcm", Suite::Gcm, true);
}

#[test]
fn userspace_tunnel_cbc_sha1() {
    two_hosts("us-tun-cbc", Suite::CbcSha1, true);
}

#[test]
fn userspace_transport_gcm() {
    two_hosts("us-tra-gcm", Suite::Gcm, false);
}

#[test]
fn userspace_transport_cbc_sha1() {
    two_hosts("us-tra-cbc", Suite::CbcSha1, false);
}

/// An AES-GCM tunnel between the lab's two hosts (outer 198.18.0.1/.2, inner 198.51.100.1
/// and 203.0.113.1), up and carrying a ping.
struct GcmTunnel {
    h: ipsec_tests::lab::TwoHosts,
    _dir: tempfile::TempDir,
    da: Daemon,
    db: Daemon,
}

impl GcmTunnel {
    const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
    const INNER: (Ipv4Addr, Ipv4Addr) = (
        Ipv4Addr::new(198, 51, 100, 1),
        Ipv4Addr::new(203, 0, 113, 1),
    );
}

fn gcm_tunnel(lab: &Lab) -> GcmTunnel {
    let h = lab.two_hosts().unwrap();
    let (aa, ba) = (GcmTunnel::A, GcmTunnel::B);
    let (ia, ib) = GcmTunnel::INNER;
    let dir = tempfile::tempdir().unwrap();
    let db = start(
        &h.b,
        dir.path(),
        "b",
        &conf(ba, aa, (ib, ia, true), Suite::Gcm, ""),
    );
    let da = start(
        &h.a,
        dir.path(),
        "a",
        &conf(aa, ba, (ia, ib, true), Suite::Gcm, "auto-start = true"),
    );
    let logs = Logs(vec![&da, &db]);
    h.a.ping_until(Some(ia), ib, Duration::from_secs(30))
        .expect("ping through the tunnel");
    drop(logs);
    GcmTunnel {
        h,
        _dir: dir,
        da,
        db,
    }
}

/// RFC 4301 §5.2: cleartext that arrives for an encrypt policy's selector is dropped. Once
/// the tunnel is up, `a` sends a ping with iked's socket mark (so it skips the TUN route)
/// straight over the link, in clear, from its protected address to `b`'s: `b`'s kernel drops
/// it at its `in` policy (XfrmInTmplMismatch), and the same ping through the tunnel passes.
#[test]
fn userspace_cleartext_for_an_encrypt_policy_is_dropped() {
    let Some(lab) = Lab::new("us-clear") else {
        return;
    };
    let GcmTunnel { h, _dir, da, db } = gcm_tunnel(&lab);
    let (ba, (ia, ib)) = (GcmTunnel::B, GcmTunnel::INNER);
    let logs = Logs(vec![&da, &db]);
    // The way around the tunnel: the main table, for packets with iked's mark.
    h.a.ip(&["route", "add", &format!("{ib}/32"), "via", &ba.to_string()])
        .unwrap();
    let mismatch = |ns: &Netns| -> u64 {
        let stat = ns.run(&["cat", "/proc/net/xfrm_stat"]).unwrap();
        stat.lines()
            .find_map(|l| l.strip_prefix("XfrmInTmplMismatch"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no XfrmInTmplMismatch in:\n{stat}"))
    };
    let before = mismatch(&h.b);
    let (src, dst) = (ia.to_string(), ib.to_string());
    let clear =
        h.a.exec(&[
            "ping", "-n", "-c", "2", "-W", "1", "-m", "27497", "-I", &src, &dst,
        ])
        .unwrap();
    assert!(!clear.success(), "cleartext answered: {}", clear.combined());
    let after = mismatch(&h.b);
    assert!(
        after >= before + 2,
        "b's XfrmInTmplMismatch {before} -> {after}"
    );
    assert!(
        h.a.ping(Some(ia), ib).unwrap().success(),
        "the tunnel still carries the same ping"
    );
    drop(logs);
    stop(da, &h.a);
    stop(db, &h.b);
}

fn nat_t(name: &str, suite: Suite) {
    let Some(lab) = Lab::new(name) else { return };
    ensure_packages(&["iperf3"]).expect("iperf3");
    let nat = lab.nat().unwrap();
    let (client, server) = (nat.client(), &nat.server);
    let (ci, si) = (
        Ipv4Addr::new(198, 51, 100, 1),
        Ipv4Addr::new(203, 0, 113, 1),
    );
    client.add_addr("lo", ci, 32).unwrap();
    let (ca, sa_) = (client.addr(), server.addr());
    let dir = tempfile::tempdir().unwrap();
    let ds = start(
        server,
        dir.path(),
        "srv",
        &conf(
            sa_,
            Nat::PUBLIC,
            (si, ci, true),
            suite,
            "nat-traversal = true",
        ),
    );
    let dc = start(
        client,
        dir.path(),
        "client",
        &conf(
            ca,
            sa_,
            (ci, si, true),
            suite,
            "nat-traversal = true\nauto-start = true",
        ),
    );
    let logs = Logs(vec![&dc, &ds]);
    traffic(name, (client, &dc, ci), (server, &ds, si));
    // ESP in UDP both ways; the server sees the NAT's remapped port.
    let out = sa(&dc, "out");
    assert_eq!(out["encap"], "4500:4500", "{out}");
    let back = sa(&ds, "out");
    let encap = back["encap"].as_str().unwrap().to_string();
    assert!(encap.starts_with("4500:4"), "{back}");
    assert_ne!(encap, "4500:4500", "the NAT should remap the port: {back}");
    drop(logs);
    stop(dc, client);
    stop(ds, server);
}

#[test]
fn userspace_nat_t_gcm() {
    nat_t("us-nat-gcm", Suite::Gcm);
}

#[test]
fn userspace_nat_t_cbc_sha1() {
    nat_t("us-nat-cbc", Suite::CbcSha1);
}

/// A raw IPv4 ESP socket (IP protocol 50) of the calling thread's namespace.
fn raw_esp() -> i32 {
    // SAFETY: plain socket(2).
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ESP) };
    assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
    let tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 200_000,
    };
    // SAFETY: setsockopt with a valid timeval.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        );
    }
    fd
}

fn send_esp(fd: i32, to: Ipv4Addr, esp: &[u8]) {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(to).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sendto with a valid buffer and sockaddr_in.
    let n = unsafe {
        libc::sendto(
            fd,
            esp.as_ptr().cast(),
            esp.len(),
            0,
            (&sin as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    assert_eq!(n, esp.len() as isize, "{}", std::io::Error::last_os_error());
}

/// Replayed, corrupted, truncated and wrong-SPI ESP from the peer's namespace: each is
/// dropped and counted, and the tunnel keeps working.
#[test]
fn userspace_hostile_esp_is_dropped_and_counted() {
    let Some(lab) = Lab::new("us-hostile") else {
        return;
    };
    let GcmTunnel { h, _dir, da, db } = gcm_tunnel(&lab);
    let (aa, (ia, ib)) = (GcmTunnel::A, GcmTunnel::INNER);
    let logs = Logs(vec![&da, &db]);

    // Capture one genuine ESP packet b sent to a (a raw socket in a's namespace gets a copy
    // of every incoming ESP datagram, header included), while pinging.
    let na = h.a.clone();
    let capture = std::thread::spawn(move || {
        na.run_in(|| {
            let fd = raw_esp();
            let mut buf = [0u8; 2048];
            let mut got = None;
            for _ in 0..50 {
                // SAFETY: recv into a valid buffer.
                let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
                if n > 20 {
                    let ihl = usize::from(buf[0] & 0x0f) * 4;
                    got = Some(buf[ihl..n as usize].to_vec());
                    break;
                }
            }
            // SAFETY: closing our own descriptor.
            unsafe { libc::close(fd) };
            got
        })
        .unwrap()
    });
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..5 {
        let _ = h.a.ping(Some(ia), ib);
    }
    let esp = capture.join().unwrap().expect("captured an ESP packet");
    let in_spi = sa(&da, "in")["spi"].as_str().unwrap().to_string();
    assert_eq!(
        format!("{:#010x}", u32::from_be_bytes(esp[..4].try_into().unwrap())),
        in_spi
    );

    let before = |n: &str| counter(&da, n);
    let (seq0, int0, hdr0, nost0) = (
        before("in-state-sequence-errors"),
        before("in-integrity-failures"),
        before("in-header-errors"),
        before("in-no-states"),
    );
    // A corrupted packet with a fresh sequence number, so that it gets past the anti-replay
    // pre-check (RFC 4303 §3.4.3) to the integrity check.
    let mut corrupted = esp.clone();
    let seq = u32::from_be_bytes(esp[4..8].try_into().unwrap());
    corrupted[4..8].copy_from_slice(&(seq + 1000).to_be_bytes());
    let mid = corrupted.len() / 2;
    corrupted[mid] ^= 0x40;
    let mut wrong_spi = esp.clone();
    wrong_spi[..4].copy_from_slice(&0x0bad_5e11u32.to_be_bytes());
    let packets = vec![
        esp.clone(),
        corrupted,
        esp[..6].to_vec(),
        wrong_spi,
        esp[..20].to_vec(),
    ];
    h.b.run_in(move || {
        let fd = raw_esp();
        for _ in 0..3 {
            for p in &packets {
                send_esp(fd, aa, p);
            }
        }
        // SAFETY: closing our own descriptor.
        unsafe { libc::close(fd) };
    })
    .unwrap();

    std::thread::sleep(Duration::from_millis(300));
    let stats = da.json(&["stats"]);
    wait_for(
        &format!("the drops to be counted: {stats}"),
        Duration::from_secs(1),
        || {
            (counter(&da, "in-state-sequence-errors") >= seq0 + 3
                && counter(&da, "in-integrity-failures") >= int0 + 3
                && counter(&da, "in-header-errors") >= hdr0 + 6
                && counter(&da, "in-no-states") >= nost0 + 3)
                .then_some(())
        },
    );
    let s = sa(&da, "in");
    assert!(s["replay-drops"].as_u64().unwrap() >= 3, "{s}");
    assert!(s["integrity-failures"].as_u64().unwrap() >= 3, "{s}");
    assert!(
        da.client(&["status"]).status.success(),
        "iked stopped answering: {}",
        da.log_text()
    );
    h.a.ping_until(Some(ia), ib, Duration::from_secs(10))
        .expect("the tunnel still works");
    drop(logs);
    stop(da, &h.a);
    stop(db, &h.b);
}

/// A SIGKILLed daemon leaves its routing rule, route and TUN's routes behind; the next start
/// removes them (they carry the owner's rtnetlink protocol) and SIGTERM then leaves nothing.
#[test]
fn userspace_restart_after_sigkill_removes_the_leftovers() {
    let Some(lab) = Lab::new("us-restart") else {
        return;
    };
    let h = lab.two_hosts().unwrap();
    let (aa, ba) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));
    let (ia, ib) = (
        Ipv4Addr::new(198, 51, 100, 1),
        Ipv4Addr::new(203, 0, 113, 1),
    );
    let dir = tempfile::tempdir().unwrap();
    let text = conf(aa, ba, (ia, ib, true), Suite::Gcm, "");
    let mut d = start(&h.a, dir.path(), "a", &text);
    let rules = h.a.ip(&["rule"]).unwrap();
    assert!(rules.contains(RULE_PRIORITY), "no rule: {rules}");
    let routes = h.a.ip(&["route", "show", "table", RULE_PRIORITY]).unwrap();
    assert!(routes.contains("203.0.113.1 dev iked0"), "{routes}");
    d.signal(libc::SIGKILL);
    d.wait_exit(Duration::from_secs(10));
    assert!(h.a.ip(&["rule"]).unwrap().contains(RULE_PRIORITY));
    drop(d);

    let d = start(&h.a, dir.path(), "a", &text);
    let logs = Logs(vec![&d]);
    assert!(
        d.log_text()
            .contains("routes and rules an earlier run left"),
        "{}",
        d.log_text()
    );
    // Exactly one rule per family again, not two.
    let rules = h.a.ip(&["rule"]).unwrap();
    let ours = rules.lines().filter(|l| l.contains(RULE_PRIORITY)).count();
    assert_eq!(ours, 1, "{rules}");
    drop(logs);
    stop(d, &h.a);
}
