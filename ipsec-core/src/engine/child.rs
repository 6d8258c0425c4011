//! IPsec SAs (one record per negotiated pair) and the requests that create them.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::crypto::esp::EspTransform;
use crate::proposal::Lifetime;
use crate::proposal::phase2::{Mode, Phase2Terms};

use super::event::{PeerId, PolicyId, TrafficSelector, UdpEncap};

/// Engine-internal handle of an IPsec SA pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ChildId(pub u64);

/// What to negotiate in a quick mode.
#[derive(Clone, Debug)]
pub(crate) struct ChildRequest {
    /// The policy, if it comes from one.
    pub policy: Option<PolicyId>,
    /// Our view of the selector.
    pub selector: TrafficSelector,
    /// The proposal's terms and the mode.
    pub terms: Phase2Terms,
    /// The SA pair this one replaces.
    pub rekey_of: Option<ChildId>,
}

/// Where an SA pair stands in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rekey {
    /// Nothing started.
    Idle,
    /// We started a replacement.
    InProgress,
    /// A newer pair carries its traffic.
    Replaced,
}

/// An installed IPsec SA pair.
#[derive(Clone, Debug)]
pub(crate) struct ChildSa {
    /// The peer.
    pub peer: PeerId,
    /// The policy, if any.
    pub policy: Option<PolicyId>,
    /// We started the quick mode.
    pub initiator: bool,
    /// Inbound SPI (ours).
    pub our_spi: u32,
    /// Outbound SPI (the peer's).
    pub peer_spi: u32,
    /// Cipher and integrity.
    pub esp: EspTransform,
    /// Tunnel or transport.
    pub mode: Mode,
    /// UDP encapsulation.
    pub encap: Option<UdpEncap>,
    /// Selector, our view.
    pub selector: TrafficSelector,
    /// Our outer address.
    pub local: IpAddr,
    /// The peer's outer address.
    pub remote: IpAddr,
    /// What to propose when rekeying.
    pub terms: Phase2Terms,
    /// The negotiated lifetime.
    pub lifetime: Lifetime,
    /// When it was installed.
    pub installed: Instant,
    /// When to start its replacement.
    pub soft_at: Instant,
    /// When it is deleted regardless.
    pub hard_at: Instant,
    /// Rekeying state.
    pub rekey: Rekey,
    /// Deletion scheduled (make-before-break: after its replacement is up).
    pub delete_at: Option<Instant>,
}

impl ChildSa {
    /// The earliest time it needs attention.
    pub fn deadline(&self) -> Instant {
        let mut at = self.hard_at;
        if self.rekey == Rekey::Idle {
            at = at.min(self.soft_at);
        }
        if let Some(d) = self.delete_at {
            at = at.min(d);
        }
        at
    }

    /// Time left before hard expiry.
    pub fn remaining(&self, now: Instant) -> Duration {
        self.hard_at.saturating_duration_since(now)
    }
}
