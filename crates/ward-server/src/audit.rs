//! Writing the audit log: every event goes to the database (for `GET /api/admin/audit`), with
//! the webhook outbox messages it causes, to the live event stream, and to the structured log
//! (`target: ward::audit`). Details never hold a secret.

use serde_json::Value;
use ward_core::audit::Outcome;
use ward_core::model::AuditEvent;
use ward_core::random::random_id;

use crate::state::AppState;

/// What happened; `target` is the id the event is about.
pub struct Audit<'a> {
    pub event_type: &'a str,
    pub outcome: Outcome,
    pub actor_user_id: Option<&'a str>,
    pub actor_ip: Option<&'a str>,
    pub target: Option<&'a str>,
    pub detail: Value,
}

impl<'a> Audit<'a> {
    pub fn new(event_type: &'a str, outcome: Outcome) -> Self {
        Audit {
            event_type,
            outcome,
            actor_user_id: None,
            actor_ip: None,
            target: None,
            detail: Value::Object(Default::default()),
        }
    }
    pub fn actor(mut self, user_id: &'a str) -> Self {
        self.actor_user_id = Some(user_id);
        self
    }
    pub fn ip(mut self, ip: Option<&'a str>) -> Self {
        self.actor_ip = ip;
        self
    }
    pub fn target(mut self, target: &'a str) -> Self {
        self.target = Some(target);
        self
    }
    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }
}

/// Records an event. A failure to write is logged, not returned: the action it describes has
/// already happened and must not be reported as failed.
pub async fn record(state: &AppState, audit: Audit<'_>) {
    let event = logged_event(state, audit);
    store(state, &event).await;
}

/// Records an event from code that cannot wait (synchronous checks such as
/// [`authz::require`](crate::authz::require)): the time and id are taken now, the row is written
/// by a task. Without a runtime (unit tests), the event is only logged.
pub fn record_soon(state: &AppState, audit: Audit<'_>) {
    let event = logged_event(state, audit);
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let state = state.clone();
        runtime.spawn(async move { store(&state, &event).await });
    }
}

fn logged_event(state: &AppState, audit: Audit<'_>) -> AuditEvent {
    let event = AuditEvent {
        id: random_id(state.random.as_ref()),
        at: state.clock.now(),
        event_type: audit.event_type.to_string(),
        outcome: audit.outcome.to_string(),
        actor_user_id: audit.actor_user_id.map(str::to_string),
        actor_ip: audit.actor_ip.map(str::to_string),
        target: audit.target.map(str::to_string),
        detail: audit.detail.to_string(),
    };
    tracing::info!(
        target: "ward::audit",
        event = %event.event_type,
        outcome = %event.outcome,
        actor = event.actor_user_id.as_deref().unwrap_or(""),
        ip = event.actor_ip.as_deref().unwrap_or(""),
        target_id = event.target.as_deref().unwrap_or(""),
        detail = %event.detail,
        "audit"
    );
    event
}

/// Writes the event with its webhook outbox messages (SPEC §2.18) in one transaction, then
/// publishes it to this process's event stream and rings the delivery worker.
async fn store(state: &AppState, event: &AuditEvent) {
    let outbox = crate::events::outbox::messages_for(state, event);
    match state
        .store
        .insert_audit_event_with_outbox(event, &outbox)
        .await
    {
        Ok(seq) => {
            if !outbox.is_empty() {
                state.events.outbox_written();
            }
            state.events.publish(crate::events::hub::StreamEvent::of(
                event,
                (event.at.0, seq),
            ));
        }
        Err(e) => {
            tracing::error!(error = %e, event = %event.event_type, "cannot write the audit event")
        }
    }
}
