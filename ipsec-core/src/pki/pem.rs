//! Reading PEM files that hold several blocks (a certificate chain, a certificate with its key,
//! several CRLs), or a single DER object.
//!
//! Each block is decoded by `pem-rfc7468` (strict RFC 7468, constant-time Base64). Finding the
//! blocks in a file is written here by hand: that crate decodes exactly one block, and what
//! operators keep in files often has several, with text around them (`openssl` "Bag
//! Attributes", comments) which is skipped.

use zeroize::Zeroizing;

use super::MAX_PEM_BLOCKS;
use super::error::{Object, PkiError, Result};

const BEGIN: &[u8] = b"-----BEGIN ";
const END: &[u8] = b"-----END ";
const DASHES: &[u8] = b"-----";

/// One decoded PEM block. The bytes are zeroized on drop (they may be a private key).
pub(crate) struct Block {
    pub label: String,
    pub der: Zeroizing<Vec<u8>>,
}

/// Whether `input` looks like PEM (text with a BEGIN line) rather than DER.
pub(crate) fn is_pem(input: &[u8]) -> bool {
    find(input, BEGIN, 0).is_some()
}

/// Every PEM block in `input`, in order. `max_block` bounds the decoded size of each block.
pub(crate) fn blocks(input: &[u8], max_block: usize) -> Result<Vec<Block>> {
    let malformed = |reason| PkiError::Malformed {
        object: Object::Pem,
        reason,
    };
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(start) = find(input, BEGIN, pos) {
        if out.len() >= MAX_PEM_BLOCKS {
            return Err(PkiError::TooLarge {
                object: Object::Pem,
                size: out.len() + 1,
                max: MAX_PEM_BLOCKS,
            });
        }
        let label_start = start + BEGIN.len();
        let label_end =
            find(input, DASHES, label_start).ok_or(malformed("unterminated BEGIN line"))?;
        let label = input
            .get(label_start..label_end)
            .ok_or(malformed("unterminated BEGIN line"))?;
        let mut end_marker = Vec::with_capacity(END.len() + label.len() + DASHES.len());
        end_marker.extend_from_slice(END);
        end_marker.extend_from_slice(label);
        end_marker.extend_from_slice(DASHES);
        let end = find(input, &end_marker, label_end).ok_or(malformed("no END line"))?;
        let block_end = end + end_marker.len();
        let block = input
            .get(start..block_end)
            .ok_or(malformed("no END line"))?;
        // Base64 holds 3 bytes per 4 characters: refuse oversized blocks before decoding.
        if block.len() / 4 * 3 > max_block + 64 {
            return Err(PkiError::TooLarge {
                object: Object::Pem,
                size: block.len() / 4 * 3,
                max: max_block,
            });
        }
        let (label, der) =
            pem_rfc7468::decode_vec(block).map_err(|_| malformed("invalid PEM encoding"))?;
        out.push(Block {
            label: label.to_string(),
            der: Zeroizing::new(der),
        });
        pos = block_end;
    }
    Ok(out)
}

/// The DER objects of `input`: the blocks with one of `labels` if it is PEM (others are
/// skipped), else `input` itself as one DER object. Errors if there is none.
pub(crate) fn der_objects(
    input: &[u8],
    labels: &[&str],
    object: Object,
    max: usize,
) -> Result<Vec<Zeroizing<Vec<u8>>>> {
    if !is_pem(input) {
        if input.is_empty() {
            return Err(PkiError::Missing { object });
        }
        return Ok(vec![Zeroizing::new(input.to_vec())]);
    }
    let found: Vec<_> = blocks(input, max)?
        .into_iter()
        .filter(|b| labels.contains(&b.label.as_str()))
        .map(|b| b.der)
        .collect();
    if found.is_empty() {
        Err(PkiError::Missing { object })
    } else {
        Ok(found)
    }
}

/// The first index at or after `from` where `needle` starts in `hay`.
fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let tail = hay.get(from..)?;
    if needle.is_empty() || tail.len() < needle.len() {
        return None;
    }
    tail.windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_blocks_with_text_around() {
        let pem = b"junk\n-----BEGIN A-----\nAAEC\n-----END A-----\nmore\n-----BEGIN B-----\nAw==\n-----END B-----\n";
        let b = blocks(pem, 100).unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].label, "A");
        assert_eq!(&b[0].der[..], &[0, 1, 2]);
        assert_eq!(b[1].label, "B");
        assert_eq!(&b[1].der[..], &[3]);
    }

    #[test]
    fn refuses_broken_blocks() {
        assert!(blocks(b"-----BEGIN A-----\nAAEC\n", 100).is_err());
        assert!(blocks(b"-----BEGIN A", 100).is_err());
        assert!(blocks(b"-----BEGIN A-----\n!!!!\n-----END A-----\n", 100).is_err());
        assert!(blocks(b"-----BEGIN A-----\nAAEC\n-----END B-----\n", 100).is_err());
    }

    #[test]
    fn der_passes_through() {
        let d = der_objects(&[0x30, 0], &["CERTIFICATE"], Object::Certificate, 10).unwrap();
        assert_eq!(&d[0][..], &[0x30, 0]);
        assert!(der_objects(&[], &["CERTIFICATE"], Object::Certificate, 10).is_err());
    }
}
