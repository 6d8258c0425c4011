//! Known answers for AES-GCM ESP: the ESP packets of draft-mcgrew-gcm-test-01 §4 (the RFC
//! 4106 test cases) that use 32-bit sequence numbers and the key sizes of ESP_AES_GCM_16
//! we implement, decapsulated by `esp::Inbound`. (The strongSwan captures, CBC and GCM, are
//! in `tests/tests/esp_capture.rs`.)
//!
//! Each case gives key, salt | IV, SPI | sequence number (the AAD), the plaintext (payload
//! and ESP trailer) and ciphertext | ICV. The draft's trailers carry Next Header 1, so the
//! SAs are in transport mode.

use ipsec_core::crypto::Secret;
use ipsec_core::crypto::esp::{EspEncryption, EspIntegrity, EspKeys, EspTransform};
use ipsec_core::esp::{Inbound, Mode, SaConfig};

struct Case {
    name: &'static str,
    encryption: EspEncryption,
    key: &'static str,
    nonce: &'static str,
    aad: &'static str,
    plaintext: &'static str,
    ciphertext_icv: &'static str,
}

const CASES: [Case; 3] = [
    Case {
        name: "AES-128, SPI a5f8, sequence 10",
        encryption: EspEncryption::AesGcm16_128,
        key: "feffe9928665731c6d6a8f9467308308",
        nonce: "cafebabefacedbaddecaf888",
        aad: "0000a5f80000000a",
        plaintext: "4500003e698f000080114dccc0a80102c0a801010a980035002a2343b2d00100\
                    0001000000000000037369700963796265726369747902646b00000100010001",
        ciphertext_icv: "deb22cd9b07c72c16e3a65beeb8df304a5a5897d33ae530f1ba76d5d114d2a5c\
                         3de81827c10e9a4f51330d0eec416642cfbb85a5b47e48a4ec3b9ba95d918bd1\
                         83b70d3aa8bc6ee4c309e9d85a41ad4a",
    },
    Case {
        name: "AES-256, SPI 4a2cbfe3, sequence 2",
        encryption: EspEncryption::AesGcm16_256,
        key: "abbccddef00112233445566778899aababbccddef00112233445566778899aab",
        nonce: "112233440102030405060708",
        aad: "4a2cbfe300000002",
        plaintext: "4500003069a6400080062690c0a801029389155e0a9e008b2dc57ee000000000\
                    7002400020bf0000020405b40101040201020201",
        ciphertext_icv: "ff425c9b724599df7a3bcd510194e00d6a78107f1b0b1cbf06efae9d65a5d763\
                         748a637985771d347f0545659f14e99def842d8e\
                         b335f4eecfdbf831824b4c4915956c96",
    },
    Case {
        name: "AES-128, empty payload, sequence ffffffff",
        encryption: EspEncryption::AesGcm16_128,
        key: "7d773d00c144c525ac619d18c84a3f47",
        nonce: "d966426743457e9182443bc6",
        aad: "335467aeffffffff",
        plaintext: "01020201",
        ciphertext_icv: "437f866bcb3f699fe9b0822bac961c4504bef270",
    },
];

fn hex(s: &str) -> Vec<u8> {
    let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    ::hex::decode(clean).unwrap()
}

#[test]
fn draft_mcgrew_gcm_test_esp_packets() {
    for case in &CASES {
        let nonce = hex(case.nonce);
        let aad = hex(case.aad);
        let (salt, iv) = nonce.split_at(4);
        let spi = u32::from_be_bytes(aad[..4].try_into().unwrap());
        let transform = EspTransform::new(case.encryption, EspIntegrity::None).unwrap();
        let keys = EspKeys {
            encryption: Secret::new(hex(case.key)),
            salt: Some(Secret::from_slice(salt)),
            integrity: Secret::default(),
        };
        let mut rx = Inbound::new(&SaConfig::new(spi, transform, keys, Mode::Transport)).unwrap();
        // The ESP packet: SPI | sequence number | IV | ciphertext | ICV.
        let mut esp = aad.clone();
        esp.extend_from_slice(iv);
        esp.extend_from_slice(&hex(case.ciphertext_icv));

        let mut out = Vec::new();
        let d = rx
            .decapsulate(&esp, &mut out)
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let mut plaintext = hex(case.plaintext);
        let next_header = plaintext.pop().unwrap();
        let pad = usize::from(plaintext.pop().unwrap());
        plaintext.truncate(plaintext.len() - pad);
        assert_eq!(d.next_header, next_header, "{}", case.name);
        assert_eq!(out, plaintext, "{}", case.name);
        assert_eq!(
            d.sequence,
            u64::from(u32::from_be_bytes(aad[4..8].try_into().unwrap()))
        );
    }
}
