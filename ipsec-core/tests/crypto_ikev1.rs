//! RFC 2409 derivations beyond the NIST/strongSwan vectors: the Appendix B expansion of
//! SKEYID_e, KEYMAT expansion with and without PFS, IVs, the IV chain's bookkeeping, and the
//! ESP key split. Expected values were computed once with Python's `hmac`/`hashlib`
//! (independent implementations) from the RFC formulas.

use ipsec_core::crypto::esp::{EspEncryption, EspIntegrity, EspTransform, split_keymat};
use ipsec_core::crypto::ikev1::{
    IvChain, MAX_DERIVED_LEN, encryption_key, expand_skeyid_e, keymat, phase1_iv, phase2_iv,
};
use ipsec_core::crypto::{Cipher, CryptoError, HashAlgorithm, Prf, Secret};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

#[test]
fn appendix_b_3des_with_sha1_needs_expansion() {
    // 24-byte key > 20-byte PRF output: Ka = (K1 | K2)[..24], K1 = prf(SKEYID_e, 0).
    let skeyid_e = Secret::new((0u8..20).collect());
    let ka = expand_skeyid_e(Prf::HmacSha1, &skeyid_e, 24).unwrap();
    assert_eq!(
        hex::encode(ka.as_bytes()),
        "1e5fd6a5cbc98bd4c1fe20d5e5fb2ed1df330c93a33c043c"
    );
    let ka2 = encryption_key(Prf::HmacSha1, &skeyid_e, Cipher::TripleDesCbc).unwrap();
    assert_eq!(ka, ka2);
}

#[test]
fn appendix_b_aes256_with_md5_needs_expansion() {
    let skeyid_e = Secret::new((100u8..116).collect());
    let ka = encryption_key(Prf::HmacMd5, &skeyid_e, Cipher::AesCbc256).unwrap();
    assert_eq!(
        hex::encode(ka.as_bytes()),
        "ed3c938cfde995708d2708ece51dbd662d8b4f34b310727239b484cc99627675"
    );
}

#[test]
fn appendix_b_truncates_when_long_enough() {
    let skeyid_e = Secret::new((0u8..32).collect());
    let ka = encryption_key(Prf::HmacSha256, &skeyid_e, Cipher::AesCbc128).unwrap();
    assert_eq!(ka.as_bytes(), &skeyid_e.as_bytes()[..16]);
    // Exactly as long: SKEYID_e itself.
    let ka = encryption_key(Prf::HmacSha256, &skeyid_e, Cipher::AesCbc256).unwrap();
    assert_eq!(ka, skeyid_e);
}

#[test]
fn appendix_b_refuses_weak_derived_keys_and_absurd_lengths() {
    // A SKEYID_e whose first 24 bytes are a degenerate 3DES key (k1 = k2).
    let mut bytes = vec![0x01u8, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
    bytes.extend_from_slice(&bytes.clone());
    bytes.extend((0u8..16).map(|b| b.wrapping_mul(37)));
    let skeyid_e = Secret::new(bytes);
    assert_eq!(
        encryption_key(Prf::HmacSha256, &skeyid_e, Cipher::TripleDesCbc),
        Err(CryptoError::WeakKey("3DES-CBC"))
    );
    assert!(matches!(
        expand_skeyid_e(Prf::HmacSha1, &skeyid_e, MAX_DERIVED_LEN + 1),
        Err(CryptoError::DerivedLengthTooLong { .. })
    ));
    assert_eq!(
        expand_skeyid_e(Prf::HmacSha1, &skeyid_e, MAX_DERIVED_LEN)
            .unwrap()
            .len(),
        MAX_DERIVED_LEN
    );
}

const SKEYID_D: std::ops::Range<u8> = 50..70;
const SPI: &str = "c0ffee01";

fn ni() -> Vec<u8> {
    (0u8..16).collect()
}
fn nr() -> Vec<u8> {
    (16u8..40).collect()
}

#[test]
fn keymat_expansion_without_pfs() {
    let skeyid_d = Secret::new(SKEYID_D.collect());
    let km = keymat(Prf::HmacSha1, &skeyid_d, None, 3, &h(SPI), &ni(), &nr(), 64).unwrap();
    assert_eq!(
        hex::encode(km.as_bytes()),
        "5b5c1c836a8d59fa783d64877d7f03647e461304e114e6d35a1ddf2203926fedb7f1f06a2bb8d764e84a27a3acb7da096bf8ce9fd1e5f55a343b6f00689ddb6c"
    );
    // A shorter request is a prefix.
    let short = keymat(Prf::HmacSha1, &skeyid_d, None, 3, &h(SPI), &ni(), &nr(), 16).unwrap();
    assert_eq!(short.as_bytes(), &km.as_bytes()[..16]);
}

#[test]
fn keymat_expansion_with_pfs() {
    let skeyid_d = Secret::new(SKEYID_D.collect());
    let g_qm_xy = Secret::new((200u8..232).collect());
    let km = keymat(
        Prf::HmacSha1,
        &skeyid_d,
        Some(&g_qm_xy),
        3,
        &h(SPI),
        &ni(),
        &nr(),
        64,
    )
    .unwrap();
    assert_eq!(
        hex::encode(km.as_bytes()),
        "e180cfebcdbf295c796911be1f989c5ca679b2cd73db044fba52864994540940d63e0732f7f3326ef1fa530e068ade806f5600507aff18e5e608927649c97aaf"
    );
}

#[test]
fn keymat_depends_on_every_input() {
    let skeyid_d = Secret::new(SKEYID_D.collect());
    let base = keymat(
        Prf::HmacSha256,
        &skeyid_d,
        None,
        3,
        &h(SPI),
        &ni(),
        &nr(),
        40,
    )
    .unwrap();
    let variants = [
        keymat(
            Prf::HmacSha256,
            &skeyid_d,
            None,
            2,
            &h(SPI),
            &ni(),
            &nr(),
            40,
        ),
        keymat(
            Prf::HmacSha256,
            &skeyid_d,
            None,
            3,
            &h("c0ffee02"),
            &ni(),
            &nr(),
            40,
        ),
        keymat(
            Prf::HmacSha256,
            &skeyid_d,
            None,
            3,
            &h(SPI),
            &nr(),
            &ni(),
            40,
        ),
        keymat(
            Prf::HmacSha384,
            &skeyid_d,
            None,
            3,
            &h(SPI),
            &ni(),
            &nr(),
            40,
        ),
    ];
    for v in variants {
        assert_ne!(v.unwrap(), base);
    }
}

#[test]
fn ivs() {
    let g_xi: Vec<u8> = (0u8..96).collect();
    let g_xr: Vec<u8> = (96u8..192).collect();
    assert_eq!(
        hex::encode(phase1_iv(HashAlgorithm::Md5, &g_xi, &g_xr, 8)),
        "48599090c2176432"
    );
    assert_eq!(
        hex::encode(phase1_iv(HashAlgorithm::Sha1, &g_xi, &g_xr, 16)),
        "995b6f0c8f9eda20f3e5a2bd89df9087"
    );
    assert_eq!(
        hex::encode(phase2_iv(
            HashAlgorithm::Sha256,
            &h("00112233445566778899aabbccddeeff"),
            0x01020304,
            16
        )),
        "c87c9192ec9db1c11a9c29092bb2d8cf"
    );
}

#[test]
fn iv_chain_request_response_and_independent_exchanges() {
    let g_xi = [1u8; 128];
    let g_xr = [2u8; 128];
    let key = Secret::new((1u8..=24).map(|b| b.wrapping_mul(29)).collect());
    let hash = HashAlgorithm::Sha1;
    let cipher = Cipher::TripleDesCbc;
    let mut a = IvChain::new(hash, cipher, &g_xi, &g_xr); // initiator
    let mut b = IvChain::new(hash, cipher, &g_xi, &g_xr); // responder
    assert_eq!(a.phase1_iv(), phase1_iv(hash, &g_xi, &g_xr, 8));

    // Phase 1: 5 from A, 6 from B.
    let mut m5 = vec![5u8; 32];
    a.encrypt(&key, 0, &mut m5).unwrap();
    b.decrypt(&key, 0, &mut m5.clone()).unwrap();
    assert!(b.confirm(0));
    let mut m6 = vec![6u8; 24];
    b.encrypt(&key, 0, &mut m6).unwrap();
    a.decrypt(&key, 0, &mut m6.clone()).unwrap();
    a.confirm(0);
    assert_eq!(a.phase1_iv(), &m6[16..]);
    assert_eq!(a.phase1_iv(), b.phase1_iv());

    // Two interleaved exchanges: each has its own chain derived from the phase-1 IV.
    let (q, i) = (0x11111111u32, 0x22222222u32);
    assert_eq!(a.current_iv(q), phase2_iv(hash, &m6[16..], q, 8));
    let mut q1 = b"quick mode 1 ...".to_vec();
    a.encrypt(&key, q, &mut q1).unwrap();
    let mut n1 = b"informational 1.".to_vec();
    a.encrypt(&key, i, &mut n1).unwrap();
    assert_eq!(a.current_iv(i), &n1[8..]);
    assert_eq!(a.current_iv(q), &q1[8..]);

    // B sees them in the other order.
    let mut n1_plain = n1.clone();
    b.decrypt(&key, i, &mut n1_plain).unwrap();
    assert_eq!(n1_plain, b"informational 1.");
    let mut q1_plain = q1.clone();
    b.decrypt(&key, q, &mut q1_plain).unwrap();
    assert_eq!(q1_plain, b"quick mode 1 ...");
    b.confirm(q);
    // The response chains from the request.
    let mut q2 = b"quick mode 2 ...".to_vec();
    b.encrypt(&key, q, &mut q2).unwrap();
    let mut q2_plain = q2.clone();
    a.decrypt(&key, q, &mut q2_plain).unwrap();
    assert_eq!(q2_plain, b"quick mode 2 ...");

    // A forged message decrypts to garbage and is never confirmed: the chain stays usable.
    let mut forged = vec![0xeeu8; 16];
    a.decrypt(&key, q, &mut forged).unwrap();
    let mut q2_again = q2.clone();
    a.decrypt(&key, q, &mut q2_again).unwrap();
    assert_eq!(q2_again, b"quick mode 2 ...");
    a.confirm(q);
    assert_eq!(a.current_iv(q), &q2[8..]);

    // Empty and misaligned messages are refused and do not move the chain.
    let before = a.current_iv(q).to_vec();
    assert!(a.decrypt(&key, q, &mut []).is_err());
    assert!(a.encrypt(&key, q, &mut [0u8; 7]).is_err());
    assert!(!a.confirm(q));
    assert_eq!(a.current_iv(q), before);
}

#[test]
fn iv_chain_keeps_a_bounded_number_of_exchanges() {
    let key = Secret::new(vec![3u8; 16]);
    let mut c =
        IvChain::new(HashAlgorithm::Sha256, Cipher::AesCbc128, b"x", b"y").with_max_exchanges(2);
    let mut m = [0u8; 16];
    c.encrypt(&key, 1, &mut m).unwrap();
    let advanced = c.current_iv(1).to_vec();
    c.current_iv(2);
    c.current_iv(3); // evicts 1, the least recently used
    // A forgotten exchange restarts from the phase-1 IV.
    let p1 = c.phase1_iv().to_vec();
    assert_ne!(c.current_iv(1), advanced);
    assert_eq!(
        c.current_iv(1),
        phase2_iv(HashAlgorithm::Sha256, &p1, 1, 16)
    );
}

#[test]
fn esp_keymat_split() {
    let km = Secret::new((0u8..100).collect());

    let t = EspTransform::new(EspEncryption::AesCbc256, EspIntegrity::HmacSha256_128).unwrap();
    assert_eq!(t.keymat_len(), 64);
    let k = split_keymat(&km, &t).unwrap();
    assert_eq!(k.encryption.as_bytes(), &km.as_bytes()[..32]);
    assert_eq!(k.integrity.as_bytes(), &km.as_bytes()[32..64]);
    assert!(k.salt.is_none());

    // RFC 4106 §8.1: key, then 4-byte salt; no integrity key.
    let t = EspTransform::new(EspEncryption::AesGcm16_256, EspIntegrity::None).unwrap();
    assert_eq!(t.keymat_len(), 36);
    let k = split_keymat(&km, &t).unwrap();
    assert_eq!(k.encryption.as_bytes(), &km.as_bytes()[..32]);
    assert_eq!(k.salt.as_ref().unwrap().as_bytes(), &km.as_bytes()[32..36]);
    assert!(k.integrity.is_empty());

    let t = EspTransform::new(EspEncryption::Null, EspIntegrity::HmacSha1_96).unwrap();
    let k = split_keymat(&km, &t).unwrap();
    assert!(k.encryption.is_empty());
    assert_eq!(k.integrity.as_bytes(), &km.as_bytes()[..20]);

    let t = EspTransform::new(EspEncryption::TripleDesCbc, EspIntegrity::HmacMd5_96).unwrap();
    assert_eq!(t.keymat_len(), 40);
    assert_eq!(
        split_keymat(&Secret::new(vec![1; 39]), &t),
        Err(CryptoError::KeymatTooShort {
            needed: 40,
            got: 39
        })
    );
    // A degenerate 3DES key from KEYMAT is refused (RFC 2451 §2.3).
    assert_eq!(
        split_keymat(&Secret::new(vec![0x5a; 40]), &t),
        Err(CryptoError::WeakKey("3DES-CBC"))
    );

    assert!(EspTransform::new(EspEncryption::AesGcm16_128, EspIntegrity::HmacSha1_96).is_err());
    assert!(EspTransform::new(EspEncryption::Null, EspIntegrity::None).is_err());
}

#[test]
fn esp_ids_and_lengths() {
    use EspEncryption as E;
    for e in [
        E::TripleDesCbc,
        E::AesCbc128,
        E::AesCbc192,
        E::AesCbc256,
        E::AesGcm16_128,
        E::AesGcm16_256,
        E::Null,
    ] {
        assert_eq!(E::from_ike(e.transform_id(), e.key_bits()), Some(e));
    }
    assert_eq!(E::from_ike(12, None), None);
    use EspIntegrity as I;
    for (i, key, icv) in [
        (I::HmacMd5_96, 16, 12),
        (I::HmacSha1_96, 20, 12),
        (I::HmacSha256_128, 32, 16),
        (I::HmacSha384_192, 48, 24),
        (I::HmacSha512_256, 64, 32),
        (I::None, 0, 0),
    ] {
        assert_eq!((i.key_len(), i.icv_len()), (key, icv), "{i:?}");
        assert_eq!(I::from_ike(i.ike_id()), Some(i));
    }
}

#[test]
fn esp_integrity_is_truncated_hmac() {
    // RFC 4231 case 2 key/data: HMAC-SHA256 truncated to 128 bits (RFC 4868 §2.6).
    let key = Secret::from("Jefe");
    let icv = EspIntegrity::HmacSha256_128.compute(&key, &[b"what do ya want ", b"for nothing?"]);
    assert_eq!(hex::encode(&icv), "5bdcc146bf60754e6a042426089575c7");
    assert!(EspIntegrity::HmacSha256_128.verify(&key, &[b"what do ya want for nothing?"], &icv));
    assert!(!EspIntegrity::HmacSha256_128.verify(&key, &[b"what do ya want for nothing!"], &icv));
    // RFC 2202 MD5 case 2, truncated to 96 bits (RFC 2403).
    let icv = EspIntegrity::HmacMd5_96.compute(&key, &[b"what do ya want for nothing?"]);
    assert_eq!(hex::encode(&icv), "750c783e6ab0b503eaa86e31");
}

#[test]
fn esp_gcm_round_trip_and_tamper() {
    let km = Secret::new((0u8..36).collect());
    let t = EspTransform::new(EspEncryption::AesGcm16_256, EspIntegrity::None).unwrap();
    let keys = split_keymat(&km, &t).unwrap();
    let iv = [7u8; 8];
    let aad = [0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1];
    let mut buf = b"inner packet".to_vec();
    let icv = t.encryption.seal_gcm(&keys, &iv, &aad, &mut buf).unwrap();
    buf.extend_from_slice(&icv);
    let mut copy = buf.clone();
    let plain = t.encryption.open_gcm(&keys, &iv, &aad, &mut copy).unwrap();
    assert_eq!(plain, b"inner packet");
    buf[0] ^= 1;
    assert_eq!(
        t.encryption.open_gcm(&keys, &iv, &aad, &mut buf),
        Err(CryptoError::AuthenticationFailed)
    );
    assert!(
        EspEncryption::AesCbc128
            .open_gcm(&keys, &iv, &aad, &mut buf)
            .is_err()
    );
    assert!(
        EspEncryption::AesGcm16_256
            .decrypt_cbc(&keys.encryption, &[0; 16], &mut [0; 16])
            .is_err()
    );
}
