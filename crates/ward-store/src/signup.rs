//! Sign-up by invitation or approval, and email change (SPEC §2.14).

use async_trait::async_trait;
use ward_core::account::AccountLink;
use ward_core::clock::Timestamp;
use ward_core::model::User;
use ward_core::store::{SignupStore, StoreResult};
use ward_core::UserId;

use crate::accounts::{LinkRow, LINK_COLUMNS};
use crate::changes::Change;
use crate::codec::Flag;
use crate::users::{UserRow, COLUMNS};
use crate::{backend, SqlStore};

const INSERT_USER: &str = "INSERT INTO users (id, email, name, password_hash, role, disabled, \
     created_at, email_verified, pending_approval) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

async fn insert<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    executor: E,
    u: &User,
    pending: bool,
) -> StoreResult<()> {
    sqlx::query(INSERT_USER)
        .bind(u.id.as_str())
        .bind(&u.email)
        .bind(&u.name)
        .bind(&u.password_hash)
        .bind(&u.role)
        .bind(i64::from(u.disabled || pending))
        .bind(u.created_at.0)
        .bind(i64::from(u.email_verified))
        .bind(i64::from(pending))
        .execute(executor)
        .await
        .map_err(backend)?;
    Ok(())
}

#[async_trait]
impl SignupStore for SqlStore {
    async fn insert_invitation(&self, l: &AccountLink) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query(
            "DELETE FROM account_links WHERE email = $1 AND purpose = $2 \
             AND user_id IS NULL AND used_at IS NULL",
        )
        .bind(&l.email)
        .bind(l.purpose.as_str())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
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

    async fn open_invitations(&self, now: Timestamp) -> StoreResult<Vec<AccountLink>> {
        let rows = sqlx::query_as::<_, LinkRow>(&format!(
            "SELECT {LINK_COLUMNS} FROM account_links WHERE purpose = 'invite' \
             AND used_at IS NULL AND expires_at > $1 ORDER BY created_at DESC, token_hash"
        ))
        .bind(now.0)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.into_iter().map(AccountLink::try_from).collect()
    }

    async fn redeem_invitation(
        &self,
        token_hash: &str,
        u: &User,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // The conditional UPDATE is the "exactly once"; the email must be the pinned one.
        let done = sqlx::query(
            "UPDATE account_links SET used_at = $1 \
             WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 \
             AND purpose = 'invite' AND email = $3",
        )
        .bind(now.0)
        .bind(token_hash)
        .bind(&u.email)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        // A taken email fails here and the transaction rolls back: the link stays unused.
        insert(&mut *tx, u, false).await?;
        tx.commit().await.map_err(backend)?;
        Ok(true)
    }

    async fn insert_pending_user(&self, u: &User) -> StoreResult<()> {
        insert(&self.pool, u, true).await
    }

    async fn pending_approval(&self, user_id: &UserId) -> StoreResult<bool> {
        let found: Option<Flag> =
            sqlx::query_scalar("SELECT pending_approval FROM users WHERE id = $1")
                .bind(user_id.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        Ok(found.is_some_and(|f| f.0))
    }

    async fn pending_users(&self) -> StoreResult<Vec<User>> {
        let rows = sqlx::query_as::<_, UserRow>(&format!(
            "SELECT {COLUMNS} FROM users WHERE pending_approval = 1 ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.into_iter().map(User::from).collect())
    }

    async fn approve_user(&self, user_id: &UserId) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE users SET pending_approval = 0, disabled = 0 \
             WHERE id = $1 AND pending_approval = 1",
        )
        .bind(user_id.as_str())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        self.changed(&[Change::User(user_id.to_string())]).await;
        Ok(done.rows_affected() == 1)
    }

    async fn change_email(&self, user_id: &UserId, email: &str) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE users SET email = $1, email_verified = 0 WHERE id = $2")
            .bind(email)
            .bind(user_id.as_str())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        self.changed(&[Change::User(user_id.to_string())]).await;
        Ok(done.rows_affected() == 1)
    }
}
