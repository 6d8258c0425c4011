//! SA lifetimes in bytes and packets (RFC 4301 §4.4.2.1: "a soft lifetime ... a hard
//! lifetime"), and [`Expiry`], reported once per limit.
//!
//! Time lifetimes are not here: the engine owns the clock and schedules those itself. Byte
//! and packet limits can only be counted where the packets are, so the dataplane counts them
//! with this and tells the engine (`Engine::sa_expired(now, spi, hard)`).

use super::EspError;

/// Byte and packet limits of one SA direction; `None` = no limit.
///
/// Bytes are payload bytes (see [`Counters`](super::Counters)). A limit is reached when the
/// count is at or above it: with `hard_packets: Some(n)` exactly `n` packets are processed,
/// the `n`th reports [`Expiry::Hard`], and the next is refused with [`EspError::Expired`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct LifetimeLimits {
    /// Soft byte limit: time to rekey.
    pub soft_bytes: Option<u64>,
    /// Hard byte limit: the SA is dead.
    pub hard_bytes: Option<u64>,
    /// Soft packet limit.
    pub soft_packets: Option<u64>,
    /// Hard packet limit.
    pub hard_packets: Option<u64>,
}

/// A lifetime limit crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Expiry {
    /// A soft limit: rekey (`Engine::sa_expired(now, spi, false)`). The SA still works.
    Soft,
    /// A hard limit, or the last sequence number: delete (`Engine::sa_expired(now, spi,
    /// true)`). The SA refuses every further packet with [`EspError::Expired`].
    Hard,
}

/// Usage of one SA against its limits.
#[derive(Debug, Clone)]
pub(super) struct Lifetime {
    limits: LifetimeLimits,
    bytes: u64,
    packets: u64,
    soft: bool,
    hard: bool,
}

impl Lifetime {
    pub(super) fn new(limits: LifetimeLimits) -> Self {
        Lifetime {
            limits,
            bytes: 0,
            packets: 0,
            soft: false,
            hard: false,
        }
    }

    /// Refuses once a hard limit was reached.
    pub(super) fn check(&self) -> Result<(), EspError> {
        if self.hard {
            Err(EspError::Expired)
        } else {
            Ok(())
        }
    }

    /// Counts one packet; returns the limit it crossed first, if any. A packet crossing both
    /// reports only [`Expiry::Hard`] (which implies the soft one).
    pub(super) fn count(&mut self, bytes: usize) -> Option<Expiry> {
        self.bytes = self.bytes.saturating_add(bytes as u64);
        self.packets = self.packets.saturating_add(1);
        let reached = |limit: Option<u64>, used: u64| limit.is_some_and(|l| used >= l);
        let l = self.limits;
        if reached(l.hard_bytes, self.bytes) || reached(l.hard_packets, self.packets) {
            return self.expire_hard();
        }
        if !self.soft
            && (reached(l.soft_bytes, self.bytes) || reached(l.soft_packets, self.packets))
        {
            self.soft = true;
            return Some(Expiry::Soft);
        }
        None
    }

    /// Marks the SA hard-expired (sequence numbers exhausted); reports it the first time.
    pub(super) fn expire_hard(&mut self) -> Option<Expiry> {
        let first = !self.hard;
        self.hard = true;
        self.soft = true;
        first.then_some(Expiry::Hard)
    }

    /// Marks the soft limit reached; reports it the first time.
    pub(super) fn expire_soft(&mut self) -> Option<Expiry> {
        let first = !self.soft;
        self.soft = true;
        first.then_some(Expiry::Soft)
    }

    /// The worst limit reached so far.
    pub(super) fn state(&self) -> Option<Expiry> {
        if self.hard {
            Some(Expiry::Hard)
        } else if self.soft {
            Some(Expiry::Soft)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_limit_is_reported_once() {
        let mut l = Lifetime::new(LifetimeLimits {
            soft_packets: Some(2),
            hard_packets: Some(4),
            ..LifetimeLimits::default()
        });
        assert_eq!(l.count(10), None);
        assert_eq!(l.count(10), Some(Expiry::Soft));
        assert_eq!(l.count(10), None);
        assert_eq!(l.state(), Some(Expiry::Soft));
        assert!(l.check().is_ok());
        assert_eq!(l.count(10), Some(Expiry::Hard));
        assert_eq!(l.check(), Err(EspError::Expired));
        assert_eq!(l.expire_hard(), None);
    }

    #[test]
    fn hard_before_soft_reports_hard_only() {
        let mut l = Lifetime::new(LifetimeLimits {
            soft_bytes: Some(100),
            hard_bytes: Some(100),
            ..LifetimeLimits::default()
        });
        assert_eq!(l.count(150), Some(Expiry::Hard));
        assert_eq!(l.state(), Some(Expiry::Hard));
    }
}
