//! Fuzz target `esp_decap`: ESP decapsulation (`ipsec_core::esp::Inbound`) fed hostile
//! bytes, and fed authentic packets built from hostile payloads, so that the paths after
//! the ICV (padding, Next Header, inner-packet checks, the replay window, ESN inference)
//! are reached too.
//!
//! Input: byte 0 picks the transform (of 27), byte 1 the flags (bit 0 ESN, bit 1 transport
//! mode, bits 2-3 the window: off, 64, 4096, 1), then records `op | len (2 bytes, BE) |
//! data`:
//! - op % 4 == 0: `data` is an ESP packet, decapsulated as is (bit 2 of op: SPI forced to
//!   the SA's, so that the later checks run);
//! - op % 4 == 1: `data` is encapsulated as a payload with Next Header `op >> 2`, and the
//!   result decapsulated;
//! - op % 4 == 2: `data` is encapsulated as an IP packet; if that works, decapsulation must
//!   give it back (unless the sequence counter jumped);
//! - op % 4 == 3: the sender's counter jumps forward by the first 4 bytes of `data`, then a
//!   dummy packet is sent and received.
//!
//! Checks: nothing panics; refused packets leave `out` empty; round trips are exact.
#![no_main]

use ipsec_core::crypto::Secret;
use ipsec_core::crypto::esp::{EspEncryption, EspIntegrity, EspTransform, split_keymat};
use ipsec_core::esp::{Inbound, Mode, Outbound, SaConfig};
use libfuzzer_sys::fuzz_target;

const SPI: u32 = 0x0102_0304;

fn transforms() -> Vec<EspTransform> {
    let integrities = [
        EspIntegrity::HmacMd5_96,
        EspIntegrity::HmacSha1_96,
        EspIntegrity::HmacSha256_128,
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

fuzz_target!(|input: &[u8]| {
    let Some((&[which, flags], mut rest)) = input.split_first_chunk::<2>().map(|(a, b)| (a, b))
    else {
        return;
    };
    let all = transforms();
    let t = all[usize::from(which) % all.len()];
    let km: Vec<u8> = (0..t.keymat_len())
        .map(|i| (i as u8).wrapping_mul(37) ^ 0xa5)
        .collect();
    let keys = split_keymat(&Secret::new(km), &t).unwrap();
    let mode = if flags & 2 != 0 {
        Mode::Transport
    } else {
        Mode::Tunnel
    };
    let mut config = SaConfig::new(SPI, t, keys, mode);
    config.esn = flags & 1 != 0;
    config.replay_window = [0, 64, 4096, 1][usize::from(flags >> 2) & 3];
    let mut tx = Outbound::new(&config, &ring::rand::SystemRandom::new()).unwrap();
    let mut rx = Inbound::new(&config).unwrap();
    let (mut wire, mut out) = (Vec::new(), Vec::new());
    let mut jumped = false;

    while let Some((&[op, hi, lo], tail)) = rest.split_first_chunk::<3>().map(|(a, b)| (a, b)) {
        let len = usize::from(u16::from_be_bytes([hi, lo])).min(tail.len());
        let (data, next) = tail.split_at(len);
        rest = next;
        match op % 4 {
            0 => {
                let mut esp = data.to_vec();
                if op & 4 != 0 && esp.len() >= 4 {
                    esp[..4].copy_from_slice(&SPI.to_be_bytes());
                }
                if rx.decapsulate(&esp, &mut out).is_err() {
                    assert!(out.is_empty());
                }
            }
            1 => {
                if tx.encapsulate_payload(data, op >> 2, &mut wire).is_ok() {
                    match rx.decapsulate(&wire, &mut out) {
                        Ok(d) if mode == Mode::Transport && !d.dummy => {
                            assert_eq!(out, data);
                            assert_eq!(d.next_header, op >> 2);
                        }
                        Ok(_) => {}
                        Err(_) => assert!(out.is_empty()),
                    }
                }
            }
            2 => {
                if tx.encapsulate(data, &mut wire).is_ok() {
                    let result = rx.decapsulate(&wire, &mut out);
                    if !jumped {
                        let d = result.expect("our own packet");
                        // (In transport mode, protocol 59 makes it a dummy packet.)
                        if mode == Mode::Tunnel {
                            assert!(!d.dummy);
                            assert_eq!(out[..], data[..out.len()]);
                        }
                    }
                } else {
                    assert!(wire.is_empty());
                }
            }
            _ => {
                let mut step = [0u8; 4];
                for (s, d) in step.iter_mut().zip(data) {
                    *s = *d;
                }
                let next = tx
                    .next_sequence()
                    .saturating_add(u64::from(u32::from_be_bytes(step)));
                if tx.set_next_sequence(next).is_ok() && next != tx.next_sequence() {
                    jumped = true;
                }
                jumped |= u32::from_be_bytes(step) != 0;
                if tx.encapsulate_dummy(data.len(), &mut wire).is_ok() {
                    let _ = rx.decapsulate(&wire, &mut out);
                }
            }
        }
    }
});
