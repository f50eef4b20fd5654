//! The JSON body of an event, the same for webhooks and the stream, and the outbox messages
//! an audit event becomes.
//!
//! The body follows the Standard Webhooks payload structure:
//! `{"type", "timestamp", "data": {"id", "outcome", "actor", "ip", "target", "detail"}}`, where
//! `data.id` is the audit event's id (the stream's `id:` line) and `timestamp` is when it
//! happened (RFC 3339).

use serde_json::json;
use ward_core::events::{wants, DeliveryStatus, WebhookMessage};
use ward_core::model::AuditEvent;
use ward_core::random::random_id;
use ward_proto::{EventData, EventPayload};

use crate::state::AppState;
use crate::time::rfc3339;

/// The JSON body of `event`.
pub fn payload(event: &AuditEvent) -> String {
    let detail =
        serde_json::from_str::<serde_json::Value>(&event.detail).unwrap_or_else(|_| json!({}));
    let body = EventPayload {
        event_type: event.event_type.clone(),
        timestamp: rfc3339(event.at),
        data: EventData {
            id: event.id.clone(),
            outcome: event.outcome.clone(),
            actor: event.actor_user_id.clone(),
            ip: event.actor_ip.clone(),
            target: event.target.clone(),
            detail,
        },
    };
    serde_json::to_string(&body).unwrap_or_default()
}

/// One message per webhook that wants `event`, due at once. Their ids (`msg_…`) are the
/// `webhook-id` of every attempt.
pub fn messages_for(state: &AppState, event: &AuditEvent) -> Vec<WebhookMessage> {
    let cfg = &state.config.events;
    let wanted: Vec<_> = cfg
        .webhooks
        .iter()
        .filter(|w| wants(&w.events, &event.event_type))
        .collect();
    if wanted.is_empty() {
        return Vec::new();
    }
    let body = payload(event);
    wanted
        .into_iter()
        .map(|w| WebhookMessage {
            id: format!("msg_{}", random_id(state.random.as_ref())),
            webhook: w.url.to_string(),
            event_id: event.id.clone(),
            event_type: event.event_type.clone(),
            payload: body.clone(),
            created_at: event.at,
            status: DeliveryStatus::Pending,
            attempts: 0,
            next_attempt_at: event.at,
            give_up_at: event.at.plus_secs(cfg.retry_for),
            last_status: None,
            last_error: None,
            delivered_at: None,
        })
        .collect()
}
