//! iked's userspace ESP dataplane against strongSwan's charon with kernel-libipsec, in lab
//! namespaces (`ipsec_tests::lab`) on the host, which has no kernel ESP:
//!
//! - iked in namespace a (198.18.0.1, inner 198.51.100.1), `dataplane = "auto"` (which picks
//!   the userspace dataplane here: the test checks the log says so); charon in namespace b
//!   (198.18.0.2, inner 203.0.113.1) with kernel-libipsec (userspace ESP over TUN `ipsec0`);
//! - tunnel mode, PSK main mode, both ways: iked initiates (a ping from its side is the
//!   trigger, the userspace dataplane's equivalent of an XFRM ACQUIRE) and charon initiates
//!   (`swanctl --initiate`); AES-128-GCM and AES-128-CBC/HMAC-SHA1 in each direction;
//! - each: charon's CHILD_SA INSTALLED, a ping and an iperf3 TCP transfer through the tunnel
//!   (from iked's side when iked initiated, from charon's when charon did), the counters of
//!   `iked sas --json` rising, and ESP in UDP 4500 both ways (kernel-libipsec only speaks
//!   ESP-in-UDP and fakes its NAT-D hash, so iked floats to 4500 although there is no NAT).
//!
//! Root only (like the other lab tests): without root the lab panics unless `IKT_ALLOW_SKIP=1`.

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::Daemon;
use common::traffic::{Logs, counter, iperf, sa};
use ipsec_tests::lab::{Charon, Lab, ensure_packages};

const PSK: &str = "correct horse battery staple";
/// IKE addresses (eth0) and inner addresses (lo) of the lab's two hosts.
const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const IA: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const IB: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);

#[derive(Clone, Copy, Debug)]
enum Suite {
    Gcm,
    CbcSha1,
}

impl Suite {
    /// Our `[[proposal]]` algorithms.
    fn iked(self) -> &'static str {
        match self {
            Suite::Gcm => "enc-algorithms = [\"aes-128-gcm\"]",
            Suite::CbcSha1 => "enc-algorithms = [\"aes-128-cbc\"]\nauth-algorithms = [\"sha1\"]",
        }
    }

    /// charon's `esp_proposals`.
    fn charon(self) -> &'static str {
        match self {
            Suite::Gcm => "aes128gcm16",
            Suite::CbcSha1 => "aes128-sha1",
        }
    }

    /// What charon logs as the selected ESP proposal.
    fn selected(self) -> &'static str {
        match self {
            Suite::Gcm => "ESP:AES_GCM_16_128",
            Suite::CbcSha1 => "ESP:AES_CBC_128/HMAC_SHA1_96",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Initiator {
    Iked,
    Charon,
}

fn iked_conf(suite: Suite) -> String {
    format!(
        r#"[daemon]
listen = ["{A}"]
dataplane = "auto"

[[peer]]
name = "charon"
address = "{B}/32"
local-address = "{A}"
secret = "{PSK}"
exchange-mode = "main"
dh-group = ["modp2048"]
enc-algorithm = ["aes-128"]
hash-algorithm = ["sha256"]
nat-traversal = true

[[proposal]]
name = "p"
{proposal}
pfs-group = "none"

[[policy]]
src-address = "{IA}/32"
dst-address = "{IB}/32"
tunnel = true
sa-src-address = "{A}"
sa-dst-address = "{B}"
proposal = "p"
"#,
        proposal = suite.iked()
    )
}

fn charon_conf(suite: Suite) -> String {
    format!(
        r#"
connections {{
  iked {{
    version = 1
    aggressive = no
    local_addrs = {B}
    remote_addrs = {A}
    proposals = aes128-sha256-modp2048
    local {{
      auth = psk
    }}
    remote {{
      auth = psk
    }}
    children {{
      net {{
        mode = tunnel
        local_ts = {IB}/32
        remote_ts = {IA}/32
        esp_proposals = {esp}
        start_action = none
      }}
    }}
  }}
}}
secrets {{
  ike-iked {{
    id-a = {B}
    id-b = {A}
    secret = "{PSK}"
  }}
}}
"#,
        esp = suite.charon()
    )
}

fn interop(name: &str, suite: Suite, initiator: Initiator) {
    let Some(lab) = Lab::new(name) else { return };
    ensure_packages(&["iperf3"]).expect("iperf3");
    let h = lab.two_hosts().unwrap();
    let charon = Charon::start(&h.b, &charon_conf(suite)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("iked.toml");
    std::fs::write(&conf, iked_conf(suite)).unwrap();
    let mut d = Daemon::start_in(
        h.a.name(),
        &conf,
        &dir.path().join("iked.sock"),
        &dir.path().join("iked.log"),
    );
    let logs = Logs(vec![&d]);
    let log = d.log_text();
    assert!(
        log.contains("(dataplane = \"auto\": this") && log.contains("userspace ESP over a TUN"),
        "`auto` picks the userspace dataplane on this host and says so: {log}"
    );

    // Bring the tunnel up, then traffic from the initiator's side.
    let (client, server, src, dst) = match initiator {
        Initiator::Iked => {
            // The first ping is the trigger (the packet that hits the policy with no SA).
            let took =
                h.a.ping_until(Some(IA), IB, Duration::from_secs(30))
                    .expect("ping from iked's side through the tunnel");
            eprintln!("{name}: first ping answered after {took:.1?}");
            charon
                .wait_child_installed("net", Duration::from_secs(5))
                .unwrap();
            (&h.a, &h.b, IA, IB)
        }
        Initiator::Charon => {
            let out = charon.initiate("net").unwrap();
            assert!(out.stdout.contains("established"), "{}", out.stdout);
            charon
                .wait_child_installed("net", Duration::from_secs(5))
                .unwrap();
            // kernel-libipsec's route into ipsec0 (table 220) comes with the CHILD_SA.
            h.b.wait_route(220, &IA.to_string(), Duration::from_secs(5))
                .unwrap();
            let took =
                h.b.ping_until(Some(IB), IA, Duration::from_secs(15))
                    .expect("ping from charon's side through the tunnel");
            eprintln!("{name}: first ping answered after {took:.1?}");
            (&h.b, &h.a, IB, IA)
        }
    };
    let clog = charon.log();
    assert!(
        clog.lines()
            .filter_map(|l| l.split_once("selected proposal: ").map(|(_, r)| r.trim()))
            .any(|r| r.starts_with(suite.selected())),
        "charon did not select {}",
        suite.selected()
    );

    let bps = iperf(client, server, src, dst, 3);
    eprintln!("{name}: iperf3 TCP {src} -> {dst}: {:.0} Mbit/s", bps / 1e6);
    assert!(bps > 1e6, "{name}: iperf3 too slow: {bps} bit/s");

    // iked's SAs: the data direction carried megabytes, the other the acknowledgements.
    let (data_dir, ack_dir) = match initiator {
        Initiator::Iked => ("out", "in"),
        Initiator::Charon => ("in", "out"),
    };
    for (dir, least) in [(data_dir, 1_000_000), (ack_dir, 1_000)] {
        let s = sa(&d, dir);
        assert!(
            s["current-bytes"].as_u64().unwrap() > least,
            "{name}: iked's {dir} SA counted too little: {s}"
        );
        // ESP in UDP 4500 both ways (charon's faked NAT-D made iked float).
        assert_eq!(s["encap"], "4500:4500", "{name}: {dir} SA: {s}");
        assert_eq!(s["mode"], "tunnel", "{s}");
        if matches!(suite, Suite::CbcSha1) {
            assert_eq!(s["auth-algorithm"], "hmac-sha1-96", "{s}");
        }
    }
    assert!(counter(&d, "out-packets") > 100);
    assert!(counter(&d, "in-packets") > 100);
    // charon's view of the same CHILD_SA: UDP-encapsulated, bytes both ways.
    let list = charon.list_sas().unwrap();
    assert!(list.contains("INSTALLED"), "{list}");
    assert!(
        list.contains("TUNNEL-in-UDP"),
        "charon's CHILD_SA is not UDP-encapsulated: {list}"
    );
    assert!(
        clog.contains("faking NAT situation to enforce UDP encapsulation"),
        "charon did not fake NAT-D"
    );

    drop(logs);
    d.signal(libc::SIGTERM);
    let st = d.wait_exit(Duration::from_secs(15));
    assert!(st.success(), "iked exited with {st}: {}", d.log_text());
    drop(charon);
}

#[test]
fn strongswan_iked_initiates_gcm() {
    interop("ss-us-ii-gcm", Suite::Gcm, Initiator::Iked);
}

#[test]
fn strongswan_iked_initiates_cbc_sha1() {
    interop("ss-us-ii-cbc", Suite::CbcSha1, Initiator::Iked);
}

/// charon initiates: it floats to 4500 for main mode message 5, and iked must answer there
/// (it once answered from 500, and charon moved its IKE and ESP-in-UDP back to 500).
#[test]
fn strongswan_charon_initiates_gcm() {
    interop("ss-us-ci-gcm", Suite::Gcm, Initiator::Charon);
}

/// charon initiates: it floats to 4500 for main mode message 5, and iked must answer there
/// (it once answered from 500, and charon moved its IKE and ESP-in-UDP back to 500).
#[test]
fn strongswan_charon_initiates_cbc_sha1() {
    interop("ss-us-ci-cbc", Suite::CbcSha1, Initiator::Charon);
}
