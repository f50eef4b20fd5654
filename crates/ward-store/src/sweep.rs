//! The sweeper's deletes, in bounded batches: each batch picks at most [`SweepStats::BATCH`]
//! keys with an index-backed read, then deletes them in one short transaction, and pauses before
//! the next one. A sweep over a million dead rows therefore never holds SQLite's write lock (or
//! PostgreSQL's row locks) for longer than one batch, and a sign-in waiting for the lock waits
//! for at most one batch.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use ward_core::clock::Timestamp;
use ward_core::store::{StoreResult, SweepStats};

use crate::{backend, SqlStore};

/// Shortest pause between two batches: lets a waiting writer take the lock.
const MIN_PAUSE: Duration = Duration::from_millis(2);

/// The counters behind [`ward_core::store::Store::sweep_stats`].
#[derive(Debug, Default)]
pub(crate) struct Stats(Mutex<SweepStats>);

impl Stats {
    pub(crate) fn get(&self) -> SweepStats {
        self.0.lock().map(|s| *s).unwrap_or_default()
    }

    fn record(&self, rows: u64, took: Duration) {
        if let Ok(mut s) = self.0.lock() {
            s.batches = s.batches.saturating_add(1);
            s.max_rows = s.max_rows.max(rows);
            s.max_micros = s
                .max_micros
                .max(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
        }
    }
}

/// `$first, $first+1, …` for `n` binds.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Waits about as long as the batch took (at least [`MIN_PAUSE`], at most 50 ms), so that the
/// sweeper holds the write lock at most half of the time while it has work.
async fn pause(took: Duration) {
    tokio::time::sleep(took.clamp(MIN_PAUSE, Duration::from_millis(50))).await;
}

/// The sessions dead at the cutoffs (`$1` for every channel but `guest`, `$2` for guests),
/// as a union of index-backed reads (migration 0020) so that finding a batch does not scan the
/// table.
const DEAD_SESSIONS: &str = "\
    SELECT id FROM sessions WHERE expires_at <= $1 AND channel <> 'guest' \
    UNION ALL SELECT id FROM sessions WHERE last_seen_at + idle_timeout <= $1 AND channel <> 'guest' \
    UNION ALL SELECT id FROM sessions WHERE revoked_at <= $1 AND channel <> 'guest' \
    UNION ALL SELECT id FROM sessions WHERE channel = 'guest' \
        AND (expires_at <= $2 OR last_seen_at + idle_timeout <= $2 OR revoked_at <= $2)";

/// The same condition on one row, re-checked by the delete.
const DEAD: &str = "(CASE WHEN channel = 'guest' THEN $2 ELSE $1 END)";

impl SqlStore {
    /// Deletes the rows of `table` (keyed by `key`) whose `expires_at` is at or before `cutoff`,
    /// batch by batch. `table` and `key` are ours, never input.
    pub(crate) async fn delete_expired_keyed(
        &self,
        table: &'static str,
        key: &'static str,
        cutoff: Timestamp,
    ) -> StoreResult<u64> {
        self.delete_batched(table, key, "expires_at <= $1", cutoff.0)
            .await
    }

    /// Deletes the rows of `table` (keyed by `key`) that match `condition` (SQL of ours, with
    /// `$1` bound to `bound`), at most `SweepStats::BATCH` rows per statement, each statement its
    /// own transaction. Rows of other tables that reference them go by `ON DELETE CASCADE`.
    pub(crate) async fn delete_batched(
        &self,
        table: &'static str,
        key: &'static str,
        condition: &'static str,
        bound: i64,
    ) -> StoreResult<u64> {
        let sql = format!(
            "DELETE FROM {table} WHERE ({key}) IN \
             (SELECT {key} FROM {table} WHERE {condition} LIMIT {})",
            SweepStats::BATCH
        );
        let mut total = 0u64;
        loop {
            let started = Instant::now();
            let done = sqlx::query(&sql)
                .bind(bound)
                .execute(&self.pool)
                .await
                .map_err(backend)?;
            let took = started.elapsed();
            let rows = done.rows_affected();
            self.sweep_stats.record(rows, took);
            total = total.saturating_add(rows);
            if rows < u64::try_from(SweepStats::BATCH).unwrap_or(u64::MAX) {
                return Ok(total);
            }
            pause(took).await;
        }
    }

    /// Deletes dead sessions and their refresh tokens, batch by batch (see
    /// `SessionStore::delete_dead_sessions`).
    pub(crate) async fn delete_dead_sessions_batched(
        &self,
        cutoff: Timestamp,
        guest_cutoff: Timestamp,
    ) -> StoreResult<u64> {
        let pick = format!("{DEAD_SESSIONS} LIMIT {}", SweepStats::BATCH);
        let mut total = 0u64;
        loop {
            // A read outside the transaction: it neither takes nor waits for the write lock.
            let mut ids: Vec<String> = sqlx::query_scalar(&pick)
                .bind(cutoff.0)
                .bind(guest_cutoff.0)
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
            // A session dead for several reasons is picked once per reason.
            ids.sort_unstable();
            ids.dedup();
            if ids.is_empty() {
                return Ok(total);
            }
            let started = Instant::now();
            let mut tx = self.pool.begin().await.map_err(backend)?;
            let condition = format!(
                "(expires_at <= {DEAD} OR last_seen_at + idle_timeout <= {DEAD} \
                 OR (revoked_at IS NOT NULL AND revoked_at <= {DEAD})) AND id IN ({})",
                placeholders(3, ids.len())
            );
            // The refresh tokens first (they reference the sessions), of exactly the sessions
            // deleted next: the condition is checked again inside the transaction.
            let tokens = format!(
                "DELETE FROM refresh_tokens WHERE session_id IN \
                 (SELECT id FROM sessions WHERE {condition})"
            );
            let mut q = sqlx::query(&tokens).bind(cutoff.0).bind(guest_cutoff.0);
            for id in &ids {
                q = q.bind(id);
            }
            q.execute(&mut *tx).await.map_err(backend)?;
            let sessions = format!("DELETE FROM sessions WHERE {condition}");
            let mut q = sqlx::query(&sessions).bind(cutoff.0).bind(guest_cutoff.0);
            for id in &ids {
                q = q.bind(id);
            }
            let done = q.execute(&mut *tx).await.map_err(backend)?;
            tx.commit().await.map_err(backend)?;
            let took = started.elapsed();
            self.sweep_stats.record(done.rows_affected(), took);
            total = total.saturating_add(done.rows_affected());
            if ids.len() < usize::try_from(SweepStats::BATCH).unwrap_or(usize::MAX) {
                return Ok(total);
            }
            pause(took).await;
        }
    }
}
