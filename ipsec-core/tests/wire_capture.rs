//! Parse the real strongSwan 5.9.8 main mode + quick mode exchange in
//! `vectors/strongswan-mm-psk/kat-mm-qm-psk.pcap` (see that folder's README.md).
//!
//! Messages 1-4 are plaintext on UDP 500; the rest is on UDP 4500 behind the Non-ESP Marker
//! (5/6 main mode, 7-9 quick mode, 16/17 informational: encrypted), with UDP-encapsulated ESP
//! in between.

use std::net::Ipv4Addr;

use ipsec_core::wire::{
    AuthMethod, Body, Datagram, EncryptionAlgorithm, ExchangeType, GroupDescription, HashAlgorithm,
    KnownVendor, LifeType, Message, NatTVersion, Payload, PayloadType, Phase1Attribute, ProtocolId,
    TransformId, classify, emit_message, sa, vendor_id,
};

const PCAP: &[u8] = include_bytes!("../../vectors/strongswan-mm-psk/kat-mm-qm-psk.pcap");

/// One UDP datagram of the capture.
struct Udp {
    src_port: u16,
    dst_port: u16,
    payload: Vec<u8>,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// A minimal pcap reader: classic pcap, Ethernet link type, IPv4, UDP. Enough for this
/// capture; it panics on anything else, which is fine in a test.
fn udp_datagrams(pcap: &[u8]) -> Vec<Udp> {
    let magic = u32::from_le_bytes(pcap[0..4].try_into().unwrap());
    let le = match magic {
        0xa1b2c3d4 | 0xa1b23c4d => true,
        0xd4c3b2a1 | 0x4d3cb2a1 => false,
        m => panic!("not a pcap file: magic {m:#x}"),
    };
    let rd32 = |b: &[u8], at: usize| {
        let a: [u8; 4] = b[at..at + 4].try_into().unwrap();
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    assert_eq!(rd32(pcap, 20), 1, "link type must be Ethernet");
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= pcap.len() {
        let incl = rd32(pcap, at + 8) as usize;
        let frame = &pcap[at + 16..at + 16 + incl];
        at += 16 + incl;
        if be16(frame, 12) != 0x0800 {
            continue;
        }
        let ip = &frame[14..];
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        if ip[9] != 17 {
            continue;
        }
        let total = usize::from(be16(ip, 2));
        let udp = &ip[ihl..total];
        let udp_len = usize::from(be16(udp, 4));
        out.push(Udp {
            src_port: be16(udp, 0),
            dst_port: be16(udp, 2),
            payload: udp[8..udp_len].to_vec(),
        });
    }
    out
}

/// The ISAKMP messages of the capture, in order, with the Non-ESP Marker removed.
fn isakmp_messages() -> Vec<Vec<u8>> {
    udp_datagrams(PCAP)
        .iter()
        .filter_map(|u| match classify(u.dst_port, &u.payload).unwrap() {
            Datagram::Ike(m) => Some(m.to_vec()),
            Datagram::Esp { .. } | Datagram::NatKeepalive => None,
        })
        .collect()
}

#[test]
fn capture_has_the_expected_datagrams() {
    let udp = udp_datagrams(PCAP);
    assert_eq!(udp.len(), 17);
    assert!(
        udp[..4]
            .iter()
            .all(|u| u.src_port == 500 && u.dst_port == 500)
    );
    assert!(
        udp[4..]
            .iter()
            .all(|u| u.src_port == 4500 && u.dst_port == 4500)
    );
    let esp: Vec<u32> = udp
        .iter()
        .filter_map(|u| match classify(u.dst_port, &u.payload).unwrap() {
            Datagram::Esp { spi, .. } => Some(spi),
            _ => None,
        })
        .collect();
    assert_eq!(
        esp,
        [
            0xb05991d4, 0x5053b400, 0xb05991d4, 0x5053b400, 0xb05991d4, 0x5053b400
        ]
    );
    assert_eq!(isakmp_messages().len(), 11);
}

fn check_ike_sa(msg: &Message<'_>) {
    let chain = msg.payloads().unwrap();
    let sa = match chain.get(0).unwrap().decode().unwrap() {
        Payload::SecurityAssociation(sa) => sa,
        other => panic!("expected SA, got {other:?}"),
    };
    assert_eq!(sa.doi, sa::DOI_IPSEC);
    assert_eq!(sa.situation.bits, sa::situation::IDENTITY_ONLY);
    assert_eq!(sa.proposals.len(), 1);
    let p = &sa.proposals[0];
    assert_eq!(
        (p.number, p.protocol, p.spi),
        (1, ProtocolId::Isakmp, &[][..])
    );
    assert_eq!(p.transforms.len(), 1);
    let t = &p.transforms[0];
    assert_eq!(
        t.id(p.protocol),
        TransformId::Isakmp(sa::IsakmpTransformId::KeyIke)
    );
    let attrs: Vec<Phase1Attribute<'_>> = t.phase1_attributes().map(Result::unwrap).collect();
    assert_eq!(
        attrs,
        [
            Phase1Attribute::EncryptionAlgorithm(EncryptionAlgorithm::AesCbc),
            Phase1Attribute::KeyLength(128),
            Phase1Attribute::HashAlgorithm(HashAlgorithm::Sha2_256),
            Phase1Attribute::GroupDescription(GroupDescription::Modp2048),
            Phase1Attribute::AuthenticationMethod(AuthMethod::PreSharedKey),
            Phase1Attribute::LifeType(LifeType::Seconds),
            Phase1Attribute::LifeDuration(15840),
        ]
    );
    // SAi_b: the SA body (RFC 2409 §5), 56 - 4 bytes, starting with the DOI.
    let raw = chain.get(0).unwrap();
    assert_eq!(raw.raw().len(), 56);
    assert_eq!(raw.body().len(), 52);
    assert_eq!(&raw.body()[..4], &[0, 0, 0, 1]);
}

fn vendors(msg: &Message<'_>) -> Vec<Option<KnownVendor>> {
    msg.payloads()
        .unwrap()
        .filter(PayloadType::VendorId)
        .map(|p| match p.decode().unwrap() {
            Payload::VendorId(v) => v.known(),
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn main_mode_1_and_2() {
    let msgs = isakmp_messages();
    let m1 = Message::parse(&msgs[0]).unwrap();
    assert_eq!(m1.header.exchange_type, ExchangeType::IdentityProtection);
    assert_eq!(
        m1.header.initiator_cookie,
        [0x2a, 0xb7, 0xce, 0x86, 0x27, 0xce, 0xbc, 0xc0]
    );
    assert_eq!(m1.header.responder_cookie, [0; 8]);
    assert_eq!(m1.header.message_id, 0);
    assert_eq!(m1.header.length, 200);
    check_ike_sa(&m1);
    assert_eq!(
        vendors(&m1),
        [
            Some(KnownVendor::Xauth),
            Some(KnownVendor::Dpd),
            Some(KnownVendor::CiscoUnity { major: 1, minor: 0 }),
            Some(KnownVendor::CiscoFragmentation {
                capabilities: Some(vendor_id::FRAGMENTATION_CAPABILITY_IKE)
            }),
            Some(KnownVendor::NatT(NatTVersion::Rfc3947)),
            Some(KnownVendor::NatT(NatTVersion::Draft02N)),
        ]
    );

    let m2 = Message::parse(&msgs[1]).unwrap();
    assert_eq!(
        m2.header.responder_cookie,
        [0x7f, 0x4f, 0x7f, 0x1d, 0xe3, 0xf6, 0x84, 0xb8]
    );
    check_ike_sa(&m2);
    assert_eq!(vendors(&m2).len(), 5);
    assert!(vendors(&m2).iter().all(Option::is_some));
}

#[test]
fn main_mode_3_and_4() {
    let msgs = isakmp_messages();
    for m in &msgs[2..4] {
        let msg = Message::parse(m).unwrap();
        let chain = msg.payloads().unwrap();
        let types: Vec<PayloadType> = chain.iter().map(|p| p.ty()).collect();
        assert_eq!(
            types,
            [
                PayloadType::KeyExchange,
                PayloadType::Nonce,
                PayloadType::NatD,
                PayloadType::NatD
            ]
        );
        let payloads = chain.decode().unwrap();
        match &payloads[0] {
            Payload::KeyExchange(ke) => assert_eq!(ke.len(), 256),
            other => panic!("{other:?}"),
        }
        match &payloads[1] {
            Payload::Nonce(n) => assert_eq!(n.len(), 32),
            other => panic!("{other:?}"),
        }
        for p in &payloads[2..] {
            match p {
                // NAT-D with SHA2-256, the negotiated hash.
                Payload::NatD(d) => assert_eq!(d.hash.len(), 32),
                other => panic!("{other:?}"),
            }
        }
        // Quick-mode style "from payload k to the end" slices line up with raw payloads.
        assert_eq!(chain.bytes_from(2).unwrap().len(), 72);
        assert_eq!(chain.bytes_from(0).unwrap(), chain.bytes());
        assert_eq!(chain.bytes_from(4), Some(&[][..]));
        assert_eq!(chain.bytes_from(5), None);
    }
}

#[test]
fn encrypted_messages_parse_as_header_and_ciphertext() {
    let msgs = isakmp_messages();
    let expected = [
        (
            ExchangeType::IdentityProtection,
            PayloadType::Identification,
            0u32,
            108usize,
        ),
        (
            ExchangeType::IdentityProtection,
            PayloadType::Identification,
            0,
            92,
        ),
        (ExchangeType::QuickMode, PayloadType::Hash, 0x56b37821, 188),
        (ExchangeType::QuickMode, PayloadType::Hash, 0x56b37821, 188),
        (ExchangeType::QuickMode, PayloadType::Hash, 0x56b37821, 76),
    ];
    for (m, (ex, first, mid, len)) in msgs[4..9].iter().zip(expected) {
        let msg = Message::parse(m).unwrap();
        assert!(msg.header.flags.encrypted());
        assert_eq!(msg.header.exchange_type, ex);
        assert_eq!(msg.header.next_payload, first);
        assert_eq!(msg.header.message_id, mid);
        assert_eq!(msg.header.length as usize, len);
        match msg.body {
            Body::Encrypted(c) => {
                assert_eq!(c.len(), len - 28);
                assert_eq!(c.len() % 16, 0, "AES-CBC ciphertext is whole blocks");
            }
            Body::Plain(_) => panic!("expected ciphertext"),
        }
    }
    for m in &msgs[9..] {
        let msg = Message::parse(m).unwrap();
        assert_eq!(msg.header.exchange_type, ExchangeType::Informational);
        assert!(msg.ciphertext().is_some());
    }
}

#[test]
fn plaintext_messages_reemit_identically() {
    let msgs = isakmp_messages();
    for m in &msgs[..4] {
        let msg = Message::parse(m).unwrap();
        let payloads = msg.payloads().unwrap().decode().unwrap();
        let mut out = Vec::new();
        emit_message(&msg.header, &payloads, &mut out).unwrap();
        assert_eq!(&out, m);
    }
}

#[test]
fn nat_d_and_id_helpers() {
    // The IDs of this exchange are ID_IPV4_ADDR 192.0.2.1/2; they are encrypted, so build
    // one the way the engine will, and check it round-trips.
    use ipsec_core::wire::{IdValue, Identification};
    let id = Identification::new(IdValue::Ipv4(Ipv4Addr::new(192, 0, 2, 1)), 17, 500);
    let mut out = Vec::new();
    id.emit(&mut out).unwrap();
    assert_eq!(out, [1, 17, 1, 244, 192, 0, 2, 1]);
    assert_eq!(Identification::parse(&out).unwrap(), id);
}

/// Every pcap under `vectors/` (captures are added over time): every UDP datagram classifies,
/// every ISAKMP message parses, and every plaintext one decodes fully and re-emits exactly.
#[test]
fn every_capture_under_vectors() {
    fn pcaps(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                pcaps(&p, out);
            } else if p.extension().is_some_and(|x| x == "pcap") {
                out.push(p);
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../vectors");
    let mut files = Vec::new();
    pcaps(&root, &mut files);
    files.sort();
    assert!(!files.is_empty());
    let (mut plain, mut encrypted) = (0, 0);
    for f in &files {
        let pcap = std::fs::read(f).unwrap();
        for u in udp_datagrams(&pcap) {
            let Datagram::Ike(m) = classify(u.dst_port, &u.payload).unwrap() else {
                continue;
            };
            let msg = Message::parse(m).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            match msg.payloads() {
                Some(chain) => {
                    let payloads = chain
                        .decode()
                        .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
                    let mut out = Vec::new();
                    emit_message(&msg.header, &payloads, &mut out).unwrap();
                    assert_eq!(out, m, "{}", f.display());
                    for p in &payloads {
                        match p {
                            Payload::SecurityAssociation(sa) => {
                                for prop in &sa.proposals {
                                    for t in &prop.transforms {
                                        if prop.protocol == ProtocolId::Isakmp {
                                            t.phase1_attributes().for_each(|a| {
                                                a.unwrap();
                                            });
                                        } else {
                                            t.phase2_attributes().for_each(|a| {
                                                a.unwrap();
                                            });
                                        }
                                    }
                                }
                            }
                            Payload::Identification(id) => {
                                id.value().unwrap();
                            }
                            Payload::VendorId(v) => assert!(
                                v.known().is_some(),
                                "{}: unknown vendor id {:02x?}",
                                f.display(),
                                v.data
                            ),
                            _ => {}
                        }
                    }
                    plain += 1;
                }
                None => encrypted += 1,
            }
        }
    }
    assert!(
        plain >= 4 && encrypted >= 5,
        "{plain} plaintext, {encrypted} encrypted"
    );
}
