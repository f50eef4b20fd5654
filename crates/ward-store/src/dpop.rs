//! DPoP proof ids (RFC 9449 §11.1), shared by every replica through the database.

use async_trait::async_trait;
use ward_core::clock::Timestamp;
use ward_core::store::{DpopStore, StoreResult};

use crate::{backend, SqlStore};

#[async_trait]
impl DpopStore for SqlStore {
    async fn record_dpop_jti(&self, jti_hash: &str, expires_at: Timestamp) -> StoreResult<bool> {
        // One statement on both backends: of any number of concurrent inserts of one id, on any
        // replica, exactly one affects a row. An expired row still blocks until swept, which
        // only refuses a proof its `iat` already refuses.
        let done = sqlx::query(
            "INSERT INTO dpop_jtis (jti_hash, expires_at) VALUES ($1, $2) \
             ON CONFLICT (jti_hash) DO NOTHING",
        )
        .bind(jti_hash)
        .bind(expires_at.0)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_expired_dpop_jtis(&self, now: Timestamp) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM dpop_jtis WHERE expires_at <= $1")
            .bind(now.0)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }
}
