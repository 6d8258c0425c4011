//! Counters the workers publish for `iked sas` and `iked stats`.
//!
//! Each counter has one writer (the worker that owns the SA or the direction) and is read by
//! the daemon's control requests: relaxed atomics, no locks.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::esp_glue::EspError;

/// One SA direction.
#[derive(Debug, Default)]
pub struct SaCounters {
    /// Packets delivered (encapsulated, or authenticated and handed on).
    pub packets: AtomicU64,
    /// Their payload bytes.
    pub bytes: AtomicU64,
    /// Replayed or left of the window (RFC 4303 §3.4.3).
    pub replay: AtomicU64,
    /// ICV mismatches (RFC 4303 §3.4.4).
    pub integrity: AtomicU64,
    /// Any other refusal.
    pub errors: AtomicU64,
}

impl SaCounters {
    /// One packet of `bytes` payload bytes delivered.
    pub fn delivered(&self, bytes: usize) {
        self.packets.fetch_add(1, Relaxed);
        self.bytes.fetch_add(bytes as u64, Relaxed);
    }

    /// One refusal.
    pub fn refused(&self, e: &EspError) {
        match e {
            EspError::Replay { .. } | EspError::OutsideWindow { .. } => &self.replay,
            EspError::Authentication => &self.integrity,
            _ => &self.errors,
        }
        .fetch_add(1, Relaxed);
    }
}

macro_rules! drops {
    ($($(#[$m:meta])* $v:ident = $name:literal,)*) => {
        /// Why the dataplane dropped a packet (typed; each has a counter).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(usize)]
        pub enum DropReason { $($(#[$m])* $v,)* }

        impl DropReason {
            const ALL: &'static [DropReason] = &[$(DropReason::$v,)*];
            /// The counter's name in `iked stats`.
            pub fn name(self) -> &'static str {
                match self { $(DropReason::$v => $name,)* }
            }
        }
    };
}

drops! {
    /// Outbound: not an IP packet.
    OutMalformed = "out-malformed",
    /// Outbound: no policy matches (routed into the TUN by someone else's route).
    OutNoPolicy = "out-no-policies",
    /// Outbound: a `discard` policy.
    OutPolicyBlock = "out-policy-blocked",
    /// Outbound: an `encrypt` policy without an SA (ACQUIRE sent, packet dropped).
    OutNoState = "out-no-states",
    /// Outbound: the SA refused the packet (expired, sequence numbers, transport-mode limits).
    OutStateError = "out-state-errors",
    /// Outbound: no socket fits the SA (family, NAT-T port).
    OutNoSocket = "out-no-sockets",
    /// Outbound: sending failed.
    OutSendError = "out-send-errors",
    /// Outbound: a `none` policy in the TUN (the userspace dataplane does not forward in clear).
    OutBypass = "out-bypass-dropped",
    /// Inbound: shorter than an ESP header, or a malformed outer header.
    InTruncated = "in-header-errors",
    /// Inbound: no SA with this SPI.
    InNoState = "in-no-states",
    /// Inbound: replayed or outside the window.
    InReplay = "in-state-sequence-errors",
    /// Inbound: integrity check failed.
    InIntegrity = "in-integrity-failures",
    /// Inbound: padding, next header or inner packet malformed.
    InMalformed = "in-state-protocol-errors",
    /// Inbound: the SA is expired.
    InExpired = "in-state-expired",
    /// Inbound: the inner packet does not match the SA's policy (RFC 4301 §5.2 step 4).
    InPolicyMismatch = "in-template-mismatches",
    /// Inbound: ESP-in-UDP on an SA without encapsulation or the reverse.
    InEncapMismatch = "in-state-mismatches",
    /// Inbound: writing to the TUN failed.
    InTunError = "in-tun-errors",
    /// Inbound: an IKE datagram on the NAT-T port the daemon's queue had no room for.
    InIkeQueueFull = "in-ike-queue-full",
}

/// The dataplane's totals.
#[derive(Debug)]
pub struct Totals {
    drops: [AtomicU64; DropReason::ALL.len()],
    /// Packets sent as ESP.
    pub out_packets: AtomicU64,
    /// Packets received, authenticated and written to the TUN.
    pub in_packets: AtomicU64,
    /// ACQUIREs sent to the engine.
    pub acquires: AtomicU64,
    /// NAT-T keepalives received (RFC 3948 §2.3).
    pub keepalives: AtomicU64,
}

impl Default for Totals {
    fn default() -> Self {
        Totals {
            drops: std::array::from_fn(|_| AtomicU64::new(0)),
            out_packets: AtomicU64::new(0),
            in_packets: AtomicU64::new(0),
            acquires: AtomicU64::new(0),
            keepalives: AtomicU64::new(0),
        }
    }
}

impl Totals {
    /// Counts a drop.
    pub fn count(&self, why: DropReason) {
        self.drops[why as usize].fetch_add(1, Relaxed);
    }

    /// The inbound drop reason for an ESP refusal.
    pub fn drop_in(&self, e: &EspError) {
        self.count(match e {
            EspError::Truncated { .. } | EspError::BadLength { .. } => DropReason::InTruncated,
            EspError::WrongSpi { .. } => DropReason::InNoState,
            EspError::Replay { .. } | EspError::OutsideWindow { .. } => DropReason::InReplay,
            EspError::Authentication => DropReason::InIntegrity,
            EspError::Expired | EspError::SequenceExhausted => DropReason::InExpired,
            _ => DropReason::InMalformed,
        });
    }

    /// `(name, value)` for `iked stats`, in a fixed order.
    pub fn snapshot(&self) -> Vec<(String, u64)> {
        let mut v = vec![
            ("out-packets".to_string(), self.out_packets.load(Relaxed)),
            ("in-packets".to_string(), self.in_packets.load(Relaxed)),
            ("acquires".to_string(), self.acquires.load(Relaxed)),
            (
                "nat-t-keepalives".to_string(),
                self.keepalives.load(Relaxed),
            ),
        ];
        for &d in DropReason::ALL {
            v.push((d.name().to_string(), self.drops[d as usize].load(Relaxed)));
        }
        v
    }

    /// One drop counter (tests).
    #[cfg(test)]
    pub fn get(&self, d: DropReason) -> u64 {
        self.drops[d as usize].load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_and_counted() {
        let t = Totals::default();
        t.drop_in(&EspError::Replay { sequence: 3 });
        t.count(DropReason::InReplay);
        assert_eq!(t.get(DropReason::InReplay), 2);
        let s = t.snapshot();
        assert!(s.contains(&("in-state-sequence-errors".into(), 2)));
        assert_eq!(s.len(), 4 + DropReason::ALL.len());
    }
}
