//! The mail outbox.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use ward_core::account::OutboxMail;
use ward_core::clock::Timestamp;
use ward_core::store::{MailStore, StoreResult};

use crate::codec::{get, opt_time, time};
use crate::{backend, SqlStore};

const COLUMNS: &str = "id, recipient, subject, kind, body_enc, created_at, attempts, \
                       next_attempt_at, last_error, sent_at";

fn mail(row: &AnyRow) -> StoreResult<OutboxMail> {
    Ok(OutboxMail {
        id: get(row, "id")?,
        recipient: get(row, "recipient")?,
        subject: get(row, "subject")?,
        kind: get(row, "kind")?,
        body_enc: get(row, "body_enc")?,
        created_at: time(row, "created_at")?,
        attempts: get(row, "attempts")?,
        next_attempt_at: time(row, "next_attempt_at")?,
        last_error: get(row, "last_error")?,
        sent_at: opt_time(row, "sent_at")?,
    })
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
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM mail_outbox WHERE sent_at IS NULL AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at LIMIT $2"
        ))
        .bind(now.0)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        let mut claimed = Vec::new();
        for row in &rows {
            let m = mail(row)?;
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
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM mail_outbox WHERE sent_at IS NULL \
             ORDER BY created_at, id LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(mail).collect()
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
