//! Change notifications between replicas (SPEC §2.10). A write that revokes or changes a cached
//! row (cache.rs), or rotates the signing keys, drops the affected cache entries here and, on
//! PostgreSQL, sends `pg_notify('ward_events', '<table>:<key>')` once it has committed. Every
//! replica runs one listener task ([`SqlStore::spawn_listener`]) on its own connection that
//! applies the same drops, and wakes the key reloader for `signing_keys`.
//!
//! Payloads: `sessions:<id>`, `sessions:*`, `users:<id>` (the user and every cached session and
//! API token of theirs), `users:*`, `api_tokens:<id>` (by token id, not hash), `signing_keys`.
//!
//! When the listener's connection drops, it reconnects with backoff (0.1 s doubling to 5 s);
//! meanwhile the cache TTL bounds how stale a replica can be. Notifications sent while it was
//! down are lost, so on every (re)connect it clears the whole cache and asks for a key reload.
//! SQLite is one process: nothing is sent and no listener runs.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::{watch, Notify};

use crate::cache::Cache;
use crate::SqlStore;

/// The PostgreSQL channel every replica listens on.
pub const CHANNEL: &str = "ward_events";

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What a write changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Session(String),
    AllSessions,
    /// The user and everything cached of theirs (sessions, API tokens).
    User(String),
    AllUsers,
    /// By token id.
    ApiToken(String),
    SigningKeys,
}

impl Change {
    pub fn payload(&self) -> String {
        match self {
            Change::Session(id) => format!("sessions:{id}"),
            Change::AllSessions => "sessions:*".into(),
            Change::User(id) => format!("users:{id}"),
            Change::AllUsers => "users:*".into(),
            Change::ApiToken(id) => format!("api_tokens:{id}"),
            Change::SigningKeys => "signing_keys".into(),
        }
    }

    /// `None` for a payload this version does not know (a newer replica's): the caller then
    /// drops everything, which is always safe.
    pub fn parse(payload: &str) -> Option<Change> {
        if payload == "signing_keys" {
            return Some(Change::SigningKeys);
        }
        let (table, key) = payload.split_once(':')?;
        if key.is_empty() {
            return None;
        }
        let all = key == "*";
        Some(match table {
            "sessions" if all => Change::AllSessions,
            "sessions" => Change::Session(key.to_string()),
            "users" if all => Change::AllUsers,
            "users" => Change::User(key.to_string()),
            "api_tokens" if !all => Change::ApiToken(key.to_string()),
            _ => return None,
        })
    }
}

/// Observes the listener: whether it is connected, and key changes it heard of. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Changes {
    inner: Arc<ChangesInner>,
}

#[derive(Debug, Default)]
struct ChangesInner {
    /// Whether notifications reach this process: a connected listener, or SQLite (one process,
    /// where every write is this process's own).
    live: AtomicBool,
    /// Completed (re)connections of the listener.
    connections: AtomicU64,
    keys: Notify,
}

impl Changes {
    /// Waits until the signing keys may have changed elsewhere (a rotation, or a reconnect of the
    /// listener, which may have missed one). A change while nobody waits is kept for the next
    /// call.
    pub async fn keys_changed(&self) {
        self.inner.keys.notified().await;
    }

    /// Whether changes made by other replicas reach this one at once. False on PostgreSQL while
    /// the listener is (re)connecting: then only the cache TTL and periodic reloads bound
    /// staleness.
    pub fn live(&self) -> bool {
        self.inner.live.load(Ordering::Acquire)
    }

    /// How many times the listener has connected (1 after start-up; more after reconnects).
    pub fn connections(&self) -> u64 {
        self.inner.connections.load(Ordering::Acquire)
    }

    pub(crate) fn set_live(&self, live: bool) {
        self.inner.live.store(live, Ordering::Release);
    }

    fn keys_may_have_changed(&self) {
        self.inner.keys.notify_one();
    }
}

/// Drops the cache entries `change` affects.
pub(crate) fn apply(cache: &Cache, change: &Change) {
    match change {
        Change::Session(id) => cache.sessions.invalidate_key(id),
        Change::AllSessions => cache.sessions.invalidate(|_, _| true),
        Change::User(id) => {
            cache.users.invalidate_key(id);
            cache.sessions.invalidate(|_, s| s.user_id == *id);
            cache.api_tokens.invalidate(|_, t| t.user_id == *id);
        }
        Change::AllUsers => cache.users.invalidate(|_, _| true),
        Change::ApiToken(id) => cache.api_tokens.invalidate(|_, t| t.id == *id),
        Change::SigningKeys => {}
    }
}

impl SqlStore {
    /// Records that a committed write changed `changes`: drops this process's cache entries and,
    /// on PostgreSQL, notifies the other replicas. A failed notification is logged, not
    /// returned: the write stands, and the other replicas' cache TTL still bounds staleness.
    pub(crate) async fn changed(&self, changes: &[Change]) {
        for change in changes {
            apply(&self.cache, change);
        }
        if self.is_sqlite {
            return;
        }
        for change in changes {
            let sent = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(change.payload())
                .execute(&self.pool)
                .await;
            if let Err(e) = sent {
                tracing::warn!(error = %e, change = %change.payload(), "cannot notify the other replicas");
            }
        }
    }

    /// The listener's state and key-change signal.
    pub fn changes(&self) -> Changes {
        self.changes.clone()
    }

    /// On PostgreSQL, starts the task that applies other replicas' changes to this process's
    /// cache; it ends when the last handle to this store is dropped. Does nothing on SQLite.
    /// Call once per server process (not for one-shot commands).
    pub fn spawn_listener(&self) {
        if self.is_sqlite {
            return;
        }
        tokio::spawn(listen(
            self.url.clone(),
            Arc::downgrade(&self.cache),
            self.changes.clone(),
            self.stop.subscribe(),
        ));
    }
}

async fn listen(url: String, cache: Weak<Cache>, changes: Changes, mut stop: watch::Receiver<()>) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let mut connected = false;
        let outcome = tokio::select! {
            outcome = session(&url, &cache, &changes, &mut connected) => outcome,
            _ = stop.changed() => return,
        };
        changes.set_live(false);
        if let Err(e) = outcome {
            // A connection that was up starts the backoff over; one that keeps failing backs off.
            if connected {
                backoff = FIRST_BACKOFF;
            }
            tracing::warn!(error = %e, retry_in_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
                "change listener disconnected; the cache TTL applies until it reconnects");
        } else {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => return,
        }
        if cache.upgrade().is_none() {
            return;
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection's worth of listening. `Ok` when the store is gone.
async fn session(
    url: &str,
    cache: &Weak<Cache>,
    changes: &Changes,
    connected: &mut bool,
) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    *connected = true;
    // Listening from here on: anything missed happened before, so forget it all.
    match cache.upgrade() {
        Some(cache) => cache.clear(),
        None => return Ok(()),
    }
    changes.inner.connections.fetch_add(1, Ordering::AcqRel);
    changes.set_live(true);
    changes.keys_may_have_changed();
    tracing::info!("listening for changes from other replicas");
    loop {
        // `try_recv` reports a lost connection as `None` rather than reconnecting silently,
        // so that the reconnect above clears the cache.
        let Some(note) = listener.try_recv().await? else {
            return Err(sqlx::Error::Protocol("connection lost".into()));
        };
        let Some(cache) = cache.upgrade() else {
            return Ok(());
        };
        match Change::parse(note.payload()) {
            Some(Change::SigningKeys) => changes.keys_may_have_changed(),
            Some(change) => apply(&cache, &change),
            None => {
                tracing::warn!(payload = note.payload(), "unknown change notification");
                cache.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        for c in [
            Change::Session("s1".into()),
            Change::AllSessions,
            Change::User("u1".into()),
            Change::AllUsers,
            Change::ApiToken("t1".into()),
            Change::SigningKeys,
        ] {
            assert_eq!(Change::parse(&c.payload()), Some(c));
        }
        assert_eq!(Change::parse("sessions:"), None);
        assert_eq!(Change::parse("api_tokens:*"), None);
        assert_eq!(Change::parse("grants:x"), None);
    }
}
