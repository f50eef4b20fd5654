//! Who is calling: a bearer access token (JWT), an API token, or the pages' session cookie.
//! Every path ends in the same checks: the session is live (not revoked, expired or idle) and
//! the user exists and is enabled, so a revocation takes effect on the very next request.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use axum_extra::extract::cookie::CookieJar;
use ward_core::model::{ApiToken, Session, User};
use ward_core::token::{api_token_checksum_ok, token_hash};

use crate::error::ApiError;
use crate::jwt::{self, JwtError};
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "ward_session";
pub const MFA_POLICY_MESSAGE: &str =
    "multi-factor authentication is required for your role: sign in again";
/// Activity is written back at most this often per session.
const TOUCH_EVERY_SECS: i64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    AccessToken,
    ApiToken,
    SessionCookie,
}

impl Credential {
    pub fn as_str(self) -> &'static str {
        match self {
            Credential::AccessToken => "access_token",
            Credential::ApiToken => "api_token",
            Credential::SessionCookie => "session_cookie",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    pub session: Option<Session>,
    pub client_id: String,
    pub scope: String,
    pub credential: Credential,
    /// The API token used, when `credential` is [`Credential::ApiToken`].
    pub api_token: Option<ApiToken>,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let value = value
                .to_str()
                .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
            let token = value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
                .ok_or_else(|| ApiError::unauthorized("expected Authorization: Bearer <token>"))?;
            return authenticate_bearer(state, token.trim()).await;
        }
        let jar = CookieJar::from_headers(&parts.headers);
        if let Some((session, user)) = web_session(state, &jar).await? {
            return Ok(Caller {
                client_id: session.client_id.clone(),
                scope: session.scope.clone(),
                user,
                session: Some(session),
                credential: Credential::SessionCookie,
                api_token: None,
            });
        }
        Err(ApiError::unauthorized("authentication required"))
    }
}

/// Validates any bearer token ward understands.
pub async fn authenticate_bearer(state: &AppState, token: &str) -> Result<Caller, ApiError> {
    if is_api_token_candidate(state, token) {
        return authenticate_api_token(state, token).await;
    }
    let now = state.clock.now();
    let keys = state.keys().await;
    let claims =
        jwt::verify_access_token(&keys, token, &state.issuer, now).map_err(|e| match e {
            JwtError::Expired => ApiError::unauthorized("access token expired"),
            _ => ApiError::unauthorized("invalid access token"),
        })?;
    let session = match &claims.sid {
        Some(sid) => {
            let session = state
                .store
                .session_by_id(sid)
                .await?
                .ok_or_else(|| ApiError::unauthorized("session not found"))?;
            live_session(state, session).await?
        }
        None => None,
    };
    let user = match state.store.user_by_id(&claims.sub).await? {
        Some(u) if !u.disabled => u,
        // client_credentials tokens have the client as subject and no user.
        _ => return Err(ApiError::unauthorized("no such user, or user disabled")),
    };
    if let Some(s) = &session {
        if !crate::mfa::policy_allows(state, &user, s) {
            return Err(ApiError::unauthorized(MFA_POLICY_MESSAGE));
        }
    }
    Ok(Caller {
        user,
        session,
        client_id: claims.client_id,
        scope: claims.scope,
        credential: Credential::AccessToken,
        api_token: None,
    })
}

/// `<prefix>_…` and not a refresh token (`<prefix>_rt_…`).
fn is_api_token_candidate(state: &AppState, token: &str) -> bool {
    let prefix = &state.config.token_prefix;
    token
        .strip_prefix(prefix.as_str())
        .is_some_and(|rest| rest.starts_with('_') && !rest.starts_with("_rt_"))
}

/// API tokens: the checksum is checked first, so a mistyped or made-up token is refused without
/// a database lookup; then the stored hash, revocation, expiry and the owner's status.
pub async fn authenticate_api_token(state: &AppState, token: &str) -> Result<Caller, ApiError> {
    if !api_token_checksum_ok(token, &state.config.token_prefix) {
        return Err(ApiError::unauthorized("malformed API token (bad checksum)"));
    }
    let now = state.clock.now();
    let record = state
        .store
        .api_token_by_hash(&token_hash(token))
        .await?
        .ok_or_else(|| ApiError::unauthorized("unknown API token"))?;
    if let Some(reason) = record.unusable_reason(now) {
        return Err(ApiError::unauthorized(reason));
    }
    let user = match state.store.user_by_id(&record.user_id).await? {
        Some(u) if !u.disabled => u,
        _ => return Err(ApiError::unauthorized("the token's owner is disabled")),
    };
    if record
        .last_used_at
        .is_none_or(|t| now.0 - t.0 >= TOUCH_EVERY_SECS)
    {
        state.store.touch_api_token(&record.id, now).await?;
    }
    Ok(Caller {
        user,
        session: None,
        client_id: "api-token".into(),
        scope: record.scopes.join(" "),
        credential: Credential::ApiToken,
        api_token: Some(record),
    })
}

/// `Some(session)` when usable at this moment, recording activity now and then.
async fn live_session(state: &AppState, session: Session) -> Result<Option<Session>, ApiError> {
    let now = state.clock.now();
    if let Some(reason) = session.unusable_reason(now) {
        return Err(ApiError::unauthorized(reason));
    }
    if now.0 - session.last_seen_at.0 >= TOUCH_EVERY_SECS {
        state.store.touch_session(&session.id, now).await?;
    }
    Ok(Some(session))
}

/// The browser's ward session, when its cookie names a live one.
pub async fn web_session(
    state: &AppState,
    jar: &CookieJar,
) -> Result<Option<(Session, User)>, ApiError> {
    let Some(cookie) = jar.get(SESSION_COOKIE) else {
        return Ok(None);
    };
    let Some(session) = state
        .store
        .session_by_cookie_hash(&token_hash(cookie.value()))
        .await?
    else {
        return Ok(None);
    };
    if !session.is_usable(state.clock.now()) {
        return Ok(None);
    }
    let Some(session) = live_session(state, session).await? else {
        return Ok(None);
    };
    match state.store.user_by_id(&session.user_id).await? {
        Some(user) if !user.disabled && crate::mfa::policy_allows(state, &user, &session) => {
            Ok(Some((session, user)))
        }
        _ => Ok(None),
    }
}
