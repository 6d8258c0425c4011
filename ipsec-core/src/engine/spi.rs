//! Inbound SPIs: the engine allocates them itself for now (random, at least 256, unique among
//! its SAs). The [`SpiAllocator`] trait is the seam for a daemon that wants the kernel to
//! allocate them (XFRM `ALLOCSPI`): it can supply its own implementation with
//! [`Engine::with_spi_allocator`](super::Engine::with_spi_allocator).

use std::collections::BTreeSet;

use ring::rand::SecureRandom;

/// Where inbound SPIs come from.
pub trait SpiAllocator: Send {
    /// A fresh SPI, at least 256 (RFC 4303 §2.1 reserves 1..255), not in use; `None` if none
    /// can be had.
    fn allocate(&mut self, rng: &dyn SecureRandom) -> Option<u32>;
    /// `spi` is no longer in use.
    fn release(&mut self, spi: u32);
}

/// The default allocator: random SPIs, remembered until released.
#[derive(Debug, Default)]
pub struct RandomSpis {
    in_use: BTreeSet<u32>,
}

impl SpiAllocator for RandomSpis {
    fn allocate(&mut self, rng: &dyn SecureRandom) -> Option<u32> {
        for _ in 0..64 {
            let mut b = [0u8; 4];
            rng.fill(&mut b).ok()?;
            let spi = u32::from_be_bytes(b);
            if spi >= 256 && self.in_use.insert(spi) {
                return Some(spi);
            }
        }
        None
    }

    fn release(&mut self, spi: u32) {
        self.in_use.remove(&spi);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spis_are_unique_and_not_reserved() {
        let rng = ring::rand::SystemRandom::new();
        let mut a = RandomSpis::default();
        let mut seen = BTreeSet::new();
        for _ in 0..1000 {
            let spi = a.allocate(&rng).unwrap();
            assert!(spi >= 256);
            assert!(seen.insert(spi));
        }
        let one = *seen.iter().next().unwrap();
        a.release(one);
        assert!(!a.in_use.contains(&one));
    }
}
