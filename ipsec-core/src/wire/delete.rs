//! The Delete payload (RFC 2408 §3.15).
//!
//! ```text
//! Delete body:  DOI (4) | Protocol-Id (1) | SPI Size (1) | # of SPIs (2) | SPIs ...
//! ```
//!
//! For the ISAKMP SA the SPI is the 16-byte cookie pair (RFC 2408 §3.15); for AH/ESP the
//! 4-byte SPI; for IPCOMP the 2-byte CPI (some implementations use 4).

use super::codec::{Reader, Writer, len_u8, len_u16};
use super::error::{EmitError, WireError};
use super::sa::ProtocolId;

/// The Delete payload body. The SPIs are kept as one borrowed slice of `count × spi_size`
/// bytes: no allocation, [`Delete::spis`] iterates over them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Delete<'a> {
    /// Domain of Interpretation (1 for IPsec; 0 for ISAKMP per RFC 2408 §3.15).
    pub doi: u32,
    /// Protocol-Id of the SAs deleted.
    pub protocol: ProtocolId,
    /// SPI Size, non-zero.
    pub spi_size: u8,
    /// The SPIs, concatenated; a non-empty multiple of `spi_size`.
    pub spi_bytes: &'a [u8],
}

impl<'a> Delete<'a> {
    /// A Delete payload for the SPIs in `spi_bytes` (each `spi_size` long).
    pub fn new(doi: u32, protocol: ProtocolId, spi_size: u8, spi_bytes: &'a [u8]) -> Self {
        Delete {
            doi,
            protocol,
            spi_size,
            spi_bytes,
        }
    }

    /// Parse a Delete payload body: SPI Size and "# of SPIs" must be non-zero
    /// ([`WireError::InvalidSpi`]) and their product must be exactly the bytes that follow
    /// ([`WireError::DeleteSpiCount`]).
    pub fn parse(body: &'a [u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(body, "delete payload");
        let doi = r.u32()?;
        let protocol = ProtocolId::from(r.u8()?);
        let spi_size = r.u8()?;
        let count = r.u16()?;
        if spi_size == 0 || count == 0 {
            return Err(WireError::InvalidSpi { spi_size, count });
        }
        let spi_bytes = r.rest();
        if usize::from(count) * usize::from(spi_size) != spi_bytes.len() {
            return Err(WireError::DeleteSpiCount {
                count,
                spi_size,
                available: spi_bytes.len(),
            });
        }
        Ok(Delete {
            doi,
            protocol,
            spi_size,
            spi_bytes,
        })
    }

    /// Number of SPIs.
    pub fn count(&self) -> usize {
        match self.spi_size {
            0 => 0,
            n => self.spi_bytes.len() / usize::from(n),
        }
    }

    /// The SPIs, each `spi_size` bytes.
    pub fn spis(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.spi_bytes
            .chunks_exact(usize::from(self.spi_size.max(1)))
    }

    /// Write the body.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), EmitError> {
        let size = usize::from(self.spi_size);
        if size == 0 || self.spi_bytes.is_empty() || !self.spi_bytes.len().is_multiple_of(size) {
            return Err(EmitError::Invalid {
                what: "delete SPI size / SPI bytes",
            });
        }
        out.put_u32(self.doi);
        out.put_u8(self.protocol.value());
        out.put_u8(len_u8("SPI size", size)?);
        out.put_u16(len_u16("SPI count", self.spi_bytes.len() / size)?);
        out.put_slice(self.spi_bytes);
        Ok(())
    }
}
