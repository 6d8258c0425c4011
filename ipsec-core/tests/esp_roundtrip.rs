//! ESP round trips: every transform × tunnel/transport × IPv4/IPv6 × ESN on/off, several
//! payload sizes; the wire format checked field by field; an independent decryption of our
//! packets with the `crypto::esp` primitives.

mod esp_common;

use esp_common::*;
use ipsec_core::crypto::esp::EspEncryption;
use ipsec_core::esp::{EspError, Mode};

fn alignment(enc: EspEncryption) -> usize {
    enc.cbc_cipher().map_or(4, |c| c.block_len()).max(4)
}

#[test]
fn every_transform_mode_family_and_esn() {
    let mut cases = 0;
    for t in all_transforms() {
        for mode in [Mode::Tunnel, Mode::Transport] {
            for esn in [false, true] {
                let c = config(t, mode, esn);
                let (mut tx, mut rx) = pair(&c);
                let (mut wire, mut got) = (Vec::new(), Vec::new());
                let mut seq = 0;
                for v6 in [false, true] {
                    for size in [0usize, 1, 2, 3, 13, 14, 15, 16, 17, 100, 1400] {
                        let packet = if v6 {
                            ipv6(17, size)
                        } else {
                            ipv4(17, 0, size)
                        };
                        let what = format!("{} {mode:?} esn={esn} v6={v6} size={size}", name(&t));
                        let sent = tx.encapsulate(&packet, &mut wire).expect(&what);
                        seq += 1;
                        assert_eq!(sent.sequence, seq, "{what}");
                        assert_eq!(sent.expiry, None, "{what}");
                        // SPI | sequence | IV | ciphertext | ICV.
                        assert_eq!(wire[..4], SPI.to_be_bytes(), "{what}");
                        assert_eq!(wire[4..8], (seq as u32).to_be_bytes(), "{what}");
                        let iv = t.encryption.iv_len();
                        let icv = if t.encryption.is_aead() {
                            16
                        } else {
                            t.integrity.icv_len()
                        };
                        let body = wire.len() - 8 - iv - icv;
                        let protected = match mode {
                            Mode::Tunnel => packet.len(),
                            Mode::Transport => packet.len() - if v6 { 40 } else { 20 },
                        };
                        assert_eq!(body % alignment(t.encryption), 0, "{what}");
                        assert!(body >= protected + 2, "{what}");
                        assert!(body < protected + 2 + alignment(t.encryption), "{what}");
                        assert_eq!(wire.len() % 4, 0, "{what}: 4-byte alignment");
                        assert_eq!(tx.overhead(protected) + protected, wire.len(), "{what}");
                        if t.encryption.is_aead() {
                            // RFC 4106 §3.1: the IV is the 64-bit sequence number.
                            assert_eq!(wire[8..16], seq.to_be_bytes(), "{what}");
                        }

                        let d = rx.decapsulate(&wire, &mut got).expect(&what);
                        assert_eq!(d.sequence, seq, "{what}");
                        assert!(!d.dummy);
                        match mode {
                            Mode::Tunnel => {
                                assert_eq!(d.next_header, if v6 { 41 } else { 4 }, "{what}");
                                assert_eq!(got, packet, "{what}");
                            }
                            Mode::Transport => {
                                assert_eq!(d.next_header, 17, "{what}");
                                assert_eq!(got, packet[if v6 { 40 } else { 20 }..], "{what}");
                            }
                        }
                        cases += 1;
                    }
                }
                let counters = *rx.counters();
                assert_eq!(counters.packets, seq);
                assert_eq!(counters.errors(), 0);
                assert_eq!(tx.counters().packets, seq);
                assert_eq!(tx.counters().bytes, counters.bytes);
            }
        }
    }
    assert_eq!(cases, 32 * 2 * 2 * 2 * 11);
}

#[test]
fn cbc_ivs_differ_per_packet_and_per_sa() {
    let t = transform(
        EspEncryption::AesCbc128,
        ipsec_core::crypto::esp::EspIntegrity::HmacSha1_96,
    );
    let c = config(t, Mode::Tunnel, false);
    let (mut a, _) = pair(&c);
    let (mut b, _) = pair(&c);
    let packet = ipv4(6, 0, 40);
    let mut ivs = std::collections::HashSet::new();
    let mut wire = Vec::new();
    for _ in 0..100 {
        a.encapsulate(&packet, &mut wire).unwrap();
        assert!(ivs.insert(wire[8..24].to_vec()));
        b.encapsulate(&packet, &mut wire).unwrap();
        assert!(
            ivs.insert(wire[8..24].to_vec()),
            "two SAs must not share IVs"
        );
    }
}

#[test]
fn ipv4_options_in_transport_mode() {
    let t = transform(
        EspEncryption::AesGcm16_128,
        ipsec_core::crypto::esp::EspIntegrity::None,
    );
    let (mut tx, mut rx) = pair(&config(t, Mode::Transport, false));
    let packet = ipv4(6, 12, 50);
    let (mut wire, mut got) = (Vec::new(), Vec::new());
    tx.encapsulate(&packet, &mut wire).unwrap();
    let d = rx.decapsulate(&wire, &mut got).unwrap();
    assert_eq!((d.next_header, &got[..]), (6, &packet[32..]));
}

#[test]
fn transport_mode_refuses_what_it_cannot_protect() {
    let t = transform(
        EspEncryption::AesGcm16_128,
        ipsec_core::crypto::esp::EspIntegrity::None,
    );
    let (mut tx, _) = pair(&config(t, Mode::Transport, false));
    let mut wire = vec![1, 2, 3];
    // IPv6 with a Fragment extension header.
    assert_eq!(
        tx.encapsulate(&ipv6(44, 16), &mut wire),
        Err(EspError::UnsupportedExtensionHeader(44))
    );
    assert!(wire.is_empty());
    let mut fragment = ipv4(17, 0, 16);
    fragment[6] = 0x20;
    assert_eq!(
        tx.encapsulate(&fragment, &mut wire),
        Err(EspError::Fragment)
    );
    assert_eq!(
        tx.encapsulate(&[0x45, 0, 0], &mut wire),
        Err(EspError::InvalidPacket)
    );
    assert_eq!(tx.counters().invalid_packet, 3);
    assert_eq!(
        tx.next_sequence(),
        1,
        "refused packets use no sequence number"
    );
}

#[test]
fn link_padding_after_the_ip_length_is_not_sent() {
    let t = transform(
        EspEncryption::AesGcm16_256,
        ipsec_core::crypto::esp::EspIntegrity::None,
    );
    let (mut tx, mut rx) = pair(&config(t, Mode::Tunnel, false));
    let packet = ipv4(17, 0, 10);
    let mut padded = packet.clone();
    padded.extend_from_slice(&[0; 6]);
    let (mut wire, mut got) = (Vec::new(), Vec::new());
    tx.encapsulate(&padded, &mut wire).unwrap();
    rx.decapsulate(&wire, &mut got).unwrap();
    assert_eq!(got, packet);
}

#[test]
fn esn_crosses_the_32_bit_boundary() {
    for t in all_transforms() {
        let (mut tx, mut rx) = pair(&config(t, Mode::Tunnel, true));
        let packet = ipv4(1, 0, 30);
        let (mut wire, mut got) = (Vec::new(), Vec::new());
        // Enough packets for the window to sit inside the first cycle, then jump close to
        // 2^32 and cross it.
        for _ in 0..100 {
            tx.encapsulate(&packet, &mut wire).unwrap();
            rx.decapsulate(&wire, &mut got).unwrap();
        }
        tx.set_next_sequence(0xFFFF_FFF0).unwrap();
        let mut late = None;
        for i in 0..40u64 {
            let sent = tx.encapsulate(&packet, &mut wire).unwrap();
            assert_eq!(sent.sequence, 0xFFFF_FFF0 + i);
            if i == 10 {
                // Keep one from before the boundary to deliver after it.
                late = Some(wire.clone());
                continue;
            }
            let d = rx.decapsulate(&wire, &mut got).unwrap();
            assert_eq!(d.sequence, 0xFFFF_FFF0 + i, "{}", name(&t));
            assert_eq!(got, packet);
        }
        assert_eq!(rx.window().highest(), 0x1_0000_0017);
        let d = rx.decapsulate(&late.unwrap(), &mut got).unwrap();
        assert_eq!(
            d.sequence,
            0xFFFF_FFFA,
            "{}: reordered across the boundary",
            name(&t)
        );

        // The high bits are authenticated: a receiver without ESN (or the wrong guess)
        // cannot verify a packet of the second cycle.
        let mut plain = config(t, Mode::Tunnel, false);
        plain.replay_window = 0;
        let (_, mut rx32) = pair(&plain);
        tx.encapsulate(&packet, &mut wire).unwrap();
        assert_eq!(
            rx32.decapsulate(&wire, &mut got),
            Err(EspError::Authentication),
            "{}",
            name(&t)
        );
    }
}

/// Our packets, opened with the separate `crypto::esp` primitives (the path the capture
/// replay uses): the ciphertext layout, ICV coverage and padding agree.
#[test]
fn independent_decryption_with_crypto_primitives() {
    for t in all_transforms() {
        let c = config(t, Mode::Tunnel, false);
        let (mut tx, _) = pair(&c);
        let packet = ipv4(17, 0, 77);
        let mut wire = Vec::new();
        tx.encapsulate(&packet, &mut wire).unwrap();
        let enc = t.encryption;
        let (header, rest) = wire.split_at(8);
        let (iv, rest) = rest.split_at(enc.iv_len());
        let mut plain = if enc.is_aead() {
            let mut buf = rest.to_vec();
            let n = enc
                .open_gcm(&c.keys, iv.try_into().unwrap(), header, &mut buf)
                .unwrap()
                .len();
            buf.truncate(n);
            buf
        } else {
            let (ct, icv) = rest.split_at(rest.len() - t.integrity.icv_len());
            assert!(
                t.integrity
                    .verify(&c.keys.integrity, &[header, iv, ct], icv),
                "{}",
                name(&t)
            );
            let mut buf = ct.to_vec();
            if enc != EspEncryption::Null {
                enc.decrypt_cbc(&c.keys.encryption, iv, &mut buf).unwrap();
            }
            buf
        };
        let nh = plain.pop().unwrap();
        let pad = plain.pop().unwrap() as usize;
        let pad_bytes = plain.split_off(plain.len() - pad);
        assert_eq!(nh, 4);
        assert_eq!(pad_bytes, (1..=pad as u8).collect::<Vec<_>>());
        assert_eq!(plain, packet, "{}", name(&t));
    }
}

#[test]
fn idle_keys_are_given_back_and_expanded_again() {
    for t in all_transforms() {
        let what = name(&t);
        let (mut tx, mut rx) = pair(&config(t, Mode::Tunnel, false));
        // Checked when made, expanded on the first packet.
        assert!(!tx.keys_expanded() && !rx.keys_expanded(), "{what}");
        let (mut wire, mut got) = (Vec::new(), Vec::new());
        let packet = ipv4(17, 0, 100);
        let mut round_trip = |tx: &mut ipsec_core::esp::Outbound,
                              rx: &mut ipsec_core::esp::Inbound| {
            tx.encapsulate(&packet, &mut wire).expect(&what);
            rx.decapsulate(&wire, &mut got).expect(&what);
            assert_eq!(got, packet, "{what}");
        };
        round_trip(&mut tx, &mut rx);
        assert!(tx.keys_expanded() && rx.keys_expanded(), "{what}");
        // Used since the last call: kept.
        assert!(!tx.drop_idle_keys() && !rx.drop_idle_keys(), "{what}");
        assert!(tx.keys_expanded() && rx.keys_expanded(), "{what}");
        // Idle for a whole period: given back, once.
        assert!(tx.drop_idle_keys() && rx.drop_idle_keys(), "{what}");
        assert!(!tx.keys_expanded() && !rx.keys_expanded(), "{what}");
        assert!(!tx.drop_idle_keys() && !rx.drop_idle_keys(), "{what}");
        // The next packets work as before, the sequence numbers and the window carried on.
        round_trip(&mut tx, &mut rx);
        round_trip(&mut tx, &mut rx);
        assert_eq!(rx.counters().packets, 3, "{what}");
        assert_eq!(rx.window().highest(), 3, "{what}");
    }
}
