//! Known answers for the primitives: HMAC (RFC 2202, RFC 4231), hashes, the phase-1 CBC
//! ciphers (RFC 3602, NIST SP 800-38A F.2, FIPS 81, an OpenSSL-computed 3DES case), the
//! weak-key rules, and `Secret`.

use ipsec_core::crypto::{Cipher, CryptoError, HashAlgorithm, Prf, Secret, ct_eq};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).expect("hex")
}

/// RFC 2202 test cases 1-7 (MD5: 16-byte keys, SHA-1: 20-byte keys in cases 1, 3, 5).
fn rfc2202_inputs(key_len: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    vec![
        (vec![0x0b; key_len], b"Hi There".to_vec()),
        (b"Jefe".to_vec(), b"what do ya want for nothing?".to_vec()),
        (vec![0xaa; key_len], vec![0xdd; 50]),
        ((1..=25).collect(), vec![0xcd; 50]),
        (vec![0x0c; key_len], b"Test With Truncation".to_vec()),
        (
            vec![0xaa; 80],
            b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
        ),
        (
            vec![0xaa; 80],
            b"Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data".to_vec(),
        ),
    ]
}

/// RFC 4231 test cases 1-7 (case 5 compared on the full output, whose prefix the RFC gives).
fn rfc4231_inputs() -> Vec<(Vec<u8>, Vec<u8>)> {
    vec![
        (vec![0x0b; 20], b"Hi There".to_vec()),
        (b"Jefe".to_vec(), b"what do ya want for nothing?".to_vec()),
        (vec![0xaa; 20], vec![0xdd; 50]),
        ((1..=25).collect(), vec![0xcd; 50]),
        (vec![0x0c; 20], b"Test With Truncation".to_vec()),
        (
            vec![0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
        ),
        (
            vec![0xaa; 131],
            b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.".to_vec(),
        ),
    ]
}

fn check_prf(prf: Prf, inputs: Vec<(Vec<u8>, Vec<u8>)>, expected: &[&str]) {
    assert_eq!(inputs.len(), expected.len());
    for (i, ((key, data), want)) in inputs.iter().zip(expected).enumerate() {
        let got = prf.compute(key, &[data]);
        assert_eq!(hex::encode(&got), *want, "{prf:?} case {}", i + 1);
        assert_eq!(got.len(), prf.output_len());
        // Split input gives the same answer as one slice.
        let (a, b) = data.split_at(data.len() / 2);
        assert_eq!(
            prf.compute(key, &[a, &[], b]),
            got,
            "{prf:?} case {} split",
            i + 1
        );
    }
}

#[test]
fn hmac_md5_rfc2202() {
    check_prf(
        Prf::HmacMd5,
        rfc2202_inputs(16),
        &[
            "9294727a3638bb1c13f48ef8158bfc9d",
            "750c783e6ab0b503eaa86e310a5db738",
            "56be34521d144c88dbb8c733f0e8b3f6",
            "697eaf0aca3a3aea3a75164746ffaa79",
            "56461ef2342edc00f9bab995690efd4c",
            "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd",
            "6f630fad67cda0ee1fb1f562db3aa53e",
        ],
    );
}

#[test]
fn hmac_sha1_rfc2202() {
    check_prf(
        Prf::HmacSha1,
        rfc2202_inputs(20),
        &[
            "b617318655057264e28bc0b6fb378c8ef146be00",
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
            "125d7342b9ac11cd91a39af48aa17b4f63f175d3",
            "4c9007f4026250c6bc8414f9bf50c86c2d7235da",
            "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04",
            "aa4ae5e15272d00e95705637ce8a3b55ed402112",
            "e8e99d0f45237d786d6bbaa7965c7808bbff1a91",
        ],
    );
}

#[test]
fn hmac_sha256_rfc4231() {
    check_prf(
        Prf::HmacSha256,
        rfc4231_inputs(),
        &[
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
            "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
            "a3b6167473100ee06e0c796c2955552bfa6f7c0a6a8aef8b93f860aab0cd20c5",
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
        ],
    );
}

#[test]
fn hmac_sha384_rfc4231() {
    check_prf(
        Prf::HmacSha384,
        rfc4231_inputs(),
        &[
            "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
            "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
            "88062608d3e6ad8a0aa2ace014c8a86f0aa635d947ac9febe83ef4e55966144b2a5ab39dc13814b94e3ab6e101a34f27",
            "3e8a69b7783c25851933ab6290af6ca77a9981480850009cc5577c6e1f573b4e6801dd23c4a7d679ccf8a386c674cffb",
            "3abf34c3503b2a23a46efc619baef897f4c8e42c934ce55ccbae9740fcbc1af4ca62269e2a37cd88ba926341efe4aeea",
            "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c60c2ef6ab4030fe8296248df163f44952",
            "6617178e941f020d351e2f254e8fd32c602420feb0b8fb9adccebb82461e99c5a678cc31e799176d3860e6110c46523e",
        ],
    );
}

#[test]
fn hmac_sha512_rfc4231() {
    check_prf(
        Prf::HmacSha512,
        rfc4231_inputs(),
        &[
            "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
            "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb",
            "b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3dba91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd",
            "415fad6271580a531d4179bc891d87a650188707922a4fbb36663a1eb16da008711c5b50ddd0fc235084eb9d3364a1454fb2ef67cd1d29fe6773068ea266e96b",
            "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598",
            "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58",
        ],
    );
}

#[test]
fn hash_known_answers() {
    // FIPS 180 / RFC 1321 "abc".
    let cases = [
        (HashAlgorithm::Md5, "900150983cd24fb0d6963f7d28e17f72"),
        (
            HashAlgorithm::Sha1,
            "a9993e364706816aba3e25717850c26c9cd0d89d",
        ),
        (
            HashAlgorithm::Sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        (
            HashAlgorithm::Sha384,
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
        ),
        (
            HashAlgorithm::Sha512,
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        ),
    ];
    for (hash, want) in cases {
        assert_eq!(
            hex::encode(hash.digest(&[b"a", b"", b"bc"])),
            want,
            "{hash:?}"
        );
        assert_eq!(hash.digest(&[b"abc"]).len(), hash.output_len());
    }
}

#[test]
fn prf_from_negotiated_hash() {
    // RFC 2409 §4: no PRF attribute -> HMAC of the negotiated hash.
    for hash in HashAlgorithm::ALL {
        let prf = Prf::negotiated(hash, None).unwrap();
        assert_eq!(prf.hash(), hash);
        assert_eq!(prf.output_len(), hash.output_len());
        assert_eq!(HashAlgorithm::from_ike_id(hash.ike_id()), Some(hash));
    }
    assert_eq!(HashAlgorithm::from_ike_id(2), Some(HashAlgorithm::Sha1));
    assert_eq!(HashAlgorithm::from_ike_id(4), Some(HashAlgorithm::Sha256));
    assert_eq!(HashAlgorithm::from_ike_id(3), None); // Tiger
    assert_eq!(Prf::from_ike_hash_id(4), Some(Prf::HmacSha256));
    assert_eq!(Prf::from_ike_hash_id(1), Some(Prf::HmacMd5));
    assert_eq!(Prf::from_ike_hash_id(3), None);
    assert!(matches!(
        Prf::negotiated(HashAlgorithm::Sha1, Some(1)),
        Err(CryptoError::Unsupported(_))
    ));
}

fn check_cipher(cipher: Cipher, key: &str, iv: &str, plain: &[u8], cipher_text: &str) {
    let (key, iv) = (h(key), h(iv));
    let mut buf = plain.to_vec();
    cipher.encrypt(&key, &iv, &mut buf).unwrap();
    assert_eq!(hex::encode(&buf), cipher_text, "{cipher:?} encrypt");
    cipher.decrypt(&key, &iv, &mut buf).unwrap();
    assert_eq!(buf, plain, "{cipher:?} decrypt");
}

#[test]
fn aes_cbc_rfc3602() {
    check_cipher(
        Cipher::AesCbc128,
        "06a9214036b8a15b512e03d534120006",
        "3dafba429d9eb430b422da802c9fac41",
        b"Single block msg",
        "e353779c1079aeb82708942dbe77181a",
    );
    check_cipher(
        Cipher::AesCbc128,
        "c286696d887c9aa0611bbb3e2025a45a",
        "562e17996d093d28ddb3ba695a2e6f58",
        &(0u8..32).collect::<Vec<_>>(),
        "d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1",
    );
    check_cipher(
        Cipher::AesCbc128,
        "6c3ea0477630ce21a2ce334aa746c2cd",
        "c782dc4c098c66cbd9cd27d825682c81",
        b"This is a 48-byte message (exactly 3 AES blocks)",
        "d0a02b3836451753d493665d33f0e8862dea54cdb293abc7506939276772f8d5021c19216bad525c8579695d83ba2684",
    );
    check_cipher(
        Cipher::AesCbc128,
        "56e47a38c5598974bc46903dba290349",
        "8ce82eefbea0da3c44699ed7db51b7d9",
        &(0xa0u8..0xe0).collect::<Vec<_>>(),
        "c30e32ffedc0774e6aff6af0869f71aa0f3af07a9a31a9c684db207eb0ef8e4e35907aa632c3ffdf868bb7b29d3d46ad83ce9f9a102ee99d49a53e87f4c3da55",
    );
}

#[test]
fn aes_cbc_sp800_38a() {
    let plain = h(
        "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710",
    );
    let iv = "000102030405060708090a0b0c0d0e0f";
    check_cipher(
        Cipher::AesCbc128,
        "2b7e151628aed2a6abf7158809cf4f3c",
        iv,
        &plain,
        "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b273bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7",
    );
    check_cipher(
        Cipher::AesCbc192,
        "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b",
        iv,
        &plain,
        "4f021db243bc633d7178183a9fa071e8b4d9ada9ad7dedf4e5e738763f69145a571b242012fb7ae07fa9baac3df102e008b0e27988598881d920a9e64f5615cd",
    );
    check_cipher(
        Cipher::AesCbc256,
        "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
        iv,
        &plain,
        "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b",
    );
}

#[test]
fn des_cbc_fips81() {
    // FIPS 81 Appendix C, CBC example.
    check_cipher(
        Cipher::DesCbc,
        "0123456789abcdef",
        "1234567890abcdef",
        b"Now is the time for all ",
        "e5c7cdde872bf27c43e934008c389c0f683788499a7c05f6",
    );
}

#[test]
fn triple_des_cbc_openssl() {
    // Computed once with OpenSSL (python cryptography TripleDES-CBC).
    check_cipher(
        Cipher::TripleDesCbc,
        "0123456789abcdef23456789abcdef01456789abcdef0123",
        "f69f2445df4f9b17",
        b"The quick brown fox jump",
        "63693c3d378a862f8051ae7c2934a296aa6c3102b6e5b79e",
    );
}

#[test]
fn cipher_parameters_and_ids() {
    for c in Cipher::ALL {
        assert_eq!(Cipher::from_ike(c.ike_id(), c.ike_key_bits()), Some(c));
        assert!(c.block_len() == 8 || c.block_len() == 16);
    }
    assert_eq!(Cipher::from_ike(7, None), None, "AES needs a key length");
    assert_eq!(
        Cipher::from_ike(5, Some(192)),
        None,
        "3DES takes no key length"
    );
    assert_eq!(Cipher::from_ike(7, Some(100)), None);
    assert!(Cipher::DesCbc.is_weak());
    assert!(!Cipher::AesCbc128.is_weak());
}

#[test]
fn cipher_rejects_bad_lengths() {
    let key = [7u8; 16];
    let iv = [1u8; 16];
    let mut buf = [0u8; 17];
    assert_eq!(
        Cipher::AesCbc128.encrypt(&key, &iv, &mut buf),
        Err(CryptoError::NotBlockAligned { len: 17, block: 16 })
    );
    assert_eq!(
        Cipher::AesCbc128.decrypt(&key, &iv, &mut buf[..15]),
        Err(CryptoError::NotBlockAligned { len: 15, block: 16 })
    );
    assert!(matches!(
        Cipher::AesCbc128.encrypt(&key[..15], &iv, &mut buf[..16]),
        Err(CryptoError::InvalidLength {
            expected: 16,
            got: 15,
            ..
        })
    ));
    assert!(matches!(
        Cipher::AesCbc256.encrypt(&key, &iv, &mut buf[..16]),
        Err(CryptoError::InvalidLength {
            expected: 32,
            got: 16,
            ..
        })
    ));
    assert!(matches!(
        Cipher::AesCbc128.encrypt(&key, &iv[..8], &mut buf[..16]),
        Err(CryptoError::InvalidLength {
            expected: 16,
            got: 8,
            ..
        })
    ));
    // Zero-length data is a whole number of blocks: nothing to do.
    Cipher::AesCbc128.encrypt(&key, &iv, &mut []).unwrap();
}

#[test]
fn weak_des_keys_are_refused() {
    let iv = [0u8; 8];
    let mut buf = [0u8; 8];
    // A weak key, with and without correct parity.
    for key in [
        h("0101010101010101"),
        h("0000000000000000"),
        h("1f1f1f1f0e0e0e0e"),
    ] {
        assert_eq!(
            Cipher::DesCbc.encrypt(&key, &iv, &mut buf),
            Err(CryptoError::WeakKey("DES-CBC"))
        );
    }
    // Semi-weak.
    assert!(Cipher::DesCbc.check_key(&h("01fe01fe01fe01fe")).is_err());
    assert!(Cipher::DesCbc.check_key(&h("0123456789abcdef")).is_ok());

    // 3DES: k1 = k2 or k2 = k3 (ignoring parity) collapses to DES (RFC 2451 §2.3).
    let k1 = "0123456789abcdef";
    let k2 = "23456789abcdef01";
    let k3 = "456789abcdef0123";
    let k1_parity_flipped = "0022446688aaccee";
    for key in [
        format!("{k1}{k1}{k3}"),
        format!("{k1}{k2}{k2}"),
        format!("{k1}{k1_parity_flipped}{k3}"),
    ] {
        assert_eq!(
            Cipher::TripleDesCbc.check_key(&h(&key)),
            Err(CryptoError::WeakKey("3DES-CBC")),
            "{key}"
        );
    }
    // k1 = k3 (two-key 3DES) is allowed.
    assert!(
        Cipher::TripleDesCbc
            .check_key(&h(&format!("{k1}{k2}{k1}")))
            .is_ok()
    );
}

#[test]
fn secret_is_redacted_and_compares_in_constant_time() {
    let s = Secret::from("ssp-interop-psk-1");
    let dbg = format!("{s:?}");
    assert!(!dbg.contains("ssp"), "{dbg}");
    assert!(dbg.contains("17 bytes"), "{dbg}");
    assert_eq!(s.as_bytes(), b"ssp-interop-psk-1");
    assert_eq!(s, Secret::from_slice(b"ssp-interop-psk-1"));
    assert_ne!(s, Secret::from_slice(b"ssp-interop-psk-2"));
    assert_ne!(s, Secret::from_slice(b"ssp-interop-psk-"));
    let mut t = s.clone();
    t.truncate(3);
    assert_eq!(t.as_bytes(), b"ssp");
    assert!(ct_eq(b"abc", b"abc"));
    assert!(!ct_eq(b"abc", b"abd"));
    assert!(!ct_eq(b"abc", b"ab"));
    assert!(ct_eq(b"", b""));
}
