//! `POST /api/account/password`: the caller changes their password (SPEC §2.14).

use axum::extract::State;
use axum::Json;
use ward_proto::{ChangePasswordRequest, ChangePasswordResponse, ErrorBody};

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
