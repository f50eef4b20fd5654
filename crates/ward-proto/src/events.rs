//! The body of an event (SPEC §2.18), the same for webhooks and the `GET /api/admin/events`
//! stream: the Standard Webhooks payload structure.

use serde::{Deserialize, Serialize};

/// `{"type", "timestamp", "data"}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventPayload {
    /// The audit event type, e.g. `session.revoked`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// When it happened, RFC 3339, UTC.
    pub timestamp: String,
    pub data: EventData,
}

/// What happened: the audit event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventData {
    /// The audit event's id (the stream's `id:` line).
    pub id: String,
    /// `ok`, `failed`, `denied`…
    pub outcome: String,
    /// The acting user's (or service account's) id.
    pub actor: Option<String>,
    pub ip: Option<String>,
    pub target: Option<String>,
    /// Event-specific details (an object).
    pub detail: serde_json::Value,
}
