//! A short-lived cache of the rows every authenticated request reads: sessions by id, users by
//! id, API tokens by hash. On SQLite each query is a round trip to sqlx's connection thread
//! (two context switches), which made these lookups most of the cost of `/api/auth/validate`.
//!
//! Every write this process makes through [`SqlStore`](crate::SqlStore) updates or drops the
//! entries it affects, so a revocation takes effect on the very next request. Writes by other
//! replicas sharing a PostgreSQL database are seen within [`TTL`] (SPEC §2.10 allows 1 s).
//! A generation counter per table keeps a read that raced a write from caching the old row.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ward_core::model::{ApiToken, Session, User};

/// How long an entry is trusted without asking the database.
pub(crate) const TTL: Duration = Duration::from_secs(1);
/// Entries per table; when full, expired entries go, and if that is not enough, all of them.
const CAPACITY: usize = 50_000;

pub(crate) struct Table<T> {
    entries: Mutex<HashMap<String, (Instant, T)>>,
    generation: AtomicU64,
}

impl<T: Clone> Default for Table<T> {
    fn default() -> Self {
        Table {
            entries: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
        }
    }
}

impl<T: Clone> Table<T> {
    /// A fresh cached value.
    pub(crate) fn get(&self, key: &str) -> Option<T> {
        let entries = self.entries.lock().ok()?;
        let (at, value) = entries.get(key)?;
        (at.elapsed() < TTL).then(|| value.clone())
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
            entries.retain(|_, (at, _)| at.elapsed() < TTL);
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
#[derive(Default)]
pub(crate) struct Cache {
    pub(crate) sessions: Table<Session>,
    pub(crate) users: Table<User>,
    /// By token hash.
    pub(crate) api_tokens: Table<ApiToken>,
    /// Session id -> the activity time this process last committed for it.
    pub(crate) touched: Table<i64>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cache")
    }
}
