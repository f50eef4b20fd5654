//! Events (SPEC §2.18): the webhook outbox and its attempts, and the audit log read in order.
//!
//! The claim is the one statement that differs between the backends: on PostgreSQL the rows
//! are picked with `FOR UPDATE SKIP LOCKED`, so that replicas claiming at once each take
//! different rows without waiting on each other; SQLite has no row locks (and needs none: one
//! writer at a time makes the `UPDATE … RETURNING` atomic).

use async_trait::async_trait;
use sqlx::AnyConnection;
use ward_core::clock::Timestamp;
use ward_core::events::{AttemptOutcome, DeliveryStatus, WebhookAttempt, WebhookMessage};
use ward_core::model::AuditEvent;
use ward_core::store::{EventStore, StoreResult};
use ward_core::StoreError;

use crate::audit::{AuditRow, COLUMNS as AUDIT_COLUMNS};
use crate::codec::{opt, unknown, Time};
use crate::{backend, SqlStore};

const MESSAGE_COLUMNS: &str = "id, seq, webhook, event_id, event_type, payload, created_at, \
    status, attempts, next_attempt_at, give_up_at, last_status, last_error, delivered_at";

/// A row of [`MESSAGE_COLUMNS`].
#[derive(sqlx::FromRow)]
struct MessageRow {
    id: String,
    seq: i64,
    webhook: String,
    event_id: String,
    event_type: String,
    payload: String,
    created_at: Time,
    status: String,
    attempts: i64,
    next_attempt_at: Time,
    give_up_at: Time,
    last_status: Option<i64>,
    last_error: Option<String>,
    delivered_at: Option<Time>,
}

impl MessageRow {
    /// The message, and its place in the outbox: `(created_at, seq)`.
    fn with_cursor(self) -> StoreResult<(WebhookMessage, (i64, i64))> {
        let cursor = (self.created_at.0 .0, self.seq);
        let m = WebhookMessage {
            status: DeliveryStatus::parse(&self.status)
                .ok_or_else(|| unknown("delivery status", &self.status))?,
            id: self.id,
            webhook: self.webhook,
            event_id: self.event_id,
            event_type: self.event_type,
            payload: self.payload,
            created_at: self.created_at.0,
            attempts: self.attempts,
            next_attempt_at: self.next_attempt_at.0,
            give_up_at: self.give_up_at.0,
            last_status: self.last_status,
            last_error: self.last_error,
            delivered_at: opt(self.delivered_at),
        };
        Ok((m, cursor))
    }
}

impl TryFrom<MessageRow> for WebhookMessage {
    type Error = StoreError;
    fn try_from(r: MessageRow) -> Result<Self, StoreError> {
        r.with_cursor().map(|(m, _)| m)
    }
}

#[derive(sqlx::FromRow)]
struct AttemptRow {
    message_id: String,
    attempt: i64,
    at: Time,
    status_code: Option<i64>,
    error: Option<String>,
    duration_ms: i64,
}

impl From<AttemptRow> for WebhookAttempt {
    fn from(r: AttemptRow) -> Self {
        WebhookAttempt {
            message_id: r.message_id,
            attempt: r.attempt,
            at: r.at.0,
            status_code: r.status_code,
            error: r.error,
            duration_ms: r.duration_ms,
        }
    }
}

/// Inserts the audit event with `seq` on `conn` (inside the caller's transaction).
pub(crate) async fn insert_audit_in(
    conn: &mut AnyConnection,
    e: &AuditEvent,
    seq: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit_events (id, seq, at, event_type, outcome, actor_user_id, actor_ip, \
         target, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&e.id)
    .bind(seq)
    .bind(e.at.0)
    .bind(&e.event_type)
    .bind(&e.outcome)
    .bind(&e.actor_user_id)
    .bind(&e.actor_ip)
    .bind(&e.target)
    .bind(&e.detail)
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    Ok(())
}

#[async_trait]
impl EventStore for SqlStore {
    async fn insert_audit_event_with_outbox(
        &self,
        event: &AuditEvent,
        outbox: &[WebhookMessage],
    ) -> StoreResult<i64> {
        let seq = self.next_seq();
        let mut tx = self.pool.begin().await.map_err(backend)?;
        insert_audit_in(&mut tx, event, seq).await?;
        for m in outbox {
            sqlx::query(
                "INSERT INTO webhook_outbox (id, seq, webhook, event_id, event_type, payload, \
                 created_at, status, attempts, next_attempt_at, give_up_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(&m.id)
            .bind(self.next_seq())
            .bind(&m.webhook)
            .bind(&m.event_id)
            .bind(&m.event_type)
            .bind(&m.payload)
            .bind(m.created_at.0)
            .bind(m.status.as_str())
            .bind(m.attempts)
            .bind(m.next_attempt_at.0)
            .bind(m.give_up_at.0)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(seq)
    }

    async fn audit_cursor(&self, id: &str) -> StoreResult<Option<(i64, i64)>> {
        sqlx::query_as("SELECT at, seq FROM audit_events WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)
    }

    async fn audit_events_after(
        &self,
        after: (i64, i64),
        limit: i64,
    ) -> StoreResult<Vec<(AuditEvent, (i64, i64))>> {
        let rows = sqlx::query_as::<_, AuditRow>(&format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE at > $1 OR (at = $1 AND seq > $2) \
             ORDER BY at, seq LIMIT $3"
        ))
        .bind(after.0)
        .bind(after.1)
        .bind(limit.clamp(1, 1000))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.into_iter().map(AuditRow::with_cursor).collect())
    }

    async fn claim_webhook_messages(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        claim: &str,
        limit: i64,
    ) -> StoreResult<Vec<WebhookMessage>> {
        let lock = if self.is_sqlite {
            ""
        } else {
            " FOR UPDATE SKIP LOCKED"
        };
        let sql = format!(
            "UPDATE webhook_outbox SET claim = $1, lease_until = $2, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM webhook_outbox \
               WHERE status = 'pending' AND next_attempt_at <= $3 \
                 AND (lease_until IS NULL OR lease_until <= $3) \
               ORDER BY next_attempt_at, created_at LIMIT $4{lock}) \
             RETURNING {MESSAGE_COLUMNS}"
        );
        let rows = sqlx::query_as::<_, MessageRow>(&sql)
            .bind(claim)
            .bind(lease_until.0)
            .bind(now.0)
            .bind(limit.clamp(1, 100))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.into_iter().map(WebhookMessage::try_from).collect()
    }

    async fn finish_webhook_attempt(
        &self,
        claim: &str,
        a: &WebhookAttempt,
        outcome: AttemptOutcome,
    ) -> StoreResult<bool> {
        let (status, next, delivered) = match outcome {
            AttemptOutcome::Delivered => (DeliveryStatus::Delivered, a.at, Some(a.at.0)),
            AttemptOutcome::RetryAt(t) => (DeliveryStatus::Pending, t, None),
            AttemptOutcome::GaveUp => (DeliveryStatus::Failed, a.at, None),
        };
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let done = sqlx::query(
            "UPDATE webhook_outbox SET status = $1, next_attempt_at = $2, delivered_at = $3, \
             last_status = $4, last_error = $5, claim = NULL, lease_until = NULL \
             WHERE id = $6 AND claim = $7",
        )
        .bind(status.as_str())
        .bind(next.0)
        .bind(delivered)
        .bind(a.status_code)
        .bind(&a.error)
        .bind(&a.message_id)
        .bind(claim)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO webhook_attempts (message_id, attempt, at, status_code, error, \
             duration_ms) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&a.message_id)
        .bind(a.attempt)
        .bind(a.at.0)
        .bind(a.status_code)
        .bind(&a.error)
        .bind(a.duration_ms)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(true)
    }

    async fn webhook_messages(
        &self,
        before: Option<(i64, i64)>,
        limit: i64,
    ) -> StoreResult<Vec<(WebhookMessage, (i64, i64))>> {
        let (before_at, before_seq) = before.unwrap_or((i64::MAX, i64::MAX));
        let rows = sqlx::query_as::<_, MessageRow>(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM webhook_outbox \
             WHERE created_at < $1 OR (created_at = $1 AND seq < $2) \
             ORDER BY created_at DESC, seq DESC LIMIT $3"
        ))
        .bind(before_at)
        .bind(before_seq)
        .bind(limit.clamp(1, 500))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.into_iter().map(MessageRow::with_cursor).collect()
    }

    async fn webhook_message(&self, id: &str) -> StoreResult<Option<WebhookMessage>> {
        sqlx::query_as::<_, MessageRow>(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM webhook_outbox WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .map(WebhookMessage::try_from)
        .transpose()
    }

    async fn webhook_attempts(&self, message_ids: &[String]) -> StoreResult<Vec<WebhookAttempt>> {
        if message_ids.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (1..=message_ids.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT message_id, attempt, at, status_code, error, duration_ms \
             FROM webhook_attempts WHERE message_id IN ({}) ORDER BY message_id, attempt",
            marks.join(", ")
        );
        let mut q = sqlx::query_as::<_, AttemptRow>(&sql);
        for id in message_ids {
            q = q.bind(id);
        }
        let rows = q.fetch_all(&self.pool).await.map_err(backend)?;
        Ok(rows.into_iter().map(WebhookAttempt::from).collect())
    }

    async fn resend_webhook_message(
        &self,
        id: &str,
        now: Timestamp,
        give_up_at: Timestamp,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE webhook_outbox SET status = 'pending', next_attempt_at = $1, \
             give_up_at = $2, delivered_at = NULL WHERE id = $3",
        )
        .bind(now.0)
        .bind(give_up_at.0)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_old_webhook_messages(&self, cutoff: Timestamp) -> StoreResult<u64> {
        // In batches (sweep.rs); a message's attempts go with it (ON DELETE CASCADE).
        self.delete_batched(
            "webhook_outbox",
            "id",
            "status <> 'pending' AND created_at <= $1",
            cutoff.0,
        )
        .await
    }
}
