//! Interop: ike-scan probes against our engine as responder (on real UDP sockets,
//! `ipsec_tests::engine_driver`) in lab namespaces: engine in namespace a (198.18.0.1),
//! ike-scan in namespace b (198.18.0.2).
//!
//! - a main mode probe with an acceptable transform gets main mode message 2: our chosen SA and
//!   our vendor IDs;
//! - a probe with only transforms we do not accept gets NO-PROPOSAL-CHOSEN (notify 14);
//! - an aggressive mode probe gets aggressive mode message 2 (with our ID) when a peer with
//!   `exchange-mode = "aggressive"` and the probe's identity is configured.
//!
//! Needs root (CI is root); with IKT_ALLOW_SKIP=1 a non-root run skips.

use std::net::Ipv4Addr;
use std::time::Instant;

use ipsec_core::engine::Event;
use ipsec_tests::engine_driver::EngineDriver;
use ipsec_tests::lab::{IkeScan, Lab, ScanMode, ScanOutcome};

const SCAN_ID: &str = "ikt-scan@lab.example";

/// Two peers at the scanner's address: main mode, and aggressive mode for SCAN_ID. Phase 1:
/// aes-128 / sha256 / modp2048 only.
const ENGINE: &str = r#"
[daemon]
listen = ["198.18.0.1"]

[[peer]]
name = "scan-main"
address = "198.18.0.2/32"
local-address = "198.18.0.1"
exchange-mode = "main"
secret = "ikt-scan-psk-main"
dh-group = ["modp2048"]
enc-algorithm = ["aes-128"]
hash-algorithm = ["sha256"]
nat-traversal = true

[[peer]]
name = "scan-aggressive"
address = "198.18.0.2/32"
local-address = "198.18.0.1"
exchange-mode = "aggressive"
secret = "ikt-scan-psk-aggressive"
remote-id = "user-fqdn:ikt-scan@lab.example"
dh-group = ["modp2048"]
enc-algorithm = ["aes-128"]
hash-algorithm = ["sha256"]
nat-traversal = true
"#;

/// "Dead Peer Detection v1.0" (RFC 3706).
const DPD_VID: &str = "afcad71368a1f1c96b8696fc77570100";
/// RFC 3947 NAT-T: MD5("RFC 3947").
const NATT_RFC3947_VID: &str = "4a131c81070358455c5728f20e95452f";

const TARGET: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

#[test]
fn ike_scan_probes_get_the_right_answers() {
    let Some(lab) = Lab::new("scan-engine") else {
        return;
    };
    let net = lab.two_hosts().unwrap();
    let engine = EngineDriver::start(&net.a, ENGINE).unwrap();
    let ctx = |what: &str, out: &str| format!("{what}: {out}\n--- engine:\n{}", engine.describe());

    // 1. main mode, AES-128 / SHA2-256 / PSK / MODP2048: a handshake with our choice
    let t = Instant::now();
    let ok = IkeScan::main_mode(TARGET)
        .trans("7/128,4,1,14")
        .run(&net.b)
        .unwrap();
    let t_main = t.elapsed();
    assert_eq!(
        ok.outcome,
        ScanOutcome::Handshake(ScanMode::Main),
        "{}",
        ctx("main mode probe", &ok.output.stdout)
    );
    let sa = ok.sa().expect("SA in the answer");
    for want in [
        "Enc=AES",
        "KeyLength=128",
        "Hash=SHA2-256",
        "Auth=PSK",
        "Group=14:modp2048",
    ] {
        assert!(sa.contains(want), "our SA {sa:?} lacks {want}");
    }
    let vids = ok.vendor_ids();
    assert!(
        vids.iter().any(|v| v.starts_with(DPD_VID)),
        "we announce DPD: {:?}",
        ok.details
    );
    eprintln!("main mode answer: SA=({sa}) VIDs={vids:?}");

    // 1b. the same with the RFC 3947 NAT-T vendor ID: we answer with it (NAT-T is on)
    let natt = IkeScan::main_mode(TARGET)
        .trans("7/128,4,1,14")
        .arg(&format!("--vendor={NATT_RFC3947_VID}"))
        .run(&net.b)
        .unwrap();
    assert!(
        natt.is_handshake(),
        "{}",
        ctx("NAT-T probe", &natt.output.stdout)
    );
    let vids = natt.vendor_ids();
    assert!(
        vids.iter().any(|v| v.starts_with(NATT_RFC3947_VID)),
        "NAT-T VID echoed: {vids:?}"
    );
    assert!(vids.iter().any(|v| v.starts_with(DPD_VID)), "{vids:?}");

    // 2. several transforms, one acceptable: still our choice (AES-128/SHA2-256/MODP2048)
    let pick = IkeScan::main_mode(TARGET)
        .trans("5,1,1,2")
        .trans("7/256,2,1,14")
        .trans("7/128,4,1,14")
        .run(&net.b)
        .unwrap();
    assert!(pick.is_handshake(), "{}", ctx("pick", &pick.output.stdout));
    let sa = pick.sa().expect("SA in the answer");
    assert!(
        sa.contains("KeyLength=128") && sa.contains("Hash=SHA2-256"),
        "{sa}"
    );

    // 3. nothing acceptable (3DES/MD5/modp1024, AES-256/SHA1/modp2048): NO-PROPOSAL-CHOSEN
    let t = Instant::now();
    let no = IkeScan::main_mode(TARGET)
        .trans("5,1,1,2")
        .trans("7/256,2,1,14")
        .run(&net.b)
        .unwrap();
    let t_no = t.elapsed();
    assert_eq!(
        no.notify_code(),
        Some(14),
        "{}",
        ctx("unacceptable probe", &no.output.stdout)
    );

    // 4. aggressive mode with the configured identity: an aggressive handshake with our ID
    let t = Instant::now();
    let agg = IkeScan::aggressive(TARGET, SCAN_ID)
        .trans("7/128,4,1,14")
        .dhgroup(14)
        .run(&net.b)
        .unwrap();
    let t_agg = t.elapsed();
    assert_eq!(
        agg.outcome,
        ScanOutcome::Handshake(ScanMode::Aggressive),
        "{}",
        ctx("aggressive probe", &agg.output.stdout)
    );
    let id = agg.id().expect("ID in the aggressive answer");
    assert!(id.contains("198.18.0.1"), "our ID is our address: {id}");
    assert!(agg.sa().is_some_and(|s| s.contains("Group=14")));

    // the engine counted the refused proposal and never authenticated anybody
    let st = engine.state().unwrap();
    assert!(
        st.isakmp_sas.iter().all(|s| !s.established),
        "{:?}",
        st.isakmp_sas
    );
    assert!(
        !engine
            .events()
            .iter()
            .any(|r| matches!(r.event, Event::PeerUp { .. } | Event::InstallSa(_))),
        "{}",
        engine.describe()
    );
    eprintln!(
        "interop ike-scan: main handshake {t_main:?}, no-proposal {t_no:?}, aggressive \
         {t_agg:?}, total {:?}",
        lab.elapsed()
    );
}

/// A main mode probe without a matching peer (the aggressive-only configuration does not
/// serve main mode): no handshake.
#[test]
fn ike_scan_main_mode_without_a_main_mode_peer_gets_no_handshake() {
    let Some(lab) = Lab::new("scan-nopeer") else {
        return;
    };
    let net = lab.two_hosts().unwrap();
    let aggressive_only: String = ENGINE
        .split("[[peer]]")
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(i, s)| {
            if i == 0 {
                s.to_string()
            } else {
                format!("[[peer]]{s}")
            }
        })
        .collect();
    let engine = EngineDriver::start(&net.a, &aggressive_only).unwrap();
    let r = IkeScan::main_mode(TARGET)
        .trans("7/128,4,1,14")
        .retry(2, 300)
        .run(&net.b)
        .unwrap();
    assert!(
        !r.is_handshake(),
        "{}\n--- engine:\n{}",
        r.output.stdout,
        engine.describe()
    );
    eprintln!("main probe vs aggressive-only engine: {:?}", r.outcome);
}
