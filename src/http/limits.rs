//! A request limiter: at most `per_window` requests per key (a client address) in each window of
//! `window` seconds, counted in this process. Share links use it against scraping; password
//! guesses are counted in the database instead, so that every replica sees them.

use std::collections::HashMap;
use std::sync::Mutex;

pub struct Limiter {
    per_window: u32,
    window: i64,
    counts: Mutex<HashMap<String, (i64, u32)>>,
}

impl Limiter {
    pub fn new(per_window: u32, window_secs: i64) -> Limiter {
        Limiter {
            per_window,
            window: window_secs.max(1),
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a request of `key`: `false` when it is over the limit.
    pub fn allow(&self, key: &str) -> bool {
        let window = strata_core::db::now() / self.window;
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if counts.len() > 10_000 {
            counts.retain(|_, (w, _)| *w == window);
        }
        let entry = counts.entry(key.to_owned()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        entry.1 += 1;
        entry.1 <= self.per_window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_key() {
        let limiter = Limiter::new(3, 3600);
        assert!((0..3).all(|_| limiter.allow("a")));
        assert!(!limiter.allow("a"));
        assert!(limiter.allow("b"));
    }
}
