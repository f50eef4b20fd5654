//! `POST /api/account/password` and `POST /api/account/email`: the caller changes their
//! password or address (SPEC §2.14).

use axum::extract::State;
use axum::Json;
use ward_proto::{
    ChangeEmailRequest, ChangeEmailResponse, ChangePasswordRequest, ChangePasswordResponse,
    ErrorBody,
};

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ClientIp};
use crate::state::AppState;

/// Changes the caller's password; every other session of theirs is signed out.
#[utoipa::path(
    post,
    path = "/api/account/password",
    operation_id = "account_change_password",
    tag = "profile",
    security(("bearer" = []), ("session_cookie" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 200, description = "Changed; other sessions revoked", body = ChangePasswordResponse),
        (status = 400, description = "Wrong current password (`invalid_password`), or a new one that is too short (`password_too_short`), too long (`password_too_long`), guessable (`password_too_weak`) or the same (`password_reused`)", body = ErrorBody),
        (status = 401, description = "No valid credential, or `reauth_required` (an account with MFA whose second factor is not recent)", body = ErrorBody),
        (status = 403, description = "Not a first-party session (an API token or a third-party app)", body = ErrorBody),
        (status = 429, description = "Too many wrong passwords", body = ErrorBody),
    )
)]
pub async fn change_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    ApiJson(req): ApiJson<ChangePasswordRequest>,
) -> ApiResult<Json<ChangePasswordResponse>> {
    let revoked = crate::ops::password::change(
        &state,
        &caller,
        ip.as_deref(),
        req.current_password,
        req.new_password,
    )
    .await?;
    Ok(Json(ChangePasswordResponse {
        sessions_revoked: u64::try_from(revoked).unwrap_or(u64::MAX),
    }))
}

/// Changes the caller's email: the new address is unverified (`email_verified` false in ID
/// tokens and userinfo) until the link mailed to it is followed; the old address is told.
#[utoipa::path(
    post,
    path = "/api/account/email",
    operation_id = "account_change_email",
    tag = "profile",
    security(("bearer" = []), ("session_cookie" = [])),
    request_body = ChangeEmailRequest,
    responses(
        (status = 200, description = "Changed, unverified until the mailed link is followed", body = ChangeEmailResponse),
        (status = 400, description = "Wrong current password (`invalid_password`), not an email address, the current address, a look-alike, or a domain routed to an identity provider", body = ErrorBody),
        (status = 401, description = "No valid credential, or `reauth_required` (an account with MFA whose second factor is not recent)", body = ErrorBody),
        (status = 403, description = "A guest, an account whose address comes from an identity provider, or not a first-party session", body = ErrorBody),
        (status = 409, description = "Another account has the address", body = ErrorBody),
        (status = 429, description = "Too many wrong passwords", body = ErrorBody),
    )
)]
pub async fn change_email(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    ApiJson(req): ApiJson<ChangeEmailRequest>,
) -> ApiResult<Json<ChangeEmailResponse>> {
    let done = crate::ops::email::change(
        &state,
        &caller,
        ip.as_deref(),
        &req.email,
        req.current_password,
    )
    .await?;
    Ok(Json(ChangeEmailResponse {
        email: done.user.email,
        email_verified: done.user.email_verified,
        verification_sent: done.verification_sent,
    }))
}
