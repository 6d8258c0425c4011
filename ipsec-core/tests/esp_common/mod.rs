//! Helpers shared by the `esp_*` integration tests.
#![allow(dead_code)]

use ipsec_core::crypto::Secret;
use ipsec_core::crypto::esp::{EspEncryption, EspIntegrity, EspKeys, EspTransform, split_keymat};
use ipsec_core::esp::{Inbound, Mode, Outbound, SaConfig};
use ring::rand::SystemRandom;

pub const SPI: u32 = 0xc0ff_ee01;

/// Every ESP transform we implement: GCM alone, each CBC cipher and NULL with each HMAC.
pub fn all_transforms() -> Vec<EspTransform> {
    let integrities = [
        EspIntegrity::HmacMd5_96,
        EspIntegrity::HmacSha1_96,
        EspIntegrity::HmacSha256_128,
        EspIntegrity::HmacSha256_96,
        EspIntegrity::HmacSha384_192,
        EspIntegrity::HmacSha512_256,
    ];
    let mut all = vec![
        EspTransform::new(EspEncryption::AesGcm16_128, EspIntegrity::None).unwrap(),
        EspTransform::new(EspEncryption::AesGcm16_256, EspIntegrity::None).unwrap(),
    ];
    for enc in [
        EspEncryption::AesCbc128,
        EspEncryption::AesCbc192,
        EspEncryption::AesCbc256,
        EspEncryption::TripleDesCbc,
        EspEncryption::Null,
    ] {
        for integ in integrities {
            all.push(EspTransform::new(enc, integ).unwrap());
        }
    }
    all
}

pub fn transform(enc: EspEncryption, integ: EspIntegrity) -> EspTransform {
    EspTransform::new(enc, integ).unwrap()
}

pub fn name(t: &EspTransform) -> String {
    format!("{}/{}", t.encryption.name(), t.integrity.name())
}

/// Deterministic KEYMAT for `t`, split into its keys.
pub fn keys(t: &EspTransform, seed: u8) -> EspKeys {
    let km: Vec<u8> = (0..t.keymat_len())
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed).rotate_left(3) ^ 0x5c)
        .collect();
    split_keymat(&Secret::new(km), t).unwrap()
}

pub fn config(t: EspTransform, mode: Mode, esn: bool) -> SaConfig {
    let mut c = SaConfig::new(SPI, t, keys(&t, 1), mode);
    c.esn = esn;
    c
}

/// An outbound and an inbound SA with the same keys.
pub fn pair(c: &SaConfig) -> (Outbound, Inbound) {
    (
        Outbound::new(c, &SystemRandom::new()).unwrap(),
        Inbound::new(c).unwrap(),
    )
}

/// An IPv4 packet: `options` bytes of IP options, protocol, `payload` bytes of payload.
pub fn ipv4(protocol: u8, options: usize, payload: usize) -> Vec<u8> {
    let header = 20 + options;
    let total = header + payload;
    let mut p: Vec<u8> = (0..total).map(|i| (i * 7 + 3) as u8).collect();
    p[0] = 0x40 | (header / 4) as u8;
    p[1] = 0;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[6] = 0x40; // Don't Fragment
    p[7] = 0;
    p[8] = 64;
    p[9] = protocol;
    p[12..16].copy_from_slice(&[198, 51, 100, 1]);
    p[16..20].copy_from_slice(&[203, 0, 113, 1]);
    p
}

/// An IPv6 packet without extension headers.
pub fn ipv6(next_header: u8, payload: usize) -> Vec<u8> {
    let mut p: Vec<u8> = (0..40 + payload).map(|i| (i * 13 + 5) as u8).collect();
    p[0] = 0x60;
    p[1] = 0;
    p[4..6].copy_from_slice(&(payload as u16).to_be_bytes());
    p[6] = next_header;
    p[7] = 64;
    p
}
