//! The audit log.

use async_trait::async_trait;
use ward_core::model::{AuditEvent, AuditQuery};
use ward_core::store::{AuditStore, StoreResult};

use crate::codec::Time;
use crate::{backend, SqlStore};

/// The columns of an [`AuditRow`].
pub(crate) const COLUMNS: &str =
    "id, seq, at, event_type, outcome, actor_user_id, actor_ip, target, detail";

/// A row of [`COLUMNS`].
#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    id: String,
    seq: i64,
    at: Time,
    event_type: String,
    outcome: String,
    actor_user_id: Option<String>,
    actor_ip: Option<String>,
    target: Option<String>,
    detail: String,
}

impl AuditRow {
    /// The event, and its place in the log: `(at, seq)`.
    pub(crate) fn with_cursor(self) -> (AuditEvent, (i64, i64)) {
        let cursor = (self.at.0 .0, self.seq);
        let e = AuditEvent {
            id: self.id,
            at: self.at.0,
            event_type: self.event_type,
            outcome: self.outcome,
            actor_user_id: self.actor_user_id,
            actor_ip: self.actor_ip,
            target: self.target,
            detail: self.detail,
        };
        (e, cursor)
    }
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
        // Only the filters given are written into the statement (rather than `($1 = '' OR …)`
        // for every one), so that the planner can use the index that serves them: audit_events_at
        // when unfiltered, the actor, target and type indexes (migration 0020) otherwise. The
        // cursor compares (at, seq) lexicographically, as a range on `at` the index can seek.
        let (before_at, before_seq) = q.before.unwrap_or((i64::MAX, i64::MAX));
        let user_id = q.user_id.as_deref().filter(|u| !u.is_empty());
        let event_type = q.event_type.as_deref().filter(|t| !t.is_empty());
        let mut filters = String::new();
        if user_id.is_some() {
            filters.push_str(" AND (actor_user_id = $4 OR target = $4)");
        }
        if event_type.is_some() {
            filters.push_str(if user_id.is_some() {
                " AND event_type = $5"
            } else {
                " AND event_type = $4"
            });
        }
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_events WHERE at <= $1 AND (at < $1 OR seq < $2){filters} \
             ORDER BY at DESC, seq DESC LIMIT $3"
        );
        let mut query = sqlx::query_as::<_, AuditRow>(&sql)
            .bind(before_at)
            .bind(before_seq)
            .bind(q.limit.clamp(1, 500));
        if let Some(u) = user_id {
            query = query.bind(u);
        }
        if let Some(t) = event_type {
            query = query.bind(t);
        }
        let rows = query.fetch_all(&self.pool).await.map_err(backend)?;
        Ok(rows.into_iter().map(AuditRow::with_cursor).collect())
    }
}
