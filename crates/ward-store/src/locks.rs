//! Resource locks and the single-use tickets that let one session through a lock.

use async_trait::async_trait;
use ward_core::clock::Timestamp;
use ward_core::model::LockTicket;
use ward_core::store::{LockStore, StoreResult};
use ward_core::StoreError;

use crate::{backend, SqlStore};

#[async_trait]
impl LockStore for SqlStore {
    async fn lock_resource(
        &self,
        kind: &str,
        id: &str,
        user_id: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let inserted = sqlx::query(
            "INSERT INTO resource_locks (kind, resource_id, locked_by, locked_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(kind)
        .bind(id)
        .bind(user_id)
        .bind(now.0)
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => Ok(true),
            Err(e) => match backend(e) {
                StoreError::Conflict(_) => Ok(false),
                other => Err(other),
            },
        }
    }

    async fn unlock_resource(&self, kind: &str, id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM resource_locks WHERE kind = $1 AND resource_id = $2")
            .bind(kind)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn resource_lock(&self, kind: &str, id: &str) -> StoreResult<Option<String>> {
        sqlx::query_scalar(
            "SELECT locked_by FROM resource_locks WHERE kind = $1 AND resource_id = $2",
        )
        .bind(kind)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)
    }

    async fn insert_lock_ticket(&self, t: &LockTicket) -> StoreResult<()> {
        insert_ticket(&self.pool, t).await
    }

    async fn use_lock_ticket(
        &self,
        ticket_hash: &str,
        session_id: &str,
        kind: &str,
        id: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE lock_tickets SET used_at = $1 \
             WHERE ticket_hash = $2 AND session_id = $3 AND kind = $4 AND resource_id = $5 \
               AND used_at IS NULL AND expires_at > $1",
        )
        .bind(now.0)
        .bind(ticket_hash)
        .bind(session_id)
        .bind(kind)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_expired_lock_tickets(&self, cutoff: Timestamp) -> StoreResult<u64> {
        self.delete_expired("lock_tickets", cutoff).await
    }
}

/// Stores a lock ticket, on the pool or inside a caller's transaction (a step-up approval
/// issues its ticket in the transaction that marks the request used).
pub(crate) async fn insert_ticket<'e, E>(executor: E, t: &LockTicket) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO lock_tickets (ticket_hash, session_id, kind, resource_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&t.ticket_hash)
    .bind(&t.session_id)
    .bind(&t.kind)
    .bind(&t.resource_id)
    .bind(t.created_at.0)
    .bind(t.expires_at.0)
    .execute(executor)
    .await
    .map_err(backend)?;
    Ok(())
}
