//! The account lifecycle: passwords, single-use account links, MFA reset, user deletion.

use async_trait::async_trait;
use ward_core::account::{AccountLink, LinkPurpose};
use ward_core::clock::Timestamp;
use ward_core::store::{AccountStore, StoreResult};
use ward_core::StoreError;
use ward_core::{SessionId, UserId};

use crate::changes::Change;
use crate::codec::{opt, unknown, Flag, Time};
use crate::{backend, SqlStore};

pub(crate) const LINK_COLUMNS: &str =
    "token_hash, purpose, user_id, email, role, created_by, created_at, expires_at, used_at";

/// A row of [`LINK_COLUMNS`].
#[derive(sqlx::FromRow)]
pub(crate) struct LinkRow {
    token_hash: String,
    purpose: String,
    user_id: Option<String>,
    email: Option<String>,
    role: Option<String>,
    created_by: Option<String>,
    created_at: Time,
    expires_at: Time,
    used_at: Option<Time>,
}

impl TryFrom<LinkRow> for AccountLink {
    type Error = StoreError;
    fn try_from(r: LinkRow) -> Result<Self, StoreError> {
        Ok(AccountLink {
            purpose: LinkPurpose::parse(&r.purpose)
                .ok_or_else(|| unknown("link purpose", &r.purpose))?,
            token_hash: r.token_hash,
            user_id: r.user_id,
            email: r.email,
            role: r.role,
            created_by: r.created_by,
            created_at: r.created_at.0,
            expires_at: r.expires_at.0,
            used_at: opt(r.used_at),
        })
    }
}

type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

/// Revokes every live session of the user but `keep`.
async fn revoke_sessions(
    tx: &mut Tx<'_>,
    user_id: &str,
    keep: Option<&str>,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL \
         AND id <> $3",
    )
    .bind(now.0)
    .bind(user_id)
    .bind(keep.unwrap_or_default())
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    Ok(())
}

async fn remove_factors(tx: &mut Tx<'_>, user_id: &str) -> StoreResult<()> {
    for table in [
        "mfa_totp",
        "mfa_backup_codes",
        "mfa_challenges",
        "webauthn_credentials",
    ] {
        sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
            .bind(user_id)
            .execute(&mut **tx)
            .await
            .map_err(backend)?;
    }
    Ok(())
}

async fn store_password(tx: &mut Tx<'_>, user_id: &str, hash: &str) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE users SET password_hash = $1, password_change_required = 0 WHERE id = $2",
    )
    .bind(hash)
    .bind(user_id)
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    Ok(done.rows_affected() == 1)
}

#[async_trait]
impl AccountStore for SqlStore {
    async fn password_change_required(&self, user_id: &UserId) -> StoreResult<bool> {
        let found: Option<Flag> =
            sqlx::query_scalar("SELECT password_change_required FROM users WHERE id = $1")
                .bind(user_id.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        Ok(found.is_some_and(|f| f.0))
    }

    async fn set_password_change_required(
        &self,
        user_id: &UserId,
        required: bool,
    ) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE users SET password_change_required = $1 WHERE id = $2")
            .bind(i64::from(required))
            .bind(user_id.as_str())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_password(
        &self,
        user_id: &UserId,
        password_hash: &str,
        keep_session: Option<&SessionId>,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        if !store_password(&mut tx, user_id.as_str(), password_hash).await? {
            return Ok(false);
        }
        revoke_sessions(
            &mut tx,
            user_id.as_str(),
            keep_session.map(SessionId::as_str),
            now,
        )
        .await?;
        tx.commit().await.map_err(backend)?;
        self.changed(&[Change::User(user_id.to_string())]).await;
        Ok(true)
    }

    async fn insert_account_link(&self, l: &AccountLink) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        if let Some(user_id) = &l.user_id {
            sqlx::query(
                "DELETE FROM account_links WHERE user_id = $1 AND purpose = $2 \
                 AND used_at IS NULL",
            )
            .bind(user_id)
            .bind(l.purpose.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        sqlx::query(&format!(
            "INSERT INTO account_links ({LINK_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(&l.token_hash)
        .bind(l.purpose.as_str())
        .bind(&l.user_id)
        .bind(&l.email)
        .bind(&l.role)
        .bind(&l.created_by)
        .bind(l.created_at.0)
        .bind(l.expires_at.0)
        .bind(l.used_at.map(|t| t.0))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn account_link(&self, token_hash: &str) -> StoreResult<Option<AccountLink>> {
        sqlx::query_as::<_, LinkRow>(&format!(
            "SELECT {LINK_COLUMNS} FROM account_links WHERE token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .map(AccountLink::try_from)
        .transpose()
    }

    async fn redeem_password_link(
        &self,
        token_hash: &str,
        password_hash: &str,
        remove: bool,
        now: Timestamp,
    ) -> StoreResult<Option<UserId>> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // The conditional UPDATE is the "exactly once": a second use finds `used_at` set.
        let done = sqlx::query(
            "UPDATE account_links SET used_at = $1 \
             WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 \
             AND user_id IS NOT NULL",
        )
        .bind(now.0)
        .bind(token_hash)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if done.rows_affected() != 1 {
            return Ok(None);
        }
        let user_id: String =
            sqlx::query_scalar("SELECT user_id FROM account_links WHERE token_hash = $1")
                .bind(token_hash)
                .fetch_one(&mut *tx)
                .await
                .map_err(backend)?;
        if !store_password(&mut tx, &user_id, password_hash).await? {
            return Ok(None);
        }
        revoke_sessions(&mut tx, &user_id, None, now).await?;
        if remove {
            remove_factors(&mut tx, &user_id).await?;
        }
        tx.commit().await.map_err(backend)?;
        self.changed(&[Change::User(user_id.clone())]).await;
        Ok(Some(user_id.into()))
    }

    async fn reset_mfa(&self, user_id: &UserId, now: Timestamp) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // A write first, not a read: on SQLite a transaction that reads and then writes fails
        // with SQLITE_BUSY (no waiting) when another connection wrote in between, which a
        // concurrent request does; a first write takes the lock, waiting its turn.
        let exists = sqlx::query("UPDATE users SET id = id WHERE id = $1")
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected()
            == 1;
        if !exists {
            return Ok(false);
        }
        remove_factors(&mut tx, user_id.as_str()).await?;
        revoke_sessions(&mut tx, user_id.as_str(), None, now).await?;
        tx.commit().await.map_err(backend)?;
        self.changed(&[Change::User(user_id.to_string())]).await;
        Ok(true)
    }

    async fn delete_user(&self, user_id: &UserId) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query(
            "DELETE FROM refresh_tokens WHERE session_id IN \
             (SELECT id FROM sessions WHERE user_id = $1)",
        )
        .bind(user_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        sqlx::query(
            "DELETE FROM lock_tickets WHERE session_id IN \
             (SELECT id FROM sessions WHERE user_id = $1)",
        )
        .bind(user_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        for table in ["sessions", "api_tokens", "account_links"]
            .into_iter()
            .chain(crate::users::DEPENDENTS)
        {
            sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
                .bind(user_id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        // Codes, device grants and approval requests name the user without a foreign key; none
        // may finish.
        for table in ["auth_codes", "device_grants", "verify_requests"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
                .bind(user_id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        let done = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        self.changed(&[Change::User(user_id.to_string())]).await;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_expired_account_links(&self, cutoff: Timestamp) -> StoreResult<u64> {
        self.delete_expired("account_links", cutoff).await
    }

    async fn redeem_verify_link(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<UserId>> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let done = sqlx::query(
            "UPDATE account_links SET used_at = $1 \
             WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 \
             AND purpose = 'verify' AND user_id IS NOT NULL",
        )
        .bind(now.0)
        .bind(token_hash)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if done.rows_affected() != 1 {
            return Ok(None);
        }
        let (user_id, email): (String, Option<String>) =
            sqlx::query_as("SELECT user_id, email FROM account_links WHERE token_hash = $1")
                .bind(token_hash)
                .fetch_one(&mut *tx)
                .await
                .map_err(backend)?;
        // Only the address the link was sent to: an address changed since is not verified.
        let verified =
            sqlx::query("UPDATE users SET email_verified = 1 WHERE id = $1 AND email = $2")
                .bind(&user_id)
                .bind(email.unwrap_or_default())
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        if verified.rows_affected() != 1 {
            return Ok(None);
        }
        tx.commit().await.map_err(backend)?;
        self.changed(&[Change::User(user_id.clone())]).await;
        Ok(Some(user_id.into()))
    }
}
