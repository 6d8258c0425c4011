//! Fuzz target `certificate`: bytes as the PKI layer receives them from a peer (CERT payload
//! data, an ID_DER_ASN1_DN) or from a configured file (PEM or DER certificates, CRLs, keys).
//!
//! Input: one selector byte, then the data. Checks: nothing panics, and no input validates as a
//! peer against the test root unless it is the root's own end-entity certificate `moon`
//! (`vectors/pki`), which the corpus may rediscover but cannot forge.
//! Seeds: the DER and PEM files of `vectors/pki` (copy them into a corpus directory).
#![no_main]

use std::sync::OnceLock;

use ipsec_core::pki::{
    Certificate, Crl, DistinguishedName, LocalSigner, PeerVerifier, TrustStore, UnixTime,
};
use ipsec_core::wire::IdValue;
use libfuzzer_sys::fuzz_target;

const ROOT: &[u8] = include_bytes!("../../vectors/pki/ca.pem");
const MOON: &[u8] = include_bytes!("../../vectors/pki/moon.der");
const NOW: UnixTime = UnixTime::from_secs(1_893_456_000);

fn verifier() -> &'static PeerVerifier {
    static V: OnceLock<PeerVerifier> = OnceLock::new();
    V.get_or_init(|| PeerVerifier::new(TrustStore::from_pem(ROOT).expect("root")))
}

fuzz_target!(|input: &[u8]| {
    let Some((&selector, data)) = input.split_first() else {
        return;
    };
    match selector % 6 {
        0 => {
            let _ = Certificate::from_der(data);
        }
        1 => {
            let _ = Certificate::from_pem_or_der(data);
            let _ = Crl::from_der(data);
        }
        2 => {
            let _ = DistinguishedName::from_der(data);
            if let Ok(moon) = Certificate::from_der(MOON) {
                let _ = moon.check_id(&IdValue::DerAsn1Dn(data));
            }
        }
        3 => {
            let _ = LocalSigner::from_pem(data, data);
        }
        4 => {
            // a peer's CERT payloads: split the input in two certificates
            let (a, b) = data.split_at(data.len() / 2);
            let r = verifier().verify(NOW, &[a, b], &IdValue::Fqdn(b"moon.ikv.test"));
            assert!(r.is_err() || a == MOON || b == MOON);
        }
        _ => {
            let r = verifier().verify(NOW, &[data], &IdValue::Fqdn(b"moon.ikv.test"));
            assert!(r.is_err() || data == MOON);
        }
    }
});
