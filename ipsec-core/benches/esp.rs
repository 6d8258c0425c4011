//! ESP throughput: encapsulation and decapsulation of 1400-byte IPv4 packets in tunnel
//! mode, for AES-128-GCM and AES-128-CBC/HMAC-SHA1-96 (criterion reports bytes/s of inner
//! packets): `cargo bench -p ipsec-core --bench esp`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ipsec_core::crypto::Secret;
use ipsec_core::crypto::esp::{EspEncryption, EspIntegrity, EspTransform, split_keymat};
use ipsec_core::esp::{Inbound, Mode, Outbound, SaConfig};
use ring::rand::SystemRandom;

const PACKET_LEN: usize = 1400;

fn ipv4_packet(len: usize) -> Vec<u8> {
    let mut p: Vec<u8> = (0..len).map(|i| i as u8).collect();
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[9] = 17;
    p
}

fn esp(c: &mut Criterion) {
    let mut g = c.benchmark_group("esp");
    g.measurement_time(Duration::from_secs(3));
    g.warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Bytes(PACKET_LEN as u64));
    let packet = ipv4_packet(PACKET_LEN);
    for (enc, integ) in [
        (EspEncryption::AesGcm16_128, EspIntegrity::None),
        (EspEncryption::AesCbc128, EspIntegrity::HmacSha1_96),
    ] {
        let t = EspTransform::new(enc, integ).unwrap();
        let keys = split_keymat(&Secret::new(vec![0x3c; t.keymat_len()]), &t).unwrap();
        let mut config = SaConfig::new(0x1000_0001, t, keys, Mode::Tunnel);
        // Benchmarks send more than 2^32 packets only in theory; ESN keeps them going.
        config.esn = true;
        let name = format!("{}/{}", enc.name(), integ.name());
        let mut tx = Outbound::new(&config, &SystemRandom::new()).unwrap();
        let mut wire = Vec::with_capacity(2048);
        g.bench_function(BenchmarkId::new("encapsulate", &name), |b| {
            b.iter(|| black_box(tx.encapsulate(black_box(&packet), &mut wire).unwrap()))
        });

        // Decapsulation needs fresh sequence numbers: a window of pre-built packets would
        // be replays, so the receiver runs without a window and the same packet is reused.
        config.replay_window = 0;
        let mut rx = Inbound::new(&config).unwrap();
        tx.encapsulate(&packet, &mut wire).unwrap();
        let mut inner = Vec::with_capacity(2048);
        g.bench_function(BenchmarkId::new("decapsulate", &name), |b| {
            b.iter(|| black_box(rx.decapsulate(black_box(&wire), &mut inner).unwrap()))
        });
    }
    g.finish();
}

criterion_group!(benches, esp);
criterion_main!(benches);
