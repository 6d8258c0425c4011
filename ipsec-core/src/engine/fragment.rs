//! IKE fragmentation, the Cisco/Microsoft extension announced by the "FRAGMENTATION" Vendor
//! ID (payload type 132): large phase-1 messages (certificates) split into datagrams that
//! pass networks which drop IP fragments.
//!
//! The whole ISAKMP message, header included, is cut into pieces; each piece travels as a
//! plaintext message with the original's cookies, exchange type and message ID and one
//! Fragment payload (ID, number from 1, LAST flag on the final one), as strongSwan, iOS and
//! Windows do it. We send fragments to a peer that announced the Vendor ID (or already sent
//! us fragments) when a message exceeds [`EngineOptions::fragment_size`]; we take fragments
//! from anyone, announced or not (iOS sends them unsolicited).
//!
//! Reassembly is bounded: at most [`MAX_FRAGMENTS`] pieces and [`MAX_MESSAGE`] bytes per
//! message, [`MAX_PENDING`] incomplete messages in all (the oldest dropped first), and an
//! incomplete message is forgotten after [`REASSEMBLY_TIMEOUT`].
//!
//! [`EngineOptions::fragment_size`]: super::EngineOptions::fragment_size

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::wire::{Fragment, Header, PayloadType};

/// Pieces of one message.
pub(crate) const MAX_FRAGMENTS: usize = 32;
/// Bytes of one reassembled message.
pub(crate) const MAX_MESSAGE: usize = 64 * 1024;
/// Incomplete messages kept at once.
pub(crate) const MAX_PENDING: usize = 64;
/// How long an incomplete message waits for its other pieces.
pub(crate) const REASSEMBLY_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a fragment was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FragmentError {
    /// More pieces or bytes than a message may have, or a number past the LAST one.
    TooLarge,
    /// The same number twice with different data, or a second LAST.
    Inconsistent,
}

/// Which message a fragment belongs to.
type Key = (SocketAddr, [u8; 16], u16);

#[derive(Debug)]
struct Partial {
    started: Instant,
    pieces: BTreeMap<u8, Vec<u8>>,
    last: Option<u8>,
    bytes: usize,
}

/// Messages being reassembled.
#[derive(Debug, Default)]
pub(crate) struct Reassembly {
    pending: BTreeMap<Key, Partial>,
}

impl Reassembly {
    /// Takes one fragment from `remote` (its message's header is `header`); the whole
    /// message once every piece is there.
    pub fn add(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        header: &Header,
        fragment: &Fragment<'_>,
    ) -> Result<Option<Vec<u8>>, FragmentError> {
        self.pending
            .retain(|_, p| now.saturating_duration_since(p.started) < REASSEMBLY_TIMEOUT);
        let mut cookies = [0u8; 16];
        cookies[..8].copy_from_slice(&header.initiator_cookie);
        cookies[8..].copy_from_slice(&header.responder_cookie);
        let key = (remote, cookies, fragment.id);
        if !self.pending.contains_key(&key) && self.pending.len() >= MAX_PENDING {
            let oldest = self
                .pending
                .iter()
                .min_by_key(|(_, p)| p.started)
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                self.pending.remove(&k);
            }
        }
        let p = self.pending.entry(key).or_insert_with(|| Partial {
            started: now,
            pieces: BTreeMap::new(),
            last: None,
            bytes: 0,
        });
        let n = fragment.number;
        let checked = (|| {
            if usize::from(n) > MAX_FRAGMENTS || p.last.is_some_and(|l| n > l) {
                return Err(FragmentError::TooLarge);
            }
            if fragment.is_last() {
                if p.last.is_some_and(|l| l != n) || p.pieces.keys().any(|k| *k > n) {
                    return Err(FragmentError::Inconsistent);
                }
                p.last = Some(n);
            }
            match p.pieces.get(&n) {
                Some(d) if d.as_slice() == fragment.data => return Ok(()),
                Some(_) => return Err(FragmentError::Inconsistent),
                None => {}
            }
            if p.bytes + fragment.data.len() > MAX_MESSAGE {
                return Err(FragmentError::TooLarge);
            }
            p.bytes += fragment.data.len();
            p.pieces.insert(n, fragment.data.to_vec());
            Ok(())
        })();
        if let Err(e) = checked {
            self.pending.remove(&key);
            return Err(e);
        }
        let complete = p.last.is_some_and(|l| p.pieces.len() == usize::from(l));
        if !complete {
            return Ok(None);
        }
        let p = self.pending.remove(&key).map(|p| p.pieces);
        Ok(p.map(|pieces| pieces.into_values().flatten().collect()))
    }

    /// Incomplete messages held.
    #[cfg(test)]
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

/// Cuts `message` into fragment datagrams of at most `size` bytes each (ISAKMP header and
/// Fragment payload header included), numbered from 1 with fragment ID `id`. `None` if
/// the message would need more than [`MAX_FRAGMENTS`] pieces or cannot be read.
pub(crate) fn split(message: &[u8], id: u16, size: usize) -> Option<Vec<Vec<u8>>> {
    let header = Header::parse(message).ok()?;
    // 28 bytes of ISAKMP header, 4 of generic payload header, 4 of fragment header.
    let room = size.checked_sub(36).filter(|r| *r >= 64)?;
    let chunks: Vec<&[u8]> = message.chunks(room).collect();
    if chunks.len() > MAX_FRAGMENTS {
        return None;
    }
    let count = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, data)| {
            let number = u8::try_from(i + 1).ok()?;
            let fragment = Fragment {
                id,
                number,
                flags: if i + 1 == count {
                    Fragment::LAST_FRAGMENT
                } else {
                    0
                },
                data,
            };
            let mut body = Vec::with_capacity(data.len() + 4);
            fragment.emit(&mut body).ok()?;
            let h = Header {
                next_payload: PayloadType::Fragment,
                flags: crate::wire::Flags::NONE,
                length: u32::try_from(28 + 4 + body.len()).ok()?,
                ..header
            };
            let mut out = Vec::with_capacity(32 + body.len());
            h.emit(&mut out);
            out.push(0); // next payload: none
            out.push(0); // reserved
            out.extend_from_slice(&u16::try_from(4 + body.len()).ok()?.to_be_bytes());
            out.extend_from_slice(&body);
            Some(out)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Message;

    fn message(len: usize) -> Vec<u8> {
        // A plaintext Vendor ID message of `len` bytes.
        let mut m = vec![7u8; 8];
        m.extend_from_slice(&[9u8; 8]);
        m.extend_from_slice(&[13, 0x10, 2, 0]);
        m.extend_from_slice(&0u32.to_be_bytes());
        m.extend_from_slice(&u32::try_from(len).unwrap().to_be_bytes());
        let body = len - 28;
        m.extend_from_slice(&[0, 0]);
        m.extend_from_slice(&u16::try_from(body).unwrap().to_be_bytes());
        m.resize(len, 0xab);
        m
    }

    fn feed(r: &mut Reassembly, now: Instant, frags: &[Vec<u8>]) -> Option<Vec<u8>> {
        let from: SocketAddr = "198.18.0.9:500".parse().unwrap();
        let mut out = None;
        for f in frags {
            let m = Message::parse(f).unwrap();
            let p = m.payloads().unwrap().iter().next().unwrap();
            let frag = Fragment::parse(p.body()).unwrap();
            if let Some(whole) = r.add(now, from, &m.header, &frag).unwrap() {
                out = Some(whole);
            }
        }
        out
    }

    #[test]
    fn split_and_reassemble_in_any_order() {
        let msg = message(3000);
        let mut frags = split(&msg, 7, 576).unwrap();
        assert!(frags.len() > 5 && frags.iter().all(|f| f.len() <= 576));
        frags.reverse();
        let mut r = Reassembly::default();
        assert_eq!(feed(&mut r, Instant::now(), &frags), Some(msg));
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn incomplete_messages_expire_and_are_bounded() {
        let mut r = Reassembly::default();
        let t = Instant::now();
        for id in 0..(MAX_PENDING as u16 + 10) {
            let frags = split(&message(2000), id, 576).unwrap();
            assert_eq!(feed(&mut r, t, &frags[..1]), None);
        }
        assert_eq!(r.pending(), MAX_PENDING);
        let frags = split(&message(2000), 999, 576).unwrap();
        feed(&mut r, t + REASSEMBLY_TIMEOUT, &frags[..1]);
        assert_eq!(r.pending(), 1);
    }

    #[test]
    fn hostile_fragments_are_refused() {
        let mut r = Reassembly::default();
        let from: SocketAddr = "198.18.0.9:500".parse().unwrap();
        let h = Header::parse(&message(100)).unwrap();
        let now = Instant::now();
        let f = |number, flags, data| Fragment {
            id: 1,
            number,
            flags,
            data,
        };
        assert_eq!(
            r.add(now, from, &h, &f(33, 0, b"x")),
            Err(FragmentError::TooLarge)
        );
        r.add(now, from, &h, &f(2, 1, b"y")).unwrap();
        assert_eq!(
            r.add(now, from, &h, &f(3, 0, b"z")),
            Err(FragmentError::TooLarge)
        );
        r.add(now, from, &h, &f(1, 0, b"a")).unwrap();
        r.add(now, from, &h, &f(1, 0, b"a")).unwrap_or_default();
        let big = vec![0u8; MAX_MESSAGE + 1];
        assert_eq!(
            r.add(now, from, &h, &f(2, 0, &big)),
            Err(FragmentError::TooLarge)
        );
        assert!(split(&message(100), 1, 40).is_none());
    }
}
