//! Property tests: every payload type and whole messages emit → parse → equal, and the bytes
//! re-emit identically (the parser is strict, so the encoding is canonical).

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipsec_core::wire::{
    AttributePayload, CertEncoding, Certificate, CertificateRequest, CfgType, ConfigAttribute,
    ConfigAttributeType, ConfigValue, DataAttribute, Delete, ExchangeType, Flags, Fragment, Header,
    IdType, IdValue, Identification, LabeledDomain, Message, NatD, NatNumbering, NatOa,
    Notification, NotifyType, Payload, PayloadChain, PayloadType, Phase1Attribute, Phase2Attribute,
    Proposal, ProtocolId, SecurityAssociation, Situation, TrailingBytes, Transform,
    UnitySplitNetwork, VendorId, emit_chain, emit_encrypted_message, emit_message, sa,
};
use proptest::collection::vec;
use proptest::prelude::*;

/// Leak a generated buffer so that payloads can borrow it for `'static` (test-only).
fn leak(v: Vec<u8>) -> &'static [u8] {
    Box::leak(v.into_boxed_slice())
}

fn bytes(min: usize, max: usize) -> impl Strategy<Value = &'static [u8]> {
    vec(any::<u8>(), min..=max).prop_map(leak)
}

fn data_attribute() -> impl Strategy<Value = DataAttribute<'static>> {
    prop_oneof![
        (0u16..0x8000, any::<u16>()).prop_map(|(t, v)| DataAttribute::basic(t, v)),
        (0u16..0x8000, bytes(0, 40)).prop_map(|(t, v)| DataAttribute::variable(t, v)),
    ]
}

fn transform() -> impl Strategy<Value = Transform<'static>> {
    (any::<u8>(), any::<u8>(), vec(data_attribute(), 0..8)).prop_map(|(number, id, attributes)| {
        Transform {
            number,
            transform_id: id,
            attributes,
        }
    })
}

fn proposal() -> impl Strategy<Value = Proposal<'static>> {
    (
        any::<u8>(),
        any::<u8>(),
        bytes(0, 16),
        vec(transform(), 1..5),
    )
        .prop_map(|(number, protocol, spi, transforms)| Proposal {
            number,
            protocol: ProtocolId::from(protocol),
            spi,
            transforms,
        })
}

fn situation() -> impl Strategy<Value = Situation<'static>> {
    let labeled = (any::<u32>(), bytes(0, 9), 0u16..40, bytes(0, 9), 0u16..40)
        .prop_flat_map(|(domain, secrecy_level, sbits, integrity_level, ibits)| {
            (
                Just((domain, secrecy_level, sbits, integrity_level, ibits)),
                bytes(
                    usize::from(sbits).div_ceil(8),
                    usize::from(sbits).div_ceil(8),
                ),
                bytes(
                    usize::from(ibits).div_ceil(8),
                    usize::from(ibits).div_ceil(8),
                ),
            )
        })
        .prop_map(|((domain, sl, sbits, il, ibits), sc, ic)| LabeledDomain {
            domain,
            secrecy_level: sl,
            secrecy_category_bits: sbits,
            secrecy_categories: sc,
            integrity_level: il,
            integrity_category_bits: ibits,
            integrity_categories: ic,
        });
    prop_oneof![
        Just(Situation::IDENTITY_ONLY),
        (1u32..=7, labeled).prop_map(|(bits, l)| {
            let bits = bits | sa::situation::SECRECY;
            Situation {
                bits,
                labeled: Some(l),
            }
        }),
    ]
}

fn security_association() -> impl Strategy<Value = SecurityAssociation<'static>> {
    (situation(), vec(proposal(), 1..4)).prop_map(|(situation, proposals)| SecurityAssociation {
        doi: sa::DOI_IPSEC,
        situation,
        proposals,
    })
}

fn ipv4() -> impl Strategy<Value = Ipv4Addr> {
    any::<[u8; 4]>().prop_map(Ipv4Addr::from)
}

fn ipv6() -> impl Strategy<Value = Ipv6Addr> {
    any::<[u8; 16]>().prop_map(Ipv6Addr::from)
}

fn id_value() -> impl Strategy<Value = IdValue<'static>> {
    prop_oneof![
        ipv4().prop_map(IdValue::Ipv4),
        ipv6().prop_map(IdValue::Ipv6),
        bytes(1, 30).prop_map(IdValue::Fqdn),
        bytes(1, 30).prop_map(IdValue::UserFqdn),
        (ipv4(), ipv4()).prop_map(|(addr, mask)| IdValue::Ipv4Subnet { addr, mask }),
        (ipv6(), ipv6()).prop_map(|(addr, mask)| IdValue::Ipv6Subnet { addr, mask }),
        (ipv4(), ipv4()).prop_map(|(start, end)| IdValue::Ipv4Range { start, end }),
        (ipv6(), ipv6()).prop_map(|(start, end)| IdValue::Ipv6Range { start, end }),
        bytes(1, 60).prop_map(IdValue::DerAsn1Dn),
        bytes(1, 60).prop_map(IdValue::DerAsn1Gn),
        bytes(1, 30).prop_map(IdValue::KeyId),
        (12u8..=255, bytes(0, 20)).prop_map(|(id_type, data)| IdValue::Unknown { id_type, data }),
    ]
}

fn identification() -> impl Strategy<Value = Identification<'static>> {
    (id_value(), any::<u8>(), any::<u16>())
        .prop_map(|(v, proto, port)| Identification::new(v, proto, port))
}

fn notification() -> impl Strategy<Value = Notification<'static>> {
    let plain = (
        any::<u32>(),
        any::<u8>(),
        bytes(0, 16),
        any::<u16>(),
        bytes(0, 30),
    )
        .prop_filter("typed notify data", |(_, _, _, t, _)| {
            !matches!(
                NotifyType::from(*t),
                NotifyType::DpdRUThere
                    | NotifyType::DpdRUThereAck
                    | NotifyType::ReplayStatus
                    | NotifyType::ResponderLifetime
            )
        })
        .prop_map(|(doi, proto, spi, ty, data)| Notification {
            doi,
            protocol: ProtocolId::from(proto),
            spi,
            notify_type: NotifyType::from(ty),
            data: Cow::Borrowed(data),
        });
    let dpd = (any::<bool>(), any::<[u8; 16]>(), any::<u32>()).prop_map(|(ack, c, seq)| {
        let cookies: &'static [u8; 16] = Box::leak(Box::new(c));
        Notification::dpd(ack, cookies, seq)
    });
    let lifetime = (bytes(0, 4), vec(data_attribute(), 0..4)).prop_map(|(spi, attrs)| {
        let mut data = Vec::new();
        for a in &attrs {
            a.emit(&mut data).unwrap();
        }
        Notification {
            doi: 1,
            protocol: ProtocolId::Esp,
            spi,
            notify_type: NotifyType::ResponderLifetime,
            data: Cow::Owned(data),
        }
    });
    prop_oneof![plain, dpd, lifetime]
}

fn delete() -> impl Strategy<Value = Delete<'static>> {
    (any::<u32>(), any::<u8>(), 1u8..=16, 1usize..6).prop_flat_map(|(doi, p, size, n)| {
        bytes(usize::from(size) * n, usize::from(size) * n)
            .prop_map(move |spis| Delete::new(doi, ProtocolId::from(p), size, spis))
    })
}

fn split_networks() -> impl Strategy<Value = Vec<UnitySplitNetwork>> {
    (vec((ipv4(), ipv4(), any::<[u8; 6]>()), 1..5), any::<bool>()).prop_map(|(list, short_last)| {
        let n = list.len();
        list.into_iter()
            .enumerate()
            .map(|(i, (addr, mask, extra))| UnitySplitNetwork {
                addr,
                mask,
                extra: if short_last && i + 1 == n {
                    None
                } else {
                    Some(extra)
                },
            })
            .collect()
    })
}

fn config_attribute() -> impl Strategy<Value = ConfigAttribute<'static>> {
    use ConfigAttributeType as T;
    prop_oneof![
        ipv4().prop_map(|a| ConfigAttribute {
            ty: T::InternalIp4Address,
            value: ConfigValue::Ipv4(a)
        }),
        ipv4().prop_map(|a| ConfigAttribute {
            ty: T::InternalIp4Dns,
            value: ConfigValue::Ipv4(a)
        }),
        (ipv4(), ipv4()).prop_map(|(addr, mask)| ConfigAttribute {
            ty: T::InternalIp4Subnet,
            value: ConfigValue::Ipv4Subnet { addr, mask }
        }),
        (ipv6(), any::<u8>()).prop_map(|(addr, prefix_len)| ConfigAttribute {
            ty: T::InternalIp6Address,
            value: ConfigValue::Ipv6Prefix { addr, prefix_len }
        }),
        ipv6().prop_map(|a| ConfigAttribute {
            ty: T::InternalIp6Dns,
            value: ConfigValue::Ipv6(a)
        }),
        any::<u32>().prop_map(|v| ConfigAttribute {
            ty: T::InternalAddressExpiry,
            value: ConfigValue::U32(v)
        }),
        vec(any::<u16>(), 1..6).prop_map(|l| ConfigAttribute {
            ty: T::SupportedAttributes,
            value: ConfigValue::TypeList(l)
        }),
        any::<u16>().prop_map(|v| ConfigAttribute {
            ty: T::XauthType,
            value: ConfigValue::U16(v)
        }),
        any::<u16>().prop_map(|v| ConfigAttribute {
            ty: T::XauthStatus,
            value: ConfigValue::U16(v)
        }),
        bytes(1, 20).prop_map(|b| ConfigAttribute {
            ty: T::XauthUserName,
            value: ConfigValue::Bytes(Cow::Borrowed(b))
        }),
        bytes(1, 20).prop_map(|b| ConfigAttribute {
            ty: T::UnityBanner,
            value: ConfigValue::Bytes(Cow::Borrowed(b))
        }),
        split_networks().prop_map(|l| ConfigAttribute {
            ty: T::UnitySplitInclude,
            value: ConfigValue::Networks(l)
        }),
        split_networks().prop_map(|l| ConfigAttribute {
            ty: T::UnityLocalLan,
            value: ConfigValue::Networks(l)
        }),
        (0u16..0x8000).prop_map(|t| ConfigAttribute {
            ty: ConfigAttributeType::from(t),
            value: ConfigValue::Empty
        }),
    ]
}

fn attribute_payload() -> impl Strategy<Value = AttributePayload<'static>> {
    (
        any::<u8>(),
        any::<u16>(),
        prop_oneof![
            vec(data_attribute(), 0..10),
            vec(config_attribute(), 0..10)
                .prop_map(|l| l.iter().map(|a| a.to_raw().unwrap()).collect()),
        ],
    )
        .prop_map(|(t, identifier, attributes)| AttributePayload {
            cfg_type: CfgType::from(t),
            identifier,
            attributes,
        })
}

fn numbering() -> impl Strategy<Value = NatNumbering> {
    prop_oneof![Just(NatNumbering::Rfc3947), Just(NatNumbering::Draft)]
}

fn payload() -> impl Strategy<Value = Payload<'static>> {
    prop_oneof![
        security_association().prop_map(Payload::SecurityAssociation),
        bytes(1, 300).prop_map(Payload::KeyExchange),
        identification().prop_map(Payload::Identification),
        (any::<u8>(), bytes(1, 100)).prop_map(|(e, data)| Payload::Certificate(Certificate {
            encoding: CertEncoding::from(e),
            data
        })),
        (any::<u8>(), bytes(0, 100)).prop_map(|(e, authority)| Payload::CertificateRequest(
            CertificateRequest {
                cert_type: CertEncoding::from(e),
                authority
            }
        )),
        bytes(1, 64).prop_map(Payload::Hash),
        bytes(1, 300).prop_map(Payload::Signature),
        bytes(8, 256).prop_map(Payload::Nonce),
        notification().prop_map(Payload::Notification),
        delete().prop_map(Payload::Delete),
        bytes(0, 24).prop_map(|data| Payload::VendorId(VendorId { data })),
        attribute_payload().prop_map(Payload::Attribute),
        (bytes(1, 64), numbering())
            .prop_map(|(hash, numbering)| Payload::NatD(NatD { hash, numbering })),
        (
            prop_oneof![ipv4().prop_map(IpAddr::V4), ipv6().prop_map(IpAddr::V6)],
            numbering()
        )
            .prop_map(|(address, numbering)| Payload::NatOa(NatOa { address, numbering })),
        (any::<u16>(), 1u8..=255, any::<u8>(), bytes(0, 100)).prop_map(
            |(id, number, flags, data)| Payload::Fragment(Fragment {
                id,
                number,
                flags,
                data
            })
        ),
        (
            prop_oneof![15u8..=19, 22u8..=129, 133u8..=255],
            bytes(0, 50)
        )
            .prop_map(|(ty, body)| Payload::Unknown { ty, body }),
    ]
}

fn header() -> impl Strategy<Value = Header> {
    (
        any::<[u8; 8]>(),
        any::<[u8; 8]>(),
        any::<u8>(),
        0u8..8,
        any::<u32>(),
    )
        .prop_map(|(ic, rc, ex, flags, message_id)| Header {
            initiator_cookie: ic,
            responder_cookie: rc,
            next_payload: PayloadType::None,
            exchange_type: ExchangeType::from(ex),
            flags: Flags::from_bits(flags).unwrap(),
            message_id,
            length: 0,
        })
}

fn emit_one(p: &Payload<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    p.emit(PayloadType::None, &mut out).unwrap();
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn payload_round_trip(p in payload()) {
        let bytes = emit_one(&p);
        let chain = PayloadChain::parse(p.ty(), &bytes, TrailingBytes::Forbidden).unwrap();
        prop_assert_eq!(chain.len(), 1);
        let raw = chain.get(0).unwrap();
        prop_assert_eq!(raw.raw(), &bytes[..]);
        prop_assert_eq!(raw.body(), &bytes[4..]);
        let decoded = raw.decode().unwrap();
        prop_assert_eq!(&decoded, &p);
        prop_assert_eq!(emit_one(&decoded), bytes);
    }

    #[test]
    fn message_round_trip(h in header(), payloads in vec(payload(), 0..8)) {
        let mut out = Vec::new();
        emit_message(&h, &payloads, &mut out).unwrap();
        let msg = Message::parse(&out).unwrap();
        prop_assert_eq!(msg.header.length as usize, out.len());
        prop_assert!(!msg.header.flags.encrypted());
        prop_assert_eq!(msg.header.exchange_type, h.exchange_type);
        prop_assert_eq!(msg.header.message_id, h.message_id);
        let chain = msg.payloads().unwrap();
        let decoded = chain.decode().unwrap();
        prop_assert_eq!(&decoded, &payloads);
        // bytes_from(k) is the suffix of the chain starting at payload k.
        for k in 0..=chain.len() {
            let suffix = chain.bytes_from(k).unwrap();
            let mut again = Vec::new();
            emit_chain(&payloads[k..], &mut again).unwrap();
            prop_assert_eq!(suffix, &again[..]);
        }
        let mut again = Vec::new();
        emit_message(&msg.header, &decoded, &mut again).unwrap();
        prop_assert_eq!(again, out);
    }

    #[test]
    fn encrypted_message_round_trip(
        h in header(),
        payloads in vec(payload(), 1..5),
        pad in vec(any::<u8>(), 0..16),
    ) {
        // What the engine does: emit the chain, pad it, "encrypt" (identity here), emit the
        // header with the E flag; then parse the ciphertext back as a padded chain.
        let mut plain = Vec::new();
        let first = emit_chain(&payloads, &mut plain).unwrap();
        plain.extend_from_slice(&pad);
        let mut out = Vec::new();
        emit_encrypted_message(&h, first, &plain, &mut out).unwrap();
        let msg = Message::parse(&out).unwrap();
        prop_assert!(msg.header.flags.encrypted());
        prop_assert_eq!(msg.header.next_payload, first);
        let body = msg.ciphertext().unwrap();
        let chain = PayloadChain::parse(msg.header.next_payload, body, TrailingBytes::Allowed).unwrap();
        prop_assert_eq!(chain.trailing(), &pad[..]);
        prop_assert_eq!(chain.decode().unwrap(), payloads);
    }

    #[test]
    fn phase1_typed_round_trip(a in data_attribute()) {
        // Every typed decoding that succeeds maps back to an attribute that decodes the same.
        if let Ok(t) = Phase1Attribute::decode(&a) {
            prop_assert_eq!(Phase1Attribute::decode(&t.to_raw()).unwrap(), t);
        }
        if let Ok(t) = Phase2Attribute::decode(&a) {
            prop_assert_eq!(Phase2Attribute::decode(&t.to_raw()).unwrap(), t);
        }
    }

    #[test]
    fn life_duration_any_u64(v in any::<u64>()) {
        let a = Phase1Attribute::LifeDuration(v).to_raw();
        prop_assert_eq!(Phase1Attribute::decode(&a).unwrap(), Phase1Attribute::LifeDuration(v));
        let a = Phase2Attribute::SaLifeDuration(v).to_raw();
        prop_assert_eq!(Phase2Attribute::decode(&a).unwrap(), Phase2Attribute::SaLifeDuration(v));
    }

    #[test]
    fn config_attribute_typed_round_trip(c in config_attribute()) {
        let raw = c.to_raw().unwrap();
        prop_assert_eq!(ConfigAttribute::decode(&raw).unwrap(), c);
    }

    #[test]
    fn id_value_round_trip(v in id_value()) {
        let id = Identification::new(v, 0, 0);
        prop_assert_eq!(id.value().unwrap(), v);
        prop_assert_eq!(id.id_type, v.id_type());
        prop_assert_ne!(id.id_type, IdType::Unknown(0));
    }
}
