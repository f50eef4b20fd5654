//! `GET /api/admin/webhooks/deliveries` and `POST /api/admin/webhooks/deliveries/{id}/resend`:
//! what the webhook outbox did, and "send again" (SPEC §2.18).

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use ward_core::events::{WebhookAttempt, WebhookMessage};
use ward_proto::ErrorBody;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::events::admin;
use crate::extract::ClientIp;
use crate::state::AppState;
use crate::time::rfc3339;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryParams {
    /// 1 to 500; 50 when absent.
    pub limit: Option<i64>,
    /// The `next` cursor of the previous page.
    pub before: Option<String>,
}

/// One attempt to deliver a message.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AttemptInfo {
    /// 1 for the first attempt.
    pub attempt: i64,
    /// RFC 3339, UTC: the attempt's `webhook-timestamp`.
    pub time: String,
    /// The receiver's HTTP status; null when it did not answer.
    pub status: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// A webhook message: one event for one webhook, with its attempts.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryInfo {
    /// The `webhook-id` of every attempt.
    pub id: String,
    /// The webhook's URL.
    pub webhook: String,
    /// The audit event's id.
    pub event_id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// `pending`, `delivered` or `failed` (given up).
    pub status: String,
    /// Attempts started.
    pub attempts: i64,
    pub created_at: String,
    /// When a pending message is tried next.
    pub next_attempt_at: Option<String>,
    pub delivered_at: Option<String>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    /// The attempts recorded, oldest first.
    pub history: Vec<AttemptInfo>,
}

impl DeliveryInfo {
    fn new(m: &WebhookMessage, attempts: &[WebhookAttempt]) -> DeliveryInfo {
        DeliveryInfo {
            id: m.id.clone(),
            webhook: m.webhook.clone(),
            event_id: m.event_id.clone(),
            event_type: m.event_type.clone(),
            status: m.status.as_str().to_string(),
            attempts: m.attempts,
            created_at: rfc3339(m.created_at),
            next_attempt_at: (m.status == ward_core::events::DeliveryStatus::Pending)
                .then(|| rfc3339(m.next_attempt_at)),
            delivered_at: m.delivered_at.map(rfc3339),
            last_status: m.last_status,
            last_error: m.last_error.clone(),
            history: attempts
                .iter()
                .map(|a| AttemptInfo {
                    attempt: a.attempt,
                    time: rfc3339(a.at),
                    status: a.status_code,
                    error: a.error.clone(),
                    duration_ms: a.duration_ms,
                })
                .collect(),
        }
    }
}

/// `GET /api/admin/webhooks/deliveries`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryList {
    pub deliveries: Vec<DeliveryInfo>,
    /// Pass as `before` for the next page; null on the last page.
    pub next: Option<String>,
}

/// `GET /api/admin/webhooks/deliveries`: webhook messages newest first, each with its attempts
/// (admins only).
#[utoipa::path(
    get,
    path = "/api/admin/webhooks/deliveries",
    operation_id = "admin_webhook_deliveries",
    tag = "admin",
    security(("bearer" = []), ("session_cookie" = [])),
    params(DeliveryParams),
    responses(
        (status = 200, description = "A page of deliveries", body = DeliveryList),
        (status = 400, description = "Malformed cursor or limit", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    )
)]
pub async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<DeliveryParams>,
) -> ApiResult<Json<DeliveryList>> {
    let page = admin::list(
        &state,
        &caller,
        params.before.as_deref(),
        params.limit.unwrap_or(50),
    )
    .await?;
    Ok(Json(DeliveryList {
        deliveries: page
            .deliveries
            .iter()
            .map(|d| DeliveryInfo::new(&d.message, &d.attempts))
            .collect(),
        next: page.next,
    }))
}

/// `POST /api/admin/webhooks/deliveries/{id}/resend`: send a message again now, with the same
/// `webhook-id` and body (admins only).
#[utoipa::path(
    post,
    path = "/api/admin/webhooks/deliveries/{id}/resend",
    operation_id = "admin_webhook_resend",
    tag = "admin",
    security(("bearer" = []), ("session_cookie" = [])),
    params(("id" = String, Path, description = "The message id (webhook-id)")),
    responses(
        (status = 200, description = "Queued; the message as it is now", body = DeliveryInfo),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such delivery", body = ErrorBody),
    )
)]
pub async fn resend(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<DeliveryInfo>> {
    let message = admin::resend(&state, &caller, ip.as_deref(), &id).await?;
    Ok(Json(DeliveryInfo::new(&message, &[])))
}
