//! TOTP: enrolments, accepted steps, and backup codes.

use async_trait::async_trait;
use ward_core::clock::Timestamp;
use ward_core::model::TotpEnrolment;
use ward_core::store::{StoreResult, TotpStore};
use ward_core::StoreError;
use ward_core::UserId;

use crate::codec::{Flag, Time};
use crate::{backend, SqlStore};

#[derive(sqlx::FromRow)]
struct EnrolmentRow {
    user_id: String,
    secret_enc: String,
    confirmed: Flag,
    last_step: i64,
    created_at: Time,
}

impl From<EnrolmentRow> for TotpEnrolment {
    fn from(r: EnrolmentRow) -> Self {
        TotpEnrolment {
            user_id: r.user_id.into(),
            secret_enc: r.secret_enc,
            confirmed: r.confirmed.0,
            last_step: r.last_step,
            created_at: r.created_at.0,
        }
    }
}

impl SqlStore {
    async fn insert_backup_codes(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        user_id: &str,
        hashes: &[String],
    ) -> StoreResult<()> {
        sqlx::query("DELETE FROM mfa_backup_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut **tx)
            .await
            .map_err(backend)?;
        for h in hashes {
            sqlx::query("INSERT INTO mfa_backup_codes (user_id, code_hash) VALUES ($1, $2)")
                .bind(user_id)
                .bind(h)
                .execute(&mut **tx)
                .await
                .map_err(backend)?;
        }
        Ok(())
    }
}

#[async_trait]
impl TotpStore for SqlStore {
    async fn totp_enrolment(&self, user_id: &UserId) -> StoreResult<Option<TotpEnrolment>> {
        let row = sqlx::query_as::<_, EnrolmentRow>(
            "SELECT user_id, secret_enc, confirmed, last_step, created_at FROM mfa_totp WHERE user_id = $1",
        )
        .bind(user_id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(row.map(TotpEnrolment::from))
    }

    async fn begin_totp_enrolment(
        &self,
        user_id: &UserId,
        secret_enc: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query("DELETE FROM mfa_totp WHERE user_id = $1 AND confirmed = 0")
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let inserted = sqlx::query(
            "INSERT INTO mfa_totp (user_id, secret_enc, confirmed, last_step, created_at) \
             VALUES ($1, $2, 0, 0, $3)",
        )
        .bind(user_id.as_str())
        .bind(secret_enc)
        .bind(now.0)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {
                tx.commit().await.map_err(backend)?;
                Ok(true)
            }
            Err(e) => match backend(e) {
                StoreError::Conflict(_) => Ok(false),
                other => Err(other),
            },
        }
    }

    async fn confirm_totp_enrolment(
        &self,
        user_id: &UserId,
        step: i64,
        hashes: &[String],
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let done = sqlx::query(
            "UPDATE mfa_totp SET confirmed = 1, last_step = $1 WHERE user_id = $2 AND confirmed = 0",
        )
        .bind(step)
        .bind(user_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        Self::insert_backup_codes(&mut tx, user_id.as_str(), hashes).await?;
        tx.commit().await.map_err(backend)?;
        Ok(true)
    }

    async fn accept_totp_step(&self, user_id: &UserId, step: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE mfa_totp SET last_step = $1 WHERE user_id = $2 AND confirmed = 1 AND last_step < $1",
        )
        .bind(step)
        .bind(user_id.as_str())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn remove_mfa(&self, user_id: &UserId) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query("DELETE FROM mfa_totp WHERE user_id = $1")
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query("DELETE FROM mfa_backup_codes WHERE user_id = $1")
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn replace_backup_codes(&self, user_id: &UserId, hashes: &[String]) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        Self::insert_backup_codes(&mut tx, user_id.as_str(), hashes).await?;
        tx.commit().await.map_err(backend)
    }

    async fn use_backup_code(
        &self,
        user_id: &UserId,
        hash: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE mfa_backup_codes SET used_at = $1 \
             WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
        )
        .bind(now.0)
        .bind(user_id.as_str())
        .bind(hash)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn backup_codes_remaining(&self, user_id: &UserId) -> StoreResult<i64> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM mfa_backup_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user_id.as_str())
        .fetch_one(&self.pool)
        .await
        .map_err(backend)
    }
}
