//! The admin's account actions (SPEC §2.14): `POST /api/admin/users/{id}/recovery`,
//! `POST /api/admin/users/{id}/mfa/reset`, `DELETE /api/admin/users/{id}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use ward_core::UserId;
use ward_proto::{ErrorBody, RecoveryLink};

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::ClientIp;
use crate::state::AppState;
use crate::time::rfc3339;

/// A single-use recovery link (24 h) for the user: it sets a new password, removes their
/// second factors and sessions, and has them enrol MFA again. Needs no mail server; replaces
/// the user's earlier unused link.
#[utoipa::path(
    post,
    path = "/api/admin/users/{id}/recovery",
    operation_id = "admin_user_recovery_link",
    tag = "admin",
    security(("bearer" = []), ("session_cookie" = [])),
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 201, description = "The link, shown once", body = RecoveryLink),
        (status = 400, description = "A guest, or an account that signs in through an identity provider", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    )
)]
pub async fn recovery_link(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    Path(id): Path<UserId>,
) -> ApiResult<(StatusCode, Json<RecoveryLink>)> {
    let made = crate::ops::users::recovery_link(&state, &caller, ip.as_deref(), &id).await?;
    Ok((
        StatusCode::CREATED,
        Json(RecoveryLink {
            url: made.url,
            expires_at: rfc3339(made.expires_at),
        }),
    ))
}

/// Removes every second factor of the user (TOTP, backup codes, security keys) and revokes
/// their sessions.
#[utoipa::path(
    post,
    path = "/api/admin/users/{id}/mfa/reset",
    operation_id = "admin_user_mfa_reset",
    tag = "admin",
    security(("bearer" = []), ("session_cookie" = [])),
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 204, description = "Factors removed, sessions revoked"),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    )
)]
pub async fn reset_mfa(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    Path(id): Path<UserId>,
) -> ApiResult<StatusCode> {
    crate::ops::users::reset_mfa(&state, &caller, ip.as_deref(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes the user with their sessions, API tokens and factors; audit events stay, naming
/// the user by id.
#[utoipa::path(
    delete,
    path = "/api/admin/users/{id}",
    operation_id = "admin_delete_user",
    tag = "admin",
    security(("bearer" = []), ("session_cookie" = [])),
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "An admin deleting themselves", body = ErrorBody),
    )
)]
pub async fn delete_user(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    Path(id): Path<UserId>,
) -> ApiResult<StatusCode> {
    crate::ops::users::delete_user(&state, &caller, ip.as_deref(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
