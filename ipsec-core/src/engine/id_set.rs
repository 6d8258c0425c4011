//! A small set of IDs: the ISAKMP SAs or pairs of one peer session, usually one or two.
//!
//! A sorted vector allocated to its exact length and freed when it empties. A `BTreeSet`
//! allocated a leaf node of eleven entries (about 100 bytes) for the one ID of every
//! session, twice per held tunnel.

/// IDs in order, without repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdSet<T>(Vec<T>);

impl<T> Default for IdSet<T> {
    fn default() -> Self {
        IdSet(Vec::new())
    }
}

impl<T: Ord + Copy> IdSet<T> {
    /// Adds `id`; whether it was new.
    pub fn insert(&mut self, id: T) -> bool {
        match self.0.binary_search(&id) {
            Ok(_) => false,
            Err(i) => {
                self.0.reserve_exact(1);
                self.0.insert(i, id);
                true
            }
        }
    }

    /// Removes `id`; whether it was there.
    pub fn remove(&mut self, id: &T) -> bool {
        let Ok(i) = self.0.binary_search(id) else {
            return false;
        };
        self.0.remove(i);
        if self.0.is_empty() {
            self.0 = Vec::new();
        }
        true
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// In order.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.0.iter()
    }
}

impl<'a, T> IntoIterator for &'a IdSet<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Index lists of IDs (the sessions of one user or one address), nearly always one long:
/// grown one element at a time, where `push` would reserve room for four.
pub(crate) trait PushExact<T> {
    fn push_exact(&mut self, x: T);
}

impl<T> PushExact<T> for Vec<T> {
    fn push_exact(&mut self, x: T) {
        self.reserve_exact(1);
        self.push(x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sorted_set_freed_when_empty() {
        let mut s = IdSet::default();
        assert!(s.insert(5u32));
        assert!(s.insert(1));
        assert!(!s.insert(5));
        assert_eq!(s.iter().copied().collect::<Vec<_>>(), [1, 5]);
        assert_eq!(s.0.capacity(), 2);
        assert!(s.remove(&1) && !s.remove(&1));
        assert!(s.remove(&5));
        assert!(s.is_empty());
        assert_eq!(s.0.capacity(), 0);
    }
}
