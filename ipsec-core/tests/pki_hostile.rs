//! Hostile input to the PKI layer: garbage, truncations and bit flips of real certificates and
//! CRLs, arbitrary bytes. Nothing may panic; every refusal is a `PkiError`; no modified
//! certificate may validate.

use ipsec_core::pki::{
    Certificate, Crl, DistinguishedName, LocalSigner, PeerVerifier, PkiError, TrustStore, UnixTime,
};
use ipsec_core::wire::IdValue;
use proptest::prelude::*;

const NOW: UnixTime = UnixTime::from_secs(1_893_456_000);
const MOON_FQDN: IdValue<'static> = IdValue::Fqdn(b"moon.ikv.test");

fn vector(name: &str) -> Vec<u8> {
    let path = format!("{}/../vectors/pki/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn verifier() -> PeerVerifier {
    PeerVerifier::new(TrustStore::from_pem(&vector("ca.pem")).unwrap())
        .with_crls(&[&vector("ca.crl.der")])
        .unwrap()
}

#[test]
fn garbage_is_refused() {
    let v = verifier();
    for input in [
        &b""[..],
        b"\x30",
        b"\x30\x00",
        b"\x30\x80\x00\x00",
        b"\x30\x84\xff\xff\xff\xff",
        b"\x02\x01\x00",
        b"-----BEGIN CERTIFICATE-----\n",
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        b"not a certificate at all",
    ] {
        assert!(Certificate::from_der(input).is_err());
        assert!(Certificate::from_pem_or_der(input).is_err());
        assert!(Crl::from_der(input).is_err());
        // (an empty SEQUENCE is a valid, empty, name)
        assert_eq!(
            DistinguishedName::from_der(input).is_err(),
            input != b"\x30\x00"
        );
        assert!(v.verify(NOW, &[input], &MOON_FQDN).is_err());
        assert!(LocalSigner::from_pem(input, input).is_err());
        assert!(TrustStore::from_pem(input).is_err());
    }
    // a valid certificate followed by junk
    let mut moon = vector("moon.der");
    moon.push(0);
    assert!(matches!(
        Certificate::from_der(&moon),
        Err(PkiError::Malformed { .. })
    ));
}

#[test]
fn every_truncation_of_a_certificate_is_refused() {
    let v = verifier();
    let moon = vector("moon.der");
    for n in 0..moon.len() {
        assert!(Certificate::from_der(&moon[..n]).is_err(), "prefix {n}");
        assert!(v.verify(NOW, &[&moon[..n]], &MOON_FQDN).is_err());
    }
    let crl = vector("ca.crl.der");
    for n in 0..crl.len() {
        assert!(Crl::from_der(&crl[..n]).is_err(), "prefix {n}");
    }
}

#[test]
fn no_single_byte_change_validates() {
    let v = verifier();
    let moon = vector("moon.der");
    v.verify(NOW, &[&moon], &MOON_FQDN).unwrap();
    for i in 0..moon.len() {
        for flip in [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80] {
            let mut m = moon.clone();
            m[i] ^= flip;
            assert!(
                v.verify(NOW, &[&m], &MOON_FQDN).is_err(),
                "byte {i} ^ {flip:#x} still validates"
            );
        }
    }
}

#[test]
fn single_byte_changes_of_a_crl_do_not_panic() {
    let crl = vector("ca.crl.der");
    let v = PeerVerifier::new(TrustStore::from_pem(&vector("ca.pem")).unwrap());
    let revoked = vector("revoked.pem");
    let revoked = Certificate::from_pem_or_der(&revoked).unwrap();
    for i in 0..crl.len() {
        let mut c = crl.clone();
        c[i] ^= 0x01;
        // Either refused when loaded, or it must still revoke, or it now names another
        // issuer (a change in the issuer name): then it does not speak for the root's
        // certificates, and an unrelated CRL with no anchor to check it against is kept.
        if let Ok(v) = v.clone().with_crls(&[&c]) {
            let still_revokes = v
                .verify(NOW, &[revoked.der()], &IdValue::Fqdn(b"revoked.ikv.test"))
                .is_err();
            let renamed = Crl::from_der(&c).is_ok_and(|crl| crl.issuer() != revoked.issuer());
            assert!(still_revokes || renamed, "byte {i}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = Certificate::from_der(&bytes);
        let _ = Certificate::from_pem_or_der(&bytes);
        let _ = Crl::from_der(&bytes);
        let _ = DistinguishedName::from_der(&bytes);
        let _ = LocalSigner::from_pem(&bytes, &bytes);
        let v = verifier();
        prop_assert!(v.verify(NOW, &[&bytes], &MOON_FQDN).is_err());
        prop_assert!(v.verify(NOW, &[&bytes], &IdValue::DerAsn1Dn(&bytes)).is_err());
    }

    #[test]
    fn splices_into_a_real_certificate(
        at in 0usize..2000,
        cut in 0usize..64,
        insert in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let moon = vector("moon.der");
        let at = at % moon.len();
        let end = (at + cut).min(moon.len());
        let mut m = moon[..at].to_vec();
        m.extend_from_slice(&insert);
        m.extend_from_slice(&moon[end..]);
        let _ = Certificate::from_der(&m);
        if m != moon {
            prop_assert!(verifier().verify(NOW, &[&m], &MOON_FQDN).is_err());
        }
    }

    #[test]
    fn arbitrary_signatures(
        hash in proptest::collection::vec(any::<u8>(), 0..80),
        sig in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let moon = vector("moon.der");
        let peer = verifier().verify(NOW, &[&moon], &MOON_FQDN).unwrap();
        prop_assert!(peer.verify_signature(&hash, &sig).is_err());
        let ec = vector("ecdsa.pem");
        let ec = Certificate::from_pem_or_der(&ec).unwrap();
        let v = PeerVerifier::new(TrustStore::from_pem(&vector("ec-ca.pem")).unwrap());
        let peer = v.verify(NOW, &[ec.der()], &IdValue::Fqdn(b"ecdsa.ikv.test")).unwrap();
        prop_assert!(peer.verify_signature(&hash, &sig).is_err());
    }
}

/// Certificates that all have the same name and sign each other must not make path building
/// expensive: the search has a budget of signature checks.
#[test]
fn path_building_is_bounded() {
    // eight copies of a self-issued CA that is not ours, plus an end entity "issued" by it:
    // the names line up everywhere, no path reaches an anchor
    let other_ca = vector("other-ca.pem");
    let other_ca = Certificate::from_pem_or_der(&other_ca).unwrap();
    let other = Certificate::from_pem_or_der(&vector("other.pem")).unwrap();
    let mut certs: Vec<&[u8]> = vec![other.der()];
    certs.extend(std::iter::repeat_n(other_ca.der(), 7));
    let r = verifier().verify(NOW, &certs, &MOON_FQDN);
    assert!(
        matches!(
            r,
            Err(PkiError::UnknownIssuer { .. }) | Err(PkiError::PathBuildingBudget { .. })
        ),
        "{r:?}"
    );
}
