//! The admin API: `GET/POST /api/admin/users`, `PATCH /api/admin/users/{id}`,
//! `GET /api/admin/audit`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use ward_core::model::{is_plausible_email, normalize_email, AuditQuery, User};
use ward_core::random::random_id;
use ward_core::StoreError;

use crate::audit::{self, Audit};
use crate::auth::Caller;
use crate::authz;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ClientIp};
use crate::state::AppState;
use crate::time::rfc3339;

#[derive(Debug, Serialize)]
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

pub async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<serde_json::Value>> {
    authz::require_admin(&state, &caller)?;
    let users = state.store.list_users().await?;
    let users: Vec<UserInfo> = users.iter().map(UserInfo::from).collect();
    Ok(Json(json!({ "users": users })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub email: String,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
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
    authz::require_admin(state, caller)?;
    let email = normalize_email(&req.email);
    if !is_plausible_email(&email) {
        return Err(ApiError::bad_request(format!(
            "{:?} is not an email address",
            req.email
        )));
    }
    if email.ends_with(&format!("@{}", crate::guest::GUEST_EMAIL_DOMAIN)) {
        return Err(ApiError::bad_request(format!(
            "the domain {} is reserved for guests",
            crate::guest::GUEST_EMAIL_DOMAIN
        )));
    }
    let role = req
        .role
        .unwrap_or_else(|| state.config.default_role.clone());
    known_role(state, &role)?;
    let password_hash = match req.password {
        Some(p) => Some(
            state
                .passwords
                .hash(p)
                .await
                .map_err(|e| ApiError::bad_request(e.to_string()))?,
        ),
        None => None,
    };
    let user = User {
        id: random_id(state.random.as_ref()),
        name: req
            .name
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_string()),
        email,
        password_hash,
        role,
        disabled: false,
        created_at: state.clock.now(),
    };
    match state.store.insert_user(&user).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::conflict(format!(
                "a user with email {} exists",
                user.email
            )))
        }
        Err(e) => return Err(e.into()),
    }
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchUser {
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub disabled: Option<bool>,
}

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
    authz::require_admin(state, caller)?;
    if req.role.is_none() && req.disabled.is_none() {
        return Err(ApiError::bad_request(
            "nothing to change: send role and/or disabled",
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
    let after = state
        .store
        .user_by_id(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such user"))?;
    Ok(after)
}

#[derive(Debug, Deserialize)]
pub struct AuditParams {
    pub user: Option<String>,
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    pub limit: Option<i64>,
    /// The `next` cursor of the previous page.
    pub before: Option<String>,
}

pub async fn audit_log(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<AuditParams>,
) -> ApiResult<Json<serde_json::Value>> {
    authz::require_admin(&state, &caller)?;
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
    let events: Vec<serde_json::Value> = rows
        .iter()
        .map(|(e, _)| {
            json!({
                "id": e.id,
                "time": rfc3339(e.at),
                "type": e.event_type,
                "outcome": e.outcome,
                "actor": e.actor_user_id,
                "ip": e.actor_ip,
                "target": e.target,
                "detail": serde_json::from_str::<serde_json::Value>(&e.detail).unwrap_or_default(),
            })
        })
        .collect();
    Ok(Json(json!({ "events": events, "next": next })))
}
