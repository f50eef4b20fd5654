//! Step-up from anywhere (SPEC §2.17): tickets, grace windows
//! per lock kind, and approval of a verification on another device (request → approve page →
//! poll). One approval gives one ticket: the hand-out is one conditional update
//! (`StepUpStore::issue_verify_ticket`).

use axum::http::StatusCode;
use serde_json::json;
use ward_core::audit::Outcome;
use ward_core::model::LockTicket;
use ward_core::random::random_string;
use ward_core::stepup::{
    self, approval_refusal, decide_poll, PollDecision, VerifyRequest, VerifyRequestStatus,
};
use ward_core::token::{new_opaque_secret, token_hash};
use ward_core::{OAuthErrorCode, Timestamp};

use crate::audit::{self, Audit};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::ops::locks::{self, Proof};
use crate::state::AppState;

/// After a verification at `at`, lets `holder` open `kind/id` without a new proof for the
/// kind's grace window (`[mfa.lock_grace]`); nothing when the kind has none.
pub async fn begin_grace(
    state: &AppState,
    holder: &str,
    kind: &str,
    id: &str,
    at: Timestamp,
) -> ApiResult<()> {
    let grace = state.config.mfa.grace(kind);
    if grace > 0 {
        state
            .store
            .grant_lock_grace(holder, kind, id, at.plus_secs(grace))
            .await?;
    }
    Ok(())
}

/// Whether `holder` is inside a grace window for `kind/id` now.
pub async fn in_grace(state: &AppState, holder: &str, kind: &str, id: &str) -> ApiResult<bool> {
    if state.config.mfa.grace(kind) == 0 {
        // Also ends windows granted before the configuration dropped the kind's grace.
        return Ok(false);
    }
    Ok(state
        .store
        .lock_grace(holder, kind, id)
        .await?
        .is_some_and(|until| stepup::grace_admits(until, state.clock.now())))
}

/// A new ticket for `holder` on `kind/id`, and the row to store (its hash).
pub fn new_ticket(state: &AppState, holder: &str, kind: &str, id: &str) -> (String, LockTicket) {
    let now = state.clock.now();
    let ticket = new_opaque_secret(state.random.as_ref());
    let row = LockTicket {
        ticket_hash: token_hash(&ticket),
        session_id: holder.to_string(),
        kind: kind.to_string(),
        resource_id: id.to_string(),
        created_at: now,
        expires_at: now.plus_secs(state.config.mfa.ticket_ttl),
    };
    (ticket, row)
}

const REQUEST_ID_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// Starts an approval request for `caller` (whose `holder` the ticket will be bound to) on
/// `kind/id`. The owner needs a second factor to approve it anywhere.
pub async fn request(
    state: &AppState,
    caller: &Caller,
    holder: &str,
    kind: &str,
    id: &str,
    ip: Option<&str>,
    user_agent: Option<&str>,
) -> ApiResult<VerifyRequest> {
    if !crate::mfa::is_enabled(state, &caller.user.id).await? {
        return Err(ApiError::bad_request(
            "multi-factor authentication is not enabled: set up an authenticator app or a security key first",
        ));
    }
    let now = state.clock.now();
    let request = VerifyRequest {
        id: format!(
            "vr_{}",
            random_string(state.random.as_ref(), REQUEST_ID_ALPHABET, 26)
        ),
        user_id: caller.user.id.to_string(),
        holder: holder.to_string(),
        kind: kind.to_string(),
        resource_id: id.to_string(),
        device_name: caller
            .session
            .as_ref()
            .and_then(|s| s.device_name.clone())
            .or_else(|| {
                caller
                    .api_token
                    .as_ref()
                    .map(|t| format!("API token {}", t.name))
            }),
        ip: ip.map(str::to_string),
        user_agent: user_agent.map(|u| u.chars().take(256).collect()),
        status: VerifyRequestStatus::Pending,
        created_at: now,
        expires_at: now.plus_secs(stepup::REQUEST_LIFETIME_SECS),
        interval: stepup::DEFAULT_INTERVAL_SECS,
        last_polled_at: None,
        decided_at: None,
    };
    state.store.insert_verify_request(&request).await?;
    Ok(request)
}

/// The requester's poll: `authorization_pending` / `slow_down` while waiting, then the ticket,
/// once. Returns the ticket and its lifetime in seconds.
pub async fn poll(
    state: &AppState,
    holder: &str,
    request_id: &str,
    ip: Option<&str>,
) -> ApiResult<(String, i64)> {
    let Some(request) = state.store.verify_request(request_id).await? else {
        return Err(ApiError::not_found(
            "unknown approval request id: start again with POST /api/security/{kind}/{id}/verify/request",
        ));
    };
    if request.holder != holder {
        return Err(ApiError::forbidden(
            "this approval request was made by another session or token; poll with the credential that made it",
        ));
    }
    let now = state.clock.now();
    match decide_poll(&request, now) {
        PollDecision::Refuse(e) => {
            match e.code {
                OAuthErrorCode::SlowDown => {
                    let grown = request.interval + ward_core::device::SLOW_DOWN_STEP_SECS;
                    state
                        .store
                        .record_verify_poll(&request.id, now, grown)
                        .await?;
                }
                OAuthErrorCode::AuthorizationPending => {
                    state
                        .store
                        .record_verify_poll(&request.id, now, request.interval)
                        .await?;
                }
                _ => {}
            }
            Err(e.into())
        }
        PollDecision::Issue => {
            let (ticket, row) = new_ticket(state, holder, &request.kind, &request.resource_id);
            if !state
                .store
                .issue_verify_ticket(&request.id, holder, &row, now)
                .await?
            {
                // Another poll took it a moment ago (or it expired in between).
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    OAuthErrorCode::InvalidGrant.as_str(),
                    "the ticket for this approval was already issued; one approval gives one ticket",
                ));
            }
            let target = format!("{}/{}", request.kind, request.resource_id);
            begin_grace(
                state,
                holder,
                &request.kind,
                &request.resource_id,
                request.decided_at.unwrap_or(now),
            )
            .await?;
            audit::record(
                state,
                Audit::new("lock.ticket", Outcome::Ok)
                    .actor(&request.user_id)
                    .ip(ip)
                    .target(&target)
                    .detail(json!({"request_id": request.id, "via": "approval"})),
            )
            .await;
            Ok((ticket, state.config.mfa.ticket_ttl))
        }
    }
}

/// The request `id` as its owner may see it on the approve page; 404 when unknown, 403 when it
/// is another account's.
pub async fn for_owner(state: &AppState, user_id: &str, id: &str) -> ApiResult<VerifyRequest> {
    let request = state
        .store
        .verify_request(id)
        .await?
        .ok_or_else(|| ApiError::not_found("unknown approval request: the link may be incomplete, or the request expired and was cleared"))?;
    if request.user_id != user_id {
        return Err(ApiError::forbidden(
            "this request was made by another account: sign in as the account that asked for it",
        ));
    }
    Ok(request)
}

/// What a passkey ceremony for approving request `id` is bound to.
pub fn approval_bound(id: &str) -> String {
    format!("approve:{id}")
}

/// Starts a passkey check for approving request `id`, as its signed-in owner.
pub async fn start_approval_passkey(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> ApiResult<crate::ops::passkey::Started> {
    let request = for_owner(state, caller.user.id.as_str(), id).await?;
    if let Some(why) = approval_refusal(&request, caller.user.id.as_str(), state.clock.now()) {
        return Err(ApiError::new(StatusCode::CONFLICT, "conflict", why));
    }
    crate::ops::passkey::start_for_user(
        state,
        &caller.user.id,
        locks::CEREMONY_KIND,
        &approval_bound(&request.id),
    )
    .await
}

/// Approves (with a second factor) or denies `id` as its signed-in owner.
pub async fn decide(
    state: &AppState,
    caller: &Caller,
    id: &str,
    approve: Option<&Proof>,
    ip: Option<&str>,
) -> ApiResult<VerifyRequest> {
    let request = for_owner(state, caller.user.id.as_str(), id).await?;
    let now = state.clock.now();
    if let Some(why) = approval_refusal(&request, caller.user.id.as_str(), now) {
        return Err(ApiError::new(StatusCode::CONFLICT, "conflict", why));
    }
    let target = format!("{}/{}", request.kind, request.resource_id);
    let approved = approve.is_some();
    if let Some(proof) = approve {
        let bound = approval_bound(&request.id);
        locks::prove(state, &caller.user.id, ip, proof, &bound, &target).await?;
    }
    if !state
        .store
        .decide_verify_request(&request.id, caller.user.id.as_str(), approved, now)
        .await?
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "this request was decided or expired a moment ago",
        ));
    }
    audit::record(
        state,
        Audit::new(
            if approved {
                "lock.approved"
            } else {
                "lock.denied"
            },
            Outcome::Ok,
        )
        .actor(caller.user.id.as_str())
        .ip(ip)
        .target(&target)
        .detail(json!({
            "request_id": request.id,
            "requested_from": request.ip,
            "device": request.device_name,
        })),
    )
    .await;
    Ok(request)
}
