//! `/reauth`: the pages ask for the second factor (or, without MFA, the password) again when an
//! account-security action finds the session's last verification older than
//! `security.reauth_window`, then continue where the user was (SPEC §2.11).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use maud::html;
use serde::Deserialize;

use crate::auth::Caller;
use crate::csrf;
use crate::csrf::CsrfForm;
use crate::error::ApiError;
use crate::extract::ClientIp;
use crate::ops::reauth::{reauthenticate, Proof};
use crate::pages::login::safe_return_to;
use crate::pages::PageResult;
use crate::pages::{csrf_field, error_page, no_store, page, page_caller_unchecked};
use crate::state::AppState;

const PATH: &str = "/reauth";

/// For a page about to perform an account-security action: `None` when the session may, or
/// the response to send instead: a redirect to `/reauth` that comes back to `return_to`, or a
/// 403 page.
pub fn gate(state: &AppState, caller: &Caller, return_to: &str) -> Option<Response> {
    match crate::authz::require_account_security(state, caller) {
        Ok(()) => None,
        Err(e) if e.code == crate::authz::REAUTH_REQUIRED => Some(redirect_to_reauth(return_to)),
        Err(e) => Some(error_page(&e)),
    }
}

/// `/reauth?return_to=…`.
pub fn redirect_to_reauth(return_to: &str) -> Response {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("return_to", return_to)
        .finish();
    Redirect::to(&format!("{PATH}?{query}")).into_response()
}

#[derive(Debug, Deserialize)]
pub struct ReauthQuery {
    pub return_to: Option<String>,
}

/// `GET /reauth`: the form.
pub async fn reauth_page(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<ReauthQuery>,
) -> PageResult {
    let return_to = safe_return_to(q.return_to.as_deref());
    let caller = page_caller_unchecked(&state, &jar, &return_to).await?;
    Ok(render(&state, jar, &caller, &return_to, None, StatusCode::OK).await?)
}

/// `POST /reauth`: checks the code or password, then goes back to `return_to`.
pub async fn submit_reauth(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientIp(ip): ClientIp,
    CsrfForm(form): CsrfForm,
) -> PageResult {
    let return_to = safe_return_to(form.get("return_to"));
    let caller = page_caller_unchecked(&state, &jar, &return_to).await?;
    let proof = match (form.get("code"), form.get("password")) {
        (Some(code), _) => Proof::Code(code.to_string()),
        (None, Some(password)) => Proof::Password(password.to_string()),
        (None, None) => return Err(ApiError::bad_request("enter a code or your password").into()),
    };
    match reauthenticate(&state, &caller, ip.as_deref(), proof).await {
        Ok(_) => Ok(Redirect::to(&return_to).into_response()),
        Err(e) if e.retry_after.is_some() || e.status.is_server_error() => Ok(error_page(&e)),
        Err(e) => Ok(render(
            &state,
            jar,
            &caller,
            &return_to,
            Some(&e.description),
            e.status,
        )
        .await?),
    }
}

async fn render(
    state: &AppState,
    jar: CookieJar,
    caller: &Caller,
    return_to: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let methods = crate::mfa::methods(state, &caller.user.id).await?;
    let by_code = methods.contains(&"totp");
    let by_key = methods.contains(&"webauthn");
    let (jar, token) = csrf::token(state, jar);
    let mut response = no_store(page(
        "Confirm it's you",
        html! {
            h1 { "Confirm it's you" }
            p { "This changes the security of your account, and you last confirmed your sign-in a while ago." }
            @if let Some(e) = error { p class="error" role="alert" { (e) } }
            @if by_code {
                form method="post" action=(PATH) {
                    (csrf_field(&token))
                    input type="hidden" name="return_to" value=(return_to);
                    label for="code" { "Code from your authenticator app, or a backup code" }
                    input id="code" class="code" type="text" name="code" inputmode="numeric" autocomplete="one-time-code" required autofocus;
                    button type="submit" { "Continue" }
                }
            } @else if !by_key {
                form method="post" action=(PATH) {
                    (csrf_field(&token))
                    input type="hidden" name="return_to" value=(return_to);
                    input type="hidden" name="email" autocomplete="username" value=(caller.user.email);
                    label for="password" { "Password" }
                    input id="password" type="password" name="password" autocomplete="current-password" required autofocus;
                    button type="submit" { "Continue" }
                }
            }
            @if by_key {
                p {
                    button type="button" data-webauthn="step-up" data-return-to=(return_to) { "Use your security key" }
                }
                p id="webauthn-status" role="status" {}
                script src="/static/webauthn.js" defer {}
            }
        },
    ))
    .into_response();
    *response.status_mut() = status;
    Ok((jar, response).into_response())
}
