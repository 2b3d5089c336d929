//! Accounts recently seen to exist, with their creation time. A valid token still has to name a
//! live account no younger than itself (a deleted account's tokens must stop working), but
//! asking the database on every request would double the round trips; a warm instance asks
//! once per account per TTL instead.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Beyond this many entries the map is emptied: memory stays bounded whatever the traffic.
const MAX_ENTRIES: usize = 10_000;

pub struct KnownAccounts {
    ttl: Duration,
    /// Account → (when it was seen, its creation time in epoch seconds).
    seen: Mutex<HashMap<String, (Instant, i64)>>,
}

impl KnownAccounts {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// The creation time of `account`, if it was seen to exist less than a TTL ago.
    pub fn created_at(&self, account: &str) -> Option<i64> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let (at, created_at) = seen.get(account)?;
        (at.elapsed() < self.ttl).then_some(*created_at)
    }

    pub fn remember(&self, account: &str, created_at: i64) {
        if self.ttl.is_zero() {
            return;
        }
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= MAX_ENTRIES {
            seen.clear();
        }
        seen.insert(account.to_owned(), (Instant::now(), created_at));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_trusted_for_the_ttl_only() {
        let known = KnownAccounts::new(Duration::from_millis(50));
        assert_eq!(known.created_at("alice"), None);
        known.remember("alice", 1_700_000_000);
        assert_eq!(known.created_at("alice"), Some(1_700_000_000));
        assert_eq!(known.created_at("bob"), None);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(known.created_at("alice"), None);
    }

    #[test]
    fn a_zero_ttl_always_asks() {
        let known = KnownAccounts::new(Duration::ZERO);
        known.remember("alice", 1_700_000_000);
        assert_eq!(known.created_at("alice"), None);
    }

    #[test]
    fn memory_stays_bounded() {
        let known = KnownAccounts::new(Duration::from_secs(60));
        for i in 0..MAX_ENTRIES + 5 {
            known.remember(&format!("user{i}"), 0);
        }
        assert!(known.seen.lock().unwrap().len() <= MAX_ENTRIES);
    }
}
