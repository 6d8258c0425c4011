//! SIG payload signatures (RFC 2409 §5.1, RFC 4754) and our key/certificate loading, with the
//! test PKI in `vectors/pki`.

use ipsec_core::pki::{
    Certificate, KeyType, LocalSigner, MAX_HASH_LEN, PeerVerifier, PkiError, TrustStore, UnixTime,
    VerifiedPeer,
};
use ipsec_core::wire::{AuthMethod, IdValue};

const NOW: UnixTime = UnixTime::from_secs(1_893_456_000);

fn vector(name: &str) -> Vec<u8> {
    let path = format!("{}/../vectors/pki/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn signer(key: &str, cert: &str) -> LocalSigner {
    LocalSigner::from_pem(&vector(key), &vector(cert)).unwrap()
}

/// The verified peer for `signer`, as the other side sees it.
fn peer_of(signer: &LocalSigner, ca: &str) -> VerifiedPeer {
    let v = PeerVerifier::new(TrustStore::from_pem(&vector(ca)).unwrap());
    let mut certs: Vec<&[u8]> = vec![signer.certificate_der()];
    certs.extend(signer.intermediates_der());
    let dn = signer.id_der_asn1_dn();
    v.verify(NOW, &certs, &IdValue::DerAsn1Dn(&dn)).unwrap()
}

/// HASH_I-like values of every PRF output length (HMAC-SHA1, -SHA256, -SHA384, -SHA512;
/// MD5's 16 bytes too).
fn hashes() -> Vec<Vec<u8>> {
    [16, 20, 32, 48, 64]
        .iter()
        .map(|&n| (0..n).map(|i| (i * 7 + n) as u8).collect())
        .collect()
}

fn round_trip(signer: &LocalSigner, peer: &VerifiedPeer, sig_len: usize) {
    for hash in hashes() {
        let sig = signer.sign(&hash).unwrap();
        assert_eq!(sig.len(), sig_len);
        peer.verify_signature(&hash, &sig).unwrap();
        // deterministic: PKCS#1 v1.5, and ECDSA with RFC 6979 nonces
        assert_eq!(signer.sign(&hash).unwrap(), sig);
        // another hash, a changed signature, a truncated one: refused
        let mut other = hash.clone();
        other[0] ^= 1;
        assert_eq!(
            peer.verify_signature(&other, &sig),
            Err(PkiError::BadSignature)
        );
        let mut bad = sig.clone();
        bad[sig_len / 2] ^= 0x10;
        assert_eq!(
            peer.verify_signature(&hash, &bad),
            Err(PkiError::BadSignature)
        );
        assert_eq!(
            peer.verify_signature(&hash, &sig[1..]),
            Err(PkiError::BadSignature)
        );
        assert_eq!(
            peer.verify_signature(&hash, &[]),
            Err(PkiError::BadSignature)
        );
    }
}

#[test]
fn rsa_2048_round_trip() {
    let s = signer("moon.key.pem", "moon.pem");
    assert_eq!(s.key_type(), KeyType::Rsa);
    assert_eq!(s.auth_method(), AuthMethod::RsaSignatures);
    let peer = peer_of(&s, "ca.pem");
    round_trip(&s, &peer, 256);
}

#[test]
fn rsa_3072_round_trip_with_intermediate() {
    // sun's key and a chain file with sun and the intermediate
    let chain = [vector("sun.pem"), vector("intermediate.pem")].concat();
    let s = LocalSigner::from_pem(&vector("sun.key.pem"), &chain).unwrap();
    assert_eq!(s.intermediates_der().count(), 1);
    let peer = peer_of(&s, "ca.pem");
    assert_eq!(peer.chain().len(), 3);
    round_trip(&s, &peer, 384);
    // the chain given in the other order: the certificate is the one matching the key
    let chain = [vector("intermediate.pem"), vector("sun.pem")].concat();
    let s2 = LocalSigner::from_pem(&vector("sun.key.pem"), &chain).unwrap();
    assert_eq!(s2.certificate_der(), s.certificate_der());
}

#[test]
fn ecdsa_round_trips() {
    let s = signer("ecdsa.key.pem", "ecdsa.pem");
    assert_eq!(s.key_type(), KeyType::EcdsaP256);
    assert_eq!(s.auth_method(), AuthMethod::EcdsaP256);
    let peer = peer_of(&s, "ec-ca.pem");
    round_trip(&s, &peer, 64);

    let s = signer("ecdsa384.key.pem", "ecdsa384.pem");
    assert_eq!(s.auth_method(), AuthMethod::EcdsaP384);
    let peer = peer_of(&s, "ec-ca.pem");
    round_trip(&s, &peer, 96);
}

#[test]
fn signatures_of_one_key_do_not_verify_with_another() {
    let moon = signer("moon.key.pem", "moon.pem");
    let sun_chain = [vector("sun.pem"), vector("intermediate.pem")].concat();
    let sun = LocalSigner::from_pem(&vector("sun.key.pem"), &sun_chain).unwrap();
    let ecdsa = signer("ecdsa.key.pem", "ecdsa.pem");
    let hash = [0x5a; 32];
    let moon_peer = peer_of(&moon, "ca.pem");
    let sun_peer = peer_of(&sun, "ca.pem");
    let ec_peer = peer_of(&ecdsa, "ec-ca.pem");
    assert!(
        sun_peer
            .verify_signature(&hash, &moon.sign(&hash).unwrap())
            .is_err()
    );
    assert!(
        moon_peer
            .verify_signature(&hash, &sun.sign(&hash).unwrap())
            .is_err()
    );
    assert!(
        moon_peer
            .verify_signature(&hash, &ecdsa.sign(&hash).unwrap())
            .is_err()
    );
    assert!(
        ec_peer
            .verify_signature(&hash, &moon.sign(&hash).unwrap())
            .is_err()
    );
}

#[test]
fn hash_lengths_are_bounded() {
    let s = signer("moon.key.pem", "moon.pem");
    let peer = peer_of(&s, "ca.pem");
    assert_eq!(s.sign(&[]), Err(PkiError::BadHashLength { len: 0 }));
    let long = [1u8; MAX_HASH_LEN + 1];
    assert_eq!(
        s.sign(&long),
        Err(PkiError::BadHashLength {
            len: MAX_HASH_LEN + 1
        })
    );
    assert_eq!(
        peer.verify_signature(&long, &[0; 256]),
        Err(PkiError::BadHashLength {
            len: MAX_HASH_LEN + 1
        })
    );
}

fn kat_hash() -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, b"ikv pki kat")
        .as_ref()
        .to_vec()
}

/// OpenSSL `pkeyutl -sign` over a raw value is RSA PKCS#1 v1.5 without DigestInfo: ours must
/// be the same bytes (the scheme is deterministic), and verify.
#[test]
fn rsa_without_digest_info_matches_openssl() {
    let s = signer("moon.key.pem", "moon.pem");
    let hash = kat_hash();
    let openssl = vector("moon-kat.sig");
    assert_eq!(s.sign(&hash).unwrap(), openssl);
    peer_of(&s, "ca.pem")
        .verify_signature(&hash, &openssl)
        .unwrap();
}

/// OpenSSL's ECDSA over the raw value (DER) re-encoded as r | s verifies with our
/// verification of RFC 4754 signatures.
#[test]
fn ecdsa_over_the_raw_hash_matches_openssl() {
    let s = signer("ecdsa.key.pem", "ecdsa.pem");
    let der = vector("ecdsa-kat.sig.der");
    let sig = der_to_fixed(&der, 32);
    let peer = peer_of(&s, "ec-ca.pem");
    peer.verify_signature(&kat_hash(), &sig).unwrap();
    // the same signature over SHA-256(hash) (what ring-style signing would make) is refused:
    // the hash is the digest itself
    let rehashed = ring::digest::digest(&ring::digest::SHA256, &kat_hash());
    assert!(peer.verify_signature(rehashed.as_ref(), &sig).is_err());
}

/// ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } → r | s, each `n` bytes.
fn der_to_fixed(der: &[u8], n: usize) -> Vec<u8> {
    assert_eq!(der[0], 0x30);
    let mut pos = 2;
    let mut out = Vec::new();
    for _ in 0..2 {
        assert_eq!(der[pos], 0x02);
        let len = der[pos + 1] as usize;
        let int = &der[pos + 2..pos + 2 + len];
        let int = &int[int.len().saturating_sub(n)..];
        out.extend(std::iter::repeat_n(0, n - int.len()));
        out.extend_from_slice(int);
        pos += 2 + len;
    }
    out
}

#[test]
fn key_formats() {
    let reference = signer("moon.key.pem", "moon.pem");
    let hash = [9u8; 20];
    let want = reference.sign(&hash).unwrap();
    // PKCS#1 PEM, PKCS#8 DER, a bundle with certificate and key, all DER
    let pkcs1 = signer("moon-pkcs1.key.pem", "moon.pem");
    assert_eq!(pkcs1.sign(&hash).unwrap(), want);
    let der = LocalSigner::from_pem(&vector("moon.key.der"), &vector("moon.der")).unwrap();
    assert_eq!(der.sign(&hash).unwrap(), want);
    let bundle = LocalSigner::from_pem_bundle(&vector("moon.bundle.pem")).unwrap();
    assert_eq!(bundle.sign(&hash).unwrap(), want);
    assert_eq!(bundle.certificate_der(), reference.certificate_der());
    let all_der = LocalSigner::from_der(&vector("moon.key.der"), &vector("moon.der"), &[]).unwrap();
    assert_eq!(all_der.sign(&hash).unwrap(), want);
    // SEC1 and PKCS#8 EC keys are the same key
    let ec8 = signer("ecdsa.key.pem", "ecdsa.pem");
    let ec1 = signer("ecdsa-sec1.key.pem", "ecdsa.pem");
    assert_eq!(ec1.sign(&hash).unwrap(), ec8.sign(&hash).unwrap());
    // the subject for ID_DER_ASN1_DN
    let cert = Certificate::from_pem_or_der(&vector("moon.pem")).unwrap();
    assert_eq!(reference.id_der_asn1_dn(), cert.subject().as_der());
    assert_eq!(
        reference.subject().to_string(),
        "C=CH, O=ikv test PKI, CN=moon.ikv.test"
    );
}

#[test]
fn key_errors() {
    // moon's key with sun's certificate
    assert!(matches!(
        LocalSigner::from_pem(&vector("moon.key.pem"), &vector("sun.pem")),
        Err(PkiError::KeyMismatch { .. })
    ));
    // an RSA key with an ECDSA certificate
    assert!(matches!(
        LocalSigner::from_pem(&vector("moon.key.pem"), &vector("ecdsa.pem")),
        Err(PkiError::KeyMismatch { .. })
    ));
    // no key in the file
    assert!(matches!(
        LocalSigner::from_pem(&vector("moon.pem"), &vector("moon.pem")),
        Err(PkiError::Missing { .. })
    ));
    // no certificate
    assert!(matches!(
        LocalSigner::from_pem(&vector("moon.key.pem"), &vector("moon.key.pem")),
        Err(PkiError::Missing { .. })
    ));
    // an encrypted key
    let enc = b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n";
    assert!(matches!(
        LocalSigner::from_pem(enc, &vector("moon.pem")),
        Err(PkiError::UnsupportedPemLabel { .. })
    ));
    // garbage as a key
    assert!(LocalSigner::from_pem(&[0x30, 0x03, 0x02, 0x01, 0x00], &vector("moon.pem")).is_err());
    assert!(LocalSigner::from_pem(b"", &vector("moon.pem")).is_err());
}
