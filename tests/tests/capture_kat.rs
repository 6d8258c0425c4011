//! Known-answer tests against captures of real strongSwan exchanges (`vectors/`).
//!
//! For every capture: replay it with the PSK and the DH secrets charon logged (see
//! `ipsec_tests::replay`), which decrypts every ISAKMP message, verifies HASH_I/HASH_R, the
//! quick-mode HASH(1..3) and every informational HASH, re-emits every payload chain byte for
//! byte, derives KEYMAT and decrypts and authenticates every ESP packet. Then compare every
//! secret we derived with the one charon logged, on both sides.

use std::net::{Ipv4Addr, SocketAddr};

use ipsec_core::crypto::Secret;
use ipsec_core::crypto::esp::EspKeys;
use ipsec_core::crypto::ikev1::nat_d_hash;
use ipsec_core::wire::{ExchangeType, ProtocolId};
use ipsec_tests::replay::{Replay, Secrets, replay};
use ipsec_tests::{charon_log, pcap, vector};

struct Case {
    dir: &'static str,
    pcap: &'static str,
    logs: [&'static str; 2],
    psk: &'static str,
    exchange: ExchangeType,
    pfs: bool,
}

const fn case(dir: &'static str, psk: &'static str, aggressive: bool, pfs: bool) -> Case {
    Case {
        dir,
        pcap: "capture.pcap",
        logs: ["initiator.log", "responder.log"],
        psk,
        exchange: if aggressive {
            ExchangeType::Aggressive
        } else {
            ExchangeType::IdentityProtection
        },
        pfs,
    }
}

const CASES: [Case; 6] = [
    Case {
        dir: "strongswan-mm-psk",
        pcap: "kat-mm-qm-psk.pcap",
        logs: ["kat-charon-a-initiator.log", "kat-charon-b-responder.log"],
        psk: "ssp-interop-psk-1",
        exchange: ExchangeType::IdentityProtection,
        pfs: false,
    },
    case(
        "strongswan-am-aes256-sha1-modp1024",
        "ikv-capture-psk-1",
        true,
        false,
    ),
    case(
        "strongswan-mm-3des-md5-modp1536",
        "ikv-capture-psk-2",
        false,
        false,
    ),
    case("strongswan-mm-ecp256-pfs", "ikv-capture-psk-3", false, true),
    case(
        "strongswan-mm-3des-sha1-modp2048-pfs",
        "ikv-capture-psk-4",
        false,
        true,
    ),
    case(
        "strongswan-am-keyid-aes128-sha256-modp2048",
        "ikv-capture-psk-5",
        true,
        false,
    ),
];

fn load(case: &Case) -> (Replay, [String; 2]) {
    let capture = pcap::read(vector(format!("{}/{}", case.dir, case.pcap))).expect("capture");
    let logs = case
        .logs
        .map(|l| charon_log::read(vector(format!("{}/{}", case.dir, l))).expect("log"));
    let first = |label: &str| charon_log::first(&logs[0], label).unwrap_or_default();
    let secrets = Secrets {
        psk: Secret::from(case.psk),
        g_xy: Secret::new(first("shared Diffie Hellman secret")),
        pfs_g_xy: charon_log::find(&logs[0], "DH secret")
            .into_iter()
            .map(Secret::new)
            .collect(),
    };
    assert!(!secrets.g_xy.is_empty(), "{}: g^xy not logged", case.dir);
    let replayed = replay(&capture, &secrets).unwrap_or_else(|e| panic!("{}: {e}", case.dir));
    (replayed, logs)
}

/// `label`'s first dump in the log, which must exist.
fn logged(log: &str, dir: &str, label: &str) -> Vec<u8> {
    charon_log::first(log, label).unwrap_or_else(|| panic!("{dir}: no '{label}' in the log"))
}

fn esp_key_bytes(keys: &EspKeys) -> Vec<u8> {
    // charon logs the GCM key with its salt appended (RFC 4106 §8.1 KEYMAT order).
    let mut k = keys.encryption.as_bytes().to_vec();
    if let Some(salt) = &keys.salt {
        k.extend_from_slice(salt.as_bytes());
    }
    k
}

fn check_case(case: &Case) {
    let (r, logs) = load(case);
    let dir = case.dir;
    let p1 = &r.phase1;
    assert_eq!(p1.exchange, case.exchange, "{dir}: exchange type");

    for log in &logs {
        let k = &p1.keys.skeyids;
        for (label, ours) in [
            ("SKEYID", &k.skeyid),
            ("SKEYID_d", &k.skeyid_d),
            ("SKEYID_a", &k.skeyid_a),
            ("SKEYID_e", &k.skeyid_e),
            ("encryption key Ka", &p1.keys.encryption_key),
        ] {
            assert_eq!(ours.as_bytes(), logged(log, dir, label), "{dir}: {label}");
        }
        assert_eq!(p1.initial_iv, logged(log, dir, "initial IV"), "{dir}: IV");
        assert_eq!(p1.hash_i, logged(log, dir, "HASH_I"), "{dir}: HASH_I");
        assert_eq!(p1.hash_r, logged(log, dir, "HASH_R"), "{dir}: HASH_R");

        // NAT-D (RFC 3947 §3.2): every hash charon computed is ours for one of the two
        // endpoints. (charon with kernel-libipsec fakes the hash of its own source address to
        // force UDP encapsulation, so only the destination hashes on the wire are genuine.)
        // In aggressive mode the initiator has floated to 4500 before message 3.
        let ours: Vec<Vec<u8>> = [p1.initiator, p1.responder]
            .into_iter()
            .flat_map(|a| [a, SocketAddr::new(a.ip(), 4500)])
            .map(|a| nat_d_hash(p1.hash, &p1.cky_i, &p1.cky_r, a))
            .collect();
        let computed = charon_log::find(log, "natd_hash");
        assert!(!computed.is_empty(), "{dir}: natd_hash logged");
        for h in &computed {
            assert!(ours.contains(h), "{dir}: logged NAT-D hash is ours");
        }

        assert_eq!(r.quick_modes.len(), 1, "{dir}: one quick mode");
        let q = &r.quick_modes[0];
        assert_eq!(q.pfs_group.is_some(), case.pfs, "{dir}: PFS");
        for (i, label) in ["Hash(1)", "Hash(2)", "Hash(3)"].iter().enumerate() {
            assert_eq!(q.hashes[i], logged(log, dir, label), "{dir}: {label}");
        }
        let pairs = [("initiator", &q.keys_i_to_r), ("responder", &q.keys_r_to_i)];
        for (who, keys) in pairs {
            let enc = logged(log, dir, &format!("encryption {who} key"));
            assert_eq!(esp_key_bytes(keys), enc, "{dir}: ESP {who} encryption key");
            if !q.transform.encryption.is_aead() {
                let integ = logged(log, dir, &format!("integrity {who} key"));
                assert_eq!(
                    keys.integrity.as_bytes(),
                    integ,
                    "{dir}: ESP {who} integrity"
                );
            }
        }
        // The SPIs charon installed are the ones the quick mode carried.
        let spis: Vec<u32> = charon_log::esp_sas(log).iter().map(|sa| sa.spi).collect();
        assert!(
            spis.contains(&q.spi_i) && spis.contains(&q.spi_r),
            "{dir}: SPIs"
        );
    }

    // On the wire: each side's first NAT-D is the hash of the address it sends to (on 4500
    // already for the aggressive-mode initiator's message 3).
    for by_initiator in [true, false] {
        let first = r.phase1.nat_d.iter().find(|(i, _)| *i == by_initiator);
        let to = if by_initiator {
            p1.responder
        } else {
            p1.initiator
        };
        let expected = [to, SocketAddr::new(to.ip(), 4500)]
            .map(|a| nat_d_hash(p1.hash, &p1.cky_i, &p1.cky_r, a));
        assert!(
            first.is_some_and(|(_, h)| expected.contains(h)),
            "{dir}: NAT-D of the destination"
        );
    }

    // Traffic: three pings each way, every packet authenticated and decrypted to IPv4 ICMP
    // between the two inner hosts, with consecutive sequence numbers per SA.
    assert_eq!(r.esp.len(), 6, "{dir}: ESP packets");
    let inner_hosts = [
        Ipv4Addr::new(198, 51, 100, 1),
        Ipv4Addr::new(203, 0, 113, 1),
    ];
    for p in &r.esp {
        assert_eq!(p.next_header, 4, "{dir}: frame {} next header", p.frame);
        let ip = &p.inner;
        assert!(ip.len() >= 20 && ip[0] >> 4 == 4, "{dir}: inner IPv4");
        assert_eq!(ip[9], 1, "{dir}: inner ICMP");
        let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
        let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
        assert!(inner_hosts.contains(&src) && inner_hosts.contains(&dst) && src != dst);
        assert_eq!(usize::from(u16::from_be_bytes([ip[2], ip[3]])), ip.len());
    }
    for spi in [r.quick_modes[0].spi_i, r.quick_modes[0].spi_r] {
        let seq: Vec<u32> = r
            .esp
            .iter()
            .filter(|p| p.spi == spi)
            .map(|p| p.sequence)
            .collect();
        assert_eq!(seq, [1, 2, 3], "{dir}: sequence numbers of SPI {spi:08x}");
    }

    // The teardown: a Delete of one ESP SA, then of the ISAKMP SA (cookies as its SPI).
    let deletes: Vec<_> = r.informational.iter().flat_map(|i| &i.deletes).collect();
    assert_eq!(deletes.len(), 2, "{dir}: deletes");
    assert_eq!(deletes[0].0, ProtocolId::Esp);
    let q = &r.quick_modes[0];
    let esp_spi = u32::from_be_bytes(deletes[0].1[0].as_slice().try_into().unwrap());
    assert!(
        esp_spi == q.spi_i || esp_spi == q.spi_r,
        "{dir}: deleted ESP SPI"
    );
    assert_eq!(deletes[1].0, ProtocolId::Isakmp);
    assert_eq!(
        deletes[1].1,
        [[p1.cky_i, p1.cky_r].concat()],
        "{dir}: ISAKMP delete"
    );
}

#[test]
fn strongswan_main_mode_aes128_sha256_modp2048() {
    check_case(&CASES[0]);
}

#[test]
fn strongswan_aggressive_mode_aes256_sha1_modp1024() {
    check_case(&CASES[1]);
}

#[test]
fn strongswan_main_mode_3des_md5_modp1536() {
    check_case(&CASES[2]);
}

#[test]
fn strongswan_main_mode_ecp256_with_ecp256_pfs_and_gcm() {
    check_case(&CASES[3]);
}

#[test]
fn strongswan_main_mode_3des_sha1_modp2048_with_pfs() {
    check_case(&CASES[4]);
}

#[test]
fn strongswan_aggressive_mode_key_id_aes128_sha256_modp2048() {
    check_case(&CASES[5]);
}

/// A single flipped bit anywhere in an encrypted message or an ESP packet must stop the
/// replay: the hashes and ICVs are really checked.
#[test]
fn tampering_is_detected() {
    let case = &CASES[0];
    let capture = pcap::read(vector(format!("{}/{}", case.dir, case.pcap))).unwrap();
    let log = charon_log::read(vector(format!("{}/{}", case.dir, case.logs[0]))).unwrap();
    let secrets = || Secrets {
        psk: Secret::from(case.psk),
        g_xy: Secret::new(charon_log::first(&log, "shared Diffie Hellman secret").unwrap()),
        pfs_g_xy: Vec::new(),
    };
    assert!(replay(&capture, &secrets()).is_ok());
    // Frames 5 (main mode 5), 7 (quick mode 1), 10 (ESP): flip a bit in the middle.
    for frame in [5, 7, 10] {
        let mut c = capture.clone();
        let d = c.udp.iter_mut().find(|d| d.index == frame).unwrap();
        let n = d.payload.len();
        d.payload[n / 2] ^= 0x20;
        assert!(
            replay(&c, &secrets()).is_err(),
            "tampered frame {frame} accepted"
        );
    }
    // A wrong PSK fails phase 1.
    let mut wrong = secrets();
    wrong.psk = Secret::from("not-the-psk");
    assert!(replay(&capture, &wrong).is_err());
}
