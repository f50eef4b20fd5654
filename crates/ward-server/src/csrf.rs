//! CSRF protection for the pages' forms: the double-submit pattern. A random `ward_csrf`
//! cookie (HttpOnly, SameSite=Lax) is set with the first page; every form carries the same value
//! in `csrf_token`; a POST is accepted only when both are present and equal (constant time).

use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use ward_core::token::{constant_time_eq, new_opaque_secret};

use crate::error::ApiError;
use crate::state::AppState;

pub const CSRF_COOKIE: &str = "ward_csrf";

/// The CSRF token for the page being rendered, setting the cookie when the browser has none.
pub fn token(state: &AppState, jar: CookieJar) -> (CookieJar, String) {
    if let Some(c) = jar.get(CSRF_COOKIE) {
        if c.value().len() >= 32 {
            let value = c.value().to_string();
            return (jar, value);
        }
    }
    let value = new_opaque_secret(state.random.as_ref());
    let cookie = Cookie::build((CSRF_COOKIE, value.clone()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.secure_cookies)
        .build();
    (jar.add(cookie), value)
}

/// Checks a submitted form's token against the cookie.
pub fn verify(jar: &CookieJar, submitted: &str) -> Result<(), ApiError> {
    let ok = jar.get(CSRF_COOKIE).is_some_and(|c| {
        !submitted.is_empty() && constant_time_eq(c.value().as_bytes(), submitted.as_bytes())
    });
    if ok {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "invalid or missing CSRF token; reload the page and try again",
        ))
    }
}
