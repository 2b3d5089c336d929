//! Accounts recently seen to exist. A valid token still has to name a live account (a deleted
//! account's tokens must stop working), but asking the database on every request would double
//! the round trips; a warm instance asks once per account per TTL instead.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Beyond this many entries the map is emptied: memory stays bounded whatever the traffic.
const MAX_ENTRIES: usize = 10_000;

pub struct KnownAccounts {
    ttl: Duration,
    seen: Mutex<HashMap<String, Instant>>,
}

impl KnownAccounts {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `account` was seen to exist less than a TTL ago.
    pub fn fresh(&self, account: &str) -> bool {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.get(account).is_some_and(|at| at.elapsed() < self.ttl)
    }

    pub fn remember(&self, account: &str) {
        if self.ttl.is_zero() {
            return;
        }
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= MAX_ENTRIES {
            seen.clear();
        }
        seen.insert(account.to_owned(), Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_trusted_for_the_ttl_only() {
        let known = KnownAccounts::new(Duration::from_millis(50));
        assert!(!known.fresh("alice"));
        known.remember("alice");
        assert!(known.fresh("alice"));
        assert!(!known.fresh("bob"));
        std::thread::sleep(Duration::from_millis(60));
        assert!(!known.fresh("alice"));
    }

    #[test]
    fn a_zero_ttl_always_asks() {
        let known = KnownAccounts::new(Duration::ZERO);
        known.remember("alice");
        assert!(!known.fresh("alice"));
    }

    #[test]
    fn memory_stays_bounded() {
        let known = KnownAccounts::new(Duration::from_secs(60));
        for i in 0..MAX_ENTRIES + 5 {
            known.remember(&format!("user{i}"));
        }
        assert!(known.seen.lock().unwrap().len() <= MAX_ENTRIES);
    }
}
