//! Malformed input: each rejection is the specific [`WireError`] variant, with the right
//! notification and a stable kind label.

use ipsec_core::wire::{
    AttributePayload, ConfigAttribute, DataAttribute, Datagram, Delete, Fragment, Header,
    Identification, Message, NatOa, Notification, NotifyType, Payload, PayloadChain, PayloadType,
    Phase1Attribute, Phase2Attribute, SecurityAssociation, TrailingBytes, UnitySplitNetwork,
    WireError, classify_nat_t, parse_attributes,
};

/// A 28-byte header with the given fields and a correct length for `body`.
fn message(next: u8, version: u8, flags: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![
        1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0, next, version, 2, flags,
    ];
    m.extend_from_slice(&0u32.to_be_bytes());
    m.extend_from_slice(&((28 + body.len()) as u32).to_be_bytes());
    m.extend_from_slice(body);
    m
}

/// A payload with a generic header.
fn payload(next: u8, body: &[u8]) -> Vec<u8> {
    let mut p = vec![next, 0];
    p.extend_from_slice(&((4 + body.len()) as u16).to_be_bytes());
    p.extend_from_slice(body);
    p
}

fn err(bytes: &[u8]) -> WireError {
    Message::parse(bytes).unwrap_err()
}

fn body_err(ty: PayloadType, body: &[u8]) -> WireError {
    Payload::decode(ty, body).unwrap_err()
}

// ---- header -------------------------------------------------------------------------

#[test]
fn header_truncated() {
    for n in 0..28 {
        let m = message(0, 0x10, 0, &[]);
        assert!(matches!(err(&m[..n]), WireError::Truncated { needed, .. } if needed > 0));
    }
}

#[test]
fn header_versions() {
    let e = err(&message(0, 0x20, 0, &[]));
    assert_eq!(e, WireError::InvalidMajorVersion(2));
    assert_eq!(e.notify_type(), NotifyType::InvalidMajorVersion);
    assert_eq!(e.kind(), "invalid_major_version");
    assert_eq!(
        err(&message(0, 0x11, 0, &[])),
        WireError::InvalidMinorVersion(1)
    );
    assert_eq!(
        err(&message(0, 0x11, 0, &[])).notify_type(),
        NotifyType::InvalidMinorVersion
    );
}

#[test]
fn header_flags() {
    for bit in 3..8 {
        let e = err(&message(0, 0x10, 1 << bit, &[]));
        assert_eq!(e, WireError::InvalidFlags(1 << bit));
        assert_eq!(e.notify_type(), NotifyType::InvalidFlags);
    }
    // Defined flags alone are fine (E needs a body).
    assert!(Message::parse(&message(0, 0x10, 0x06, &[])).is_ok());
}

#[test]
fn header_length_fields() {
    let mut m = message(0, 0x10, 0, &[]);
    m[24..28].copy_from_slice(&27u32.to_be_bytes());
    assert_eq!(err(&m), WireError::MessageLengthTooSmall(27));
    m[24..28].copy_from_slice(&29u32.to_be_bytes());
    let e = err(&m);
    assert_eq!(
        e,
        WireError::MessageLengthMismatch {
            header: 29,
            datagram: 28
        }
    );
    assert_eq!(e.notify_type(), NotifyType::UnequalPayloadLengths);
    // A datagram longer than the Length field is rejected too (RFC 2408 §5.1).
    let mut m = message(0, 0x10, 0, &[]);
    m.push(0);
    assert_eq!(
        err(&m),
        WireError::MessageLengthMismatch {
            header: 28,
            datagram: 29
        }
    );
    m[24..28].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(err(&m), WireError::MessageLengthMismatch { .. }));
}

#[test]
fn header_first_payload_substructure() {
    assert_eq!(
        err(&message(2, 0x10, 0, &[])),
        WireError::InvalidPayloadType(2)
    );
    assert_eq!(
        err(&message(3, 0x10, 0, &[])),
        WireError::InvalidPayloadType(3)
    );
    assert_eq!(
        WireError::InvalidPayloadType(2).notify_type(),
        NotifyType::InvalidPayloadType
    );
}

#[test]
fn empty_encrypted_body() {
    assert_eq!(
        err(&message(8, 0x10, 1, &[])),
        WireError::EmptyEncryptedBody
    );
    assert!(Message::parse(&message(8, 0x10, 1, &[0; 16])).is_ok());
}

// ---- payload chain ------------------------------------------------------------------

#[test]
fn chain_errors() {
    // Generic header cut short.
    assert!(matches!(
        err(&message(13, 0x10, 0, &[0, 0])),
        WireError::Truncated { .. }
    ));
    // Payload Length < 4.
    assert_eq!(
        err(&message(13, 0x10, 0, &[0, 0, 0, 3])),
        WireError::PayloadTooShort {
            payload: 13,
            length: 3,
            min: 4
        }
    );
    // Payload Length past the end.
    assert_eq!(
        err(&message(13, 0x10, 0, &[0, 0, 0, 9, 1, 2])),
        WireError::PayloadOverrun {
            payload: 13,
            length: 9,
            available: 6
        }
    );
    // Non-zero RESERVED.
    let e = err(&message(13, 0x10, 0, &[0, 1, 0, 4]));
    assert!(matches!(e, WireError::NonZeroReserved { .. }));
    assert_eq!(e.notify_type(), NotifyType::PayloadMalformed);
    // Bytes after the last payload: up to 3 zero bytes are alignment padding (libreswan), set
    // aside; a non-zero byte or more than 3 bytes are refused.
    let mut b = payload(0, &[1]);
    b.push(0);
    let padded = message(13, 0x10, 0, &b);
    let parsed = Message::parse(&padded).unwrap();
    assert_eq!(parsed.payloads().map(|c| c.trailing()), Some(&[0u8][..]));
    let mut nonzero = payload(0, &[1]);
    nonzero.push(7);
    assert_eq!(
        err(&message(13, 0x10, 0, &nonzero)),
        WireError::TrailingBytes { count: 1 }
    );
    let mut long = payload(0, &[1]);
    long.extend_from_slice(&[0; 4]);
    assert_eq!(
        err(&message(13, 0x10, 0, &long)),
        WireError::TrailingBytes { count: 4 }
    );
    // ... which a decrypted body may have.
    let chain = PayloadChain::parse(PayloadType::VendorId, &b, TrailingBytes::Allowed).unwrap();
    assert_eq!(chain.trailing(), &[0]);
    // Next payload announcing a payload that is not there.
    assert!(matches!(
        err(&message(13, 0x10, 0, &payload(13, &[1]))),
        WireError::Truncated { .. }
    ));
    // Proposal inside a top-level chain.
    assert_eq!(
        err(&message(13, 0x10, 0, &payload(2, &[1]))),
        WireError::InvalidPayloadType(2)
    );
}

#[test]
fn too_many_payloads() {
    let mut b = Vec::new();
    for _ in 0..64 {
        b.extend(payload(13, &[]));
    }
    b.extend(payload(0, &[]));
    assert_eq!(
        err(&message(13, 0x10, 0, &b)),
        WireError::TooManyPayloads { limit: 64 }
    );
    // 64 is fine.
    let mut b = Vec::new();
    for _ in 0..63 {
        b.extend(payload(13, &[]));
    }
    b.extend(payload(0, &[]));
    assert_eq!(
        Message::parse(&message(13, 0x10, 0, &b))
            .unwrap()
            .payloads()
            .unwrap()
            .len(),
        64
    );
}

#[test]
fn unknown_payload_types_are_kept() {
    let b = payload(0, &[0xaa, 0xbb]);
    let m = message(200, 0x10, 0, &b);
    let msg = Message::parse(&m).unwrap();
    let p = msg.payloads().unwrap().get(0).unwrap();
    assert_eq!(p.ty(), PayloadType::Unknown(200));
    assert_eq!(
        p.decode().unwrap(),
        Payload::Unknown {
            ty: 200,
            body: &[0xaa, 0xbb]
        }
    );
}

// ---- SA / proposal / transform ------------------------------------------------------

fn transform(next: u8, attrs: &[u8]) -> Vec<u8> {
    let mut body = vec![1, 1, 0, 0];
    body.extend_from_slice(attrs);
    payload(next, &body)
}

fn proposal(next: u8, count: u8, spi: &[u8], transforms: &[u8]) -> Vec<u8> {
    let mut body = vec![1, 1, spi.len() as u8, count];
    body.extend_from_slice(spi);
    body.extend_from_slice(transforms);
    payload(next, &body)
}

fn sa(proposals: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 0, 1, 0, 0, 0, 1];
    b.extend_from_slice(proposals);
    b
}

fn sa_err(body: &[u8]) -> WireError {
    SecurityAssociation::parse(body).unwrap_err()
}

#[test]
fn sa_valid_baseline() {
    let t = transform(0, &[0x80, 0x01, 0x00, 0x07]);
    let p = proposal(0, 1, &[], &t);
    assert!(SecurityAssociation::parse(&sa(&p)).is_ok());
}

#[test]
fn sa_doi_and_situation() {
    assert_eq!(
        sa_err(&[0, 0, 0, 2, 0, 0, 0, 1]),
        WireError::UnsupportedDoi(2)
    );
    assert_eq!(
        WireError::UnsupportedDoi(2).notify_type(),
        NotifyType::DoiNotSupported
    );
    assert_eq!(
        sa_err(&[0, 0, 0, 1, 0, 0, 0, 9]),
        WireError::UnsupportedSituation(9)
    );
    assert!(matches!(
        sa_err(&[0, 0, 0, 1, 0, 0]),
        WireError::Truncated { .. }
    ));
    // SIT_SECRECY without the labeled-domain data.
    assert!(matches!(
        sa_err(&[0, 0, 0, 1, 0, 0, 0, 2, 0, 0]),
        WireError::Truncated { .. }
    ));
    // Labeled domain with non-zero padding after a 1-byte secrecy level.
    let mut b = vec![
        0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 7, 0, 1, 0, 0, 0xaa, 1, 0, 0,
    ];
    b.extend_from_slice(&[0; 12]);
    assert!(matches!(sa_err(&b), WireError::NonZeroReserved { .. }));
}

#[test]
fn sa_proposal_structure() {
    let t = transform(0, &[]);
    assert_eq!(sa_err(&sa(&[])), WireError::NoProposals);
    // Proposal next payload not 0/2.
    assert_eq!(
        sa_err(&sa(&proposal(5, 1, &[], &t))),
        WireError::ProposalNextPayload(5)
    );
    // Proposal announcing another that is missing.
    assert!(matches!(
        sa_err(&sa(&proposal(2, 1, &[], &t))),
        WireError::Truncated { .. }
    ));
    // Proposal length lies (too long for the SA).
    let mut p = proposal(0, 1, &[], &t);
    p[3] += 4;
    let e = sa_err(&sa(&p));
    assert!(matches!(
        e,
        WireError::SubstructureLength {
            what: "proposal",
            ..
        }
    ));
    assert_eq!(e.notify_type(), NotifyType::BadProposalSyntax);
    // Proposal length < 4.
    let mut p = proposal(0, 1, &[], &t);
    p[2..4].copy_from_slice(&3u16.to_be_bytes());
    assert!(matches!(
        sa_err(&sa(&p)),
        WireError::SubstructureLength { length: 3, .. }
    ));
    // Zero transforms declared.
    assert_eq!(
        sa_err(&sa(&proposal(0, 0, &[], &[]))),
        WireError::NoTransforms
    );
    // SPI size larger than the proposal.
    let mut p = proposal(0, 1, &[], &t);
    p[6] = 200;
    assert!(matches!(sa_err(&sa(&p)), WireError::Truncated { .. }));
    // Bytes after the last proposal.
    let mut b = sa(&proposal(0, 1, &[], &t));
    b.extend_from_slice(&[0; 4]);
    assert!(matches!(sa_err(&b), WireError::TrailingData { .. }));
    // Non-zero RESERVED in the proposal header.
    let mut p = proposal(0, 1, &[], &t);
    p[1] = 1;
    assert!(matches!(sa_err(&sa(&p)), WireError::NonZeroReserved { .. }));
}

#[test]
fn sa_transform_structure() {
    // Count says 2, one present.
    let t = transform(0, &[]);
    assert_eq!(
        sa_err(&sa(&proposal(0, 2, &[], &t))),
        WireError::TransformCountMismatch {
            declared: 2,
            found: 1
        }
    );
    // Count says 1, two present.
    let mut ts = transform(3, &[]);
    ts.extend(transform(0, &[]));
    assert_eq!(
        sa_err(&sa(&proposal(0, 1, &[], &ts))),
        WireError::TransformCountMismatch {
            declared: 1,
            found: 2
        }
    );
    // Transform next payload not 0/3.
    assert_eq!(
        sa_err(&sa(&proposal(0, 1, &[], &transform(2, &[])))),
        WireError::TransformNextPayload(2)
    );
    // Transform length lies.
    let mut t = transform(0, &[]);
    t[3] = 200;
    assert!(matches!(
        sa_err(&sa(&proposal(0, 1, &[], &t))),
        WireError::SubstructureLength {
            what: "transform",
            ..
        }
    ));
    // Transform shorter than its fixed part.
    let t = payload(0, &[1, 1]);
    assert!(matches!(
        sa_err(&sa(&proposal(0, 1, &[], &t))),
        WireError::Truncated { .. }
    ));
    // Non-zero RESERVED2.
    let mut t = transform(0, &[]);
    t[7] = 1;
    assert!(matches!(
        sa_err(&sa(&proposal(0, 1, &[], &t))),
        WireError::NonZeroReserved { .. }
    ));
    // Bytes after the last transform in the proposal.
    let mut ts = transform(0, &[]);
    ts.extend_from_slice(&[0, 0]);
    assert!(matches!(
        sa_err(&sa(&proposal(0, 1, &[], &ts))),
        WireError::TrailingData { .. }
    ));
}

#[test]
fn sa_attribute_overrun() {
    // TLV claiming 10 bytes with 2 present.
    let t = transform(0, &[0x00, 0x0c, 0x00, 0x0a, 1, 2]);
    assert_eq!(
        sa_err(&sa(&proposal(0, 1, &[], &t))),
        WireError::AttributeOverrun {
            ty: 12,
            length: 10,
            available: 2
        }
    );
    // Half an attribute header.
    let t = transform(0, &[0x80, 0x01]);
    assert!(matches!(
        sa_err(&sa(&proposal(0, 1, &[], &t))),
        WireError::Truncated { .. }
    ));
}

#[test]
fn too_many_proposals_and_transforms() {
    let t = transform(0, &[]);
    let mut ps = Vec::new();
    for _ in 0..64 {
        ps.extend(proposal(2, 1, &[], &t));
    }
    ps.extend(proposal(0, 1, &[], &t));
    assert_eq!(sa_err(&sa(&ps)), WireError::TooManyProposals { limit: 64 });
    // 255 transforms in each of two proposals: 510 > 256.
    let mut ts = Vec::new();
    for i in 0..255 {
        ts.extend(transform(if i == 254 { 0 } else { 3 }, &[]));
    }
    let mut ps = proposal(2, 255, &[], &ts);
    ps.extend(proposal(0, 255, &[], &ts));
    assert_eq!(
        sa_err(&sa(&ps)),
        WireError::TooManyTransforms { limit: 256 }
    );
}

#[test]
fn too_many_attributes() {
    let attrs: Vec<u8> = (0..129).flat_map(|_| [0x80, 0x01, 0x00, 0x01]).collect();
    assert_eq!(
        parse_attributes(&attrs).unwrap_err(),
        WireError::TooManyAttributes { limit: 128 }
    );
    assert_eq!(parse_attributes(&attrs[4..]).unwrap().len(), 128);
}

#[test]
fn typed_attribute_errors() {
    // Basic attribute in TLV form.
    let a = DataAttribute::variable(1, &[0, 7]);
    assert_eq!(
        Phase1Attribute::decode(&a).unwrap_err(),
        WireError::AttributeFormat { ty: 1 }
    );
    // Variable attribute in TV form.
    let a = DataAttribute::basic(6, 7);
    assert_eq!(
        Phase1Attribute::decode(&a).unwrap_err(),
        WireError::AttributeFormat { ty: 6 }
    );
    // Life Duration of 9 bytes, and empty.
    let a = DataAttribute::variable(12, &[1; 9]);
    let e = Phase1Attribute::decode(&a).unwrap_err();
    assert_eq!(e, WireError::AttributeLength { ty: 12, length: 9 });
    assert_eq!(e.notify_type(), NotifyType::AttributesNotSupported);
    let a = DataAttribute::variable(2, &[]);
    assert_eq!(
        Phase2Attribute::decode(&a).unwrap_err(),
        WireError::AttributeLength { ty: 2, length: 0 }
    );
    // Life Duration of 8 bytes is fine.
    let a = DataAttribute::variable(12, &[0, 0, 0, 1, 0, 0, 0, 0]);
    assert_eq!(
        Phase1Attribute::decode(&a).unwrap(),
        Phase1Attribute::LifeDuration(1 << 32)
    );
}

// ---- simple payloads ----------------------------------------------------------------

#[test]
fn empty_bodies() {
    for (ty, what) in [
        (PayloadType::KeyExchange, "KE data"),
        (PayloadType::Hash, "hash data"),
        (PayloadType::Signature, "signature data"),
        (PayloadType::NatD, "NAT-D hash"),
        (PayloadType::NatDDraft, "NAT-D hash"),
    ] {
        assert_eq!(body_err(ty, &[]), WireError::Empty { what });
    }
    assert!(matches!(
        body_err(PayloadType::Certificate, &[4]),
        WireError::Empty { .. }
    ));
    assert!(matches!(
        body_err(PayloadType::Certificate, &[]),
        WireError::Truncated { .. }
    ));
    assert!(matches!(
        body_err(PayloadType::CertificateRequest, &[]),
        WireError::Truncated { .. }
    ));
    // A Vendor ID may be empty.
    assert!(Payload::decode(PayloadType::VendorId, &[]).is_ok());
}

#[test]
fn nonce_length() {
    assert_eq!(
        body_err(PayloadType::Nonce, &[0; 7]),
        WireError::InvalidNonceLength(7)
    );
    assert_eq!(
        body_err(PayloadType::Nonce, &[0; 257]),
        WireError::InvalidNonceLength(257)
    );
    assert!(Payload::decode(PayloadType::Nonce, &[0; 8]).is_ok());
    assert!(Payload::decode(PayloadType::Nonce, &[0; 256]).is_ok());
}

#[test]
fn identification_errors() {
    assert!(matches!(
        Identification::parse(&[1, 0, 0]).unwrap_err(),
        WireError::Truncated { .. }
    ));
    for (ty, len) in [
        (1u8, 3usize),
        (1, 5),
        (4, 7),
        (5, 15),
        (6, 31),
        (7, 9),
        (8, 33),
        (2, 0),
        (3, 0),
        (9, 0),
        (10, 0),
        (11, 0),
    ] {
        let mut b = vec![ty, 17, 1, 244];
        b.extend(std::iter::repeat_n(1, len));
        let e = Identification::parse(&b).unwrap_err();
        assert_eq!(
            e,
            WireError::InvalidIdData {
                id_type: ty,
                length: len
            }
        );
        assert_eq!(e.notify_type(), NotifyType::InvalidIdInformation);
    }
    // Unknown ID types carry any data.
    assert!(Identification::parse(&[99, 0, 0, 0]).is_ok());
}

#[test]
fn notification_errors() {
    assert!(matches!(
        Notification::parse(&[0, 0, 0, 1, 1, 16, 0x8d]).unwrap_err(),
        WireError::Truncated { .. }
    ));
    // SPI size larger than what follows.
    assert!(matches!(
        Notification::parse(&[0, 0, 0, 1, 3, 4, 0x60, 0x02, 1, 2]).unwrap_err(),
        WireError::Truncated { .. }
    ));
    // DPD R-U-THERE with 3 data bytes.
    let mut b = vec![0, 0, 0, 1, 1, 16, 0x8d, 0x28];
    b.extend([0; 16]);
    b.extend([0, 0, 1]);
    assert_eq!(
        Notification::parse(&b).unwrap_err(),
        WireError::InvalidNotifyData { notify: 36136 }
    );
    b.push(7);
    assert_eq!(Notification::parse(&b).unwrap().dpd_sequence(), Some(0x107));
    // RESPONDER-LIFETIME with a TLV overrun.
    let b = [0, 0, 0, 1, 3, 0, 0x60, 0x00, 0x00, 0x02, 0x00, 0x08, 1];
    assert!(matches!(
        Notification::parse(&b).unwrap_err(),
        WireError::AttributeOverrun { .. }
    ));
}

#[test]
fn delete_errors() {
    let e = Delete::parse(&[0, 0, 0, 1, 3, 0, 0, 1]).unwrap_err();
    assert_eq!(
        e,
        WireError::InvalidSpi {
            spi_size: 0,
            count: 1
        }
    );
    assert_eq!(e.notify_type(), NotifyType::InvalidSpi);
    assert_eq!(
        Delete::parse(&[0, 0, 0, 1, 3, 4, 0, 0]).unwrap_err(),
        WireError::InvalidSpi {
            spi_size: 4,
            count: 0
        }
    );
    assert_eq!(
        Delete::parse(&[0, 0, 0, 1, 3, 4, 0, 2, 1, 2, 3, 4]).unwrap_err(),
        WireError::DeleteSpiCount {
            count: 2,
            spi_size: 4,
            available: 4
        }
    );
    assert_eq!(
        Delete::parse(&[0, 0, 0, 1, 3, 4, 0, 1, 1, 2, 3, 4, 5]).unwrap_err(),
        WireError::DeleteSpiCount {
            count: 1,
            spi_size: 4,
            available: 5
        }
    );
    // 65535 SPIs of 255 bytes: the multiplication does not overflow, it just mismatches.
    assert!(matches!(
        Delete::parse(&[0, 0, 0, 1, 3, 255, 255, 255]).unwrap_err(),
        WireError::DeleteSpiCount { .. }
    ));
    assert!(matches!(
        Delete::parse(&[0, 0, 0, 1, 3]).unwrap_err(),
        WireError::Truncated { .. }
    ));
}

#[test]
fn attribute_payload_errors() {
    assert!(matches!(
        AttributePayload::parse(&[1, 0, 0]).unwrap_err(),
        WireError::Truncated { .. }
    ));
    assert!(matches!(
        AttributePayload::parse(&[1, 1, 0, 0]).unwrap_err(),
        WireError::NonZeroReserved { .. }
    ));
    assert!(matches!(
        AttributePayload::parse(&[1, 0, 0, 0, 0x40, 0x89, 0x00, 0x05, 1]).unwrap_err(),
        WireError::AttributeOverrun { .. }
    ));
    // Typed: an IPv4 address of 5 bytes; a split network list of 15 bytes.
    let a = DataAttribute::variable(1, &[1, 2, 3, 4, 5]);
    assert_eq!(
        ConfigAttribute::decode(&a).unwrap_err(),
        WireError::AttributeLength { ty: 1, length: 5 }
    );
    let a = DataAttribute::variable(28676, &[0; 15]);
    assert_eq!(
        ConfigAttribute::decode(&a).unwrap_err(),
        WireError::AttributeLength {
            ty: 28676,
            length: 15
        }
    );
    // 14 + 8 is the strongSwan short form of the last entry.
    assert_eq!(
        UnitySplitNetwork::parse_list(28676, &[0; 22])
            .unwrap()
            .len(),
        2
    );
    assert!(UnitySplitNetwork::parse_list(28676, &[0; 10]).is_err());
}

#[test]
fn nat_oa_errors() {
    assert!(matches!(
        NatOa::parse(&[1, 0, 0], false).unwrap_err(),
        WireError::Truncated { .. }
    ));
    assert!(matches!(
        NatOa::parse(&[1, 0, 1, 0, 1, 2, 3, 4], false).unwrap_err(),
        WireError::NonZeroReserved { .. }
    ));
    assert_eq!(
        NatOa::parse(&[1, 0, 0, 0, 1, 2, 3], false).unwrap_err(),
        WireError::InvalidNatOa {
            id_type: 1,
            length: 3
        }
    );
    assert_eq!(
        NatOa::parse(&[5, 0, 0, 0, 1, 2, 3, 4], true).unwrap_err(),
        WireError::InvalidNatOa {
            id_type: 5,
            length: 4
        }
    );
    assert_eq!(
        NatOa::parse(&[2, 0, 0, 0, 1, 2, 3, 4], true).unwrap_err(),
        WireError::InvalidNatOa {
            id_type: 2,
            length: 4
        }
    );
}

#[test]
fn fragment_errors() {
    assert!(matches!(
        Fragment::parse(&[0, 1, 1]).unwrap_err(),
        WireError::Truncated { .. }
    ));
    assert_eq!(
        Fragment::parse(&[0, 1, 0, 1, 9]).unwrap_err(),
        WireError::InvalidFragmentNumber
    );
    let f = Fragment::parse(&[0, 1, 2, 1, 9]).unwrap();
    assert!(f.is_last());
    assert_eq!((f.id, f.number, f.data), (1, 2, &[9][..]));
}

#[test]
fn framing_errors() {
    assert_eq!(classify_nat_t(&[0xff]), Ok(Datagram::NatKeepalive));
    assert_eq!(
        classify_nat_t(&[0xfe]),
        Err(WireError::InvalidEncapsulation(1))
    );
    assert_eq!(classify_nat_t(&[]), Err(WireError::InvalidEncapsulation(0)));
    assert_eq!(
        classify_nat_t(&[0, 0, 0]),
        Err(WireError::InvalidEncapsulation(3))
    );
    assert_eq!(classify_nat_t(&[0, 0, 0, 0]), Ok(Datagram::Ike(&[])));
    assert_eq!(
        classify_nat_t(&[0, 0, 0, 1, 0, 0, 0]),
        Err(WireError::InvalidEncapsulation(7))
    );
    assert!(matches!(
        classify_nat_t(&[0, 0, 0, 1, 0, 0, 0, 1]),
        Ok(Datagram::Esp { spi: 1, .. })
    ));
}

#[test]
fn kinds_are_distinct_and_stable() {
    let samples = [
        WireError::Truncated {
            what: "x",
            needed: 1,
            available: 0,
        },
        WireError::InvalidMajorVersion(2),
        WireError::InvalidFlags(8),
        WireError::NoProposals,
        WireError::NoTransforms,
        WireError::TooManyPayloads { limit: 1 },
        WireError::InvalidFragmentNumber,
    ];
    let kinds: std::collections::HashSet<&str> = samples.iter().map(WireError::kind).collect();
    assert_eq!(kinds.len(), samples.len());
    assert!(
        kinds
            .iter()
            .all(|k| k.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
    );
    let _ = Header::parse(&[0; 28]).unwrap_err();
}
