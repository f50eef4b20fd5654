//! `/api/auth/*`: refresh, logout, guest, terminal sign-in, re-authentication. (`validate`, which
//! is also forward-auth, lives in `proxy::forward_auth`.)

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ward_core::audit::Outcome;
use ward_proto::{
    ErrorBody, RefreshRequest, RefreshResponse, TerminalSignInRequest, TerminalSignInResponse,
    TokenResponse,
};

use crate::audit::{self, Audit};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ClientIp, UserAgent};
use crate::guest::{start_guest, GuestChannel, GuestStart};
use crate::state::AppState;
pub use ward_proto::{ReauthRequest, Reauthenticated};

/// Answers that carry credentials are not cached (RFC 6749 §5.1).
fn no_store() -> [(axum::http::header::HeaderName, &'static str); 1] {
    [(axum::http::header::CACHE_CONTROL, "no-store")]
}

/// `POST /api/auth/refresh`: a new access token and a rotated refresh token for a public
/// client's (or a guest's) session.
#[utoipa::path(
    post,
    path = "/api/auth/refresh",
    operation_id = "auth_refresh",
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens; the old refresh token is used up", body = RefreshResponse),
        (status = 400, description = "Unknown, reused or expired refresh token (`invalid_grant`), or a malformed body", body = ErrorBody),
        (status = 401, description = "The token belongs to a confidential client: use /oauth/token", body = ErrorBody),
    )
)]
pub async fn refresh(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> ApiResult<Response> {
    let proof =
        crate::dpop::token_request_proof(&state, &headers, "/api/auth/refresh", false).await?;
    let tokens =
        crate::ops::refresh::refresh(&state, None, &req.refresh_token, proof.as_ref(), None)
            .await?;
    let refresh_token = tokens
        .refresh_token
        .ok_or_else(|| ApiError::internal("refresh without a new refresh token"))?;
    Ok((
        no_store(),
        Json(RefreshResponse {
            access_token: tokens.access_token,
            expires_in: tokens.expires_in,
            refresh_token,
        }),
    )
        .into_response())
}

/// `POST /api/auth/tool-token`: a short-lived bearer for the tools of a DPoP-bound `ward-cli`
/// session (decision 153): git, kubectl and docker credential helpers and `ward env`, which
/// send the token as it is. The request itself must be `Authorization: DPoP` with a proof.
#[utoipa::path(
    post,
    path = "/api/auth/tool-token",
    operation_id = "auth_tool_token",
    tag = "auth",
    security(("bearer" = [])),
    params(("DPoP" = String, Header, description = "A DPoP proof (RFC 9449) of this request, by the session's key")),
    responses(
        (status = 200, description = "An unbound access token living at most 5 minutes (`Cache-Control: no-store`)", body = TokenResponse),
        (status = 401, description = "No valid credential, or a missing or invalid DPoP proof", body = ErrorBody),
        (status = 403, description = "The credential is not a DPoP-bound ward-cli session", body = ErrorBody),
    )
)]
pub async fn tool_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    caller: Caller,
) -> ApiResult<Response> {
    let response = crate::ops::tool_token::issue(&state, &caller, &headers, ip).await?;
    Ok((no_store(), Json(response)).into_response())
}

/// `POST /api/auth/terminal-sign-in`: `ward login --auth-flow password` (decision 164). The
/// password (and code) typed in the terminal approve the terminal's own pending device code; the
/// CLI then polls `/oauth/token` as in the device flow. Off unless `terminal_sign_in = true`.
#[utoipa::path(
    post,
    path = "/api/auth/terminal-sign-in",
    operation_id = "auth_terminal_sign_in",
    tag = "auth",
    request_body = TerminalSignInRequest,
    responses(
        (status = 200, description = "The device code is approved", body = TerminalSignInResponse),
        (status = 400, description = "`invalid_user_code` (unknown, expired, used, or from another address) or `invalid_code` (a wrong second factor, with `RateLimit-Remaining`)", body = ErrorBody),
        (status = 401, description = "`invalid_credentials` (with `RateLimit-Remaining`) or `mfa_required`: send the code too", body = ErrorBody),
        (status = 403, description = "`terminal_sign_in_off`, `routed_to_idp`, `pending_approval`, `password_change_required` or `mfa_enrolment_required`", body = ErrorBody),
        (status = 429, description = "Too many attempts", body = ErrorBody),
    )
)]
pub async fn terminal_sign_in(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<TerminalSignInRequest>,
) -> ApiResult<Response> {
    let typed = crate::ops::terminal_sign_in::TerminalCredentials {
        user_code: req.user_code,
        email: req.email,
        password: req.password,
        code: req.code,
    };
    let approved = crate::ops::terminal_sign_in::approve(&state, typed, ip.as_deref()).await?;
    Ok((
        no_store(),
        Json(TerminalSignInResponse {
            email: approved.email,
            amr: approved.amr,
        }),
    )
        .into_response())
}

/// `POST /api/auth/logout`: revokes the caller's session.
#[utoipa::path(
    post,
    path = "/api/auth/logout",
    operation_id = "auth_logout",
    tag = "auth",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 204, description = "The session is revoked"),
        (status = 400, description = "The credential has no session (an API token)", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
    )
)]
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
        Audit::new("session.revoked", Outcome::Ok)
            .actor(caller.user.id.as_str())
            .ip(ip.as_deref())
            .target(session.id.as_str())
            .detail(serde_json::json!({"via": "logout"})),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/auth/guest`: starts a guest session (SPEC §2.5) and answers like the token
/// endpoint: an access token and a refresh token, refreshable at `/api/auth/refresh` until the
/// session's hard limit (`sessions.guest_ttl`), never beyond it.
#[utoipa::path(
    post,
    path = "/api/auth/guest",
    operation_id = "auth_guest",
    tag = "auth",
    responses(
        (status = 200, description = "A guest session's tokens", body = TokenResponse),
        (status = 403, description = "Guest mode is off", body = ErrorBody),
        (status = 429, description = "Too many guest sessions from this address", body = ErrorBody),
    )
)]
pub async fn guest(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    UserAgent(user_agent): UserAgent,
) -> ApiResult<Response> {
    let (_, start) = start_guest(&state, GuestChannel::Api, ip, user_agent).await?;
    match start {
        GuestStart::Api { response } => {
            Ok((StatusCode::OK, no_store(), Json(response)).into_response())
        }
        GuestStart::Web { .. } => Err(ApiError::internal("guest API start gave a web session")),
    }
}

/// `POST /api/auth/reauth`: re-authenticates the caller's session, so account-security
/// operations (security keys, TOTP, API tokens, other sessions) accept it again for
/// `security.reauth_window` (SPEC §2.11).
#[utoipa::path(
    post,
    path = "/api/auth/reauth",
    operation_id = "auth_reauth",
    tag = "auth",
    security(("bearer" = []), ("session_cookie" = [])),
    request_body = ReauthRequest,
    responses(
        (status = 200, description = "Verified", body = Reauthenticated),
        (status = 400, description = "A wrong code or password, or the wrong kind of proof for the account", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "Not a first-party session (an API token, a third-party client's token)", body = ErrorBody),
        (status = 429, description = "Too many attempts", body = ErrorBody),
    )
)]
pub async fn reauth(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    ApiJson(req): ApiJson<ReauthRequest>,
) -> ApiResult<Json<Reauthenticated>> {
    use crate::ops::reauth::{reauthenticate, Proof};
    let proof = match (req.code, req.password) {
        (Some(code), None) => Proof::Code(code),
        (None, Some(password)) => Proof::Password(password),
        _ => {
            return Err(ApiError::bad_request(
                "send exactly one of code and password",
            ))
        }
    };
    let at = reauthenticate(&state, &caller, ip.as_deref(), proof).await?;
    Ok(Json(Reauthenticated {
        verified_at: crate::time::rfc3339(at),
        valid_until: crate::time::rfc3339(at.plus_secs(state.config.security.reauth_window)),
    }))
}
