//! A short-lived cache of the rows every authenticated request reads: sessions by id, users by
//! id, API tokens by hash. On SQLite each query is a round trip to sqlx's connection thread
//! (two context switches), which made these lookups most of the cost of `/api/auth/validate`.
//!
//! Every write this process makes through [`SqlStore`](crate::SqlStore) updates or drops the
//! entries it affects, so a revocation takes effect on the very next request. On PostgreSQL the
//! same writes send a notification that every replica's listener turns into the same drops
//! (changes.rs), well within SPEC §2.10's 1 s; the TTL ([`DEFAULT_TTL`]) bounds staleness when
//! the listener is down. A generation counter per table keeps a read that raced a write
//! (here or, through the listener, elsewhere) from caching the old row.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ward_core::model::{ApiToken, Session, User};

/// How long an entry is trusted without asking the database, unless configured otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(1);
/// Entries per table; when full, expired entries go, and if that is not enough, all of them.
const CAPACITY: usize = 50_000;

pub(crate) struct Table<T> {
    entries: Mutex<HashMap<String, (Instant, T)>>,
    generation: AtomicU64,
    ttl: Duration,
}

impl<T: Clone> Table<T> {
    fn new(ttl: Duration) -> Self {
        Table {
            entries: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
            ttl,
        }
    }

    /// A fresh cached value.
    pub(crate) fn get(&self, key: &str) -> Option<T> {
        let entries = self.entries.lock().ok()?;
        let (at, value) = entries.get(key)?;
        (at.elapsed() < self.ttl).then(|| value.clone())
    }

    /// Take before reading the database; pass to [`put`](Table::put) after.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Caches a row read at `generation`, unless a write happened since.
    pub(crate) fn put(&self, key: &str, value: &T, generation: u64) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if entries.len() >= CAPACITY {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(key.to_string(), (Instant::now(), value.clone()));
    }

    /// Changes cached rows in place (activity times, which no reader needs to be exact).
    pub(crate) fn update(&self, mut change: impl FnMut(&mut T)) {
        if let Ok(mut entries) = self.entries.lock() {
            for (_, value) in entries.values_mut() {
                change(value);
            }
        }
    }

    /// Changes the cached row under `key` in place.
    pub(crate) fn update_key(&self, key: &str, change: impl FnOnce(&mut T)) {
        if let Ok(mut entries) = self.entries.lock() {
            if let Some((_, value)) = entries.get_mut(key) {
                change(value);
            }
        }
    }

    /// Drops the row under `key`. Call after the write has committed.
    pub(crate) fn invalidate_key(&self, key: &str) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(key);
        }
    }

    /// Drops the entries for which `pick` returns true. Call after the write has committed.
    pub(crate) fn invalidate(&self, mut pick: impl FnMut(&str, &T) -> bool) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|k, (_, v)| !pick(k, v));
        }
    }
}

/// The cached tables.
pub(crate) struct Cache {
    pub(crate) sessions: Table<Session>,
    pub(crate) users: Table<User>,
    /// By token hash.
    pub(crate) api_tokens: Table<ApiToken>,
    /// Session id -> the activity time this process last committed for it.
    pub(crate) touched: Table<i64>,
}

impl Cache {
    pub(crate) fn new(ttl: Duration) -> Cache {
        Cache {
            sessions: Table::new(ttl),
            users: Table::new(ttl),
            api_tokens: Table::new(ttl),
            touched: Table::new(ttl),
        }
    }

    /// Forgets everything (the listener reconnected and may have missed notifications).
    pub(crate) fn clear(&self) {
        self.sessions.invalidate(|_, _| true);
        self.users.invalidate(|_, _| true);
        self.api_tokens.invalidate(|_, _| true);
    }
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cache")
    }
}
