//! Server-rendered pages: plain semantic HTML (maud escapes every value) and one stylesheet.
//! Forms use the stable field names of SPEC §2.9 (`email`, `password`, `code`, `user_code`,
//! `decision`) with matching `autocomplete` attributes.

pub mod account;
pub mod account_mfa;
pub mod admin;
pub mod admin_invitations;
pub mod admin_service_accounts;
pub mod admin_webhooks;
pub mod approve;
pub mod device;
pub mod email;
pub mod forgot;
pub mod idp;
pub mod invite;
pub mod login;
pub mod mfa_login;
pub mod new_token;
pub mod password;
pub mod reauth;
pub mod recovery;
pub mod signup;

/// The page kit, so that `super::page` and friends read as before inside `pages/`.
pub use crate::html::*;
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
pub use ward_core::agent::describe_agent;

use crate::auth::{web_session, Caller};
use crate::error::ApiError;
use crate::state::AppState;

pub async fn webauthn_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        crate::html::WEBAUTHN_SCRIPT,
    )
        .into_response()
}

pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        crate::html::STYLESHEET,
    )
        .into_response()
}

/// The signed-in browser's caller, or the redirect to the sign-in page that comes back to
/// `return_to`.
///
/// A user who must choose a new password first (the generated bootstrap admin) is sent to
/// `/account/password` instead, which comes back to `return_to`.
pub async fn page_caller(
    state: &AppState,
    jar: &CookieJar,
    return_to: &str,
) -> Result<Caller, PageExit> {
    let caller = page_caller_unchecked(state, jar, return_to).await?;
    if state
        .store
        .password_change_required(&caller.user.id)
        .await?
    {
        return Err(PageExit::Respond(
            Redirect::to(&password::password_url(return_to)).into_response(),
        ));
    }
    Ok(caller)
}

/// [`page_caller`] without the "must change the password first" detour: the password page
/// itself and `/reauth`, which it may need.
pub async fn page_caller_unchecked(
    state: &AppState,
    jar: &CookieJar,
    return_to: &str,
) -> Result<Caller, PageExit> {
    match web_session(state, jar).await? {
        Some((session, user)) => Ok(crate::auth::cookie_caller(state, session, user)),
        None => Err(PageExit::Respond(
            Redirect::to(&crate::html::login_url(return_to, None)).into_response(),
        )),
    }
}

/// Why a page handler stops before its page: another response is due first (a redirect to sign
/// in or to change the password, an error page), or an error. `?` on an [`ApiError`] gives the second.
pub enum PageExit {
    Respond(Response),
    Error(ApiError),
}

impl From<ApiError> for PageExit {
    fn from(e: ApiError) -> Self {
        PageExit::Error(e)
    }
}

impl From<ward_core::StoreError> for PageExit {
    fn from(e: ward_core::StoreError) -> Self {
        PageExit::Error(e.into())
    }
}

impl IntoResponse for PageExit {
    fn into_response(self) -> Response {
        match self {
            PageExit::Respond(r) => r,
            PageExit::Error(e) => e.into_response(),
        }
    }
}

/// What a page handler that needs a signed-in browser returns.
pub type PageResult = Result<Response, PageExit>;
