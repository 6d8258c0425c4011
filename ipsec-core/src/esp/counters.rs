//! [`Counters`]: what one SA processed and refused.

use super::EspError;

/// Per-SA counters, readable at any time with `counters()`.
///
/// `packets` and `bytes` count what was delivered: packets encapsulated, or decapsulated and
/// authenticated (dummy packets included). `bytes` counts the protected payload (the whole
/// inner packet in tunnel mode, the upper-layer payload in transport mode), which is also
/// what the byte lifetimes count, as Linux XFRM does. Every other field counts one kind of
/// [`EspError`]; those saturate at `u32::MAX` (every SA of a concentrator carries a set,
/// and 32 bits each instead of 64 are 50 bytes per SA).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Counters {
    /// Packets delivered.
    pub packets: u64,
    /// Payload bytes delivered.
    pub bytes: u64,
    /// Dummy packets received and dropped (Next Header 59, RFC 4303 §2.6), or sent.
    pub dummy: u32,
    /// [`EspError::Truncated`].
    pub truncated: u32,
    /// [`EspError::BadLength`].
    pub bad_length: u32,
    /// [`EspError::WrongSpi`].
    pub wrong_spi: u32,
    /// [`EspError::Replay`].
    pub replay: u32,
    /// [`EspError::OutsideWindow`].
    pub outside_window: u32,
    /// [`EspError::Authentication`].
    pub authentication: u32,
    /// [`EspError::Padding`].
    pub padding: u32,
    /// [`EspError::BadNextHeader`].
    pub bad_next_header: u32,
    /// [`EspError::BadInnerPacket`].
    pub bad_inner_packet: u32,
    /// [`EspError::InvalidPacket`], [`EspError::UnsupportedExtensionHeader`] and
    /// [`EspError::Fragment`]: packets handed to `encapsulate` that it cannot protect.
    pub invalid_packet: u32,
    /// [`EspError::SequenceExhausted`].
    pub sequence_exhausted: u32,
    /// [`EspError::Expired`].
    pub expired: u32,
}

impl Counters {
    /// Counts one rejection.
    pub(super) fn record(&mut self, error: &EspError) {
        let counter = match error {
            EspError::Truncated { .. } => &mut self.truncated,
            EspError::BadLength { .. } => &mut self.bad_length,
            EspError::WrongSpi { .. } => &mut self.wrong_spi,
            EspError::Replay { .. } => &mut self.replay,
            EspError::OutsideWindow { .. } => &mut self.outside_window,
            EspError::Authentication => &mut self.authentication,
            EspError::Padding => &mut self.padding,
            EspError::BadNextHeader(_) => &mut self.bad_next_header,
            EspError::BadInnerPacket => &mut self.bad_inner_packet,
            EspError::InvalidPacket
            | EspError::UnsupportedExtensionHeader(_)
            | EspError::Fragment => &mut self.invalid_packet,
            EspError::SequenceExhausted => &mut self.sequence_exhausted,
            EspError::Expired => &mut self.expired,
            // Not a packet: construction only.
            EspError::InvalidConfig(_) => return,
        };
        *counter = counter.saturating_add(1);
    }

    /// Counts one delivered packet of `bytes` payload bytes.
    pub(super) fn delivered(&mut self, bytes: usize) {
        self.packets = self.packets.saturating_add(1);
        self.bytes = self.bytes.saturating_add(bytes as u64);
    }

    /// All rejections together.
    pub fn errors(&self) -> u64 {
        [
            self.truncated,
            self.bad_length,
            self.wrong_spi,
            self.replay,
            self.outside_window,
            self.authentication,
            self.padding,
            self.bad_next_header,
            self.bad_inner_packet,
            self.invalid_packet,
            self.sequence_exhausted,
            self.expired,
        ]
        .iter()
        .fold(0u64, |a, b| a.saturating_add(u64::from(*b)))
    }
}
