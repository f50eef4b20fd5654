//! `/api/auth/*`: validate (also nginx `auth_request`), refresh, logout.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ward_proto::{RefreshRequest, RefreshResponse, ValidateResponse};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::oauth::token;
use crate::state::AppState;

/// `GET /api/auth/validate`: 200 with the identity as JSON and as `X-Ward-*` headers. With
/// `X-Forwarded-Method`/`X-Forwarded-Uri` (nginx `auth_request`) it also checks the matching
/// route's permission and the request's origin (403).
pub async fn validate(
    State(state): State<AppState>,
    request_headers: HeaderMap,
    caller: Caller,
) -> Response {
    if let Err(e) = crate::proxy::forward_auth::check(&state, &request_headers, &caller).await {
        return e.into_response();
    }
    let body = ValidateResponse {
        user_id: caller.user.id.clone(),
        email: caller.user.email.clone(),
        roles: vec![caller.user.role.clone()],
        session_id: caller.session.as_ref().map(|s| s.id.clone()),
        scope: caller.scope.clone(),
    };
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    };
    set("x-ward-user-id", &body.user_id);
    set("x-ward-email", &body.email);
    set("x-ward-roles", &body.roles.join(","));
    if let Some(sid) = &body.session_id {
        set("x-ward-session-id", sid);
    }
    (headers, Json(body)).into_response()
}

/// `POST /api/auth/refresh`.
pub async fn refresh(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> ApiResult<Response> {
    let tokens = token::refresh(&state, None, &req.refresh_token).await?;
    let refresh_token = tokens
        .refresh_token
        .ok_or_else(|| ApiError::internal("refresh without a new refresh token"))?;
    Ok((
        token::refresh_headers(),
        Json(RefreshResponse {
            access_token: tokens.access_token,
            expires_in: tokens.expires_in,
            refresh_token,
        }),
    )
        .into_response())
}

/// `POST /api/auth/logout`: revokes the caller's session.
pub async fn logout(State(state): State<AppState>, caller: Caller) -> ApiResult<StatusCode> {
    let session = caller
        .session
        .ok_or_else(|| ApiError::bad_request("this credential has no session to log out of"))?;
    state
        .store
        .revoke_session(&session.id, state.clock.now())
        .await?;
    tracing::info!(target: "ward::auth", event = "session.revoked", session_id = %session.id, via = "logout", "session revoked");
    Ok(StatusCode::NO_CONTENT)
}
