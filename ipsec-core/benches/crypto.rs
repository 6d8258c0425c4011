//! Benchmarks of the IKEv1 crypto layer: DH per group (key generation and shared secret),
//! the PRFs, the phase-1 key chain, KEYMAT, and the phase-1 CBC ciphers.
//!
//! Measurement times are short so that the whole run takes a few minutes on 2 cores:
//! `cargo bench -p ipsec-core --bench crypto`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ipsec_core::crypto::ikev1::{Phase1Auth, Phase1Keys, keymat};
use ipsec_core::crypto::{Cipher, DhGroup, KeyPair, Prf, Secret};
use ring::rand::SystemRandom;

fn dh(c: &mut Criterion) {
    let rng = SystemRandom::new();
    let mut g = c.benchmark_group("dh");
    for group in DhGroup::ALL {
        let slow = matches!(group, DhGroup::Modp6144 | DhGroup::Modp8192);
        g.sample_size(if slow { 10 } else { 20 });
        g.bench_function(BenchmarkId::new("keygen", group.name()), |b| {
            b.iter(|| black_box(KeyPair::generate(group, &rng).unwrap()))
        });
        let peer = KeyPair::generate(group, &rng).unwrap().public;
        g.bench_function(BenchmarkId::new("shared_secret", group.name()), |b| {
            b.iter_batched(
                || KeyPair::generate(group, &rng).unwrap(),
                |kp| black_box(kp.agree(&peer).unwrap()),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn prf(c: &mut Criterion) {
    let mut g = c.benchmark_group("prf");
    let key = [0x5au8; 32];
    for size in [64usize, 1024] {
        let data = vec![0xa5u8; size];
        g.throughput(Throughput::Bytes(size as u64));
        for prf in Prf::ALL {
            g.bench_function(BenchmarkId::new(prf.name(), size), |b| {
                b.iter(|| black_box(prf.compute(black_box(&key), &[black_box(&data)])))
            });
        }
    }
    g.finish();
}

fn ikev1(c: &mut Criterion) {
    let mut g = c.benchmark_group("ikev1");
    let psk = Secret::from("ssp-interop-psk-1");
    let ni = [1u8; 32];
    let nr = [2u8; 32];
    let cky_i = [3u8; 8];
    let cky_r = [4u8; 8];
    for (prf, cipher, gxy_len) in [
        (Prf::HmacSha256, Cipher::AesCbc128, 256usize),
        (Prf::HmacSha1, Cipher::TripleDesCbc, 256),
        (Prf::HmacSha512, Cipher::AesCbc256, 32),
    ] {
        let gxy = Secret::new(vec![0x77; gxy_len]);
        let name = format!("{}/{}/gxy{}", prf.name(), cipher.name(), gxy_len);
        g.bench_function(BenchmarkId::new("skeyid_chain_psk", &name), |b| {
            b.iter(|| {
                black_box(
                    Phase1Keys::derive(
                        prf,
                        cipher,
                        Phase1Auth::PreSharedKey(&psk),
                        &ni,
                        &nr,
                        &gxy,
                        &cky_i,
                        &cky_r,
                    )
                    .unwrap(),
                )
            })
        });
    }
    let skeyid_d = Secret::new(vec![9u8; 32]);
    let pfs = Secret::new(vec![8u8; 256]);
    for (prf, len, with_pfs) in [
        (Prf::HmacSha256, 36usize, false),
        (Prf::HmacSha1, 64, false),
        (Prf::HmacSha256, 36, true),
    ] {
        let name = format!(
            "{}/{}B/{}",
            prf.name(),
            len,
            if with_pfs { "pfs" } else { "no-pfs" }
        );
        g.bench_function(BenchmarkId::new("keymat", &name), |b| {
            b.iter(|| {
                black_box(
                    keymat(
                        prf,
                        &skeyid_d,
                        with_pfs.then_some(&pfs),
                        3,
                        &[1, 2, 3, 4],
                        &ni,
                        &nr,
                        len,
                    )
                    .unwrap(),
                )
            })
        });
    }
    g.finish();
}

fn cipher(c: &mut Criterion) {
    let mut g = c.benchmark_group("cipher");
    let size = 1024usize;
    g.throughput(Throughput::Bytes(size as u64));
    for cipher in Cipher::ALL {
        let key: Vec<u8> = (0..cipher.key_len() as u8)
            .map(|i| i.wrapping_mul(37) ^ 0x5c)
            .collect();
        let iv = vec![7u8; cipher.block_len()];
        let mut buf = vec![0u8; size];
        g.bench_function(BenchmarkId::new("cbc_encrypt", cipher.name()), |b| {
            b.iter(|| cipher.encrypt(&key, &iv, black_box(&mut buf)).unwrap())
        });
        g.bench_function(BenchmarkId::new("cbc_decrypt", cipher.name()), |b| {
            b.iter(|| cipher.decrypt(&key, &iv, black_box(&mut buf)).unwrap())
        });
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1200))
        .sample_size(20)
        .without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = dh, prf, ikev1, cipher
}
criterion_main!(benches);
