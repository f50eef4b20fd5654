//! The mail outbox.

use async_trait::async_trait;
use ward_core::account::OutboxMail;
use ward_core::clock::Timestamp;
use ward_core::store::{MailStore, StoreResult};

use crate::codec::{opt, Time};
use crate::{backend, SqlStore};

const COLUMNS: &str = "id, recipient, subject, kind, body_enc, created_at, attempts, \
                       next_attempt_at, last_error, sent_at";

/// A row of [`COLUMNS`].
#[derive(sqlx::FromRow)]
struct MailRow {
    id: String,
    recipient: String,
    subject: String,
    kind: String,
    body_enc: String,
    created_at: Time,
    attempts: i64,
    next_attempt_at: Time,
    last_error: Option<String>,
    sent_at: Option<Time>,
}

impl From<MailRow> for OutboxMail {
    fn from(r: MailRow) -> Self {
        OutboxMail {
            id: r.id,
            recipient: r.recipient,
            subject: r.subject,
            kind: r.kind,
            body_enc: r.body_enc,
            created_at: r.created_at.0,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at.0,
            last_error: r.last_error,
            sent_at: opt(r.sent_at),
        }
    }
}

#[async_trait]
impl MailStore for SqlStore {
    async fn insert_mail(&self, m: &OutboxMail) -> StoreResult<()> {
        sqlx::query(&format!(
            "INSERT INTO mail_outbox ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(&m.id)
        .bind(&m.recipient)
        .bind(&m.subject)
        .bind(&m.kind)
        .bind(&m.body_enc)
        .bind(m.created_at.0)
        .bind(m.attempts)
        .bind(m.next_attempt_at.0)
        .bind(&m.last_error)
        .bind(m.sent_at.map(|t| t.0))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn claim_due_mail(
        &self,
        now: Timestamp,
        lease_secs: i64,
        limit: i64,
    ) -> StoreResult<Vec<OutboxMail>> {
        let rows = sqlx::query_as::<_, MailRow>(&format!(
            "SELECT {COLUMNS} FROM mail_outbox WHERE sent_at IS NULL AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at LIMIT $2"
        ))
        .bind(now.0)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        let mut claimed = Vec::new();
        for row in rows {
            let m = OutboxMail::from(row);
            // Whoever moves `next_attempt_at` first owns this attempt.
            let done = sqlx::query(
                "UPDATE mail_outbox SET next_attempt_at = $1 \
                 WHERE id = $2 AND next_attempt_at = $3 AND sent_at IS NULL",
            )
            .bind(now.0 + lease_secs)
            .bind(&m.id)
            .bind(m.next_attempt_at.0)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
            if done.rows_affected() == 1 {
                claimed.push(m);
            }
        }
        Ok(claimed)
    }

    async fn mark_mail_sent(&self, id: &str, now: Timestamp) -> StoreResult<()> {
        sqlx::query(
            "UPDATE mail_outbox SET sent_at = $1, attempts = attempts + 1, last_error = NULL \
             WHERE id = $2",
        )
        .bind(now.0)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn mark_mail_failed(
        &self,
        id: &str,
        error: &str,
        next_attempt_at: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE mail_outbox SET attempts = attempts + 1, last_error = $1, \
             next_attempt_at = $2 WHERE id = $3",
        )
        .bind(error)
        .bind(next_attempt_at.0)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn undelivered_mail(&self, limit: i64) -> StoreResult<Vec<OutboxMail>> {
        let rows = sqlx::query_as::<_, MailRow>(&format!(
            "SELECT {COLUMNS} FROM mail_outbox WHERE sent_at IS NULL \
             ORDER BY created_at, id LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.into_iter().map(OutboxMail::from).collect())
    }

    async fn delete_sent_mail(&self, cutoff: Timestamp) -> StoreResult<u64> {
        self.delete_batched(
            "mail_outbox",
            "id",
            "sent_at IS NOT NULL AND sent_at <= $1",
            cutoff.0,
        )
        .await
    }
}
