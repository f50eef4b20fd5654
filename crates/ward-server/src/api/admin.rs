//! The admin API: `GET/POST /api/admin/users`, `PATCH /api/admin/users/{id}`,
//! `GET /api/admin/audit`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use ward_core::model::AuditQuery;
use ward_core::store::UserCursor;
use ward_core::UserId;
use ward_proto::ErrorBody;
pub use ward_proto::{AuditEvent, AuditPage, CreateUser, PatchUser, UserInfo, UserList};

use crate::ops::users::{create_user_record, patch_user_record, user_info};

use crate::auth::Caller;
use crate::authz;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ClientIp};
use crate::state::AppState;
use crate::time::rfc3339;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserListParams {
    /// Users per page, 1 to 1000 (default 100).
    pub limit: Option<i64>,
    /// The `next` of the previous page.
    pub after: Option<String>,
    /// Only the user with this email (at most one).
    pub email: Option<String>,
}

/// Users per page of `GET /api/admin/users` when `limit` is absent.
const USERS_PAGE: i64 = 100;

/// `GET /api/admin/users`: users in creation order, a page at a time (admins only).
#[utoipa::path(
    get,
    path = "/api/admin/users",
    operation_id = "admin_list_users",
    tag = "admin",
    security(("bearer" = []), ("session_cookie" = [])),
    params(UserListParams),
    responses(
        (status = 200, description = "A page of users", body = UserList),
        (status = 400, description = "Malformed cursor or limit", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    )
)]
pub async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<UserListParams>,
) -> ApiResult<Json<UserList>> {
    authz::require_admin(&state, &caller, false)?;
    if let Some(email) = params.email.as_deref() {
        let found = state
            .store
            .user_by_email(&ward_core::model::normalize_email(email))
            .await?;
        return Ok(Json(UserList {
            users: found.iter().map(user_info).collect(),
            next: None,
        }));
    }
    let limit = params.limit.unwrap_or(USERS_PAGE);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 1000"));
    }
    let after = match params.after.as_deref() {
        Some(c) => Some(
            UserCursor::parse(c)
                .ok_or_else(|| ApiError::bad_request("malformed cursor in after"))?,
        ),
        None => None,
    };
    let users = state.store.users_page(after.as_ref(), limit).await?;
    let next = (users.len() as i64 == limit)
        .then(|| users.last().map(|u| UserCursor::after(u).encode()))
        .flatten();
    let users: Vec<UserInfo> = users.iter().map(user_info).collect();
    Ok(Json(UserList { users, next }))
}

/// `POST /api/admin/users`: creates a user (admins only).
#[utoipa::path(
    post,
    path = "/api/admin/users",
    operation_id = "admin_create_user",
    tag = "admin",
    security(("bearer" = []), ("session_cookie" = [])),
    request_body = CreateUser,
    responses(
        (status = 201, description = "Created", body = UserInfo),
        (status = 400, description = "Not an email, a guest domain, an unknown role or a refused password", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 409, description = "A user with this email exists", body = ErrorBody),
    )
)]
pub async fn create_user(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    ApiJson(req): ApiJson<CreateUser>,
) -> ApiResult<Response> {
    let user = create_user_record(&state, &caller, ip.as_deref(), req).await?;
    Ok((StatusCode::CREATED, Json(user_info(&user))).into_response())
}

/// `PATCH /api/admin/users/{id}`: changes a user's role and/or disabled flag (admins only).
/// Disabling a user revokes their sessions.
#[utoipa::path(
    patch,
    path = "/api/admin/users/{id}",
    operation_id = "admin_patch_user",
    tag = "admin",
    security(("bearer" = []), ("session_cookie" = [])),
    params(("id" = String, Path, description = "User id")),
    request_body = PatchUser,
    responses(
        (status = 200, description = "The user after the change", body = UserInfo),
        (status = 400, description = "Nothing to change, or an unknown role", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "An admin disabling or demoting themselves", body = ErrorBody),
    )
)]
pub async fn patch_user(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    Path(id): Path<UserId>,
    ApiJson(req): ApiJson<PatchUser>,
) -> ApiResult<Json<UserInfo>> {
    let after = patch_user_record(&state, &caller, ip.as_deref(), &id, req).await?;
    Ok(Json(user_info(&after)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// A user id or an email: events this user did.
    pub user: Option<String>,
    /// An event type, e.g. `session.revoked`.
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    /// 1 to 500; 50 when absent.
    pub limit: Option<i64>,
    /// The `next` cursor of the previous page.
    pub before: Option<String>,
}

/// `GET /api/admin/audit`: the audit log, newest first, a page at a time (admins only).
#[utoipa::path(
    get,
    path = "/api/admin/audit",
    operation_id = "admin_audit_log",
    tag = "admin",
    security(("bearer" = []), ("session_cookie" = [])),
    params(AuditParams),
    responses(
        (status = 200, description = "A page of events", body = AuditPage),
        (status = 400, description = "Malformed cursor or limit", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    )
)]
pub async fn audit_log(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<AuditParams>,
) -> ApiResult<Json<AuditPage>> {
    authz::require_admin(&state, &caller, false)?;
    let before = match params.before.as_deref() {
        Some(c) => Some(
            c.split_once('.')
                .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
                .ok_or_else(|| ApiError::bad_request("malformed cursor in before"))?,
        ),
        None => None,
    };
    let limit = params.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 500"));
    }
    // `user` is an id or an email.
    let user_id = match params.user.as_deref().map(str::trim) {
        Some(u) if u.contains('@') => Some(
            crate::api::sessions::resolve_user(&state, u)
                .await?
                .into_string(),
        ),
        Some("") | None => None,
        Some(u) => Some(u.to_string()),
    };
    let rows = state
        .store
        .audit_events(&AuditQuery {
            user_id,
            event_type: params.event_type,
            before,
            limit,
        })
        .await?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|(_, (at, seq))| format!("{at}.{seq}")))
        .flatten();
    let events: Vec<AuditEvent> = rows
        .iter()
        .map(|(e, _)| AuditEvent {
            id: e.id.clone(),
            time: rfc3339(e.at),
            event_type: e.event_type.clone(),
            outcome: e.outcome.clone(),
            actor: e.actor_user_id.clone(),
            ip: e.actor_ip.clone(),
            target: e.target.clone(),
            detail: serde_json::from_str::<serde_json::Value>(&e.detail).unwrap_or_default(),
        })
        .collect();
    Ok(Json(AuditPage { events, next }))
}
