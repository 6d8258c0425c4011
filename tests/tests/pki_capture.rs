//! Known answer for phase-1 RSA signature authentication against real strongSwan charons:
//! `vectors/strongswan-mm-rsa-aes128-sha256-modp2048` (main mode, certificates from
//! `vectors/pki`, made by `tests/lab/make-capture.sh` with the profile of the same name).
//!
//! 1. The SIG, CERT and ID payloads of main mode messages 5 and 6 are taken from charon's own
//!    `plain` dumps (the decrypted messages), and HASH_I / HASH_R from its `HASH_I` / `HASH_R`
//!    dumps. `ipsec_core::pki` validates both certificates (chains to the test root, IDs,
//!    validity at the capture's time, the root's CRL), verifies both signatures, and signing the
//!    same hashes with the same private keys gives charon's signatures byte for byte (RSA PKCS#1
//!    v1.5 without DigestInfo is deterministic).
//! 2. Independently of charon's dumps, the same values are recomputed from the capture with
//!    `ipsec_core::crypto`: SKEYID for signatures = prf(Ni_b | Nr_b, g^xy) (g^xy as logged,
//!    everything else from the wire), Ka, the IV chain; messages 5 and 6 are decrypted from the
//!    capture and must equal the
//!    `plain` dumps; HASH_I / HASH_R computed over the decrypted ID payloads must equal charon's.
//!    `tests/src/replay.rs` is PSK-only; this test does the signature variant of its phase 1.

use ipsec_core::crypto::ikev1::{IvChain, Phase1Auth, Phase1Keys, Phase1Transcript, skeyid};
use ipsec_core::crypto::{Cipher, HashAlgorithm, Prf, Secret};
use ipsec_core::pki::{
    Certificate, DistinguishedName, LocalSigner, PeerVerifier, PkiError, TrustStore, UnixTime,
};
use ipsec_core::wire::{
    AuthMethod, Body, CertEncoding, Identification, Message, Payload, PayloadChain, PayloadType,
    TrailingBytes,
};
use ipsec_tests::{charon_log, pcap, vector};

const DIR: &str = "strongswan-mm-rsa-aes128-sha256-modp2048";

fn log(name: &str) -> String {
    charon_log::read(vector(format!("{DIR}/{name}"))).expect("log")
}

fn pki(name: &str) -> Vec<u8> {
    std::fs::read(vector(format!("pki/{name}"))).expect("pki vector")
}

fn one(log: &str, label: &str) -> Vec<u8> {
    charon_log::first(log, label).unwrap_or_else(|| panic!("no {label} dump"))
}

/// What main mode message 5 or 6 carries.
struct AuthMessage {
    /// The decrypted payload chain as charon dumped it (`plain`).
    plain: Vec<u8>,
    /// ID payload body (IDii_b / IDir_b).
    id_b: Vec<u8>,
    /// CERT payloads with encoding X.509 Signature.
    certs: Vec<Vec<u8>>,
    /// SIG payload body.
    sig: Vec<u8>,
}

/// The `plain` dumps of a log that are main mode messages 5/6 (a chain starting with an ID
/// payload and holding a SIG payload), in order.
fn auth_messages(log: &str) -> Vec<AuthMessage> {
    charon_log::find(log, "plain")
        .into_iter()
        .filter_map(|plain| {
            let chain =
                PayloadChain::parse(PayloadType::Identification, &plain, TrailingBytes::Allowed)
                    .ok()?;
            let sig = chain.find(PayloadType::Signature)?.body().to_vec();
            let id_b = chain.find(PayloadType::Identification)?.body().to_vec();
            let certs = chain
                .decode()
                .ok()?
                .into_iter()
                .filter_map(|p| match p {
                    Payload::Certificate(c) if c.encoding == CertEncoding::X509Signature => {
                        Some(c.data.to_vec())
                    }
                    _ => None,
                })
                .collect();
            Some(AuthMessage {
                plain,
                id_b,
                certs,
                sig,
            })
        })
        .collect()
}

struct Exchange {
    initiator_log: String,
    responder_log: String,
    /// Main mode message 5 (from the initiator) and 6 (from the responder).
    mm5: AuthMessage,
    mm6: AuthMessage,
    hash_i: Vec<u8>,
    hash_r: Vec<u8>,
}

fn exchange() -> Exchange {
    let initiator_log = log("initiator.log");
    let responder_log = log("responder.log");
    let mut seen_i = auth_messages(&initiator_log);
    let mut seen_r = auth_messages(&responder_log);
    // each log holds message 5 then message 6: the sender dumps it before padding, the
    // receiver after decryption, padding included
    assert_eq!(seen_i.len(), 2, "initiator: main mode 5 and 6");
    assert_eq!(seen_r.len(), 2, "responder: main mode 5 and 6");
    assert!(
        seen_r[0].plain.starts_with(&seen_i[0].plain),
        "message 5 differs between the logs"
    );
    assert!(
        seen_i[1].plain.starts_with(&seen_r[1].plain),
        "message 6 differs between the logs"
    );
    let mm6 = seen_r.remove(1);
    let mm5 = seen_i.remove(0);
    // HASH_I: computed by the initiator to sign it, by the responder to verify it
    let hash_i = one(&initiator_log, "HASH_I");
    let hash_r = one(&responder_log, "HASH_R");
    assert_eq!(hash_i, one(&responder_log, "HASH_I"));
    assert_eq!(hash_r, one(&initiator_log, "HASH_R"));
    Exchange {
        initiator_log,
        responder_log,
        mm5,
        mm6,
        hash_i,
        hash_r,
    }
}

/// The time of main mode message 5 in the capture: the certificates are checked then.
fn capture_time() -> UnixTime {
    let capture = pcap::read(vector(format!("{DIR}/capture.pcap"))).expect("capture");
    let (d, _) = capture.ike()[4];
    UnixTime::from_secs(d.timestamp.as_secs() as i64)
}

fn verifier() -> PeerVerifier {
    PeerVerifier::new(TrustStore::from_pem(&pki("ca.pem")).unwrap())
        .with_crls(&[&pki("ca.crl.pem"), &pki("intermediate.crl.pem")])
        .unwrap()
}

#[test]
fn charon_signatures_verify_and_ours_are_identical() {
    let x = exchange();
    let now = capture_time();
    let v = verifier();

    // message 5: moon, ID_DER_ASN1_DN, its certificate only
    let id_i = Identification::parse(&x.mm5.id_b).unwrap();
    assert_eq!(id_i.id_type.value(), 9, "ID_DER_ASN1_DN");
    assert_eq!(x.mm5.certs.len(), 1);
    let certs: Vec<&[u8]> = x.mm5.certs.iter().map(Vec::as_slice).collect();
    let moon = v.verify(now, &certs, &id_i.value().unwrap()).unwrap();
    assert_eq!(
        moon.subject().to_string(),
        "C=CH, O=ikv test PKI, CN=moon.ikv.test"
    );
    moon.check_auth_method(AuthMethod::RsaSignatures).unwrap();
    assert_eq!(x.mm5.sig.len(), 256);
    moon.verify_signature(&x.hash_i, &x.mm5.sig).unwrap();

    // message 6: sun, ID_FQDN, its certificate without the intermediate (charon did not send
    // it: both sides have it configured); we add it as a received intermediate would be
    let id_r = Identification::parse(&x.mm6.id_b).unwrap();
    assert_eq!(
        id_r.value().unwrap(),
        ipsec_core::wire::IdValue::Fqdn(b"sun.ikv.test")
    );
    assert_eq!(x.mm6.certs.len(), 1);
    let intermediate = Certificate::from_pem_or_der(&pki("intermediate.pem")).unwrap();
    let sun = v
        .verify(
            now,
            &[&x.mm6.certs[0], intermediate.der()],
            &id_r.value().unwrap(),
        )
        .unwrap();
    assert_eq!(sun.chain().len(), 3);
    assert_eq!(x.mm6.sig.len(), 384);
    sun.verify_signature(&x.hash_r, &x.mm6.sig).unwrap();
    // without the intermediate, sun does not chain
    assert!(matches!(
        v.verify(now, &[&x.mm6.certs[0]], &id_r.value().unwrap()),
        Err(PkiError::UnknownIssuer { .. })
    ));

    // the signatures are bound to their hash and key
    assert_eq!(
        moon.verify_signature(&x.hash_r, &x.mm5.sig),
        Err(PkiError::BadSignature)
    );
    assert_eq!(
        sun.verify_signature(&x.hash_i, &x.mm5.sig),
        Err(PkiError::BadSignature)
    );
    // and the IDs to their certificates
    assert!(matches!(
        v.verify(
            now,
            &[&x.mm6.certs[0], intermediate.der()],
            &id_i.value().unwrap()
        ),
        Err(PkiError::IdMismatch { .. })
    ));

    // our signatures with the same keys are charon's, byte for byte
    let moon_signer = LocalSigner::from_pem(&pki("moon.key.pem"), &pki("moon.pem")).unwrap();
    assert_eq!(moon_signer.certificate_der(), x.mm5.certs[0].as_slice());
    // charon encoded its ID_DER_ASN1_DN from the configured string, every attribute as a
    // PrintableString, while the certificate (OpenSSL) has UTF8String for O and CN: the DER
    // differs, and the ID matched above through the normalised comparison (RFC 5280 7.1)
    assert_ne!(moon_signer.id_der_asn1_dn(), id_i.data.as_ref());
    let sent = DistinguishedName::from_der(&id_i.data).unwrap();
    assert!(sent.matches(moon_signer.subject()));
    assert_eq!(moon_signer.sign(&x.hash_i).unwrap(), x.mm5.sig);
    let sun_signer = LocalSigner::from_pem(
        &pki("sun.key.pem"),
        &[pki("sun.pem"), pki("intermediate.pem")].concat(),
    )
    .unwrap();
    assert_eq!(sun_signer.certificate_der(), x.mm6.certs[0].as_slice());
    assert_eq!(sun_signer.sign(&x.hash_r).unwrap(), x.mm6.sig);
}

#[test]
fn signature_skeyid_and_hashes_from_the_capture() {
    let x = exchange();
    let capture = pcap::read(vector(format!("{DIR}/capture.pcap"))).expect("capture");
    let messages: Vec<Message<'_>> = capture
        .ike()
        .into_iter()
        .map(|(_, bytes)| Message::parse(bytes).expect("ISAKMP"))
        .collect();
    assert!(messages.len() >= 6, "main mode is in the capture");
    let plain = |i: usize, ty: PayloadType| -> Vec<u8> {
        let Some(chain) = messages[i].payloads() else {
            panic!("message {} is encrypted", i + 1)
        };
        chain.find(ty).expect("payload").body().to_vec()
    };
    let sai_b = plain(0, PayloadType::SecurityAssociation);
    let g_xi = plain(2, PayloadType::KeyExchange);
    let ni_b = plain(2, PayloadType::Nonce);
    let g_xr = plain(3, PayloadType::KeyExchange);
    let nr_b = plain(3, PayloadType::Nonce);
    let cky_i = messages[0].header.initiator_cookie;
    let cky_r = messages[1].header.responder_cookie;

    // aes128-sha256-modp2048: PRF HMAC-SHA256, AES-128-CBC
    let prf = Prf::hmac(HashAlgorithm::Sha256);
    let cipher = Cipher::AesCbc128;
    let g_xy = Secret::from(one(&x.initiator_log, "shared Diffie Hellman secret"));
    let sk = skeyid(prf, Phase1Auth::Signature, &ni_b, &nr_b, &g_xy);
    assert_eq!(sk.as_bytes(), one(&x.initiator_log, "SKEYID").as_slice());
    let keys = Phase1Keys::derive(
        prf,
        cipher,
        Phase1Auth::Signature,
        &ni_b,
        &nr_b,
        &g_xy,
        &cky_i,
        &cky_r,
    )
    .unwrap();
    for (label, ours) in [
        ("SKEYID_d", &keys.skeyids.skeyid_d),
        ("SKEYID_a", &keys.skeyids.skeyid_a),
        ("SKEYID_e", &keys.skeyids.skeyid_e),
        ("encryption key Ka", &keys.encryption_key),
    ] {
        assert_eq!(
            ours.as_bytes(),
            one(&x.responder_log, label).as_slice(),
            "{label}"
        );
    }

    // decrypt messages 5 and 6 from the wire with the phase-1 IV chain
    let mut iv = IvChain::new(HashAlgorithm::Sha256, cipher, &g_xi, &g_xr);
    assert_eq!(
        iv.phase1_iv(),
        one(&x.initiator_log, "initial IV").as_slice()
    );
    let mut decrypted = Vec::new();
    for (i, want) in [(4, &x.mm5.plain), (5, &x.mm6.plain)] {
        let Body::Encrypted(ciphertext) = messages[i].body else {
            panic!("message {} is not encrypted", i + 1)
        };
        let mut buf = ciphertext.to_vec();
        iv.decrypt(&keys.encryption_key, 0, &mut buf).unwrap();
        iv.confirm(0);
        assert!(
            buf.starts_with(want),
            "message {} differs from charon's",
            i + 1
        );
        decrypted.push(buf);
    }
    let id_body = |buf: &[u8]| -> Vec<u8> {
        PayloadChain::parse(PayloadType::Identification, buf, TrailingBytes::Allowed)
            .unwrap()
            .find(PayloadType::Identification)
            .unwrap()
            .body()
            .to_vec()
    };
    let transcript = Phase1Transcript {
        g_xi: &g_xi,
        g_xr: &g_xr,
        cky_i,
        cky_r,
        sai_b: &sai_b,
    };
    assert_eq!(
        transcript.hash_i(prf, &keys.skeyids.skeyid, &id_body(&decrypted[0])),
        x.hash_i
    );
    assert_eq!(
        transcript.hash_r(prf, &keys.skeyids.skeyid, &id_body(&decrypted[1])),
        x.hash_r
    );
    // the certificates make messages 5 and 6 larger than a 1500-byte MTU would carry (the
    // lab's veth pair had MTU 9000 for this capture)
    assert!(messages[4].bytes.len() > 1500 && messages[5].bytes.len() > 1400);
}
