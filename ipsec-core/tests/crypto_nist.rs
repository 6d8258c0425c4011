//! NIST ACVP "KDF IKEv1" (SP 800-135) known answers: SKEYID for pre-shared keys and for
//! signatures, then SKEYID_d/a/e (RFC 2409 §5), with SHA-1.
//!
//! The vector file is parsed here, so new cases added to it are checked automatically.

use std::collections::HashMap;

use ipsec_core::crypto::ikev1::{Phase1Auth, Skeyids, skeyid};
use ipsec_core::crypto::{Prf, Secret};

const VECTORS: &str = include_str!("../../vectors/nist-acvp-ikev1-kdf.txt");

struct Case {
    kind: String,
    name: String,
    fields: HashMap<String, Vec<u8>>,
}

impl Case {
    fn get(&self, key: &str) -> &[u8] {
        self.fields
            .get(key)
            .unwrap_or_else(|| panic!("{}: missing {key}", self.name))
    }
}

fn parse(text: &str) -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    for (lineno, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let kind = header
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            cases.push(Case {
                kind,
                name: header.to_string(),
                fields: HashMap::new(),
            });
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("line {}: expected key = value", lineno + 1));
        let case = cases
            .last_mut()
            .unwrap_or_else(|| panic!("line {}: value before any [case]", lineno + 1));
        let value = hex::decode(value.trim())
            .unwrap_or_else(|e| panic!("line {}: bad hex: {e}", lineno + 1));
        case.fields.insert(key.trim().to_string(), value);
    }
    cases
}

fn cookie(bytes: &[u8]) -> [u8; 8] {
    bytes.try_into().expect("cookies are 8 bytes")
}

#[test]
fn nist_acvp_ikev1_kdf_sha1() {
    let cases = parse(VECTORS);
    let mut counts = HashMap::new();
    for case in &cases {
        let prf = Prf::HmacSha1;
        let g_xy = Secret::from_slice(case.get("g^xy"));
        let psk;
        let auth = match case.kind.as_str() {
            "psk" => {
                psk = Secret::from_slice(case.get("psk"));
                Phase1Auth::PreSharedKey(&psk)
            }
            "signature" => Phase1Auth::Signature,
            other => panic!("{}: unknown kind {other}", case.name),
        };
        let id = skeyid(prf, auth, case.get("Ni"), case.get("Nr"), &g_xy);
        assert_eq!(id.as_bytes(), case.get("SKEYID"), "{}: SKEYID", case.name);
        let keys = Skeyids::derive(
            prf,
            id,
            &g_xy,
            &cookie(case.get("CKY_I")),
            &cookie(case.get("CKY_R")),
        );
        assert_eq!(
            keys.skeyid_d.as_bytes(),
            case.get("SKEYID_d"),
            "{}: SKEYID_d",
            case.name
        );
        assert_eq!(
            keys.skeyid_a.as_bytes(),
            case.get("SKEYID_a"),
            "{}: SKEYID_a",
            case.name
        );
        assert_eq!(
            keys.skeyid_e.as_bytes(),
            case.get("SKEYID_e"),
            "{}: SKEYID_e",
            case.name
        );
        *counts.entry(case.kind.clone()).or_insert(0) += 1;
    }
    assert!(
        counts.get("psk").copied().unwrap_or(0) >= 1,
        "no psk case parsed"
    );
    assert!(
        counts.get("signature").copied().unwrap_or(0) >= 1,
        "no signature case parsed"
    );
}
