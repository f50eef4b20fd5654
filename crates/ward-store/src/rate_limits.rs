//! Rate-limit counters (one row per key and window), shared by every replica.

use async_trait::async_trait;
use ward_core::store::{RateLimitStore, StoreResult};

use crate::{backend, SqlStore};

#[async_trait]
impl RateLimitStore for SqlStore {
    async fn add_rate_limit_hits(
        &self,
        key: &str,
        window_start: i64,
        add: i64,
    ) -> StoreResult<i64> {
        // One atomic statement on both backends (SQLite ≥ 3.35 for RETURNING): concurrent hits
        // on any replica serialize on the row, and each sees the count including its own.
        sqlx::query_scalar(
            "INSERT INTO rate_limits (key, window_start, count) VALUES ($1, $2, $3) \
             ON CONFLICT (key, window_start) DO UPDATE SET count = rate_limits.count + $3 \
             RETURNING count",
        )
        .bind(key)
        .bind(window_start)
        .bind(add)
        .fetch_one(&self.pool)
        .await
        .map_err(backend)
    }

    async fn rate_limit_hits(&self, key: &str, window_start: i64) -> StoreResult<i64> {
        let count: Option<i64> = sqlx::query_scalar(
            "SELECT count FROM rate_limits WHERE key = $1 AND window_start = $2",
        )
        .bind(key)
        .bind(window_start)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(count.unwrap_or(0))
    }

    async fn delete_rate_limits_before(&self, window_start: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM rate_limits WHERE window_start < $1")
            .bind(window_start)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }
}
