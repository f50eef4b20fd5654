//! CSRF protection for the pages' forms (SPEC §2.12). A random pre-session cookie
//! (`__Host-ward_csrf` when `public_url` is https, `ward_csrf` otherwise; HttpOnly,
//! SameSite=Lax) is set with the first page. Every form carries `csrf_token`, an HMAC (key
//! derived from the master key) of the browser's session cookie when it has one, or else of that
//! pre-session cookie. A POST is accepted only when the token matches what this browser's cookies
//! give now (constant time).
//!
//! Binding the token to the session is what stops a sibling subdomain that can set cookies for
//! the parent domain: it may plant a pre-session cookie and a token of its own, but it cannot
//! know the victim's session cookie, so it cannot make a token that a signed-in victim's forms
//! (device approval, consent, account changes) accept. The `__Host-` prefix stops the planting
//! itself where browsers allow it (https, no `Domain`, `Path=/`).

use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use ward_core::token::{constant_time_eq, new_opaque_secret};

use crate::auth::SESSION_COOKIE;
use crate::error::ApiError;
use crate::state::AppState;

/// The pre-session cookie's name over plain http.
pub const CSRF_COOKIE: &str = "ward_csrf";
/// Its name when `public_url` is https: the `__Host-` prefix makes browsers refuse it from a
/// sibling subdomain or without `Secure` (RFC 6265bis §4.1.3.2).
pub const HOST_CSRF_COOKIE: &str = "__Host-ward_csrf";

/// The pre-session cookie's name on this server.
pub fn cookie_name(state: &AppState) -> &'static str {
    if state.secure_cookies {
        HOST_CSRF_COOKIE
    } else {
        CSRF_COOKIE
    }
}

/// What the token is bound to: the session cookie, or else the pre-session cookie.
fn binding(state: &AppState, jar: &CookieJar) -> Option<String> {
    if let Some(session) = jar.get(SESSION_COOKIE).filter(|c| !c.value().is_empty()) {
        return Some(format!("session:{}", session.value()));
    }
    jar.get(cookie_name(state))
        .filter(|c| c.value().len() >= 32)
        .map(|c| format!("pre-session:{}", c.value()))
}

fn token_for(state: &AppState, binding: &str) -> Result<String, ApiError> {
    let key = state.master_key.derive("ward csrf token v1");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(ApiError::internal)?;
    mac.update(binding.as_bytes());
    Ok(URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

/// The CSRF token for the page being rendered, setting the pre-session cookie when the browser
/// has none.
pub fn token(state: &AppState, jar: CookieJar) -> (CookieJar, String) {
    let name = cookie_name(state);
    let jar = if jar.get(name).is_some_and(|c| c.value().len() >= 32) {
        jar
    } else {
        let cookie = Cookie::build((name, new_opaque_secret(state.random.as_ref())))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(state.secure_cookies)
            .build();
        jar.add(cookie)
    };
    let token = binding(state, &jar)
        .and_then(|b| token_for(state, &b).ok())
        .unwrap_or_default();
    (jar, token)
}

/// Checks a submitted form's token against this browser's cookies.
pub fn verify(state: &AppState, jar: &CookieJar, submitted: &str) -> Result<(), ApiError> {
    let expected = binding(state, jar).and_then(|b| token_for(state, &b).ok());
    let ok = expected.is_some_and(|expected| {
        !submitted.is_empty() && constant_time_eq(expected.as_bytes(), submitted.as_bytes())
    });
    if ok {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "invalid or missing CSRF token; reload the page and try again",
        ))
    }
}

/// A form whose `csrf_token` was checked against this browser's cookies: the extractor for
/// every page POST, so no handler can forget the check.
pub struct CsrfForm(pub crate::extract::FormParams);

impl axum::extract::FromRequest<AppState> for CsrfForm {
    type Rejection = ApiError;
    async fn from_request(
        req: axum::extract::Request,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(req.headers());
        let form = crate::extract::FormParams::from_request(req, state).await?;
        verify(state, &jar, form.get("csrf_token").unwrap_or_default())?;
        Ok(CsrfForm(form))
    }
}
