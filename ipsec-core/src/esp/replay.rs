//! [`ReplayWindow`]: the receiver's anti-replay window (RFC 4303 §3.4.3 and Appendix A) and
//! the inference of the high half of extended sequence numbers (Appendix A2.2).
//!
//! The window is a bitmap of the last `size` sequence numbers ending at the highest one
//! authenticated so far (`top`). A packet is checked against it *before* its ICV is
//! verified (cheap rejection of replays and of floods of old numbers) and recorded *after*
//! (RFC 4303 §3.4.3: "the receive window is updated only if the integrity verification
//! succeeds"), so forged packets cannot move the window.

use super::EspError;
use super::config::MAX_REPLAY_WINDOW;

/// Bits per bitmap word.
const WORD: u64 = 64;

/// The anti-replay window of one inbound SA.
#[derive(Clone, Debug)]
pub struct ReplayWindow {
    /// Window size in packets; 0 = no replay check (the sender's counter still gives the ESN
    /// high bits).
    size: u32,
    /// Highest sequence number authenticated so far (0: none yet).
    top: u64,
    /// One bit per sequence number, indexed by `sequence % (bitmap.len() * 64)`: at least
    /// `size` bits, so the `size` numbers of the window never share a bit. Allocated once.
    bitmap: Box<[u64]>,
}

impl ReplayWindow {
    /// A window of `size` packets (0 = off, at most [`MAX_REPLAY_WINDOW`]).
    pub fn new(size: u32) -> Result<Self, EspError> {
        if size > MAX_REPLAY_WINDOW {
            return Err(EspError::InvalidConfig("replay window larger than 4096"));
        }
        let words = u64::from(size).div_ceil(WORD).max(1) as usize;
        let mut bitmap = vec![0u64; words].into_boxed_slice();
        // Sequence number 0 is never sent (RFC 4303 §3.3.3: the first packet carries 1), so
        // it starts as "seen": a packet claiming it is a replay.
        if let Some(first) = bitmap.first_mut() {
            *first = 1;
        }
        Ok(ReplayWindow {
            size,
            top: 0,
            bitmap,
        })
    }

    /// Window size in packets (0 = off).
    pub fn size(&self) -> u32 {
        self.size
    }

    /// The highest sequence number authenticated so far (0 before the first packet).
    pub fn highest(&self) -> u64 {
        self.top
    }

    /// The full 64-bit sequence number of a packet carrying the low 32 bits `low`, for an SA
    /// with extended sequence numbers (RFC 4303 Appendix A2.2: the value inside the window,
    /// else the next 2^32 cycle). `None` if that would fall before 0 or beyond 2^64 - 1.
    ///
    /// With the window off the same rule runs with a window of 2^31: the value closest to
    /// the highest received.
    pub fn infer_esn(&self, low: u32) -> Option<u64> {
        let w = if self.size == 0 { 1 << 31 } else { self.size };
        let th = (self.top >> 32) as u32;
        let tl = self.top as u32;
        // Bottom of the window, modulo 2^32.
        let bottom = tl.wrapping_sub(w - 1);
        let high = if tl >= w - 1 {
            // Case A: the window lies inside one 2^32 cycle.
            if low >= bottom {
                Some(th)
            } else {
                th.checked_add(1)
            }
        } else {
            // Case B: the window straddles the start of the cycle; numbers at or above its
            // (wrapped) bottom belong to the previous cycle.
            if low >= bottom {
                th.checked_sub(1)
            } else {
                Some(th)
            }
        };
        high.map(|h| (u64::from(h) << 32) | u64::from(low))
    }

    /// Checks `sequence` before the ICV: [`EspError::Replay`] if already recorded,
    /// [`EspError::OutsideWindow`] if to the left of the window. Changes nothing.
    pub fn check(&self, sequence: u64) -> Result<(), EspError> {
        if self.size == 0 || sequence > self.top {
            return Ok(());
        }
        if self.top - sequence >= u64::from(self.size) {
            return Err(EspError::OutsideWindow { sequence });
        }
        if self.bit(sequence) {
            return Err(EspError::Replay { sequence });
        }
        Ok(())
    }

    /// Records an authenticated `sequence` (which passed [`ReplayWindow::check`]), sliding
    /// the window forward if it is the new highest.
    pub fn accept(&mut self, sequence: u64) {
        if sequence > self.top {
            if self.size > 0 {
                let span = self.bits();
                let advance = sequence - self.top;
                if advance >= span {
                    self.bitmap.fill(0);
                } else {
                    // Clear the bits of the numbers the window slides over (at most `span`).
                    for s in self.top + 1..sequence {
                        self.clear(s);
                    }
                }
            }
            self.top = sequence;
        }
        if self.size > 0 {
            self.set(sequence);
        }
    }

    fn bits(&self) -> u64 {
        self.bitmap.len() as u64 * WORD
    }

    fn index(&self, sequence: u64) -> (usize, u64) {
        let bit = sequence % self.bits();
        ((bit / WORD) as usize, 1u64 << (bit % WORD))
    }

    fn bit(&self, sequence: u64) -> bool {
        let (word, mask) = self.index(sequence);
        self.bitmap.get(word).is_some_and(|w| w & mask != 0)
    }

    fn set(&mut self, sequence: u64) {
        let (word, mask) = self.index(sequence);
        if let Some(w) = self.bitmap.get_mut(word) {
            *w |= mask;
        }
    }

    fn clear(&mut self, sequence: u64) {
        let (word, mask) = self.index(sequence);
        if let Some(w) = self.bitmap.get_mut(word) {
            *w &= !mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receive(w: &mut ReplayWindow, s: u64) -> Result<(), EspError> {
        w.check(s)?;
        w.accept(s);
        Ok(())
    }

    #[test]
    fn duplicates_old_and_reordered() {
        for size in [1u32, 32, 64, 100, 4096] {
            let mut w = ReplayWindow::new(size).unwrap();
            assert_eq!(w.check(0), Err(EspError::Replay { sequence: 0 }));
            receive(&mut w, 1).unwrap();
            assert_eq!(receive(&mut w, 1), Err(EspError::Replay { sequence: 1 }));
            let top = 10_000;
            receive(&mut w, top).unwrap();
            // Everything inside the window but not seen is accepted once, in any order.
            let low = top - u64::from(size) + 1;
            for s in (low..top).rev() {
                receive(&mut w, s).unwrap();
                assert_eq!(receive(&mut w, s), Err(EspError::Replay { sequence: s }));
            }
            assert_eq!(
                w.check(low - 1),
                Err(EspError::OutsideWindow { sequence: low - 1 })
            );
            // Slide by a little: the bits of numbers that left are cleared for new ones.
            receive(&mut w, top + 5).unwrap();
            if size >= 5 {
                for s in top + 1..top + 5 {
                    receive(&mut w, s).unwrap();
                }
            }
            assert_eq!(w.highest(), top + 5);
        }
    }

    #[test]
    fn off_accepts_everything() {
        let mut w = ReplayWindow::new(0).unwrap();
        for s in [5, 5, 1, 0, 7] {
            receive(&mut w, s).unwrap();
        }
        assert_eq!(w.highest(), 7);
    }

    #[test]
    fn too_large_is_refused() {
        assert!(ReplayWindow::new(4097).is_err());
    }

    #[test]
    fn esn_inference() {
        let mut w = ReplayWindow::new(64).unwrap();
        // Case B at the very start: numbers "before" 0 cannot exist.
        assert_eq!(w.infer_esn(5), Some(5));
        assert_eq!(w.infer_esn(u32::MAX), None);
        // Case A inside the first cycle, then crossing into the next.
        w.accept(0xFFFF_FFF0);
        assert_eq!(w.infer_esn(0xFFFF_FFF5), Some(0xFFFF_FFF5));
        assert_eq!(w.infer_esn(0xFFFF_FFB1), Some(0xFFFF_FFB1));
        assert_eq!(w.infer_esn(0xFFFF_FFB0), Some(0x1_FFFF_FFB0));
        assert_eq!(w.infer_esn(3), Some(0x1_0000_0003));
        // Case B just after the wrap: late packets of the previous cycle.
        w.accept(0x1_0000_0003);
        assert_eq!(w.infer_esn(0xFFFF_FFF0), Some(0xFFFF_FFF0));
        assert_eq!(w.infer_esn(2), Some(0x1_0000_0002));
        assert_eq!(w.infer_esn(0x8000_0000), Some(0x1_8000_0000));
        // The very last cycle cannot be followed.
        let mut w = ReplayWindow::new(64).unwrap();
        w.accept(u64::MAX - 10);
        assert_eq!(w.infer_esn(1), None);
    }
}
