//! Arbitrary bytes into `decapsulate` never panic, whatever the transform, and a packet
//! that was not produced by the peer is never delivered.

mod esp_common;

use esp_common::*;
use ipsec_core::esp::{Inbound, Mode};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(
        which in 0usize..32,
        esn in any::<bool>(),
        transport in any::<bool>(),
        window in prop_oneof![Just(0u32), Just(64), 1u32..4097],
        spi_matches in any::<bool>(),
        mut bytes in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let t = all_transforms()[which];
        let mode = if transport { Mode::Transport } else { Mode::Tunnel };
        let mut c = config(t, mode, esn);
        c.replay_window = window;
        if spi_matches && bytes.len() >= 4 {
            bytes[..4].copy_from_slice(&SPI.to_be_bytes());
        }
        let mut rx = Inbound::new(&c).unwrap();
        let mut out = Vec::new();
        // Forging an ICV by chance is out of reach: every random packet is refused.
        prop_assert!(rx.decapsulate(&bytes, &mut out).is_err());
        prop_assert!(out.is_empty());
        prop_assert_eq!(rx.counters().errors(), 1);
    }

    #[test]
    fn mutated_real_packets_never_panic(
        which in 0usize..32,
        esn in any::<bool>(),
        size in 0usize..200,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<Option<usize>>(),
    ) {
        let t = all_transforms()[which];
        let c = config(t, Mode::Tunnel, esn);
        let (mut tx, _) = pair(&c);
        let mut wire = Vec::new();
        tx.encapsulate(&ipv4(17, 0, size), &mut wire).unwrap();
        let original = wire.clone();
        for (at, x) in edits {
            let len = wire.len();
            wire[at % len] ^= x;
        }
        if let Some(cut) = cut {
            wire.truncate(cut % (wire.len() + 1));
        }
        let mut rx = Inbound::new(&c).unwrap();
        let result = rx.decapsulate(&wire, &mut Vec::new());
        prop_assert_eq!(result.is_ok(), wire == original);
    }
}
