//! Post/redirect/get for a new API token (decision 89). `POST /account/tokens` creates the token
//! and answers 303 to `/account#tokens`; the secret crosses the redirect in a short-lived cookie
//! (`ward_new_token`: HttpOnly, SameSite=Strict, `Path=/account`, five minutes), encrypted with
//! the master key and bound to the user and the session that created it. The next
//! `GET /account` shows the secret once and clears the cookie, so a reload shows the page
//! without it and creates nothing. The secret never goes into a URL and is not kept server-side.

use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// The cookie's name.
pub const NEW_TOKEN_COOKIE: &str = "ward_new_token";
/// Where it is sent: the account page only.
const COOKIE_PATH: &str = "/account";
/// How long it lives, in seconds: long enough for the redirect, short enough to be gone soon.
const LIFETIME_SECS: i64 = 300;

#[derive(Serialize, Deserialize)]
struct Sealed {
    /// The user it was created for.
    user: String,
    /// The session that created it, when it came from one.
    session: Option<String>,
    /// Unix seconds after which it is ignored.
    expires: i64,
    name: String,
    secret: String,
}

fn session_of(caller: &Caller) -> Option<String> {
    caller.session.as_ref().map(|s| s.id.to_string())
}

fn removal() -> Cookie<'static> {
    Cookie::build((NEW_TOKEN_COOKIE, ""))
        .path(COOKIE_PATH)
        .build()
}

/// Adds the cookie that carries a just-created token's name and secret to the next page.
pub fn stash(
    state: &AppState,
    jar: CookieJar,
    caller: &Caller,
    name: String,
    secret: String,
) -> Result<CookieJar, ApiError> {
    let sealed = Sealed {
        user: caller.user.id.to_string(),
        session: session_of(caller),
        expires: state.clock.now().plus_secs(LIFETIME_SECS).0,
        name,
        secret,
    };
    let plain = serde_json::to_vec(&sealed).map_err(ApiError::internal)?;
    let value = state
        .master_key
        .seal(&plain, state.random.as_ref())
        .map_err(ApiError::internal)?;
    let cookie = Cookie::build((NEW_TOKEN_COOKIE, value))
        .path(COOKIE_PATH)
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.secure_cookies)
        .max_age(::time::Duration::seconds(LIFETIME_SECS))
        .build();
    Ok(jar.add(cookie))
}

/// Takes the just-created token out of the cookie, if there is one for this caller and it is
/// still fresh, and clears the cookie either way: `(jar, Some((name, secret)))`.
pub fn take(
    state: &AppState,
    jar: CookieJar,
    caller: &Caller,
) -> (CookieJar, Option<(String, String)>) {
    let Some(cookie) = jar.get(NEW_TOKEN_COOKIE) else {
        return (jar, None);
    };
    let found = state
        .master_key
        .open(NEW_TOKEN_COOKIE, cookie.value())
        .ok()
        .and_then(|plain| serde_json::from_slice::<Sealed>(&plain).ok())
        .filter(|s| {
            s.user == caller.user.id
                && s.session == session_of(caller)
                && s.expires > state.clock.now().0
        })
        .map(|s| (s.name, s.secret));
    (jar.remove(removal()), found)
}
