//! The Cisco/Microsoft IKE fragmentation payload (payload type 132), announced by the
//! "FRAGMENTATION" Vendor ID ([`super::KnownVendor::CiscoFragmentation`]). Its layout, as
//! strongSwan's `fragment_payload.c` encodes it:
//!
//! ```text
//! Fragment body:  Fragment ID (2) | Fragment Number (1) | Flags (1) | Fragment Data ...
//! ```
//!
//! Fragment numbers start at 1; the fragment carrying [`Fragment::LAST_FRAGMENT`] is the
//! last. Reassembly (bounded buffering, timeouts) belongs to the engine.

use super::codec::{Reader, Writer};
use super::error::{EmitError, WireError};

/// One IKE fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fragment<'a> {
    /// Fragment ID, the same for all fragments of one message.
    pub id: u16,
    /// Fragment number, 1-based.
    pub number: u8,
    /// Flags; [`Fragment::LAST_FRAGMENT`] marks the last one. Other bits are kept as sent.
    pub flags: u8,
    /// This fragment's share of the message.
    pub data: &'a [u8],
}

impl<'a> Fragment<'a> {
    /// Flag of the last fragment.
    pub const LAST_FRAGMENT: u8 = 0x01;

    /// Parse a fragment body; number 0 is [`WireError::InvalidFragmentNumber`].
    pub fn parse(body: &'a [u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(body, "fragment payload");
        let id = r.u16()?;
        let number = r.u8()?;
        let flags = r.u8()?;
        if number == 0 {
            return Err(WireError::InvalidFragmentNumber);
        }
        Ok(Fragment {
            id,
            number,
            flags,
            data: r.rest(),
        })
    }

    /// Whether this is the last fragment.
    pub fn is_last(&self) -> bool {
        self.flags & Self::LAST_FRAGMENT != 0
    }

    /// Write the body.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), EmitError> {
        if self.number == 0 {
            return Err(EmitError::Invalid {
                what: "fragment number 0",
            });
        }
        out.put_u16(self.id);
        out.put_u8(self.number);
        out.put_u8(self.flags);
        out.put_slice(self.data);
        Ok(())
    }
}
