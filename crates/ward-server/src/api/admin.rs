//! The admin API: `GET/POST /api/admin/users`, `PATCH /api/admin/users/{id}`,
//! `GET /api/admin/audit`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use ward_core::model::{AuditQuery, User};
use ward_core::store::UserCursor;
use ward_proto::ErrorBody;

use crate::audit::{self, Audit};
use crate::auth::Caller;
use crate::authz;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ClientIp};
use crate::state::AppState;
use crate::time::rfc3339;

/// A user. `created_at` is RFC 3339, UTC.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserInfo {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: String,
    pub disabled: bool,
    pub created_at: String,
}

impl From<&User> for UserInfo {
    fn from(u: &User) -> Self {
        UserInfo {
            id: u.id.clone(),
            email: u.email.clone(),
            name: u.name.clone(),
            role: u.role.clone(),
            disabled: u.disabled,
            created_at: rfc3339(u.created_at),
        }
    }
}

/// `GET /api/admin/users`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserList {
    pub users: Vec<UserInfo>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

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
            users: found.iter().map(UserInfo::from).collect(),
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
    let users: Vec<UserInfo> = users.iter().map(UserInfo::from).collect();
    Ok(Json(UserList { users, next }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub email: String,
    /// Without one, the user signs in through an identity provider only.
    #[serde(default)]
    pub password: Option<String>,
    /// A configured role; the default role when absent.
    #[serde(default)]
    pub role: Option<String>,
    /// The display name; the email's local part when absent.
    #[serde(default)]
    pub name: Option<String>,
}

fn known_role(state: &AppState, role: &str) -> ApiResult<()> {
    if state.config.roles.contains(role) {
        Ok(())
    } else {
        let roles: Vec<&str> = state.config.roles.names().collect();
        Err(ApiError::bad_request(format!(
            "unknown role {role:?}: expected one of {}",
            roles.join(", ")
        )))
    }
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
    Ok((StatusCode::CREATED, Json(UserInfo::from(&user))).into_response())
}

/// Creates a user (the API and the admin page).
pub async fn create_user_record(
    state: &AppState,
    caller: &Caller,
    ip: Option<&str>,
    req: CreateUser,
) -> ApiResult<User> {
    authz::require_admin(state, caller, true)?;
    let role = req
        .role
        .unwrap_or_else(|| state.config.default_role.clone());
    known_role(state, &role)?;
    let user = crate::accounts::create_local_user(
        state,
        crate::accounts::NewLocalUser {
            email: req.email,
            name: req.name,
            password: req.password,
            role,
            email_verified: true,
        },
    )
    .await?;
    audit::record(
        state,
        Audit::new("user.created", "ok")
            .actor(&caller.user.id)
            .ip(ip)
            .target(&user.id)
            .detail(json!({"email": user.email, "role": user.role})),
    )
    .await;
    Ok(user)
}

/// At least one of these.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchUser {
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub disabled: Option<bool>,
    /// Break-glass: lets this account sign in with its password or passkey although its email
    /// domain is routed to an identity provider (SPEC §2.13).
    #[serde(default)]
    pub local_login: Option<bool>,
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
    Path(id): Path<String>,
    ApiJson(req): ApiJson<PatchUser>,
) -> ApiResult<Json<UserInfo>> {
    let after = patch_user_record(&state, &caller, ip.as_deref(), &id, req).await?;
    Ok(Json(UserInfo::from(&after)))
}

/// Changes a user's role and/or disabled flag (the API and the admin page).
pub async fn patch_user_record(
    state: &AppState,
    caller: &Caller,
    ip: Option<&str>,
    id: &str,
    req: PatchUser,
) -> ApiResult<User> {
    authz::require_admin(state, caller, true)?;
    if req.role.is_none() && req.disabled.is_none() && req.local_login.is_none() {
        return Err(ApiError::bad_request(
            "nothing to change: send role, disabled and/or local_login",
        ));
    }
    let before = state
        .store
        .user_by_id(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such user"))?;
    if id == caller.user.id
        && (req.disabled == Some(true)
            || req
                .role
                .as_deref()
                .is_some_and(|r| !authz::is_admin_role(state, r)))
    {
        return Err(ApiError::conflict(
            "you cannot disable or demote yourself; ask another admin",
        ));
    }
    let now = state.clock.now();
    if let Some(role) = &req.role {
        known_role(state, role)?;
        if *role != before.role {
            state.store.set_user_role(id, role).await?;
            audit::record(
                state,
                Audit::new("role.changed", "ok")
                    .actor(&caller.user.id)
                    .ip(ip)
                    .target(id)
                    .detail(json!({"from": before.role, "to": role})),
            )
            .await;
        }
    }
    if let Some(disabled) = req.disabled {
        if disabled != before.disabled {
            state.store.set_user_disabled(id, disabled, now).await?;
            let event = if disabled {
                "user.disabled"
            } else {
                "user.enabled"
            };
            audit::record(
                state,
                Audit::new(event, "ok")
                    .actor(&caller.user.id)
                    .ip(ip)
                    .target(id),
            )
            .await;
        }
    }
    if let Some(local_login) = req.local_login {
        crate::accounts::set_local_login(state, caller, ip, id, local_login).await?;
    }
    let after = state
        .store
        .user_by_id(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such user"))?;
    Ok(after)
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

/// One audit event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub id: String,
    /// RFC 3339, UTC.
    pub time: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// `ok`, `failed`, `denied`…
    pub outcome: String,
    /// The acting user's id.
    pub actor: Option<String>,
    pub ip: Option<String>,
    pub target: Option<String>,
    /// Event-specific details.
    pub detail: serde_json::Value,
}

/// `GET /api/admin/audit`: newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    /// Pass as `before` for the next page; null on the last page.
    pub next: Option<String>,
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
        Some(u) if u.contains('@') => Some(crate::api::sessions::resolve_user(&state, u).await?),
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
