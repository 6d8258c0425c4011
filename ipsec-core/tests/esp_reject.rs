//! Every way an ESP packet is refused: replays, the window's left edge, corruption,
//! truncation, the wrong SPI, bad padding, bad Next Header and inner packets, sequence
//! exhaustion, lifetimes; and dummy packets.

mod esp_common;

use esp_common::*;
use ipsec_core::crypto::esp::{EspEncryption, EspIntegrity};
use ipsec_core::esp::{EspError, Expiry, Inbound, LifetimeLimits, Mode, SaConfig};

fn gcm() -> ipsec_core::crypto::esp::EspTransform {
    transform(EspEncryption::AesGcm16_128, EspIntegrity::None)
}

fn cbc() -> ipsec_core::crypto::esp::EspTransform {
    transform(EspEncryption::AesCbc128, EspIntegrity::HmacSha1_96)
}

/// `n` packets from a fresh SA, in order.
fn packets(c: &SaConfig, n: usize) -> Vec<Vec<u8>> {
    let (mut tx, _) = pair(c);
    let packet = ipv4(17, 0, 20);
    (0..n)
        .map(|_| {
            let mut wire = Vec::new();
            tx.encapsulate(&packet, &mut wire).unwrap();
            wire
        })
        .collect()
}

#[test]
fn replay_window_64_and_4096() {
    for t in [gcm(), cbc()] {
        for esn in [false, true] {
            for window in [64u32, 4096] {
                let mut c = config(t, Mode::Tunnel, esn);
                c.replay_window = window;
                let all = packets(&c, window as usize + 200);
                let mut rx = Inbound::new(&c).unwrap();
                let mut out = Vec::new();
                let w = window as usize;
                // The newest first, then everything inside the window in reverse order.
                let top = w + 100;
                rx.decapsulate(&all[top - 1], &mut out).unwrap();
                for i in (top - w..top - 1).rev() {
                    let d = rx.decapsulate(&all[i], &mut out).unwrap();
                    assert_eq!(d.sequence, i as u64 + 1);
                }
                // Duplicates are dropped.
                for i in [top - 1, top - 2, top - w] {
                    assert_eq!(
                        rx.decapsulate(&all[i], &mut out),
                        Err(EspError::Replay {
                            sequence: i as u64 + 1
                        })
                    );
                    assert!(out.is_empty());
                }
                // Just left of the window, and much older. With ESN, RFC 4303 Appendix
                // A2.2 places a number left of the window in the next 2^32 cycle, where
                // its ICV (computed with the sender's high bits) cannot verify.
                for i in [top - w - 1, 0] {
                    let expected = if esn {
                        EspError::Authentication
                    } else {
                        EspError::OutsideWindow {
                            sequence: i as u64 + 1,
                        }
                    };
                    assert_eq!(rx.decapsulate(&all[i], &mut out), Err(expected));
                }
                // Forward jumps within and beyond the window.
                rx.decapsulate(&all[top + 50], &mut out).unwrap();
                rx.decapsulate(&all[top + 10], &mut out).unwrap();
                let counters = rx.counters();
                assert_eq!(counters.replay, 3);
                assert_eq!(counters.outside_window + counters.authentication, 2);
                assert_eq!(counters.packets, w as u64 + 2);
            }
        }
    }
}

#[test]
fn window_off_accepts_duplicates() {
    let mut c = config(gcm(), Mode::Tunnel, false);
    c.replay_window = 0;
    let all = packets(&c, 3);
    let mut rx = Inbound::new(&c).unwrap();
    let mut out = Vec::new();
    for i in [2, 2, 0, 1, 0] {
        rx.decapsulate(&all[i], &mut out).unwrap();
    }
}

#[test]
fn forged_packets_do_not_move_the_window() {
    let c = config(cbc(), Mode::Tunnel, false);
    let all = packets(&c, 200);
    let mut rx = Inbound::new(&c).unwrap();
    let mut out = Vec::new();
    rx.decapsulate(&all[0], &mut out).unwrap();
    // A forged packet with sequence number 199: fails the ICV, the window stays.
    let mut forged = all[198].clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert_eq!(
        rx.decapsulate(&forged, &mut out),
        Err(EspError::Authentication)
    );
    assert_eq!(rx.window().highest(), 1);
    rx.decapsulate(&all[1], &mut out).unwrap();
}

#[test]
fn every_flipped_bit_is_refused() {
    for t in all_transforms() {
        for esn in [false, true] {
            let c = config(t, Mode::Transport, esn);
            let (mut tx, _) = pair(&c);
            let mut wire = Vec::new();
            tx.encapsulate(&ipv6(6, 33), &mut wire).unwrap();
            for at in 0..wire.len() {
                for bit in [0x01u8, 0x80] {
                    let mut bad = wire.clone();
                    bad[at] ^= bit;
                    let mut rx = Inbound::new(&c).unwrap();
                    let mut out = vec![0xee; 8];
                    let err = rx.decapsulate(&bad, &mut out).unwrap_err();
                    let expected_ok = match at {
                        0..4 => matches!(err, EspError::WrongSpi { .. }),
                        // Sequence number 1 becomes 0 (never sent: a replay), a number the
                        // ESN receiver cannot place, or fails the ICV.
                        4..8 => matches!(
                            err,
                            EspError::Authentication
                                | EspError::Replay { sequence: 0 }
                                | EspError::OutsideWindow { .. }
                        ),
                        _ => err == EspError::Authentication,
                    };
                    assert!(expected_ok, "{} esn={esn} byte {at}: {err:?}", name(&t));
                    assert!(out.is_empty());
                    assert_eq!(rx.counters().errors(), 1);
                }
            }
        }
    }
}

#[test]
fn every_truncation_is_a_typed_error() {
    for t in all_transforms() {
        let c = config(t, Mode::Tunnel, false);
        let (mut tx, _) = pair(&c);
        let mut wire = Vec::new();
        tx.encapsulate(&ipv4(17, 0, 50), &mut wire).unwrap();
        for len in 0..wire.len() {
            let mut rx = Inbound::new(&c).unwrap();
            let mut out = Vec::new();
            let err = rx.decapsulate(&wire[..len], &mut out).unwrap_err();
            assert!(
                matches!(
                    err,
                    EspError::Truncated { .. }
                        | EspError::BadLength { .. }
                        | EspError::Authentication
                ),
                "{} len {len}: {err:?}",
                name(&t)
            );
            if len < 8 + t.encryption.iv_len() + 2 {
                assert_eq!(err, EspError::Truncated { len });
            }
        }
        // Extra bytes at the end are not an ESP packet either.
        let mut longer = wire.clone();
        longer.push(0);
        let mut rx = Inbound::new(&c).unwrap();
        assert!(rx.decapsulate(&longer, &mut Vec::new()).is_err());
    }
}

#[test]
fn wrong_spi() {
    let c = config(gcm(), Mode::Tunnel, false);
    let wire = packets(&c, 1).remove(0);
    let mut other = c.clone();
    other.spi = SPI + 1;
    let mut rx = Inbound::new(&other).unwrap();
    assert_eq!(
        rx.decapsulate(&wire, &mut Vec::new()),
        Err(EspError::WrongSpi {
            expected: SPI + 1,
            got: SPI
        })
    );
    assert_eq!(rx.counters().wrong_spi, 1);
}

/// Builds an AES-CBC/HMAC-SHA1 packet by hand with the `crypto::esp` primitives, with any
/// plaintext (so with any trailer).
fn handmade_cbc(c: &SaConfig, sequence: u32, plaintext: &[u8]) -> Vec<u8> {
    let iv = [0x42u8; 16];
    let mut ct = plaintext.to_vec();
    c.transform
        .encryption
        .encrypt_cbc(&c.keys.encryption, &iv, &mut ct)
        .unwrap();
    let mut wire = SPI.to_be_bytes().to_vec();
    wire.extend_from_slice(&sequence.to_be_bytes());
    wire.extend_from_slice(&iv);
    wire.extend_from_slice(&ct);
    let icv = c.transform.integrity.compute(&c.keys.integrity, &[&wire]);
    wire.extend_from_slice(&icv);
    wire
}

#[test]
fn padding_is_checked() {
    let c = config(cbc(), Mode::Transport, false);
    let mut rx = Inbound::new(&c).unwrap();
    let mut out = Vec::new();
    // A correct hand-made packet first: 10 bytes, padding 1..=4, Pad Length 4, Next Header 17.
    let mut good = vec![0xab; 10];
    good.extend_from_slice(&[1, 2, 3, 4, 4, 17]);
    let d = rx
        .decapsulate(&handmade_cbc(&c, 1, &good), &mut out)
        .unwrap();
    assert_eq!((d.next_header, out.len()), (17, 10));

    let mut wrong_bytes = vec![0xab; 10];
    wrong_bytes.extend_from_slice(&[1, 2, 0, 4, 4, 17]);
    let mut too_long = vec![0xab; 14];
    too_long.extend_from_slice(&[200, 17]);
    let mut zero_padding = vec![0xab; 10];
    zero_padding.extend_from_slice(&[0, 0, 0, 0, 4, 17]);
    for (i, bad) in [wrong_bytes, too_long, zero_padding].iter().enumerate() {
        let seq = 2 + i as u32;
        assert_eq!(
            rx.decapsulate(&handmade_cbc(&c, seq, bad), &mut out),
            Err(EspError::Padding)
        );
        assert!(out.is_empty());
    }
    assert_eq!(rx.counters().padding, 3);
    // Authentic packets with bad padding still took their sequence number.
    assert_eq!(
        rx.decapsulate(&handmade_cbc(&c, 2, &good), &mut out),
        Err(EspError::Replay { sequence: 2 })
    );
}

#[test]
fn next_header_and_inner_packet_are_checked_in_tunnel_mode() {
    let c = config(gcm(), Mode::Tunnel, false);
    let (mut tx, mut rx) = pair(&c);
    let (mut wire, mut out) = (Vec::new(), Vec::new());
    // UDP in a tunnel-mode SA.
    tx.encapsulate_payload(&[0; 20], 17, &mut wire).unwrap();
    assert_eq!(
        rx.decapsulate(&wire, &mut out),
        Err(EspError::BadNextHeader(17))
    );
    // Next Header says IPv4, the packet is IPv6.
    tx.encapsulate_payload(&ipv6(17, 8), 4, &mut wire).unwrap();
    assert_eq!(
        rx.decapsulate(&wire, &mut out),
        Err(EspError::BadInnerPacket)
    );
    // IPv4 whose total length exceeds what arrived.
    let mut p = ipv4(17, 0, 8);
    p[3] += 4;
    tx.encapsulate_payload(&p, 4, &mut wire).unwrap();
    assert_eq!(
        rx.decapsulate(&wire, &mut out),
        Err(EspError::BadInnerPacket)
    );
    // TFC padding after the inner packet (RFC 4303 §2.7) is removed.
    let p = ipv4(17, 0, 8);
    let mut tfc = p.clone();
    tfc.extend_from_slice(&[0; 9]);
    tx.encapsulate_payload(&tfc, 4, &mut wire).unwrap();
    rx.decapsulate(&wire, &mut out).unwrap();
    assert_eq!(out, p);
    let counters = rx.counters();
    assert_eq!(
        (counters.bad_next_header, counters.bad_inner_packet),
        (1, 2)
    );
}

#[test]
fn dummy_packets_are_dropped_silently() {
    for t in [gcm(), cbc()] {
        for mode in [Mode::Tunnel, Mode::Transport] {
            let (mut tx, mut rx) = pair(&config(t, mode, false));
            let (mut wire, mut out) = (Vec::new(), vec![1, 2, 3]);
            for len in [0, 1, 100] {
                tx.encapsulate_dummy(len, &mut wire).unwrap();
                let d = rx.decapsulate(&wire, &mut out).unwrap();
                assert!(d.dummy);
                assert_eq!(d.next_header, 59);
                assert!(out.is_empty());
            }
            assert_eq!(rx.counters().dummy, 3);
            assert_eq!(tx.counters().dummy, 3);
            assert_eq!(rx.counters().errors(), 0);
            assert_eq!(
                tx.encapsulate_dummy(70_000, &mut wire),
                Err(EspError::InvalidPacket)
            );
        }
    }
}

#[test]
fn sequence_numbers_never_wrap() {
    for t in [gcm(), cbc()] {
        let (mut tx, mut rx) = pair(&config(t, Mode::Tunnel, false));
        let packet = ipv4(17, 0, 10);
        let (mut wire, mut out) = (Vec::new(), Vec::new());
        tx.set_next_sequence(0xEFFF_FFFF).unwrap();
        assert_eq!(tx.encapsulate(&packet, &mut wire).unwrap().expiry, None);
        // 15/16 of the space: time to rekey.
        assert_eq!(
            tx.encapsulate(&packet, &mut wire).unwrap().expiry,
            Some(Expiry::Soft)
        );
        tx.set_next_sequence(u64::from(u32::MAX) - 1).unwrap();
        let sent = tx.encapsulate(&packet, &mut wire).unwrap();
        assert_eq!((sent.sequence, sent.expiry), (0xFFFF_FFFE, None));
        let last = tx.encapsulate(&packet, &mut wire).unwrap();
        assert_eq!(
            (last.sequence, last.expiry),
            (0xFFFF_FFFF, Some(Expiry::Hard))
        );
        // The receiver takes the last one.
        rx.decapsulate(&wire, &mut out).unwrap();
        assert_eq!(
            tx.encapsulate(&packet, &mut wire),
            Err(EspError::SequenceExhausted)
        );
        assert!(wire.is_empty());
        assert_eq!(
            tx.encapsulate_dummy(0, &mut wire),
            Err(EspError::SequenceExhausted)
        );
        assert_eq!(tx.counters().sequence_exhausted, 2);
        assert_eq!(tx.expiry(), Some(Expiry::Hard));
        assert!(tx.set_next_sequence(5).is_err());
    }
    // With ESN the same numbers are just the middle of the space.
    let (mut tx, _) = pair(&config(gcm(), Mode::Tunnel, true));
    tx.set_next_sequence(u64::from(u32::MAX)).unwrap();
    let mut wire = Vec::new();
    for _ in 0..3 {
        assert_eq!(
            tx.encapsulate(&ipv4(17, 0, 1), &mut wire).unwrap().expiry,
            None
        );
    }
    tx.set_next_sequence(u64::MAX).unwrap();
    assert_eq!(
        tx.encapsulate(&ipv4(17, 0, 1), &mut wire).unwrap().expiry,
        Some(Expiry::Hard)
    );
    assert_eq!(
        tx.encapsulate(&ipv4(17, 0, 1), &mut wire),
        Err(EspError::SequenceExhausted)
    );
}

#[test]
fn packet_lifetimes() {
    let mut c = config(cbc(), Mode::Tunnel, false);
    c.lifetime = LifetimeLimits {
        soft_packets: Some(3),
        hard_packets: Some(5),
        ..LifetimeLimits::default()
    };
    let (mut tx, mut rx) = pair(&c);
    let packet = ipv4(17, 0, 10);
    let (mut wire, mut out) = (Vec::new(), Vec::new());
    let expected = [None, None, Some(Expiry::Soft), None, Some(Expiry::Hard)];
    for e in expected {
        assert_eq!(tx.encapsulate(&packet, &mut wire).unwrap().expiry, e);
        assert_eq!(rx.decapsulate(&wire, &mut out).unwrap().expiry, e);
    }
    assert_eq!(tx.expiry(), Some(Expiry::Hard));
    assert_eq!(rx.expiry(), Some(Expiry::Hard));
    assert_eq!(tx.encapsulate(&packet, &mut wire), Err(EspError::Expired));
    assert_eq!(rx.decapsulate(&wire, &mut out), Err(EspError::Expired));
    assert_eq!((tx.counters().expired, rx.counters().expired), (1, 1));
}

#[test]
fn byte_lifetimes() {
    let mut c = config(gcm(), Mode::Transport, false);
    c.lifetime = LifetimeLimits {
        soft_bytes: Some(250),
        hard_bytes: Some(400),
        ..LifetimeLimits::default()
    };
    let (mut tx, mut rx) = pair(&c);
    // 100 bytes of payload each (transport mode counts the payload).
    let packet = ipv4(17, 0, 100);
    let (mut wire, mut out) = (Vec::new(), Vec::new());
    let mut seen = Vec::new();
    for _ in 0..4 {
        let e = tx.encapsulate(&packet, &mut wire).unwrap().expiry;
        assert_eq!(rx.decapsulate(&wire, &mut out).unwrap().expiry, e);
        seen.push(e);
    }
    assert_eq!(seen, [None, None, Some(Expiry::Soft), Some(Expiry::Hard)]);
    assert_eq!(tx.counters().bytes, 400);
    assert_eq!(tx.encapsulate(&packet, &mut wire), Err(EspError::Expired));
}

#[test]
fn invalid_configurations() {
    let good = config(cbc(), Mode::Tunnel, false);
    let rng = ring::rand::SystemRandom::new();
    let mut c = good.clone();
    c.spi = 0;
    assert!(matches!(Inbound::new(&c), Err(EspError::InvalidConfig(_))));
    let mut c = good.clone();
    c.replay_window = 4097;
    assert!(matches!(Inbound::new(&c), Err(EspError::InvalidConfig(_))));
    let mut c = good.clone();
    c.keys.integrity = ipsec_core::crypto::Secret::from_slice(&[1; 5]);
    assert!(matches!(Inbound::new(&c), Err(EspError::InvalidConfig(_))));
    let mut c = good.clone();
    c.transform.integrity = EspIntegrity::None;
    assert!(matches!(
        ipsec_core::esp::Outbound::new(&c, &rng),
        Err(EspError::InvalidConfig(_))
    ));
    let mut c = config(gcm(), Mode::Tunnel, false);
    c.keys.salt = None;
    assert!(matches!(Inbound::new(&c), Err(EspError::InvalidConfig(_))));
    // A degenerate 3DES key (k1 = k2) is refused (RFC 2451 §2.3).
    let mut c = config(
        transform(EspEncryption::TripleDesCbc, EspIntegrity::HmacSha1_96),
        Mode::Tunnel,
        false,
    );
    c.keys.encryption = ipsec_core::crypto::Secret::from_slice(&[0x5d; 24]);
    assert!(matches!(Inbound::new(&c), Err(EspError::InvalidConfig(_))));
}
