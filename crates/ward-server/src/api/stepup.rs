//! Approval from another device (SPEC §2.17): `POST /api/security/{kind}/{id}/verify/request`
//! and `POST /api/security/verify/poll`. The rules live in `ops::stepup`; the approve page is
//! `pages::approve`.

use axum::extract::{Path, State};
use axum::Json;
use ward_proto::ErrorBody;

use super::security::ResourcePath;
use crate::api::security::Ticket;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ClientIp, UserAgent};
use crate::ops::locks::{resource, ticket_holder};
use crate::ops::stepup;
use crate::state::AppState;
pub use ward_proto::{PollBody, VerifyRequestStarted};

/// `POST /api/security/{kind}/{id}/verify/request`: asks for a ticket to be approved on another
/// device.
#[utoipa::path(
    post,
    path = "/api/security/{kind}/{id}/verify/request",
    operation_id = "security_verify_request",
    tag = "security",
    security(("bearer" = []), ("session_cookie" = [])),
    params(ResourcePath),
    responses(
        (status = 200, description = "The request, to be approved at `approve_url`", body = VerifyRequestStarted),
        (status = 400, description = "Malformed id, a credential that cannot hold a ticket, or MFA not enabled", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 404, description = "Unknown resource kind", body = ErrorBody),
    )
)]
pub async fn request(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    UserAgent(ua): UserAgent,
    caller: Caller,
    Path(ResourcePath { kind, id }): Path<ResourcePath>,
) -> ApiResult<Json<VerifyRequestStarted>> {
    resource(&state, &kind, &id)?;
    let holder = ticket_holder(&caller)?;
    let r = stepup::request(
        &state,
        &caller,
        &holder,
        &kind,
        &id,
        ip.as_deref(),
        ua.as_deref(),
    )
    .await?;
    // The id is letters and digits only: nothing to escape.
    let approve_url = format!("{}/approve/{}", state.issuer, r.id);
    Ok(Json(VerifyRequestStarted {
        request_id: r.id,
        approve_url,
        expires_in: r.expires_at.0 - r.created_at.0,
        interval: r.interval,
    }))
}

/// `POST /api/security/verify/poll`: the requester's poll, with the credential that made the
/// request.
#[utoipa::path(
    post,
    path = "/api/security/verify/poll",
    operation_id = "security_verify_poll",
    tag = "security",
    security(("bearer" = []), ("session_cookie" = [])),
    request_body = PollBody,
    responses(
        (status = 200, description = "Approved: the ticket, handed out once", body = Ticket),
        (status = 400, description = "`authorization_pending`, `slow_down`, `access_denied`, `expired_token`, or `invalid_grant` (the ticket was already issued)", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "The request was made by another session or token", body = ErrorBody),
        (status = 404, description = "Unknown request id", body = ErrorBody),
    )
)]
pub async fn poll(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    ApiJson(body): ApiJson<PollBody>,
) -> ApiResult<Json<Ticket>> {
    let holder = ticket_holder(&caller)?;
    let (ticket, expires_in) =
        stepup::poll(&state, &holder, &body.request_id, ip.as_deref()).await?;
    Ok(Json(Ticket { ticket, expires_in }))
}
