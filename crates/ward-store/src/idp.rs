//! Federation: pending upstream sign-ins and (IdP, subject) → user links.

use async_trait::async_trait;
use ward_core::clock::Timestamp;
use ward_core::model::{IdpPending, User};
use ward_core::store::{IdpStore, StoreResult};
use ward_core::UserId;

use crate::codec::Time;
use crate::{backend, SqlStore};

const PENDING_COLUMNS: &str =
    "state_hash, idp, binding_hash, return_to, login_hint, created_at, expires_at";

/// A row of [`PENDING_COLUMNS`].
#[derive(sqlx::FromRow)]
struct PendingRow {
    state_hash: String,
    idp: String,
    binding_hash: String,
    return_to: String,
    login_hint: Option<String>,
    created_at: Time,
    expires_at: Time,
}

impl From<PendingRow> for IdpPending {
    fn from(r: PendingRow) -> Self {
        IdpPending {
            state_hash: r.state_hash,
            idp: r.idp,
            binding_hash: r.binding_hash,
            return_to: r.return_to,
            login_hint: r.login_hint,
            created_at: r.created_at.0,
            expires_at: r.expires_at.0,
        }
    }
}

#[async_trait]
impl IdpStore for SqlStore {
    async fn insert_idp_pending(&self, p: &IdpPending) -> StoreResult<()> {
        sqlx::query(&format!(
            "INSERT INTO idp_pending ({PENDING_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(&p.state_hash)
        .bind(&p.idp)
        .bind(&p.binding_hash)
        .bind(&p.return_to)
        .bind(&p.login_hint)
        .bind(p.created_at.0)
        .bind(p.expires_at.0)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn consume_idp_pending(
        &self,
        state_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<IdpPending>> {
        let row = sqlx::query_as::<_, PendingRow>(&format!(
            "UPDATE idp_pending SET consumed_at = $1 \
             WHERE state_hash = $2 AND consumed_at IS NULL \
             RETURNING {PENDING_COLUMNS}"
        ))
        .bind(now.0)
        .bind(state_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(row.map(IdpPending::from))
    }

    async fn idp_link(&self, idp: &str, subject: &str) -> StoreResult<Option<UserId>> {
        let found: Option<String> =
            sqlx::query_scalar("SELECT user_id FROM idp_links WHERE idp = $1 AND subject = $2")
                .bind(idp)
                .bind(subject)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        Ok(found.map(UserId::from))
    }

    async fn insert_idp_link(
        &self,
        idp: &str,
        subject: &str,
        user_id: &UserId,
        now: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO idp_links (idp, subject, user_id, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(idp)
        .bind(subject)
        .bind(user_id.as_str())
        .bind(now.0)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn insert_idp_user(&self, u: &User, idp: &str, subject: &str) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query(
            "INSERT INTO users (id, email, name, password_hash, role, disabled, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(u.id.as_str())
        .bind(&u.email)
        .bind(&u.name)
        .bind(&u.password_hash)
        .bind(&u.role)
        .bind(i64::from(u.disabled))
        .bind(u.created_at.0)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        sqlx::query(
            "INSERT INTO idp_links (idp, subject, user_id, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(idp)
        .bind(subject)
        .bind(u.id.as_str())
        .bind(u.created_at.0)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(())
    }

    async fn delete_expired_idp_pending(&self, cutoff: Timestamp) -> StoreResult<u64> {
        self.delete_expired("idp_pending", cutoff).await
    }
}
