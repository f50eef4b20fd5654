//! `/api/auth/*`: validate (also nginx `auth_request`), refresh, logout, guest.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use ward_proto::{RefreshRequest, RefreshResponse, ValidateResponse};

use crate::audit::{self, Audit};
use crate::authz;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ClientIp, UserAgent};
use crate::guest::{start_guest, GuestChannel, GuestStart};
use crate::oauth::token;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct ValidateParams {
    /// Also require this permission (`resource:action`): 403 with the denial message otherwise.
    /// Lets an nginx `auth_request` location state what it protects.
    pub permission: Option<String>,
    /// With `resource`: the connection is to a resource of this kind, which may be locked
    /// behind MFA; a ticket (`X-Ward-Ticket`) or code (`X-Ward-MFA-Code`) then admits it once.
    pub lock_kind: Option<String>,
    pub resource: Option<String>,
}

/// `GET /api/auth/validate`: 200 with the identity as JSON and as `X-Ward-*` headers.
pub async fn validate(
    State(state): State<AppState>,
    caller: Caller,
    request_headers: HeaderMap,
    Query(params): Query<ValidateParams>,
) -> ApiResult<Response> {
    // nginx `auth_request`: the matching route's permission and the request's origin.
    crate::proxy::forward_auth::check(&state, &request_headers, &caller).await?;
    match (params.lock_kind.as_deref(), params.resource.as_deref()) {
        (Some(kind), Some(id)) => {
            let header = |name: &str| request_headers.get(name).and_then(|v| v.to_str().ok());
            crate::api::security::admit(
                &state,
                &caller,
                kind,
                id,
                header("x-ward-ticket"),
                header("x-ward-mfa-code"),
            )
            .await?;
        }
        (None, None) => {}
        _ => return Err(ApiError::bad_request("lock_kind and resource go together")),
    }
    if let Some(p) = params.permission.as_deref() {
        let permission = authz::parse_permission(&state, p)?;
        if let Err(denied) = authz::require(&state, &caller, &permission) {
            audit::record(
                &state,
                Audit::new("policy.denied", "denied")
                    .actor(&caller.user.id)
                    .detail(serde_json::json!({"permission": p, "credential": caller.credential.as_str()})),
            )
            .await;
            return Err(denied);
        }
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
    Ok((headers, Json(body)).into_response())
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
pub async fn logout(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
) -> ApiResult<StatusCode> {
    let session = caller
        .session
        .ok_or_else(|| ApiError::bad_request("this credential has no session to log out of"))?;
    state
        .store
        .revoke_session(&session.id, state.clock.now())
        .await?;
    audit::record(
        &state,
        Audit::new("session.revoked", "ok")
            .actor(&caller.user.id)
            .ip(ip.as_deref())
            .target(&session.id)
            .detail(serde_json::json!({"via": "logout"})),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/auth/guest`: starts a guest session (SPEC §2.5) and answers like the token
/// endpoint: an access token and a refresh token, refreshable at `/api/auth/refresh` until the
/// session's hard limit (`sessions.guest_ttl`), never beyond it.
pub async fn guest(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    UserAgent(user_agent): UserAgent,
) -> ApiResult<Response> {
    let (_, start) = start_guest(&state, GuestChannel::Api, ip, user_agent).await?;
    match start {
        GuestStart::Api { response } => {
            Ok((StatusCode::OK, token::refresh_headers(), Json(response)).into_response())
        }
        GuestStart::Web { .. } => Err(ApiError::internal("guest API start gave a web session")),
    }
}
