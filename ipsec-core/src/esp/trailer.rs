//! The ESP trailer: Padding, Pad Length, Next Header (RFC 4303 §2.4-2.6).
//!
//! ```text
//! | Payload Data | Padding (0-255: 1, 2, 3, ...) | Pad Length | Next Header |
//! ```
//!
//! The padding fills the plaintext to a whole number of cipher blocks and, for every
//! transform, ends the trailer on a 4-byte boundary (RFC 4303 §2.4). Its bytes are the
//! monotonic sequence 1, 2, 3, ... unless the algorithm says otherwise (none of ours does),
//! and the receiver checks them (§2.4: it "SHOULD inspect the Padding field").

use super::EspError;

/// Pad Length for `payload_len` bytes of payload and an alignment of `align` bytes (the
/// block size, at least 4).
pub(super) fn pad_len(payload_len: usize, align: usize) -> usize {
    let used = (payload_len + 2) % align;
    if used == 0 { 0 } else { align - used }
}

/// Appends Padding, Pad Length and Next Header.
pub(super) fn append(out: &mut Vec<u8>, pad: usize, next_header: u8) {
    // `pad` < alignment <= 16, so the counter never wraps.
    out.extend((1..=pad).map(|i| i as u8));
    out.push(pad as u8);
    out.push(next_header);
}

/// Removes the trailer from decrypted `plaintext`, checking the padding; returns the Next
/// Header. Runs only on authenticated data, so its timing leaks nothing forgeable.
pub(super) fn strip(plaintext: &mut Vec<u8>) -> Result<u8, EspError> {
    let Some((&next_header, rest)) = plaintext.split_last() else {
        return Err(EspError::Padding);
    };
    let Some((&pad, rest)) = rest.split_last() else {
        return Err(EspError::Padding);
    };
    let Some(payload_len) = rest.len().checked_sub(usize::from(pad)) else {
        return Err(EspError::Padding);
    };
    let padding_ok = rest
        .get(payload_len..)
        .is_some_and(|p| p.iter().zip(1u8..).all(|(&b, i)| b == i));
    if !padding_ok {
        return Err(EspError::Padding);
    }
    plaintext.truncate(payload_len);
    Ok(next_header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_to_alignment_and_back() {
        for align in [4usize, 8, 16] {
            for len in 0..40 {
                let pad = pad_len(len, align);
                assert!(pad < align);
                let mut v = vec![0xaa; len];
                append(&mut v, pad, 17);
                assert_eq!(v.len() % align, 0);
                assert_eq!(strip(&mut v), Ok(17));
                assert_eq!(v, vec![0xaa; len]);
            }
        }
    }

    #[test]
    fn bad_padding_is_refused() {
        assert_eq!(strip(&mut vec![]), Err(EspError::Padding));
        assert_eq!(strip(&mut vec![4]), Err(EspError::Padding));
        assert_eq!(strip(&mut vec![1, 2, 4]), Err(EspError::Padding));
        assert_eq!(strip(&mut vec![1, 3, 2, 4]), Err(EspError::Padding));
        assert_eq!(strip(&mut vec![9, 1, 2, 2, 4]), Ok(4));
    }
}
