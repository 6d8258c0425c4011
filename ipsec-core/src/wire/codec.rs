//! The two primitives every module uses: a bounds-checked [`Reader`] over borrowed bytes, and
//! [`Writer`] helpers over a growable buffer. Nothing else in `wire` touches raw offsets.

use super::error::{EmitError, WireError};

/// A cursor over borrowed bytes. Every read either returns the bytes it consumed or a
/// [`WireError::Truncated`] naming the structure being read; it never panics.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`; `what` names the structure in errors.
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, what }
    }

    /// Bytes not yet consumed.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Consume exactly `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        match self.buf.split_at_checked(n) {
            Some((head, tail)) => {
                self.buf = tail;
                Ok(head)
            }
            None => Err(WireError::Truncated {
                what: self.what,
                needed: n,
                available: self.buf.len(),
            }),
        }
    }

    /// Consume a fixed-size array.
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let what = self.what;
        let available = self.buf.len();
        let bytes = self.take(N)?;
        bytes.try_into().map_err(|_| WireError::Truncated {
            what,
            needed: N,
            available,
        })
    }

    pub(crate) fn u8(&mut self) -> Result<u8, WireError> {
        Ok(u8::from_be_bytes(self.array::<1>()?))
    }

    pub(crate) fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.array::<2>()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array::<4>()?))
    }

    /// Consume a RESERVED field of `n` bytes and check that it is zero (RFC 2408 §2.5.2).
    pub(crate) fn reserved(&mut self, n: usize, what: &'static str) -> Result<(), WireError> {
        let bytes = self.take(n)?;
        if bytes.iter().all(|&b| b == 0) {
            Ok(())
        } else {
            Err(WireError::NonZeroReserved { what })
        }
    }

    /// Consume everything that is left.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let rest = self.buf;
        self.buf = &[];
        rest
    }
}

/// Big-endian writes into a `Vec<u8>`, plus length back-patching for generic headers.
pub(crate) trait Writer {
    fn put_u8(&mut self, v: u8);
    fn put_u16(&mut self, v: u16);
    fn put_u32(&mut self, v: u32);
    fn put_slice(&mut self, v: &[u8]);
    /// Overwrite two bytes at `pos` (which must have been written before) with `v`.
    fn patch_u16(&mut self, pos: usize, v: u16) -> Result<(), EmitError>;
    /// Overwrite four bytes at `pos` with `v`.
    fn patch_u32(&mut self, pos: usize, v: u32) -> Result<(), EmitError>;
}

impl Writer for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v);
    }
    fn put_u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_slice(&mut self, v: &[u8]) {
        self.extend_from_slice(v);
    }
    fn patch_u16(&mut self, pos: usize, v: u16) -> Result<(), EmitError> {
        let end = pos.checked_add(2).ok_or(EmitError::Invalid {
            what: "patch offset",
        })?;
        match self.get_mut(pos..end) {
            Some(dst) => {
                dst.copy_from_slice(&v.to_be_bytes());
                Ok(())
            }
            None => Err(EmitError::Invalid {
                what: "patch offset",
            }),
        }
    }
    fn patch_u32(&mut self, pos: usize, v: u32) -> Result<(), EmitError> {
        let end = pos.checked_add(4).ok_or(EmitError::Invalid {
            what: "patch offset",
        })?;
        match self.get_mut(pos..end) {
            Some(dst) => {
                dst.copy_from_slice(&v.to_be_bytes());
                Ok(())
            }
            None => Err(EmitError::Invalid {
                what: "patch offset",
            }),
        }
    }
}

/// Convert a length to `u16`, or fail naming the field.
pub(crate) fn len_u16(what: &'static str, length: usize) -> Result<u16, EmitError> {
    u16::try_from(length).map_err(|_| EmitError::TooLong {
        what,
        length,
        max: usize::from(u16::MAX),
    })
}

/// Convert a length or count to `u8`, or fail naming the field.
pub(crate) fn len_u8(what: &'static str, length: usize) -> Result<u8, EmitError> {
    u8::try_from(length).map_err(|_| EmitError::TooLong {
        what,
        length,
        max: usize::from(u8::MAX),
    })
}

/// Write a generic payload header (RFC 2408 §3.2) with a placeholder length, run `body`,
/// then patch the Payload Length. Used for payloads and for the proposal/transform
/// substructures, which share the header format.
pub(crate) fn with_generic_header(
    out: &mut Vec<u8>,
    next_payload: u8,
    what: &'static str,
    body: impl FnOnce(&mut Vec<u8>) -> Result<(), EmitError>,
) -> Result<(), EmitError> {
    let start = out.len();
    out.put_u8(next_payload);
    out.put_u8(0); // RESERVED, RFC 2408 §5.3 "Place the value zero (0) in the RESERVED field"
    out.put_u16(0);
    body(out)?;
    let length = len_u16(what, out.len().saturating_sub(start))?;
    out.patch_u16(start.saturating_add(2), length)
}

/// Declares a wire enum: named values plus an `Unknown` fallback carrying the raw number, so
/// that every received value is representable and the engine decides what is acceptable.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident: $repr:ty {
            $( $(#[$vmeta:meta])* $variant:ident = $value:expr ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A value this codec has no name for, kept as received.
            Unknown($repr),
        }

        impl From<$repr> for $name {
            fn from(value: $repr) -> Self {
                match value {
                    $( $value => $name::$variant, )*
                    other => $name::Unknown(other),
                }
            }
        }

        impl From<$name> for $repr {
            fn from(value: $name) -> $repr {
                match value {
                    $( $name::$variant => $value, )*
                    $name::Unknown(other) => other,
                }
            }
        }

        impl $name {
            /// The number carried on the wire.
            pub fn value(self) -> $repr {
                <$repr>::from(self)
            }
        }
    };
}

pub(crate) use wire_enum;
