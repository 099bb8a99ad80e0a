//! A small time-bounded cache for hot lookups (API keys, channels, apps).
//!
//! Entries live for a fixed time so that changes made by another replica show up within that
//! time; changes made through this process invalidate at once.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use parking_lot::RwLock;

/// Most entries kept before the cache starts over.
const MAX_ENTRIES: usize = 100_000;

/// A map whose entries expire after `ttl`.
pub struct TtlCache<K, V> {
    ttl: Duration,
    map: RwLock<HashMap<K, (V, Instant)>>,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    /// An empty cache.
    pub fn new(ttl: Duration) -> Self {
        TtlCache {
            ttl,
            map: RwLock::new(HashMap::new()),
        }
    }

    /// The value for `key`, if present and fresh.
    pub fn get(&self, key: &K) -> Option<V> {
        let map = self.map.read();
        let (v, at) = map.get(key)?;
        (at.elapsed() < self.ttl).then(|| v.clone())
    }

    /// Stores `value` for `key`.
    pub fn insert(&self, key: K, value: V) {
        let mut map = self.map.write();
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(key, (value, Instant::now()));
    }

    /// Forgets everything (after a change made through this process).
    pub fn clear(&self) {
        self.map.write().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire() {
        let c = TtlCache::new(Duration::from_millis(0));
        c.insert(1, "a");
        assert_eq!(c.get(&1), None);
        let c = TtlCache::new(Duration::from_secs(60));
        c.insert(1, "a");
        assert_eq!(c.get(&1), Some("a"));
        c.clear();
        assert_eq!(c.get(&1), None);
    }
}
