//! The browser's side of signing in: the web session started once every factor passed (with
//! its cookie, the new-device notice and the audit event), and the pending second-factor
//! challenge a password sign-in leaves in a cookie. Shared by the sign-in pages and the
//! passkey sign-in API.

use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use ward_core::audit::Outcome;
use ward_core::model::{Channel, MfaChallenge, User};
use ward_core::token::token_hash;

use crate::audit::{self, Audit};
use crate::auth::SESSION_COOKIE;
use crate::error::ApiError;
use crate::issue::{start_web_session, SessionRequest};
use crate::state::AppState;

/// How a sign-in completed.
pub struct SignedIn {
    pub amr: Vec<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub method: &'static str,
}

/// Starts the browser's web session after every factor passed, and audits the sign-in.
pub async fn finish_sign_in(
    state: &AppState,
    jar: CookieJar,
    user: &User,
    how: SignedIn,
) -> Result<CookieJar, ApiError> {
    let request = SessionRequest {
        client_id: "ward-web".into(),
        channel: Channel::Web,
        scope: String::new(),
        device_id: None,
        device_name: None,
        ip: how.ip,
        user_agent: how.user_agent,
        amr: how.amr,
        auth_time: state.clock.now(),
        nonce: None,
    };
    let new_device = is_new_device(state, user, request.user_agent.as_deref()).await?;
    let (session, cookie_value) = start_web_session(state, user, &request).await?;
    if new_device {
        let device = ward_core::agent::describe_agent(session.user_agent.as_deref())
            .unwrap_or_else(|| "an unknown program".into());
        crate::mail::notice(
            state,
            user,
            crate::mail::Notice::NewSignIn {
                device,
                ip: session.ip.clone(),
            },
        )
        .await;
    }
    audit::record(
        state,
        Audit::new("signin", Outcome::Ok)
            .actor(user.id.as_str())
            .ip(session.ip.as_deref())
            .target(session.id.as_str())
            .detail(
                serde_json::json!({"method": how.method, "channel": "web", "amr": session.amr}),
            ),
    )
    .await;
    Ok(jar.add(session_cookie(state, cookie_value)))
}

/// Whether a sign-in with `user_agent` comes from a device this account has not used before:
/// it has earlier sessions, and none with this user agent. (The first sign-in of an account is
/// not news to its owner.)
async fn is_new_device(
    state: &AppState,
    user: &User,
    user_agent: Option<&str>,
) -> Result<bool, ApiError> {
    if !crate::mail::enabled(state) {
        return Ok(false);
    }
    let earlier = state.store.sessions_of_user(&user.id).await?;
    Ok(!earlier.is_empty()
        && !earlier
            .iter()
            .any(|s| s.user_agent.as_deref() == user_agent))
}

/// The web session's cookie.
pub fn session_cookie(state: &AppState, value: String) -> Cookie<'static> {
    Cookie::build((SESSION_COOKIE, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.secure_cookies)
        .build()
}

pub const MFA_COOKIE: &str = "ward_mfa";

pub async fn pending(
    state: &AppState,
    jar: &CookieJar,
) -> Result<Option<(MfaChallenge, User)>, ApiError> {
    let Some(cookie) = jar.get(MFA_COOKIE) else {
        return Ok(None);
    };
    let Some(challenge) = state
        .store
        .mfa_challenge(&token_hash(cookie.value()))
        .await?
    else {
        return Ok(None);
    };
    if state.clock.now() >= challenge.expires_at {
        return Ok(None);
    }
    match state.store.user_by_id(&challenge.user_id).await? {
        Some(user) if !user.disabled => Ok(Some((challenge, user))),
        _ => Ok(None),
    }
}

pub fn clear_challenge(jar: CookieJar) -> CookieJar {
    jar.remove(Cookie::build(MFA_COOKIE).path("/").build())
}
