//! The audit log.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use ward_core::model::{AuditEvent, AuditQuery};
use ward_core::store::{AuditStore, StoreResult};

use crate::codec::{get, time};
use crate::{backend, SqlStore};

fn event(row: &AnyRow) -> StoreResult<(AuditEvent, (i64, i64))> {
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

#[async_trait]
impl AuditStore for SqlStore {
    async fn insert_audit_event(&self, e: &AuditEvent) -> StoreResult<()> {
        let seq = self.next_seq();
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
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn audit_events(&self, q: &AuditQuery) -> StoreResult<Vec<(AuditEvent, (i64, i64))>> {
        // Optional filters are written as `($n IS NULL OR column = $n)` so that one statement
        // serves every combination; the cursor compares (at, seq) lexicographically.
        let (before_at, before_seq) = q.before.unwrap_or((i64::MAX, i64::MAX));
        let rows = sqlx::query(
            "SELECT id, seq, at, event_type, outcome, actor_user_id, actor_ip, target, detail \
             FROM audit_events \
             WHERE ($1 = '' OR actor_user_id = $1 OR target = $1) \
               AND ($2 = '' OR event_type = $2) \
               AND (at < $3 OR (at = $3 AND seq < $4)) \
             ORDER BY at DESC, seq DESC LIMIT $5",
        )
        .bind(q.user_id.clone().unwrap_or_default())
        .bind(q.event_type.clone().unwrap_or_default())
        .bind(before_at)
        .bind(before_seq)
        .bind(q.limit.clamp(1, 500))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(event).collect()
    }
}
