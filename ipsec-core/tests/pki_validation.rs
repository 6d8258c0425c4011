//! Certificate path validation, CRLs and ID binding against the test PKI in `vectors/pki`
//! (made by `vectors/pki/make-pki.sh`; validity 2025-01-01..2045-01-01 unless noted).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ipsec_core::pki::{
    Certificate, Crl, KeyType, Limits, PeerVerifier, PkiError, SubjectAltName, TrustStore, UnixTime,
};
use ipsec_core::wire::{AuthMethod, IdValue};

/// 2030-01-01T00:00:00Z: inside every normal validity period.
const NOW: UnixTime = UnixTime::from_secs(1_893_456_000);
/// 2023-01-01: before the CAs' notBefore.
const Y2023: i64 = 1_672_531_200;
/// 2025-06-01.
const Y2025_06: i64 = 1_748_736_000;
/// 2041-01-01.
const Y2041: i64 = 2_240_524_800;
/// 2046-01-01: after every validity period.
const Y2046: i64 = 2_398_377_600;

fn vector(name: &str) -> Vec<u8> {
    let path = format!("{}/../vectors/pki/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn der(name: &str) -> Vec<u8> {
    Certificate::from_pem_or_der(&vector(name))
        .unwrap()
        .der()
        .to_vec()
}

fn root_verifier() -> PeerVerifier {
    PeerVerifier::new(TrustStore::from_pem(&vector("ca.pem")).unwrap())
}

fn dn_of(name: &str) -> Vec<u8> {
    Certificate::from_pem_or_der(&vector(name))
        .unwrap()
        .id_der_asn1_dn()
}

const MOON_FQDN: IdValue<'static> = IdValue::Fqdn(b"moon.ikv.test");

#[test]
fn end_entity_under_the_root() {
    let v = root_verifier();
    let moon = der("moon.pem");
    let peer = v.verify(NOW, &[&moon], &MOON_FQDN).unwrap();
    assert_eq!(peer.chain().len(), 2);
    assert_eq!(peer.key_type(), KeyType::Rsa);
    assert_eq!(peer.public_key().bits(), 2048);
    assert_eq!(
        peer.subject().to_string(),
        "C=CH, O=ikv test PKI, CN=moon.ikv.test"
    );
    assert_eq!(peer.certificate().serial(), &[0x10, 0x01]);
    assert!(
        peer.certificate()
            .subject_alt_names()
            .contains(&SubjectAltName::Ip(Ipv4Addr::new(198, 18, 0, 1).into()))
    );
    peer.check_auth_method(AuthMethod::RsaSignatures).unwrap();
    peer.check_auth_method(AuthMethod::XauthInitRsa).unwrap();
    assert!(matches!(
        peer.check_auth_method(AuthMethod::EcdsaP256),
        Err(PkiError::AuthMethodMismatch { .. })
    ));

    // every ID form the certificate carries
    let dn = dn_of("moon.pem");
    for id in [
        IdValue::Fqdn(b"moon.ikv.test"),
        IdValue::Fqdn(b"MOON.ikv.test."),
        IdValue::UserFqdn(b"moon@IKV.test"),
        IdValue::Ipv4(Ipv4Addr::new(198, 18, 0, 1)),
        IdValue::DerAsn1Dn(&dn),
    ] {
        v.verify(NOW, &[&moon], &id)
            .unwrap_or_else(|e| panic!("{id:?}: {e}"));
    }
    // SystemTime works as `now` too
    let t = UNIX_EPOCH + Duration::from_secs(NOW.secs() as u64);
    v.verify(t, &[&moon], &MOON_FQDN).unwrap();
    assert_eq!(UnixTime::from(t), NOW);
    assert!(UnixTime::from(UNIX_EPOCH - Duration::from_secs(5)).secs() == -5);
    let _ = SystemTime::now();
}

#[test]
fn ids_that_the_certificate_does_not_carry() {
    let v = root_verifier();
    let moon = der("moon.pem");
    let sun_dn = dn_of("sun.pem");
    for id in [
        IdValue::Fqdn(b"sun.ikv.test"),
        IdValue::Fqdn(b"ikv.test"),
        IdValue::Fqdn(b"moon.ikv.test.evil"),
        IdValue::UserFqdn(b"MOON@ikv.test"), // local part is case-sensitive
        IdValue::UserFqdn(b"sun@ikv.test"),
        IdValue::Ipv4(Ipv4Addr::new(198, 18, 0, 2)),
        IdValue::Ipv6(Ipv6Addr::LOCALHOST),
        IdValue::DerAsn1Dn(&sun_dn),
        IdValue::DerAsn1Dn(b"\x30\x03garbage"),
    ] {
        match v.verify(NOW, &[&moon], &id) {
            Err(PkiError::IdMismatch { subject, .. }) => {
                assert!(subject.contains("moon.ikv.test"));
            }
            other => panic!("{id:?}: {other:?}"),
        }
    }
    for id in [
        IdValue::KeyId(b"moon"),
        IdValue::Ipv4Subnet {
            addr: Ipv4Addr::new(198, 18, 0, 0),
            mask: Ipv4Addr::new(255, 255, 255, 0),
        },
        IdValue::DerAsn1Gn(b"\x82\x0dmoon.ikv.test"),
    ] {
        assert!(
            matches!(
                v.verify(NOW, &[&moon], &id),
                Err(PkiError::UnsupportedIdType { .. })
            ),
            "{id:?}"
        );
    }
    // remote-id = ignore: the chain alone
    v.verify_certificates(NOW, &[&moon]).unwrap();
}

/// A DER TLV.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    if content.len() < 128 {
        out.push(content.len() as u8);
    } else {
        out.push(0x81);
        out.push(content.len() as u8);
    }
    out.extend_from_slice(content);
    out
}

fn rdn(oid_last: u8, string_tag: u8, value: &str) -> Vec<u8> {
    let oid = tlv(0x06, &[0x55, 0x04, oid_last]);
    let atv = tlv(0x30, &[oid, tlv(string_tag, value.as_bytes())].concat());
    tlv(0x31, &atv)
}

#[test]
fn distinguished_names_compare_after_normalisation() {
    let v = root_verifier();
    let moon = der("moon.pem");
    // The certificate has C as PrintableString and O, CN as UTF8String; send every attribute
    // as UTF8String/PrintableString swapped, in another case and with extra spaces.
    let id = tlv(
        0x30,
        &[
            rdn(6, 0x0c, "ch"),
            rdn(10, 0x13, "  IKV   test PKI "),
            rdn(3, 0x13, "Moon.IKV.test"),
        ]
        .concat(),
    );
    assert_ne!(id, dn_of("moon.pem"));
    v.verify(NOW, &[&moon], &IdValue::DerAsn1Dn(&id)).unwrap();

    // a different order of RDNs is a different name
    let swapped = tlv(
        0x30,
        &[
            rdn(10, 0x0c, "ikv test PKI"),
            rdn(6, 0x13, "CH"),
            rdn(3, 0x0c, "moon.ikv.test"),
        ]
        .concat(),
    );
    assert!(matches!(
        v.verify(NOW, &[&moon], &IdValue::DerAsn1Dn(&swapped)),
        Err(PkiError::IdMismatch { .. })
    ));
    // a missing RDN too
    let short = tlv(
        0x30,
        &[rdn(6, 0x13, "CH"), rdn(3, 0x0c, "moon.ikv.test")].concat(),
    );
    assert!(matches!(
        v.verify(NOW, &[&moon], &IdValue::DerAsn1Dn(&short)),
        Err(PkiError::IdMismatch { .. })
    ));
}

#[test]
fn chain_through_an_intermediate() {
    let v = root_verifier();
    let sun = der("sun.pem");
    let intermediate = der("intermediate.pem");
    let id = IdValue::Fqdn(b"sun.ikv.test");
    let peer = v.verify(NOW, &[&sun, &intermediate], &id).unwrap();
    assert_eq!(peer.chain().len(), 3);
    assert_eq!(peer.public_key().bits(), 3072);
    // any order: the end entity is the certificate that is not a CA
    v.verify(NOW, &[&intermediate, &sun], &id).unwrap();
    // without the intermediate there is no path
    assert!(matches!(
        v.verify(NOW, &[&sun], &id),
        Err(PkiError::UnknownIssuer { .. })
    ));
    // unless it is configured as a CA itself
    let mut store = TrustStore::from_pem(&vector("ca.pem")).unwrap();
    assert_eq!(
        store
            .add_pem_or_der(&vector("intermediate.pem"), &Limits::default())
            .unwrap(),
        1
    );
    assert_eq!(store.ca_names().count(), 2);
    let peer = PeerVerifier::new(store).verify(NOW, &[&sun], &id).unwrap();
    assert_eq!(peer.chain().len(), 2);
    // the intermediate's (empty) CRL changes nothing
    let v = root_verifier()
        .with_crls(&[&vector("intermediate.crl.pem")])
        .unwrap();
    v.verify(NOW, &[&sun, &intermediate], &id).unwrap();
}

#[test]
fn several_anchors_in_one_file() {
    let both = [vector("ca.pem"), vector("ec-ca.pem")].concat();
    let store = TrustStore::from_pem(&both).unwrap();
    assert_eq!(store.anchors().len(), 2);
    let v = PeerVerifier::new(store);
    v.verify(NOW, &[&der("moon.pem")], &MOON_FQDN).unwrap();
    v.verify(NOW, &[&der("ecdsa.pem")], &IdValue::Fqdn(b"ecdsa.ikv.test"))
        .unwrap();
}

#[test]
fn unknown_ca() {
    // "other" has moon's subject and SANs, issued by a CA we do not trust
    let v = root_verifier();
    match v.verify(NOW, &[&der("other.pem")], &MOON_FQDN) {
        Err(PkiError::UnknownIssuer { issuer, .. }) => assert!(issuer.contains("ikv Other CA")),
        other => panic!("{other:?}"),
    }
    // sending the other CA along does not help
    assert!(matches!(
        v.verify(NOW, &[&der("other.pem"), &der("other-ca.pem")], &MOON_FQDN),
        Err(PkiError::UnknownIssuer { .. })
    ));
    // and the other CA's verifier refuses ours
    let v = PeerVerifier::new(TrustStore::from_pem(&vector("other-ca.pem")).unwrap());
    assert!(matches!(
        v.verify(NOW, &[&der("moon.pem")], &MOON_FQDN),
        Err(PkiError::UnknownIssuer { .. })
    ));
}

#[test]
fn validity_periods() {
    let v = root_verifier();
    let expired = der("expired.pem");
    let id = IdValue::Fqdn(b"expired.ikv.test");
    match v.verify(NOW, &[&expired], &id) {
        Err(PkiError::Expired { not_after, .. }) => assert_eq!(not_after, 1_704_067_200),
        other => panic!("{other:?}"),
    }
    // in 2023 the certificate was valid, but the root was not yet
    match v.verify(UnixTime::from_secs(Y2023), &[&expired], &id) {
        Err(PkiError::NotYetValid { subject, .. }) => assert!(subject.contains("ikv Root CA")),
        other => panic!("{other:?}"),
    }

    let notyet = der("notyet.pem");
    let id = IdValue::Fqdn(b"notyet.ikv.test");
    assert!(matches!(
        v.verify(NOW, &[&notyet], &id),
        Err(PkiError::NotYetValid { .. })
    ));
    v.verify(UnixTime::from_secs(Y2041), &[&notyet], &id)
        .unwrap();

    let moon = der("moon.pem");
    assert!(matches!(
        v.verify(UnixTime::from_secs(Y2046), &[&moon], &MOON_FQDN),
        Err(PkiError::Expired { .. })
    ));
    // both ends are inclusive (RFC 5280 4.1.2.5)
    let cert = Certificate::from_der(&moon).unwrap();
    v.verify(cert.not_before(), &[&moon], &MOON_FQDN).unwrap();
    v.verify(cert.not_after(), &[&moon], &MOON_FQDN).unwrap();
    assert!(matches!(
        v.verify(
            UnixTime::from_secs(cert.not_after().secs() + 1),
            &[&moon],
            &MOON_FQDN
        ),
        Err(PkiError::Expired { .. })
    ));
}

#[test]
fn revocation() {
    let revoked = der("revoked.pem");
    let id = IdValue::Fqdn(b"revoked.ikv.test");
    // no CRL, no revocation information
    root_verifier().verify(NOW, &[&revoked], &id).unwrap();

    let v = root_verifier().with_crls(&[&vector("ca.crl.pem")]).unwrap();
    match v.verify(NOW, &[&revoked], &id) {
        Err(PkiError::Revoked { serial, .. }) => assert_eq!(serial, "1003"),
        other => panic!("{other:?}"),
    }
    // the others are fine
    v.verify(NOW, &[&der("moon.pem")], &MOON_FQDN).unwrap();
    // DER CRL
    let v = root_verifier().with_crls(&[&vector("ca.crl.der")]).unwrap();
    assert!(matches!(
        v.verify(NOW, &[&revoked], &id),
        Err(PkiError::Revoked { .. })
    ));

    let crl = Crl::from_der(&vector("ca.crl.der")).unwrap();
    assert!(crl.is_revoked(&[0x10, 0x03]));
    assert!(crl.is_revoked(&[0x00, 0x10, 0x03]));
    assert!(!crl.is_revoked(&[0x10, 0x01]));
    assert_eq!(crl.this_update(), UnixTime::from_secs(1_735_689_600));
    assert_eq!(crl.next_update(), Some(UnixTime::from_secs(2_366_841_600)));
}

#[test]
fn expired_crl() {
    let v = root_verifier()
        .with_crls(&[&vector("ca-expired.crl.pem")])
        .unwrap();
    // an expired CRL of the issuer fails every certificate it speaks for
    match v.verify(NOW, &[&der("moon.pem")], &MOON_FQDN) {
        Err(PkiError::CrlExpired {
            issuer,
            next_update,
        }) => {
            assert!(issuer.contains("ikv Root CA"));
            assert_eq!(next_update, 1_767_225_600);
        }
        other => panic!("{other:?}"),
    }
    // while it was current, it revoked 0x1003 and nothing else
    let mid_2025 = UnixTime::from_secs(Y2025_06);
    v.verify(mid_2025, &[&der("moon.pem")], &MOON_FQDN).unwrap();
    assert!(matches!(
        v.verify(
            mid_2025,
            &[&der("revoked.pem")],
            &IdValue::Fqdn(b"revoked.ikv.test")
        ),
        Err(PkiError::Revoked { .. })
    ));
    // before thisUpdate it is not yet valid (and neither is the root)
    assert!(
        v.verify(UnixTime::from_secs(Y2023), &[&der("moon.pem")], &MOON_FQDN)
            .is_err()
    );
}

#[test]
fn crl_of_another_issuer() {
    // other-ca's CRL revokes serial 0x1003 too, but it speaks only for other-ca's
    // certificates: the root's 0x1003 is unaffected
    let v = root_verifier()
        .with_crls(&[&vector("other-ca.crl.pem")])
        .unwrap();
    v.verify(
        NOW,
        &[&der("revoked.pem")],
        &IdValue::Fqdn(b"revoked.ikv.test"),
    )
    .unwrap();
    // and under other-ca it does revoke "other"
    let v = PeerVerifier::new(TrustStore::from_pem(&vector("other-ca.pem")).unwrap())
        .with_crls(&[&vector("other-ca.crl.pem")])
        .unwrap();
    assert!(matches!(
        v.verify(NOW, &[&der("other.pem")], &MOON_FQDN),
        Err(PkiError::Revoked { .. })
    ));
}

#[test]
fn forged_crls() {
    // the root's CRL with a flipped bit in the signature: refused when loaded
    let mut crl = vector("ca.crl.der");
    let last = crl.len() - 1;
    crl[last] ^= 1;
    assert!(matches!(
        root_verifier().with_crls(&[&crl]),
        Err(PkiError::BadCrlSignature { .. })
    ));
    // the intermediate's CRL with a flipped bit in its signature: the intermediate is not an
    // anchor, so the CRL is accepted when loaded and refused when a path through the
    // intermediate is validated
    let mut tampered = pem_der(&vector("intermediate.crl.pem"));
    let n = tampered.len() - 1;
    tampered[n] ^= 0x80;
    let mut v = root_verifier();
    v.add_crl(Crl::from_der(&tampered).unwrap()).unwrap();
    let id = IdValue::Fqdn(b"sun.ikv.test");
    let chain = [der("sun.pem"), der("intermediate.pem")];
    let chain: Vec<&[u8]> = chain.iter().map(Vec::as_slice).collect();
    assert!(matches!(
        v.verify(NOW, &chain, &id),
        Err(PkiError::BadCrlSignature { .. })
    ));
    // paths that do not pass through the intermediate are not affected
    v.verify(NOW, &[&der("moon.pem")], &MOON_FQDN).unwrap();
    // the untampered CRL is fine
    let v = root_verifier()
        .with_crls(&[&vector("intermediate.crl.pem")])
        .unwrap();
    v.verify(NOW, &chain, &id).unwrap();
}

fn pem_der(pem: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(pem).unwrap();
    let b64: String = text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    base64_decode(&b64)
}

fn base64_decode(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = A.iter().position(|&a| a == c).unwrap() as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

#[test]
fn tampered_certificates() {
    let v = root_verifier();
    let moon = der("moon.pem");
    // the signature
    let mut bad = moon.clone();
    let n = bad.len() - 1;
    bad[n] ^= 1;
    match v.verify(NOW, &[&bad], &MOON_FQDN) {
        Err(PkiError::BadCertificateSignature { subject }) => {
            assert!(subject.contains("moon.ikv.test"))
        }
        other => panic!("{other:?}"),
    }
    // the signed part: "moon" → "noon" in the CN
    let at = moon
        .windows(13)
        .position(|w| w == b"moon.ikv.test")
        .unwrap();
    let mut bad = moon.clone();
    bad[at] = b'n';
    assert!(matches!(
        v.verify(NOW, &[&bad], &IdValue::Fqdn(b"moon.ikv.test")),
        Err(PkiError::BadCertificateSignature { .. })
    ));
}

#[test]
fn constraints_on_issuers_and_end_entities() {
    let v = root_verifier();
    // moon is not a CA: what it signs does not chain
    match v.verify(
        NOW,
        &[&der("issued-by-ee.pem"), &der("moon.pem")],
        &IdValue::Fqdn(b"evil.ikv.test"),
    ) {
        Err(PkiError::NotCa { subject }) => assert!(subject.contains("moon.ikv.test")),
        other => panic!("{other:?}"),
    }
    // the intermediate has pathlen:0, so no CA may sit below it
    match v.verify(
        NOW,
        &[
            &der("deep.pem"),
            &der("sub-ca.pem"),
            &der("intermediate.pem"),
        ],
        &IdValue::Fqdn(b"deep.ikv.test"),
    ) {
        Err(PkiError::PathLenExceeded { subject }) => {
            assert!(subject.contains("ikv Intermediate CA"))
        }
        other => panic!("{other:?}"),
    }
    // an end entity whose key usage excludes signatures
    match v.verify(
        NOW,
        &[&der("keyenc.pem")],
        &IdValue::Fqdn(b"keyenc.ikv.test"),
    ) {
        Err(PkiError::KeyUsage { needed, .. }) => {
            assert_eq!(needed, "digitalSignature or nonRepudiation")
        }
        other => panic!("{other:?}"),
    }
    // an end-entity certificate is no trust anchor
    assert!(matches!(
        TrustStore::from_pem(&vector("moon.pem")),
        Err(PkiError::NotCa { .. })
    ));
    // a chain longer than the limit
    let short = root_verifier().with_limits(Limits {
        max_chain_len: 2,
        ..Limits::default()
    });
    assert!(matches!(
        short.verify(
            NOW,
            &[&der("sun.pem"), &der("intermediate.pem")],
            &IdValue::Fqdn(b"sun.ikv.test")
        ),
        Err(PkiError::ChainTooLong { max: 2 })
    ));
}

#[test]
fn ecdsa_certificates() {
    let v = PeerVerifier::new(TrustStore::from_pem(&vector("ec-ca.pem")).unwrap());
    // P-256 end entity, ecdsa-with-SHA256 by a P-384 CA
    let peer = v
        .verify(NOW, &[&der("ecdsa.pem")], &IdValue::Fqdn(b"ecdsa.ikv.test"))
        .unwrap();
    assert_eq!(peer.key_type(), KeyType::EcdsaP256);
    peer.check_auth_method(AuthMethod::EcdsaP256).unwrap();
    assert!(peer.check_auth_method(AuthMethod::RsaSignatures).is_err());
    // P-384 end entity, ecdsa-with-SHA384
    let peer = v
        .verify(
            NOW,
            &[&der("ecdsa384.pem")],
            &IdValue::Fqdn(b"ecdsa384.ikv.test"),
        )
        .unwrap();
    assert_eq!(peer.key_type(), KeyType::EcdsaP384);
    assert_eq!(peer.public_key().bits(), 384);
    // the RSA root did not issue them
    assert!(matches!(
        root_verifier().verify(NOW, &[&der("ecdsa.pem")], &IdValue::Fqdn(b"ecdsa.ikv.test")),
        Err(PkiError::UnknownIssuer { .. })
    ));
}

#[test]
fn sha1_only_when_allowed() {
    let sha1 = der("sha1.pem");
    let id = IdValue::Fqdn(b"sha1.ikv.test");
    assert!(matches!(
        root_verifier().verify(NOW, &[&sha1], &id),
        Err(PkiError::WeakSignatureAlgorithm { .. })
    ));
    root_verifier()
        .with_limits(Limits {
            allow_sha1: true,
            ..Limits::default()
        })
        .verify(NOW, &[&sha1], &id)
        .unwrap();
}

#[test]
fn pinned_remote_certificate() {
    let moon_cert = Certificate::from_pem_or_der(&vector("moon.pem")).unwrap();
    let moon = der("moon.pem");
    // no CA: the pinned certificate alone
    let v = PeerVerifier::default().with_pinned_certificate(moon_cert.clone());
    assert_eq!(
        v.verify(NOW, &[&moon], &MOON_FQDN).unwrap().chain().len(),
        1
    );
    // a peer that sends no CERT payload
    v.verify(NOW, &[], &MOON_FQDN).unwrap();
    // anything else is refused, even from the same CA
    assert!(matches!(
        v.verify(NOW, &[&der("sun.pem")], &IdValue::Fqdn(b"sun.ikv.test")),
        Err(PkiError::NotPinnedCertificate { .. })
    ));
    // still subject to its validity period
    assert!(matches!(
        v.verify(UnixTime::from_secs(Y2046), &[&moon], &MOON_FQDN),
        Err(PkiError::Expired { .. })
    ));
    // with a CA as well, it must chain
    let v = root_verifier().with_pinned_certificate(moon_cert);
    assert_eq!(v.verify(NOW, &[], &MOON_FQDN).unwrap().chain().len(), 2);
    let other = Certificate::from_pem_or_der(&vector("other.pem")).unwrap();
    let v = root_verifier().with_pinned_certificate(other);
    assert!(matches!(
        v.verify(NOW, &[], &MOON_FQDN),
        Err(PkiError::UnknownIssuer { .. })
    ));
}

#[test]
fn certificate_counts_and_sizes() {
    let v = root_verifier();
    assert!(matches!(
        v.verify(NOW, &[], &MOON_FQDN),
        Err(PkiError::NoPeerCertificate)
    ));
    let moon = der("moon.pem");
    let many: Vec<&[u8]> = vec![&moon; 9];
    assert!(matches!(
        v.verify(NOW, &many, &MOON_FQDN),
        Err(PkiError::TooManyCertificates { count: 9, max: 8 })
    ));
    // duplicates within the limit are harmless
    v.verify(NOW, &many[..8], &MOON_FQDN).unwrap();
    let small = Limits {
        max_certificate_size: 512,
        ..Limits::default()
    };
    assert!(matches!(
        Certificate::from_der_with(&moon, &small),
        Err(PkiError::TooLarge { .. })
    ));
}
