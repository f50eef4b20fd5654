//! MFA: TOTP enrolments, backup codes, sign-in challenges, resource locks and tickets.

use async_trait::async_trait;
use ward_core::clock::Timestamp;
use ward_core::model::{ChallengePurpose, LockTicket, MfaChallenge, TotpEnrolment};
use ward_core::store::{MfaStore, StoreResult};
use ward_core::StoreError;

use crate::changes::Change;
use crate::codec::{join, unknown, Flag, Time, Words};
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
            user_id: r.user_id,
            secret_enc: r.secret_enc,
            confirmed: r.confirmed.0,
            last_step: r.last_step,
            created_at: r.created_at.0,
        }
    }
}

const CHALLENGE_COLUMNS: &str =
    "token_hash, user_id, purpose, return_to, amr, created_at, expires_at";

/// A row of [`CHALLENGE_COLUMNS`].
#[derive(sqlx::FromRow)]
struct ChallengeRow {
    token_hash: String,
    user_id: String,
    purpose: String,
    return_to: String,
    amr: Words,
    created_at: Time,
    expires_at: Time,
}

impl TryFrom<ChallengeRow> for MfaChallenge {
    type Error = StoreError;
    fn try_from(r: ChallengeRow) -> Result<Self, StoreError> {
        Ok(MfaChallenge {
            purpose: ChallengePurpose::parse(&r.purpose)
                .ok_or_else(|| unknown("challenge purpose", &r.purpose))?,
            token_hash: r.token_hash,
            user_id: r.user_id,
            return_to: r.return_to,
            amr: r.amr.0,
            created_at: r.created_at.0,
            expires_at: r.expires_at.0,
        })
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
impl MfaStore for SqlStore {
    async fn totp_enrolment(&self, user_id: &str) -> StoreResult<Option<TotpEnrolment>> {
        let row = sqlx::query_as::<_, EnrolmentRow>(
            "SELECT user_id, secret_enc, confirmed, last_step, created_at FROM mfa_totp WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(row.map(TotpEnrolment::from))
    }

    async fn begin_totp_enrolment(
        &self,
        user_id: &str,
        secret_enc: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query("DELETE FROM mfa_totp WHERE user_id = $1 AND confirmed = 0")
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let inserted = sqlx::query(
            "INSERT INTO mfa_totp (user_id, secret_enc, confirmed, last_step, created_at) \
             VALUES ($1, $2, 0, 0, $3)",
        )
        .bind(user_id)
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
        user_id: &str,
        step: i64,
        hashes: &[String],
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let done = sqlx::query(
            "UPDATE mfa_totp SET confirmed = 1, last_step = $1 WHERE user_id = $2 AND confirmed = 0",
        )
        .bind(step)
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        Self::insert_backup_codes(&mut tx, user_id, hashes).await?;
        tx.commit().await.map_err(backend)?;
        Ok(true)
    }

    async fn accept_totp_step(&self, user_id: &str, step: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE mfa_totp SET last_step = $1 WHERE user_id = $2 AND confirmed = 1 AND last_step < $1",
        )
        .bind(step)
        .bind(user_id)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn remove_mfa(&self, user_id: &str) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query("DELETE FROM mfa_totp WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query("DELETE FROM mfa_backup_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn replace_backup_codes(&self, user_id: &str, hashes: &[String]) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        Self::insert_backup_codes(&mut tx, user_id, hashes).await?;
        tx.commit().await.map_err(backend)
    }

    async fn use_backup_code(
        &self,
        user_id: &str,
        hash: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE mfa_backup_codes SET used_at = $1 \
             WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
        )
        .bind(now.0)
        .bind(user_id)
        .bind(hash)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn backup_codes_remaining(&self, user_id: &str) -> StoreResult<i64> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM mfa_backup_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user_id)
        .fetch_one(&self.pool)
        .await
        .map_err(backend)
    }

    async fn insert_mfa_challenge(&self, c: &MfaChallenge) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO mfa_challenges (token_hash, user_id, purpose, return_to, amr, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&c.token_hash)
        .bind(&c.user_id)
        .bind(c.purpose.as_str())
        .bind(&c.return_to)
        .bind(join(&c.amr))
        .bind(c.created_at.0)
        .bind(c.expires_at.0)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn mfa_challenge(&self, token_hash: &str) -> StoreResult<Option<MfaChallenge>> {
        sqlx::query_as::<_, ChallengeRow>(&format!(
            "SELECT {CHALLENGE_COLUMNS} FROM mfa_challenges WHERE token_hash = $1 AND consumed_at IS NULL"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .map(MfaChallenge::try_from)
        .transpose()
    }

    async fn consume_mfa_challenge(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<MfaChallenge>> {
        sqlx::query_as::<_, ChallengeRow>(&format!(
            "UPDATE mfa_challenges SET consumed_at = $1 \
             WHERE token_hash = $2 AND consumed_at IS NULL AND expires_at > $1 \
             RETURNING {CHALLENGE_COLUMNS}"
        ))
        .bind(now.0)
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .map(MfaChallenge::try_from)
        .transpose()
    }

    async fn mark_session_mfa(
        &self,
        session_id: &str,
        amr: &[String],
        now: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE sessions SET mfa_verified = 1, amr = $1, verified_at = $2 WHERE id = $3",
        )
        .bind(join(amr))
        .bind(now.0)
        .bind(session_id)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        self.changed(&[Change::Session(session_id.to_string())])
            .await;
        Ok(())
    }

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
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
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

    async fn delete_expired_mfa_challenges(&self, cutoff: Timestamp) -> StoreResult<u64> {
        self.delete_expired("mfa_challenges", cutoff).await
    }

    async fn delete_expired_lock_tickets(&self, cutoff: Timestamp) -> StoreResult<u64> {
        self.delete_expired("lock_tickets", cutoff).await
    }
}
