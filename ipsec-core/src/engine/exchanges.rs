//! The exchanges of one ISAKMP SA, by message ID (RFC 2408 §3.1: several exchanges may run
//! at once under one SA, each named by its message ID).
//!
//! A few at a time (at most `max_exchanges_per_sa` running, plus finished ones kept to answer
//! retransmissions), so a vector sorted by message ID, allocated to its exact length and
//! freed when it empties. A `BTreeMap` allocated a first node of eleven entries (3.5 KB) for
//! every established SA: a quarter of the responder's memory per held tunnel.

use super::ike::Exchange;

/// Exchanges by message ID, in message-ID order.
#[derive(Default)]
pub(crate) struct Exchanges(Vec<(u32, Exchange)>);

impl Exchanges {
    fn position(&self, mid: u32) -> Result<usize, usize> {
        self.0.binary_search_by_key(&mid, |(m, _)| *m)
    }

    pub fn get(&self, mid: &u32) -> Option<&Exchange> {
        self.position(*mid).ok().map(|i| &self.0[i].1)
    }

    pub fn get_mut(&mut self, mid: &u32) -> Option<&mut Exchange> {
        self.position(*mid).ok().map(|i| &mut self.0[i].1)
    }

    pub fn contains_key(&self, mid: &u32) -> bool {
        self.position(*mid).is_ok()
    }

    /// Adds or replaces the exchange `mid`; returns the one it replaced.
    pub fn insert(&mut self, mid: u32, x: Exchange) -> Option<Exchange> {
        match self.position(mid) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, x)),
            Err(i) => {
                self.0.reserve_exact(1);
                self.0.insert(i, (mid, x));
                None
            }
        }
    }

    pub fn remove(&mut self, mid: &u32) -> Option<Exchange> {
        let i = self.position(*mid).ok()?;
        let (_, x) = self.0.remove(i);
        if self.0.is_empty() {
            self.0 = Vec::new();
        }
        Some(x)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&u32, &Exchange)> {
        self.0.iter().map(|(m, x)| (m, x))
    }

    pub fn values(&self) -> impl Iterator<Item = &Exchange> {
        self.0.iter().map(|(_, x)| x)
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Exchange> {
        self.0.iter_mut().map(|(_, x)| x)
    }
}

impl IntoIterator for Exchanges {
    type Item = (u32, Exchange);
    type IntoIter = std::vec::IntoIter<(u32, Exchange)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(tag: u8) -> Exchange {
        Exchange::Done {
            answers: [tag; 16],
            reply: None,
            expires: std::time::Instant::now(),
        }
    }

    fn tag(x: &Exchange) -> u8 {
        match x {
            Exchange::Done { answers, .. } => answers[0],
            _ => unreachable!(),
        }
    }

    #[test]
    fn behaves_as_a_map_in_message_id_order() {
        let mut x = Exchanges::default();
        assert!(x.insert(7, done(1)).is_none());
        assert!(x.insert(3, done(2)).is_none());
        assert!(x.insert(0xffff_ffff, done(3)).is_none());
        assert_eq!(x.insert(3, done(4)).map(|o| tag(&o)), Some(2));
        assert_eq!(
            x.iter().map(|(m, _)| *m).collect::<Vec<_>>(),
            [3, 7, 0xffff_ffff]
        );
        assert_eq!(x.get(&3).map(tag), Some(4));
        assert!(x.contains_key(&7) && !x.contains_key(&8));
        assert_eq!(x.remove(&7).map(|o| tag(&o)), Some(1));
        assert!(x.remove(&7).is_none());
        assert_eq!(x.values().map(tag).collect::<Vec<_>>(), [4, 3]);
        x.remove(&3);
        x.remove(&0xffff_ffff);
        assert_eq!(x.0.capacity(), 0, "an empty set holds no memory");
        assert_eq!(x.into_iter().count(), 0);
    }
}
