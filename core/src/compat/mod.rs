//! Other systems' client APIs, answered from strata's datasets: what their clients see of a
//! dataset, decided by the same gates as strata's own routes.

pub mod ckan;
pub mod delta_sharing;
pub mod hf;
pub mod iceberg;
pub mod s3;

use std::collections::HashMap;
use std::sync::Mutex;

/// Values kept a while by key (a caller's load, a data file's read), at most so many of them: the
/// expired go first, then the oldest.
pub(crate) struct Kept<V>(Mutex<HashMap<String, (std::time::Instant, V)>>);

impl<V> Default for Kept<V> {
    fn default() -> Kept<V> {
        Kept(Mutex::new(HashMap::new()))
    }
}

impl<V: Clone> Kept<V> {
    pub(crate) fn get(&self, key: &str, ttl: std::time::Duration) -> Option<V> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key)
            .filter(|(at, _)| at.elapsed() < ttl)
            .map(|(_, v)| v.clone())
    }

    pub(crate) fn put(&self, key: String, value: V, ttl: std::time::Duration, most: usize) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, (at, _)| at.elapsed() < ttl);
        while map.len() >= most.max(1) {
            let oldest = map
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => map.remove(&k),
                None => break,
            };
        }
        map.insert(key, (std::time::Instant::now(), value));
    }
}
