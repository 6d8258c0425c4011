//! Parse and emit of typical IKEv1 messages: main mode 1 (SA and Vendor IDs) and 3 (KE, Nonce,
//! NAT-D) from the strongSwan capture in vectors/, a quick-mode plaintext chain (HASH, SA with
//! an ESP proposal, Nonce, IDci, IDcr) and a mode-config reply.

use std::borrow::Cow;
use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ipsec_core::wire::{
    AttributePayload, CfgType, ConfigAttribute, ConfigAttributeType, ConfigValue, DataAttribute,
    IdValue, Identification, Message, Payload, PayloadChain, PayloadType, Proposal, ProtocolId,
    SecurityAssociation, Situation, TrailingBytes, Transform, UnitySplitNetwork, emit_chain,
    emit_message, sa,
};

/// strongSwan main mode message 1 (SA + 6 Vendor IDs).
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

fn quick_mode_payloads<'a>(hash: &'a [u8], nonce: &'a [u8]) -> Vec<Payload<'a>> {
    let esp = |n: u8, id: u8, auth: u16| Transform {
        number: n,
        transform_id: id,
        attributes: vec![
            DataAttribute::basic(1, 1),
            DataAttribute::basic(2, 3600),
            DataAttribute::basic(4, 1),
            DataAttribute::basic(5, auth),
            DataAttribute::basic(6, 128),
        ],
    };
    vec![
        Payload::Hash(hash),
        Payload::SecurityAssociation(SecurityAssociation {
            doi: sa::DOI_IPSEC,
            situation: Situation::IDENTITY_ONLY,
            proposals: vec![Proposal {
                number: 1,
                protocol: ProtocolId::Esp,
                spi: &[0xc1, 0x2a, 0x3b, 0x4c],
                transforms: vec![esp(1, 12, 2), esp(2, 12, 5), esp(3, 3, 2)],
            }],
        }),
        Payload::Nonce(nonce),
        Payload::Identification(Identification::new(
            IdValue::Ipv4Subnet {
                addr: Ipv4Addr::new(198, 51, 100, 0),
                mask: Ipv4Addr::new(255, 255, 255, 0),
            },
            0,
            0,
        )),
        Payload::Identification(Identification::new(
            IdValue::Ipv4Subnet {
                addr: Ipv4Addr::new(203, 0, 113, 0),
                mask: Ipv4Addr::new(255, 255, 255, 0),
            },
            0,
            0,
        )),
    ]
}

fn mode_config_reply() -> Payload<'static> {
    let typed = [
        ConfigAttribute {
            ty: ConfigAttributeType::InternalIp4Address,
            value: ConfigValue::Ipv4(Ipv4Addr::new(10, 8, 0, 17)),
        },
        ConfigAttribute {
            ty: ConfigAttributeType::InternalIp4Netmask,
            value: ConfigValue::Ipv4(Ipv4Addr::new(255, 255, 255, 0)),
        },
        ConfigAttribute {
            ty: ConfigAttributeType::InternalIp4Dns,
            value: ConfigValue::Ipv4(Ipv4Addr::new(10, 8, 0, 1)),
        },
        ConfigAttribute {
            ty: ConfigAttributeType::UnityDefDomain,
            value: ConfigValue::Bytes(Cow::Borrowed(b"corp.example")),
        },
        ConfigAttribute {
            ty: ConfigAttributeType::UnitySplitInclude,
            value: ConfigValue::Networks(vec![
                UnitySplitNetwork::new(Ipv4Addr::new(10, 0, 0, 0), Ipv4Addr::new(255, 0, 0, 0)),
                UnitySplitNetwork::new(
                    Ipv4Addr::new(192, 168, 0, 0),
                    Ipv4Addr::new(255, 255, 0, 0),
                ),
            ]),
        },
        ConfigAttribute {
            ty: ConfigAttributeType::UnityBanner,
            value: ConfigValue::Bytes(Cow::Borrowed(b"Authorised users only.")),
        },
        ConfigAttribute {
            ty: ConfigAttributeType::UnitySavePasswd,
            value: ConfigValue::U16(0),
        },
    ];
    Payload::Attribute(AttributePayload {
        cfg_type: CfgType::Reply,
        identifier: 0x1234,
        attributes: typed.iter().map(|a| a.to_raw().unwrap()).collect(),
    })
}

fn parse_and_decode(bytes: &[u8]) -> usize {
    let msg = Message::parse(bytes).unwrap();
    msg.payloads().unwrap().decode().unwrap().len()
}

fn bench_message(c: &mut Criterion, name: &str, bytes: &[u8]) {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("parse", |b| {
        b.iter(|| {
            Message::parse(black_box(bytes))
                .unwrap()
                .payloads()
                .unwrap()
                .len()
        })
    });
    g.bench_function("parse+decode", |b| {
        b.iter(|| parse_and_decode(black_box(bytes)))
    });
    let msg = Message::parse(bytes).unwrap();
    let payloads = msg.payloads().unwrap().decode().unwrap();
    let mut out = Vec::with_capacity(bytes.len());
    g.bench_function("emit", |b| {
        b.iter(|| {
            out.clear();
            emit_message(black_box(&msg.header), black_box(&payloads), &mut out).unwrap();
            out.len()
        })
    });
    g.finish();
}

fn bench_chain(c: &mut Criterion, name: &str, payloads: &[Payload<'_>]) {
    let mut bytes = Vec::new();
    let first = emit_chain(payloads, &mut bytes).unwrap();
    // A decrypted body: chain plus cipher padding.
    bytes.extend_from_slice(&[0; 12]);
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("parse+decode", |b| {
        b.iter(|| {
            let chain =
                PayloadChain::parse(first, black_box(&bytes), TrailingBytes::Allowed).unwrap();
            chain.decode().unwrap().len()
        })
    });
    let mut out = Vec::with_capacity(bytes.len());
    g.bench_function("emit", |b| {
        b.iter(|| {
            out.clear();
            emit_chain(black_box(payloads), &mut out).unwrap()
        })
    });
    g.finish();
}

fn wire(c: &mut Criterion) {
    bench_message(c, "main_mode_1_sa", &unhex(MM1));
    bench_message(c, "main_mode_3_ke_nonce_natd", &unhex(MM3));
    let hash = [0x5a; 32];
    let nonce = [0xa5; 32];
    bench_chain(c, "quick_mode_1_chain", &quick_mode_payloads(&hash, &nonce));
    let cfg = [mode_config_reply()];
    bench_chain(c, "mode_config_reply", &cfg);
    assert_eq!(cfg[0].ty(), PayloadType::Attribute);
}

criterion_group!(benches, wire);
criterion_main!(benches);
