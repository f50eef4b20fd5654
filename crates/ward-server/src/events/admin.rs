//! The admins' view of webhook delivery: messages newest first with their attempts, and "send
//! again". Shared by `GET /api/admin/webhooks/deliveries` and the `/admin/webhooks` page.

use serde_json::json;
use ward_core::audit::Outcome;
use ward_core::events::{WebhookAttempt, WebhookMessage};

use crate::audit::{self, Audit};
use crate::auth::Caller;
use crate::authz;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// One message and its attempts (oldest first).
#[derive(Debug, Clone)]
pub struct Delivery {
    pub message: WebhookMessage,
    pub attempts: Vec<WebhookAttempt>,
}

/// A page of deliveries, newest first, and the cursor of the next page.
#[derive(Debug, Clone)]
pub struct DeliveryPage {
    pub deliveries: Vec<Delivery>,
    pub next: Option<String>,
}

/// Parses a `next` cursor (`created_at.seq`).
fn cursor(text: &str) -> Option<(i64, i64)> {
    let (a, b) = text.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Lists deliveries (admins only).
///
/// # Errors
/// 403 for non-admins, 400 for a bad cursor or limit.
pub async fn list(
    state: &AppState,
    caller: &Caller,
    before: Option<&str>,
    limit: i64,
) -> ApiResult<DeliveryPage> {
    authz::require_admin(state, caller, false)?;
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 500"));
    }
    let before = match before {
        Some(c) => {
            Some(cursor(c).ok_or_else(|| ApiError::bad_request("malformed cursor in before"))?)
        }
        None => None,
    };
    let rows = state.store.webhook_messages(before, limit).await?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|(_, (a, s))| format!("{a}.{s}")))
        .flatten();
    let ids: Vec<String> = rows.iter().map(|(m, _)| m.id.clone()).collect();
    let mut attempts = state.store.webhook_attempts(&ids).await?;
    let deliveries = rows
        .into_iter()
        .map(|(message, _)| {
            let mine: Vec<WebhookAttempt> = attempts
                .iter()
                .filter(|a| a.message_id == message.id)
                .cloned()
                .collect();
            attempts.retain(|a| a.message_id != message.id);
            Delivery {
                message,
                attempts: mine,
            }
        })
        .collect();
    Ok(DeliveryPage { deliveries, next })
}

/// "Send again": the message is due now, with the same `webhook-id` and body, and retried for
/// another `events.retry_for` (admins only, audited as `webhook.resent`).
///
/// # Errors
/// 403 for non-admins, 404 for no such message.
pub async fn resend(
    state: &AppState,
    caller: &Caller,
    ip: Option<&str>,
    id: &str,
) -> ApiResult<WebhookMessage> {
    authz::require_admin(state, caller, true)?;
    let now = state.clock.now();
    let until = now.plus_secs(state.config.events.retry_for);
    if !state.store.resend_webhook_message(id, now, until).await? {
        return Err(ApiError::not_found("no such webhook delivery"));
    }
    state.events.outbox_written();
    let message = state
        .store
        .webhook_message(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such webhook delivery"))?;
    audit::record(
        state,
        Audit::new("webhook.resent", Outcome::Ok)
            .actor(caller.user.id.as_str())
            .ip(ip)
            .target(id)
            .detail(json!({"webhook": message.webhook, "event_id": message.event_id})),
    )
    .await;
    Ok(message)
}
