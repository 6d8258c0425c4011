//! "Never panics": arbitrary bytes, and arbitrary mutations of valid messages, fed to every
//! parser and decoder of `wire`. Each either succeeds or returns a `WireError`; whatever
//! parses re-emits to the same bytes.

use ipsec_core::wire::{
    AttributePayload, ConfigAttribute, Delete, Fragment, Header, Identification, Message, NatOa,
    Notification, Payload, PayloadChain, PayloadType, Phase1Attribute, Phase2Attribute, ProtocolId,
    SecurityAssociation, TrailingBytes, UnitySplitNetwork, VendorId, classify_nat_t, emit_message,
    parse_attributes,
};
use proptest::collection::vec;
use proptest::prelude::*;

/// strongSwan main mode message 1 (SA + 6 Vendor IDs) from vectors/strongswan-mm-psk.
const MM1: &[&str] = &[
    "2ab7ce8627cebcc000000000000000000110020000000000000000c80d00003800000001000000010000002c01010001",
    "000000240101000080010007800e0080800200048004000e80030001800b0001800c3de00d00000c09002689dfd6b712",
    "0d000014afcad71368a1f1c96b8696fc775701000d00001412f5f28c457168a9702d9fe274cc01000d0000184048b7d5",
    "6ebce88525e7de7f00d6c2d3800000000d0000144a131c81070358455c5728f20e95452f0000001490cb80913ebb696e",
    "086381b5ec427b1f",
];

/// strongSwan main mode message 3 (KE + Nonce + 2 NAT-D).
const MM3: &[&str] = &[
    "2ab7ce8627cebcc07f4f7f1de3f684b804100200000000000000018c0a000104911c34fb63f9ecd9c15949ef3e223f22",
    "c14227de04efa5a4f47aa49d5d73d80580679603f114b31302c0dede90793790a997caf6fc142a2e5eceae2354a0390f",
    "c529615b738740d9848fa6d0243c7455f2ecdb9136dee2e03692360f1e82a8b9c26391ac91e9ceff8aaaab7d1af035bf",
    "3e13e891c74b105b3b9d686fc234b401498908aa3ad431db4fafb170c2dae6b9e377ac6b2c918b3c16f24a7bc7e7f1d4",
    "2946355ea6262f878e415ac7f9c0e19b59fbe82e67243094f33e6c6b663573d43c7a3e4aee83eec27d664f37786efe0f",
    "4920a3df355af2bd16c3967361bf36930336ca81264d32e5d02967c4671db9be1eca8b82aea3327f7f4e57892adaad85",
    "1400002492d4649c2bcbce24e4965e04f1223ea4db14058e2ad702be6eff2bbf74920d27140000241d0d7fbc505eded1",
    "c501a9c8e98973e8a05a7b1b515b762f1e040b4b2fb72e8c00000024deb66515582c41aa0aef2774daa74c00aa458e73",
    "e9b5d055ee489660f5273abf",
];

fn unhex(parts: &[&str]) -> Vec<u8> {
    hex::decode(parts.concat()).unwrap()
}

/// Decode everything reachable from a payload, typed views included.
fn exercise_payload(p: &Payload<'_>) {
    match p {
        Payload::SecurityAssociation(sa) => {
            for prop in &sa.proposals {
                for t in &prop.transforms {
                    let _ = t.id(prop.protocol);
                    if prop.protocol == ProtocolId::Isakmp {
                        let _: Vec<_> = t.phase1_attributes().collect();
                    } else {
                        let _: Vec<_> = t.phase2_attributes().collect();
                    }
                }
            }
        }
        Payload::Identification(id) => {
            let _ = id.value();
        }
        Payload::Notification(n) => {
            let _ = (n.dpd_sequence(), n.replay_status(), n.responder_lifetime());
        }
        Payload::Delete(d) => {
            let _ = d.spis().count();
        }
        Payload::VendorId(v) => {
            let _ = v.known();
        }
        Payload::Attribute(a) => {
            let _: Vec<_> = a.typed().collect();
        }
        _ => {}
    }
}

fn exercise_message(bytes: &[u8]) {
    let Ok(msg) = Message::parse(bytes) else {
        return;
    };
    let Some(chain) = msg.payloads() else {
        return;
    };
    for k in 0..=chain.len() + 1 {
        let _ = chain.bytes_from(k);
    }
    let Ok(payloads) = chain.decode() else {
        return;
    };
    payloads.iter().for_each(exercise_payload);
    let mut out = Vec::new();
    emit_message(&msg.header, &payloads, &mut out).expect("a parsed message re-emits");
    if chain.trailing().is_empty() {
        assert_eq!(out, bytes, "re-emission is byte-exact");
    } else {
        // Alignment padding (libreswan) is set aside: the Length field and the tail differ.
        assert_eq!(out.len() + chain.trailing().len(), bytes.len());
        assert_eq!(out.get(28..), bytes.get(28..out.len()));
    }
}

fn exercise_bodies(b: &[u8]) {
    for ty in 0..=255u8 {
        if let Ok(p) = Payload::decode(PayloadType::from(ty), b) {
            exercise_payload(&p);
        }
    }
    let _ = SecurityAssociation::parse(b);
    let _ = Identification::parse(b);
    let _ = Notification::parse(b);
    let _ = Delete::parse(b);
    let _ = VendorId::parse(b);
    let _ = AttributePayload::parse(b);
    let _ = NatOa::parse(b, false);
    let _ = Fragment::parse(b);
    let _ = Header::parse(b);
    let _ = classify_nat_t(b);
    let _ = UnitySplitNetwork::parse_list(28676, b);
    if let Ok(attrs) = parse_attributes(b) {
        for a in &attrs {
            let _ = Phase1Attribute::decode(a);
            let _ = Phase2Attribute::decode(a);
            let _ = ConfigAttribute::decode(a);
            let _ = a.as_u64();
        }
    }
    for first in [1u8, 4, 5, 8, 13, 14, 20, 132, 200] {
        for trailing in [TrailingBytes::Allowed, TrailingBytes::Forbidden] {
            if let Ok(chain) = PayloadChain::parse(PayloadType::from(first), b, trailing) {
                let _ = chain.decode();
            }
        }
    }
}

/// A mutation of a valid message: flip, overwrite, insert or delete bytes.
#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Xor(usize, u8),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, v)| Mutation::Set(i, v)),
        (any::<usize>(), 1u8..).prop_map(|(i, v)| Mutation::Xor(i, v)),
        (any::<usize>(), vec(any::<u8>(), 1..8)).prop_map(|(i, v)| Mutation::Insert(i, v)),
        (any::<usize>(), 1usize..8).prop_map(|(i, n)| Mutation::Remove(i, n)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(mut m: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for mu in muts {
        let len = m.len().max(1);
        match mu {
            Mutation::Set(i, v) => {
                if let Some(b) = m.get_mut(i % len) {
                    *b = *v;
                }
            }
            Mutation::Xor(i, v) => {
                if let Some(b) = m.get_mut(i % len) {
                    *b ^= *v;
                }
            }
            Mutation::Insert(i, v) => {
                let at = i % (m.len() + 1);
                m.splice(at..at, v.iter().copied());
            }
            Mutation::Remove(i, n) => {
                let at = i % len;
                let end = (at + n).min(m.len());
                if at < end {
                    m.drain(at..end);
                }
            }
            Mutation::Truncate(i) => m.truncate(i % len),
        }
    }
    m
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(b in vec(any::<u8>(), 0..600)) {
        exercise_message(&b);
        exercise_bodies(&b);
    }

    #[test]
    fn arbitrary_message_shaped_bytes_never_panic(
        first in any::<u8>(), flags in 0u8..8, body in vec(any::<u8>(), 0..400)
    ) {
        // Headers that pass validation, so the payload parsers get exercised.
        let mut m = vec![1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0, first, 0x10, 2, flags];
        m.extend_from_slice(&0u32.to_be_bytes());
        m.extend_from_slice(&((28 + body.len()) as u32).to_be_bytes());
        m.extend_from_slice(&body);
        exercise_message(&m);
    }

    #[test]
    fn mutated_real_messages_never_panic(
        which in any::<bool>(), muts in vec(mutation(), 1..6), fix_len in any::<bool>()
    ) {
        let base = if which { unhex(MM1) } else { unhex(MM3) };
        let mut m = apply(base, &muts);
        if fix_len && m.len() >= 28 {
            let len = (m.len() as u32).to_be_bytes();
            m[24..28].copy_from_slice(&len);
        }
        exercise_message(&m);
        if let Some(body) = m.get(28..) {
            exercise_bodies(body);
        }
    }
}

#[test]
fn seeds_parse_and_reemit() {
    for m in [unhex(MM1), unhex(MM3)] {
        let msg = Message::parse(&m).unwrap();
        assert!(msg.payloads().unwrap().decode().is_ok());
        exercise_message(&m);
    }
}

/// Replay the fuzz seeds (`fuzz/seeds/datagram`, every UDP payload of the captures) and every
/// input the fuzzer ever crashed on (`fuzz/regressions/datagram`) through the same checks as
/// the fuzz target. Input format: 2-byte local port, then the UDP payload.
#[test]
fn fuzz_seeds_and_regressions() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut n = 0;
    for dir in ["seeds/datagram", "regressions/datagram"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in entries {
            let data = std::fs::read(e.unwrap().path()).unwrap();
            n += 1;
            let Some((port, payload)) = data.split_at_checked(2) else {
                continue;
            };
            let port = u16::from_be_bytes([port[0], port[1]]);
            if let Ok(ipsec_core::wire::Datagram::Ike(m)) =
                ipsec_core::wire::classify(port, payload)
            {
                exercise_message(m);
                if let Ok(msg) = Message::parse(m)
                    && let Some(body) = msg.ciphertext()
                {
                    exercise_bodies(body);
                }
            }
        }
    }
    assert!(n >= 17, "fuzz seeds missing: {n}");
}
