//! `ipsec_core::esp::Inbound` against real strongSwan ESP traffic: every ESP-in-UDP packet of
//! the captures in `vectors/` (AES-CBC with HMAC-SHA1/SHA2-256, 3DES with HMAC-MD5, AES-GCM),
//! decapsulated with the keys the replay derives (and `capture_kat` checks against charon's
//! logs), must give the inner packet the replay's independent decryption gives, with the
//! same sequence numbers; and replaying them is refused.

use ipsec_core::crypto::Secret;
use ipsec_core::esp::{EspError, Inbound, Mode, SaConfig};
use ipsec_tests::replay::{Secrets, replay};
use ipsec_tests::{charon_log, pcap, vector};

const CASES: [(&str, &str, [&str; 2], &str); 6] = [
    (
        "strongswan-mm-psk",
        "kat-mm-qm-psk.pcap",
        ["kat-charon-a-initiator.log", "kat-charon-b-responder.log"],
        "ssp-interop-psk-1",
    ),
    (
        "strongswan-am-aes256-sha1-modp1024",
        "capture.pcap",
        ["initiator.log", "responder.log"],
        "ikv-capture-psk-1",
    ),
    (
        "strongswan-mm-3des-md5-modp1536",
        "capture.pcap",
        ["initiator.log", "responder.log"],
        "ikv-capture-psk-2",
    ),
    (
        "strongswan-mm-ecp256-pfs",
        "capture.pcap",
        ["initiator.log", "responder.log"],
        "ikv-capture-psk-3",
    ),
    (
        "strongswan-mm-3des-sha1-modp2048-pfs",
        "capture.pcap",
        ["initiator.log", "responder.log"],
        "ikv-capture-psk-4",
    ),
    (
        "strongswan-am-keyid-aes128-sha256-modp2048",
        "capture.pcap",
        ["initiator.log", "responder.log"],
        "ikv-capture-psk-5",
    ),
];

#[test]
fn strongswan_esp_packets_decapsulate() {
    let mut transforms = Vec::new();
    for (dir, pcap_name, logs, psk) in CASES {
        let capture = pcap::read(vector(format!("{dir}/{pcap_name}"))).expect("capture");
        let log = charon_log::read(vector(format!("{dir}/{}", logs[0]))).expect("log");
        let secrets = Secrets {
            psk: Secret::from(psk),
            g_xy: Secret::new(
                charon_log::first(&log, "shared Diffie Hellman secret").unwrap_or_default(),
            ),
            pfs_g_xy: charon_log::find(&log, "DH secret")
                .into_iter()
                .map(Secret::new)
                .collect(),
        };
        let r = replay(&capture, &secrets).unwrap_or_else(|e| panic!("{dir}: {e}"));

        // One inbound SA per direction of every quick mode. Encapsulation modes 1 and 3
        // (and 61443) are tunnel mode; every capture here is.
        let mut sas: Vec<Inbound> = Vec::new();
        for q in &r.quick_modes {
            assert!(
                matches!(q.encapsulation, Some(1 | 3 | 61443)),
                "{dir}: tunnel mode"
            );
            for (spi, keys) in [(q.spi_r, &q.keys_i_to_r), (q.spi_i, &q.keys_r_to_i)] {
                let config = SaConfig::new(spi, q.transform, keys.clone(), Mode::Tunnel);
                sas.push(Inbound::new(&config).unwrap());
            }
            transforms.push(q.transform);
        }

        let packets: Vec<&[u8]> = capture
            .esp_in_udp()
            .into_iter()
            .filter_map(|d| d.esp())
            .collect();
        assert_eq!(packets.len(), r.esp.len(), "{dir}: ESP packets");
        assert!(!packets.is_empty(), "{dir}: no ESP");
        let mut out = Vec::with_capacity(2048);
        for (wire, expected) in packets.iter().zip(&r.esp) {
            let sa = sas
                .iter_mut()
                .find(|sa| sa.spi() == expected.spi)
                .unwrap_or_else(|| panic!("{dir}: no SA for {:08x}", expected.spi));
            let d = sa
                .decapsulate(wire, &mut out)
                .unwrap_or_else(|e| panic!("{dir}: frame {}: {e}", expected.frame));
            assert_eq!(d.sequence, u64::from(expected.sequence), "{dir}");
            assert_eq!(d.next_header, expected.next_header, "{dir}");
            assert_eq!(out, expected.inner, "{dir}: frame {}", expected.frame);
            assert!(!d.dummy && d.expiry.is_none());
            // The same packet again is a replay.
            assert_eq!(
                sa.decapsulate(wire, &mut out),
                Err(EspError::Replay {
                    sequence: u64::from(expected.sequence)
                }),
                "{dir}"
            );
        }
        let delivered: u64 = sas.iter().map(|sa| sa.counters().packets).sum();
        assert_eq!(delivered, packets.len() as u64, "{dir}");
    }
    // The captures cover CBC with three HMACs and GCM.
    let names: Vec<&str> = transforms.iter().map(|t| t.encryption.name()).collect();
    assert!(names.contains(&"AES-128-GCM-16"), "{names:?}");
    assert!(names.contains(&"3DES-CBC"), "{names:?}");
    assert!(names.contains(&"AES-128-CBC"), "{names:?}");
}
