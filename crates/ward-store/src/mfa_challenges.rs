//! Second-factor challenges pending between a password and a second factor, and the mark of a
//! session that passed one.

use async_trait::async_trait;
use ward_core::clock::Timestamp;
use ward_core::model::{ChallengePurpose, MfaChallenge};
use ward_core::store::{MfaChallengeStore, StoreResult};
use ward_core::SessionId;
use ward_core::StoreError;

use crate::changes::Change;
use crate::codec::{join, unknown, Time, Words};
use crate::{backend, SqlStore};

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
            user_id: r.user_id.into(),
            return_to: r.return_to,
            amr: r.amr.0,
            created_at: r.created_at.0,
            expires_at: r.expires_at.0,
        })
    }
}

#[async_trait]
impl MfaChallengeStore for SqlStore {
    async fn insert_mfa_challenge(&self, c: &MfaChallenge) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO mfa_challenges (token_hash, user_id, purpose, return_to, amr, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&c.token_hash)
        .bind(c.user_id.as_str())
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
        session_id: &SessionId,
        amr: &[String],
        now: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE sessions SET mfa_verified = 1, amr = $1, verified_at = $2 WHERE id = $3",
        )
        .bind(join(amr))
        .bind(now.0)
        .bind(session_id.as_str())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        self.changed(&[Change::Session(session_id.to_string())])
            .await;
        Ok(())
    }

    async fn delete_expired_mfa_challenges(&self, cutoff: Timestamp) -> StoreResult<u64> {
        self.delete_expired("mfa_challenges", cutoff).await
    }
}
