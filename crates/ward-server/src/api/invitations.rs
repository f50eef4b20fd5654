//! Sign-up by invitation and by approval (SPEC §2.14): `POST`/`GET /api/admin/invitations`,
//! `POST /api/admin/users/{id}/approve`, `POST /api/admin/users/{id}/deny`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use ward_core::UserId;
use ward_proto::{ErrorBody, Invitation, InvitationList, InvitationRequest};

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ClientIp};
use crate::state::AppState;
use crate::time::rfc3339;

/// Invites an address: a single-use link (7 days) where the invitee chooses a password for an
/// account with this email and role. Mailed to the invitee when `[smtp]` is set; replaces an
/// unused invitation for the same address.
#[utoipa::path(
    post,
    path = "/api/admin/invitations",
    operation_id = "admin_create_invitation",
    tag = "admin",
    security(("bearer" = []), ("session_cookie" = [])),
    request_body = InvitationRequest,
    responses(
        (status = 201, description = "The invitation, its link shown once", body = Invitation),
        (status = 400, description = "Not an email address, the guests' domain, a domain routed to an identity provider, or an unknown role", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 409, description = "The address has an account", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    ApiJson(req): ApiJson<InvitationRequest>,
) -> ApiResult<(StatusCode, Json<Invitation>)> {
    let made = crate::ops::invitations::invite(
        &state,
        &caller,
        ip.as_deref(),
        &req.email,
        req.role.as_deref(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(Invitation {
            url: Some(made.url),
            email: made.email,
            role: made.role,
            expires_at: rfc3339(made.expires_at),
            mailed: made.mailed,
        }),
    ))
}

/// The invitations neither used nor expired (without their links).
#[utoipa::path(
    get,
    path = "/api/admin/invitations",
    operation_id = "admin_list_invitations",
    tag = "admin",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "Open invitations, newest first", body = InvitationList),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<InvitationList>> {
    let links = crate::ops::invitations::open(&state, &caller).await?;
    Ok(Json(InvitationList {
        invitations: links
            .into_iter()
            .map(|l| Invitation {
                url: None,
                email: l.email.unwrap_or_default(),
                role: l.role.unwrap_or_default(),
                expires_at: rfc3339(l.expires_at),
                mailed: false,
            })
            .collect(),
    }))
}

/// Approves a sign-up waiting for approval (`signup = "approval"`): it can sign in from now
/// on; the person is mailed when `[smtp]` is set.
#[utoipa::path(
    post,
    path = "/api/admin/users/{id}/approve",
    operation_id = "admin_approve_user",
    tag = "admin",
    security(("bearer" = []), ("session_cookie" = [])),
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 204, description = "Approved"),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "The account is not waiting for approval", body = ErrorBody),
    )
)]
pub async fn approve(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    Path(id): Path<UserId>,
) -> ApiResult<StatusCode> {
    crate::ops::approval::approve(&state, &caller, ip.as_deref(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Denies a sign-up waiting for approval: the request is deleted (its audit events stay); the
/// person is mailed when `[smtp]` is set.
#[utoipa::path(
    post,
    path = "/api/admin/users/{id}/deny",
    operation_id = "admin_deny_user",
    tag = "admin",
    security(("bearer" = []), ("session_cookie" = [])),
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 204, description = "Denied and removed"),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "The account is not waiting for approval", body = ErrorBody),
    )
)]
pub async fn deny(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    Path(id): Path<UserId>,
) -> ApiResult<StatusCode> {
    crate::ops::approval::deny(&state, &caller, ip.as_deref(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
