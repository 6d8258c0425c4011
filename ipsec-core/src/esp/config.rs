//! [`SaConfig`]: everything one direction of an ESP SA needs.

use crate::crypto::esp::{EspKeys, EspTransform};
use crate::engine::InstallSa;
use crate::proposal::phase2::Mode;

use super::LifetimeLimits;

/// The default anti-replay window, in packets (RFC 4303 §3.4.3: "a default of 64").
pub const DEFAULT_REPLAY_WINDOW: u32 = 64;

/// The largest anti-replay window accepted (as Linux XFRM's ESN bitmap).
pub const MAX_REPLAY_WINDOW: u32 = 4096;

/// One direction of an ESP SA: what [`Outbound::new`](super::Outbound::new) and
/// [`Inbound::new`](super::Inbound::new) take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaConfig {
    /// The SPI (non-zero: RFC 4303 §2.1 reserves 0).
    pub spi: u32,
    /// Encryption and integrity.
    pub transform: EspTransform,
    /// This direction's keys (see [`split_keymat`](crate::crypto::esp::split_keymat)).
    pub keys: EspKeys,
    /// Tunnel or transport.
    pub mode: Mode,
    /// Inbound only: the anti-replay window in packets, 0 (off) to [`MAX_REPLAY_WINDOW`].
    pub replay_window: u32,
    /// Extended (64-bit) sequence numbers (RFC 4303 §2.2.1; RFC 4304 negotiates them in
    /// IKEv1). Both directions of a pair must agree with the peer.
    pub esn: bool,
    /// Byte and packet lifetimes.
    pub lifetime: LifetimeLimits,
}

impl SaConfig {
    /// An SA with the default window, 32-bit sequence numbers and no byte/packet limits.
    pub fn new(spi: u32, transform: EspTransform, keys: EspKeys, mode: Mode) -> Self {
        SaConfig {
            spi,
            transform,
            keys,
            mode,
            replay_window: DEFAULT_REPLAY_WINDOW,
            esn: false,
            lifetime: LifetimeLimits::default(),
        }
    }

    /// The SA the engine asks to install: SPI, transform, keys, mode and byte limits
    /// (`SaLifetime::hard_bytes`/`soft_bytes`); the default window; no ESN (the engine does
    /// not negotiate it). The outer addresses and UDP encapsulation stay with the caller.
    pub fn from_install(sa: &InstallSa) -> Self {
        SaConfig {
            lifetime: LifetimeLimits {
                soft_bytes: sa.lifetime.soft_bytes,
                hard_bytes: sa.lifetime.hard_bytes,
                ..LifetimeLimits::default()
            },
            ..SaConfig::new(sa.spi, sa.transform, sa.keys.clone(), sa.mode)
        }
    }
}
