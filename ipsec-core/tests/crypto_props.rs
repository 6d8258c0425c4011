//! Property tests: CBC and IV-chain round trips, and "never panics, whatever the lengths"
//! for everything a peer can influence (nonces, identities, payloads, SPIs, public values).

use ipsec_core::crypto::esp::{EspEncryption, EspIntegrity, EspTransform, split_keymat};
use ipsec_core::crypto::ikev1::{
    IvChain, MAX_DERIVED_LEN, Phase1Auth, Phase1Keys, Phase1Transcript, Skeyids, expand_skeyid_e,
    informational_hash, keymat, phase1_iv, phase2_iv, qm_hash1, qm_hash2, qm_hash3, skeyid,
};
use ipsec_core::crypto::{Cipher, DhGroup, HashAlgorithm, KeyPair, Prf, Secret};
use proptest::prelude::*;

fn any_prf() -> impl Strategy<Value = Prf> {
    prop::sample::select(Prf::ALL.to_vec())
}

fn any_cipher() -> impl Strategy<Value = Cipher> {
    prop::sample::select(Cipher::ALL.to_vec())
}

fn any_hash() -> impl Strategy<Value = HashAlgorithm> {
    prop::sample::select(HashAlgorithm::ALL.to_vec())
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..=max)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn cbc_round_trip(cipher in any_cipher(), seed in any::<u64>(), blocks in 0usize..20) {
        let key: Vec<u8> = (0..cipher.key_len()).map(|i| (seed >> (i % 8 * 8)) as u8 ^ (i as u8).wrapping_mul(73)).collect();
        prop_assume!(cipher.check_key(&key).is_ok());
        let iv: Vec<u8> = (0..cipher.block_len()).map(|i| (seed as u8).wrapping_add(i as u8)).collect();
        let plain: Vec<u8> = (0..blocks * cipher.block_len()).map(|i| (i as u8) ^ (seed as u8)).collect();
        let mut buf = plain.clone();
        cipher.encrypt(&key, &iv, &mut buf).unwrap();
        if !plain.is_empty() {
            prop_assert_ne!(&buf, &plain);
        }
        cipher.decrypt(&key, &iv, &mut buf).unwrap();
        prop_assert_eq!(buf, plain);
    }

    #[test]
    fn cipher_never_panics_on_any_lengths(cipher in any_cipher(), key in bytes(40), iv in bytes(20), mut buf in bytes(70)) {
        let _ = cipher.encrypt(&key, &iv, &mut buf);
        let _ = cipher.decrypt(&key, &iv, &mut buf);
        let _ = cipher.check_key(&key);
    }

    /// A sender and a receiver chain stay in step over any interleaving of exchanges.
    #[test]
    fn iv_chains_stay_in_step(
        cipher in any_cipher(),
        hash in any_hash(),
        g_xi in bytes(64),
        g_xr in bytes(64),
        messages in prop::collection::vec((0u32..4, 1usize..5, any::<u8>()), 1..24),
    ) {
        let key: Vec<u8> = (0..cipher.key_len() as u8).map(|i| i.wrapping_mul(97).wrapping_add(13)).collect();
        prop_assume!(cipher.check_key(&key).is_ok());
        let key = Secret::new(key);
        let mut sender = IvChain::new(hash, cipher, &g_xi, &g_xr);
        let mut receiver = IvChain::new(hash, cipher, &g_xi, &g_xr);
        for (mid, blocks, fill) in messages {
            let mid = mid * 0x0101_0101;
            let plain = vec![fill; blocks * cipher.block_len()];
            let mut buf = plain.clone();
            sender.encrypt(&key, mid, &mut buf).unwrap();
            receiver.decrypt(&key, mid, &mut buf).unwrap();
            prop_assert!(receiver.confirm(mid));
            prop_assert_eq!(&buf, &plain);
            prop_assert_eq!(sender.current_iv(mid).to_vec(), receiver.current_iv(mid).to_vec());
        }
    }

    #[test]
    fn phase1_derivations_never_panic(
        prf in any_prf(),
        cipher in any_cipher(),
        psk in bytes(100),
        ni in bytes(300),
        nr in bytes(300),
        gxy in bytes(600),
        cky_i in any::<[u8; 8]>(),
        cky_r in any::<[u8; 8]>(),
        sig in any::<bool>(),
    ) {
        let psk = Secret::new(psk);
        let gxy = Secret::new(gxy);
        let auth = if sig { Phase1Auth::Signature } else { Phase1Auth::PreSharedKey(&psk) };
        let id = skeyid(prf, auth, &ni, &nr, &gxy);
        prop_assert_eq!(id.len(), prf.output_len());
        let s = Skeyids::derive(prf, id, &gxy, &cky_i, &cky_r);
        prop_assert_eq!(s.skeyid_e.len(), prf.output_len());
        match Phase1Keys::derive(prf, cipher, auth, &ni, &nr, &gxy, &cky_i, &cky_r) {
            Ok(keys) => prop_assert_eq!(keys.encryption_key.len(), cipher.key_len()),
            Err(e) => prop_assert!(matches!(e, ipsec_core::crypto::CryptoError::WeakKey(_))),
        }
    }

    #[test]
    fn expansions_never_panic(prf in any_prf(), key in bytes(80), len in 0usize..=MAX_DERIVED_LEN + 8,
                              spi in bytes(8), ni in bytes(300), nr in bytes(300), pfs in prop::option::of(bytes(300)), proto in any::<u8>()) {
        let key = Secret::new(key);
        match expand_skeyid_e(prf, &key, len) {
            Ok(k) => prop_assert_eq!(k.len(), len),
            Err(_) => prop_assert!(len > MAX_DERIVED_LEN),
        }
        let pfs = pfs.map(Secret::new);
        match keymat(prf, &key, pfs.as_ref(), proto, &spi, &ni, &nr, len) {
            Ok(k) => prop_assert_eq!(k.len(), len),
            Err(_) => prop_assert!(len > MAX_DERIVED_LEN),
        }
    }

    #[test]
    fn hashes_and_ivs_never_panic(prf in any_prf(), hash in any_hash(), key in bytes(70), a in bytes(400), b in bytes(400),
                                  mid in any::<u32>(), block in 0usize..40, cky in any::<[u8; 8]>()) {
        let key = Secret::new(key);
        prop_assert_eq!(qm_hash1(prf, &key, mid, &[&a, &b]).len(), prf.output_len());
        prop_assert_eq!(qm_hash2(prf, &key, mid, &a, &[&b]).len(), prf.output_len());
        prop_assert_eq!(qm_hash3(prf, &key, mid, &a, &b).len(), prf.output_len());
        prop_assert_eq!(informational_hash(prf, &key, mid, &[]).len(), prf.output_len());
        let t = Phase1Transcript { g_xi: &a, g_xr: &b, cky_i: cky, cky_r: cky, sai_b: &a };
        prop_assert_eq!(t.hash_i(prf, &key, &b).len(), prf.output_len());
        prop_assert_eq!(t.hash_r(prf, &key, &[]).len(), prf.output_len());
        prop_assert_eq!(phase1_iv(hash, &a, &b, block).len(), block.min(hash.output_len()));
        prop_assert_eq!(phase2_iv(hash, &a, mid, block).len(), block.min(hash.output_len()));
    }

    #[test]
    fn keymat_split_never_panics(km in bytes(120), enc in 0usize..7, integ in 0usize..6) {
        let encs = [EspEncryption::TripleDesCbc, EspEncryption::AesCbc128, EspEncryption::AesCbc192,
                    EspEncryption::AesCbc256, EspEncryption::AesGcm16_128, EspEncryption::AesGcm16_256, EspEncryption::Null];
        let integs = [EspIntegrity::None, EspIntegrity::HmacMd5_96, EspIntegrity::HmacSha1_96,
                      EspIntegrity::HmacSha256_128, EspIntegrity::HmacSha384_192, EspIntegrity::HmacSha512_256];
        if let Ok(t) = EspTransform::new(encs[enc], integs[integ]) {
            let km = Secret::new(km);
            if let Ok(keys) = split_keymat(&km, &t) {
                prop_assert!(km.len() >= t.keymat_len());
                prop_assert_eq!(keys.encryption.len(), t.encryption.key_len());
                prop_assert_eq!(keys.integrity.len(), t.integrity.key_len());
                let icv = t.integrity.compute(&keys.integrity, &[km.as_bytes()]);
                prop_assert_eq!(icv.len(), t.integrity.icv_len());
            }
        }
    }
}

proptest! {
    // Public-key operations are slower: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Arbitrary peer public values (any length, any content) are refused or agreed, never
    /// a panic.
    #[test]
    fn agree_never_panics_on_arbitrary_public_values(group in 0usize..4, len_delta in -2i32..=2, seed in bytes(140), fill in any::<u8>()) {
        let group = [DhGroup::Modp768, DhGroup::Ecp256, DhGroup::Ecp521, DhGroup::Curve25519][group];
        let len = (group.public_len() as i32 + len_delta).max(0) as usize;
        let mut value = seed;
        value.resize(len, fill);
        let _ = group.check_public(&value);
        let kp = KeyPair::generate(group, &ring::rand::SystemRandom::new()).unwrap();
        if let Ok(s) = kp.agree(&value) {
            prop_assert_eq!(s.len(), group.shared_secret_len());
        }
    }

    #[test]
    fn from_private_never_panics(group in 0usize..3, private in bytes(140)) {
        let group = [DhGroup::Modp768, DhGroup::Ecp521, DhGroup::Ecp256][group];
        if let Ok(kp) = KeyPair::from_private(group, &private) {
            prop_assert_eq!(kp.public.len(), group.public_len());
        }
    }
}
