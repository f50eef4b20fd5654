//! Step-up from anywhere (SPEC §2.17): grace windows and approval requests.

use async_trait::async_trait;
use ward_core::clock::Timestamp;
use ward_core::model::LockTicket;
use ward_core::stepup::{SshCaKey, VerifyRequest, VerifyRequestStatus};
use ward_core::store::{StepUpStore, StoreResult};
use ward_core::StoreError;

use crate::codec::{opt, unknown, Time};
use crate::{backend, SqlStore};

const REQUEST_COLUMNS: &str = "id, user_id, holder, kind, resource_id, device_name, ip, \
     user_agent, status, created_at, expires_at, interval_secs, last_polled_at, decided_at";

/// A row of [`REQUEST_COLUMNS`].
#[derive(sqlx::FromRow)]
struct RequestRow {
    id: String,
    user_id: String,
    holder: String,
    kind: String,
    resource_id: String,
    device_name: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    status: String,
    created_at: Time,
    expires_at: Time,
    interval_secs: i64,
    last_polled_at: Option<Time>,
    decided_at: Option<Time>,
}

impl TryFrom<RequestRow> for VerifyRequest {
    type Error = StoreError;
    fn try_from(r: RequestRow) -> Result<Self, StoreError> {
        Ok(VerifyRequest {
            status: VerifyRequestStatus::parse(&r.status)
                .ok_or_else(|| unknown("request status", &r.status))?,
            id: r.id,
            user_id: r.user_id,
            holder: r.holder,
            kind: r.kind,
            resource_id: r.resource_id,
            device_name: r.device_name,
            ip: r.ip,
            user_agent: r.user_agent,
            created_at: r.created_at.0,
            expires_at: r.expires_at.0,
            interval: r.interval_secs,
            last_polled_at: opt(r.last_polled_at),
            decided_at: opt(r.decided_at),
        })
    }
}

#[derive(sqlx::FromRow)]
struct CaKeyRow {
    id: String,
    public_key: String,
    private_enc: String,
    created_at: Time,
    retired_at: Option<Time>,
}

impl From<CaKeyRow> for SshCaKey {
    fn from(r: CaKeyRow) -> Self {
        SshCaKey {
            id: r.id,
            public_key: r.public_key,
            private_enc: r.private_enc,
            created_at: r.created_at.0,
            retired_at: opt(r.retired_at),
        }
    }
}

#[async_trait]
impl StepUpStore for SqlStore {
    async fn grant_lock_grace(
        &self,
        holder: &str,
        kind: &str,
        id: &str,
        until: Timestamp,
    ) -> StoreResult<()> {
        // `ON CONFLICT … DO UPDATE` with `excluded` is the same on SQLite (3.24+) and
        // PostgreSQL; the CASE keeps a longer window that is already there.
        sqlx::query(
            "INSERT INTO lock_graces (holder, kind, resource_id, expires_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (holder, kind, resource_id) DO UPDATE SET expires_at = \
             CASE WHEN excluded.expires_at > lock_graces.expires_at \
                  THEN excluded.expires_at ELSE lock_graces.expires_at END",
        )
        .bind(holder)
        .bind(kind)
        .bind(id)
        .bind(until.0)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn lock_grace(
        &self,
        holder: &str,
        kind: &str,
        id: &str,
    ) -> StoreResult<Option<Timestamp>> {
        let until: Option<Time> = sqlx::query_scalar(
            "SELECT expires_at FROM lock_graces \
             WHERE holder = $1 AND kind = $2 AND resource_id = $3",
        )
        .bind(holder)
        .bind(kind)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(until.map(Timestamp::from))
    }

    async fn delete_lock_graces(&self, kind: &str, id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM lock_graces WHERE kind = $1 AND resource_id = $2")
            .bind(kind)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn delete_expired_lock_graces(&self, cutoff: Timestamp) -> StoreResult<u64> {
        self.delete_expired("lock_graces", cutoff).await
    }

    async fn insert_verify_request(&self, r: &VerifyRequest) -> StoreResult<()> {
        sqlx::query(&format!(
            "INSERT INTO verify_requests ({REQUEST_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        ))
        .bind(&r.id)
        .bind(&r.user_id)
        .bind(&r.holder)
        .bind(&r.kind)
        .bind(&r.resource_id)
        .bind(&r.device_name)
        .bind(&r.ip)
        .bind(&r.user_agent)
        .bind(r.status.as_str())
        .bind(r.created_at.0)
        .bind(r.expires_at.0)
        .bind(r.interval)
        .bind(r.last_polled_at.map(|t| t.0))
        .bind(r.decided_at.map(|t| t.0))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn verify_request(&self, id: &str) -> StoreResult<Option<VerifyRequest>> {
        let row = sqlx::query_as::<_, RequestRow>(&format!(
            "SELECT {REQUEST_COLUMNS} FROM verify_requests WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.map(VerifyRequest::try_from).transpose()
    }

    async fn record_verify_poll(&self, id: &str, now: Timestamp, interval: i64) -> StoreResult<()> {
        sqlx::query(
            "UPDATE verify_requests SET last_polled_at = $1, interval_secs = $2 WHERE id = $3",
        )
        .bind(now.0)
        .bind(interval)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn decide_verify_request(
        &self,
        id: &str,
        user_id: &str,
        approve: bool,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let status = if approve {
            VerifyRequestStatus::Approved
        } else {
            VerifyRequestStatus::Denied
        };
        let done = sqlx::query(
            "UPDATE verify_requests SET status = $1, decided_at = $2 \
             WHERE id = $3 AND user_id = $4 AND status = 'pending' AND expires_at > $2",
        )
        .bind(status.as_str())
        .bind(now.0)
        .bind(id)
        .bind(user_id)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn issue_verify_ticket(
        &self,
        id: &str,
        holder: &str,
        t: &LockTicket,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // The conditional UPDATE is the "exactly once" (and the transaction's first statement,
        // a write, so SQLite takes its lock before anything is read).
        let done = sqlx::query(
            "UPDATE verify_requests SET status = 'issued' \
             WHERE id = $1 AND holder = $2 AND status = 'approved' AND expires_at > $3",
        )
        .bind(id)
        .bind(holder)
        .bind(now.0)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        crate::locks::insert_ticket(&mut *tx, t).await?;
        tx.commit().await.map_err(backend)?;
        Ok(true)
    }

    async fn delete_expired_verify_requests(&self, cutoff: Timestamp) -> StoreResult<u64> {
        self.delete_expired("verify_requests", cutoff).await
    }

    async fn ssh_ca_keys(&self) -> StoreResult<Vec<SshCaKey>> {
        let rows = sqlx::query_as::<_, CaKeyRow>(
            "SELECT id, public_key, private_enc, created_at, retired_at FROM ssh_ca_keys \
             ORDER BY CASE WHEN retired_at IS NULL THEN 0 ELSE 1 END, created_at DESC, id DESC",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.into_iter().map(SshCaKey::from).collect())
    }

    async fn insert_ssh_ca_key(
        &self,
        key: &SshCaKey,
        retire_at: Option<Timestamp>,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        if let Some(at) = retire_at {
            sqlx::query("UPDATE ssh_ca_keys SET retired_at = $1 WHERE retired_at IS NULL")
                .bind(at.0)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        sqlx::query(
            "INSERT INTO ssh_ca_keys (id, public_key, private_enc, created_at, retired_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&key.id)
        .bind(&key.public_key)
        .bind(&key.private_enc)
        .bind(key.created_at.0)
        .bind(key.retired_at.map(|t| t.0))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(())
    }
}
