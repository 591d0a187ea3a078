//! A map from track id to per-zone state, kept as a sorted vector: zones hold a few dozen
//! tracks, so a binary search beats a tree, iteration stays in id order like a `BTreeMap`, and
//! tracks coming and going reuse the vector's capacity instead of allocating tree nodes.

#[derive(Debug, Clone)]
pub struct IdMap<V> {
    entries: Vec<(u64, V)>,
}

impl<V: Copy> IdMap<V> {
    pub fn with_capacity(n: usize) -> Self {
        Self {
            entries: Vec::with_capacity(n),
        }
    }

    pub fn get(&self, id: u64) -> Option<V> {
        self.position(id).ok().map(|i| self.entries[i].1)
    }

    /// Sets `id`'s value and returns the one it replaces.
    pub fn insert(&mut self, id: u64, value: V) -> Option<V> {
        match self.position(id) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (id, value));
                None
            }
        }
    }

    pub fn remove(&mut self, id: u64) -> Option<V> {
        self.position(id).ok().map(|i| self.entries.remove(i).1)
    }

    /// Keeps the entries whose id passes `keep`.
    pub fn retain_ids(&mut self, mut keep: impl FnMut(u64) -> bool) {
        self.entries.retain(|&(id, _)| keep(id));
    }

    /// The `i`-th entry in id order.
    pub fn nth(&self, i: usize) -> Option<(u64, V)> {
        self.entries.get(i).copied()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    fn position(&self, id: u64) -> Result<usize, usize> {
        self.entries.binary_search_by_key(&id, |&(k, _)| k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_like_a_map_and_keeps_ids_sorted() {
        let mut m = IdMap::with_capacity(1);
        assert_eq!(m.insert(5, 'a'), None);
        assert_eq!(m.insert(1, 'b'), None);
        assert_eq!(m.insert(3, 'c'), None);
        assert_eq!(m.insert(5, 'd'), Some('a'));
        assert_eq!(m.get(5), Some('d'));
        assert_eq!(m.get(2), None);
        assert_eq!(m.remove(1), Some('b'));
        assert_eq!(m.remove(1), None);
        m.retain_ids(|id| id != 3);
        assert_eq!(m.len(), 1);
        assert_eq!(m.entries, vec![(5, 'd')]);
    }
}
