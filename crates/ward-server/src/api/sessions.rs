//! Sessions: the caller's (`GET /api/sessions`, `DELETE /api/sessions/{id}`) and, for admins,
//! everyone's (`GET /api/admin/sessions?user=`, `DELETE /api/admin/sessions/{id}`).
//!
//! Only live sessions are listed: revoked, expired and idle ones have stopped working and are
//! left to the sweeper. Revoking takes effect on the very next request, because every use of
//! an access token, refresh token or cookie looks its session up (see `auth.rs`).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use ward_core::SessionId;
use ward_proto::ErrorBody;

use crate::auth::Caller;
use crate::authz;
use crate::error::ApiResult;
use crate::extract::ClientIp;
use crate::state::AppState;
pub use ward_proto::{SessionInfo, SessionList};

pub use crate::ops::sessions::resolve_user;
use crate::ops::sessions::{
    admin_sessions, current_id, live_sessions, revoke_session, session_info, Via,
};

/// `GET /api/sessions`: the caller's live sessions.
#[utoipa::path(
    get,
    path = "/api/sessions",
    operation_id = "sessions_list",
    tag = "sessions",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The caller's live sessions", body = SessionList),
        (status = 401, description = "No valid credential", body = ErrorBody),
    )
)]
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<SessionList>> {
    let sessions = live_sessions(&state, Some(&caller.user.id)).await?;
    let sessions: Vec<SessionInfo> = sessions
        .iter()
        .map(|s| session_info(s, current_id(&caller)))
        .collect();
    Ok(Json(SessionList {
        sessions,
        next: None,
    }))
}

/// `DELETE /api/sessions/{id}`: revokes one of the caller's sessions.
#[utoipa::path(
    delete,
    path = "/api/sessions/{id}",
    operation_id = "sessions_revoke",
    tag = "sessions",
    security(("bearer" = []), ("session_cookie" = [])),
    params(("id" = String, Path, description = "Session id")),
    responses(
        (status = 204, description = "Revoked; it stops working on its next use"),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "Not a first-party session (an API token, a third-party client's token)", body = ErrorBody),
        (status = 404, description = "No such live session of the caller's", body = ErrorBody),
    )
)]
pub async fn revoke(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    Path(id): Path<SessionId>,
) -> ApiResult<StatusCode> {
    revoke_session(&state, &caller, ip.as_deref(), &id, Via::User).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdminListParams {
    /// A user id or an email address.
    pub user: Option<String>,
    /// Sessions per page, 1 to 500 (default 500).
    pub limit: Option<i64>,
    /// The `next` of the previous page.
    pub before: Option<String>,
}

/// `GET /api/admin/sessions?user=`: everyone's live sessions (admins only).
#[utoipa::path(
    get,
    path = "/api/admin/sessions",
    operation_id = "admin_list_sessions",
    tag = "admin",
    security(("bearer" = []), ("session_cookie" = [])),
    params(AdminListParams),
    responses(
        (status = 200, description = "A page of live sessions, each with its user's email", body = SessionList),
        (status = 400, description = "Malformed cursor or limit", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    )
)]
pub async fn admin_list(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<AdminListParams>,
) -> ApiResult<Json<SessionList>> {
    authz::require_admin(&state, &caller, false)?;
    let page = admin_sessions(
        &state,
        params.user.as_deref(),
        params.before.as_deref(),
        params.limit,
    )
    .await?;
    let sessions: Vec<SessionInfo> = page
        .sessions
        .into_iter()
        .map(|s| SessionInfo {
            current: current_id(&caller) == Some(s.id.as_str()),
            ..s
        })
        .collect();
    Ok(Json(SessionList {
        sessions,
        next: page.next,
    }))
}

/// `DELETE /api/admin/sessions/{id}`: revokes anyone's session (admins only).
#[utoipa::path(
    delete,
    path = "/api/admin/sessions/{id}",
    operation_id = "admin_revoke_session",
    tag = "admin",
    security(("bearer" = []), ("session_cookie" = [])),
    params(("id" = String, Path, description = "Session id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such live session", body = ErrorBody),
    )
)]
pub async fn admin_revoke(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    Path(id): Path<SessionId>,
) -> ApiResult<StatusCode> {
    authz::require_admin(&state, &caller, true)?;
    revoke_session(&state, &caller, ip.as_deref(), &id, Via::Admin).await?;
    Ok(StatusCode::NO_CONTENT)
}
