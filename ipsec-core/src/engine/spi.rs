//! Inbound SPIs. By default the engine picks them itself (random, at least 256, unique among
//! its SAs). A daemon whose SAs live in the kernel should let the kernel pick (XFRM
//! `ALLOCSPI`, unique among every SA of the host, not just ours) through its own
//! [`SpiAllocator`], given with [`Engine::with_spi_allocator`](super::Engine::with_spi_allocator).
//! The call is synchronous: the SPI goes into the quick-mode message being built.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ring::rand::SecureRandom;

/// Where inbound SPIs come from.
pub trait SpiAllocator: Send {
    /// A fresh SPI, at least 256 (RFC 4303 §2.1 reserves 1..255), not in use, for an inbound
    /// SA from `remote` to `local` (the addresses of the ISAKMP SA); `None` if none can be had.
    fn allocate(&mut self, rng: &dyn SecureRandom, local: IpAddr, remote: IpAddr) -> Option<u32>;
    /// `spi` is no longer in use.
    fn release(&mut self, spi: u32);
}

/// The default allocator: random SPIs, remembered until released.
#[derive(Debug, Default)]
pub struct RandomSpis {
    in_use: BTreeSet<u32>,
}

impl SpiAllocator for RandomSpis {
    fn allocate(&mut self, rng: &dyn SecureRandom, _: IpAddr, _: IpAddr) -> Option<u32> {
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
        let (local, remote) = ("198.18.0.1".parse().unwrap(), "198.18.0.2".parse().unwrap());
        for _ in 0..1000 {
            let spi = a.allocate(&rng, local, remote).unwrap();
            assert!(spi >= 256);
            assert!(seen.insert(spi));
        }
        let one = *seen.iter().next().unwrap();
        a.release(one);
        assert!(!a.in_use.contains(&one));
    }
}
