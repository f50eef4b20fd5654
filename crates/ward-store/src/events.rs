//! Events (SPEC §2.18): the webhook outbox and its attempts, and the audit log read in order.
//!
//! The claim is the one statement that differs between the backends: on PostgreSQL the rows
//! are picked with `FOR UPDATE SKIP LOCKED`, so that replicas claiming at once each take
//! different rows without waiting on each other; SQLite has no row locks (and needs none: one
//! writer at a time makes the `UPDATE … RETURNING` atomic).

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::AnyConnection;
use ward_core::clock::Timestamp;
use ward_core::events::{AttemptOutcome, DeliveryStatus, WebhookAttempt, WebhookMessage};
use ward_core::model::AuditEvent;
use ward_core::store::{EventStore, StoreResult};
use ward_core::StoreError;

use crate::codec::{get, opt_time, time};
use crate::{backend, SqlStore};

const MESSAGE_COLUMNS: &str = "id, seq, webhook, event_id, event_type, payload, created_at, \
    status, attempts, next_attempt_at, give_up_at, last_status, last_error, delivered_at";

fn message(row: &AnyRow) -> StoreResult<(WebhookMessage, (i64, i64))> {
    let status: String = get(row, "status")?;
    let m = WebhookMessage {
        id: get(row, "id")?,
        webhook: get(row, "webhook")?,
        event_id: get(row, "event_id")?,
        event_type: get(row, "event_type")?,
        payload: get(row, "payload")?,
        created_at: time(row, "created_at")?,
        status: DeliveryStatus::parse(&status).ok_or_else(|| {
            StoreError::Backend(format!("unknown delivery status {status:?}").into())
        })?,
        attempts: get(row, "attempts")?,
        next_attempt_at: time(row, "next_attempt_at")?,
        give_up_at: time(row, "give_up_at")?,
        last_status: get(row, "last_status")?,
        last_error: get(row, "last_error")?,
        delivered_at: opt_time(row, "delivered_at")?,
    };
    let cursor = (m.created_at.0, get(row, "seq")?);
    Ok((m, cursor))
}

fn audit_row(row: &AnyRow) -> StoreResult<(AuditEvent, (i64, i64))> {
    let e = AuditEvent {
        id: get(row, "id")?,
        at: time(row, "at")?,
        event_type: get(row, "event_type")?,
        outcome: get(row, "outcome")?,
        actor_user_id: get(row, "actor_user_id")?,
        actor_ip: get(row, "actor_ip")?,
        target: get(row, "target")?,
        detail: get(row, "detail")?,
    };
    let cursor = (e.at.0, get(row, "seq")?);
    Ok((e, cursor))
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
        let row = sqlx::query("SELECT at, seq FROM audit_events WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        match row {
            Some(r) => Ok(Some((get(&r, "at")?, get(&r, "seq")?))),
            None => Ok(None),
        }
    }

    async fn audit_events_after(
        &self,
        after: (i64, i64),
        limit: i64,
    ) -> StoreResult<Vec<(AuditEvent, (i64, i64))>> {
        let rows = sqlx::query(
            "SELECT id, seq, at, event_type, outcome, actor_user_id, actor_ip, target, detail \
             FROM audit_events WHERE at > $1 OR (at = $1 AND seq > $2) \
             ORDER BY at, seq LIMIT $3",
        )
        .bind(after.0)
        .bind(after.1)
        .bind(limit.clamp(1, 1000))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(audit_row).collect()
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
        let rows = sqlx::query(&sql)
            .bind(claim)
            .bind(lease_until.0)
            .bind(now.0)
            .bind(limit.clamp(1, 100))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(|r| message(r).map(|(m, _)| m)).collect()
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
        let rows = sqlx::query(&format!(
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
        rows.iter().map(message).collect()
    }

    async fn webhook_message(&self, id: &str) -> StoreResult<Option<WebhookMessage>> {
        let row = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM webhook_outbox WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.as_ref().map(|r| message(r).map(|(m, _)| m)).transpose()
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
        let mut q = sqlx::query(&sql);
        for id in message_ids {
            q = q.bind(id);
        }
        let rows = q.fetch_all(&self.pool).await.map_err(backend)?;
        rows.iter()
            .map(|r| {
                Ok(WebhookAttempt {
                    message_id: get(r, "message_id")?,
                    attempt: get(r, "attempt")?,
                    at: time(r, "at")?,
                    status_code: get(r, "status_code")?,
                    error: get(r, "error")?,
                    duration_ms: get(r, "duration_ms")?,
                })
            })
            .collect()
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
