//! `/account/password`: change the password (SPEC §2.14). Also where a user who must choose a
//! new password (the generated bootstrap admin) is sent after signing in, before anything else.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use maud::html;
use serde::Deserialize;

use crate::auth::Caller;
use crate::authz::REAUTH_REQUIRED;
use crate::csrf;
use crate::csrf::CsrfForm;
use crate::error::ApiError;
use crate::extract::ClientIp;
use crate::pages::login::safe_return_to;
use crate::pages::reauth::redirect_to_reauth;
use crate::pages::PageResult;
use crate::pages::{csrf_field, error_page, no_store, page, page_caller_unchecked};
use crate::state::AppState;

pub const PATH: &str = "/account/password";

/// `/account/password?return_to=…`.
pub fn password_url(return_to: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("return_to", return_to)
        .finish();
    format!("{PATH}?{query}")
}

#[derive(Deserialize)]
pub struct PasswordQuery {
    return_to: Option<String>,
}

/// `GET /account/password`.
pub async fn password_page(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<PasswordQuery>,
) -> PageResult {
    let return_to = safe_return_to(q.return_to.as_deref());
    let here = password_url(&return_to);
    let caller = page_caller_unchecked(&state, &jar, &here).await?;
    Ok(render(&state, jar, &caller, &return_to, None, StatusCode::OK).await?)
}

/// `POST /account/password`.
pub async fn submit_password(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientIp(ip): ClientIp,
    CsrfForm(form): CsrfForm,
) -> PageResult {
    let return_to = safe_return_to(form.get("return_to"));
    let here = password_url(&return_to);
    let caller = page_caller_unchecked(&state, &jar, &here).await?;
    let current = form.get("current_password").unwrap_or_default().to_string();
    let new = form.get("new_password").unwrap_or_default().to_string();
    if form.get("confirm_password").unwrap_or_default() != new {
        let message = "The two new passwords differ: type the same new password twice.";
        return Ok(render(
            &state,
            jar,
            &caller,
            &return_to,
            Some(message),
            StatusCode::BAD_REQUEST,
        )
        .await?);
    }
    match crate::ops::password::change(&state, &caller, ip.as_deref(), current, new).await {
        Ok(revoked) => Ok(no_store(page(
            "Password changed",
            html! {
                h1 { "Password changed" }
                p class="ok" role="status" {
                    "Your password was changed. "
                    @if revoked == 1 { "1 other session was signed out." }
                    @else if revoked > 1 { (revoked) " other sessions were signed out." }
                    @else { "You had no other sessions." }
                }
                p { a class="button" href=(return_to) { "Continue" } }
            },
        ))),
        Err(e) if e.code == REAUTH_REQUIRED => Ok(redirect_to_reauth(&here)),
        Err(e) if e.retry_after.is_some() || e.status.is_server_error() => Ok(error_page(&e)),
        Err(e) => {
            let message = sentence(&e.description);
            Ok(render(&state, jar, &caller, &return_to, Some(&message), e.status).await?)
        }
    }
}

/// "the current password is incorrect" → "The current password is incorrect."
fn sentence(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => {
            let s = first.to_uppercase().chain(chars).collect::<String>();
            if s.ends_with('.') {
                s
            } else {
                s + "."
            }
        }
        None => String::new(),
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
    let required = state
        .store
        .password_change_required(&caller.user.id)
        .await?;
    let has_password = caller.user.password_hash.is_some();
    let (jar, token) = csrf::token(state, jar);
    let min = ward_core::account::MIN_NEW_PASSWORD_CHARS;
    let max = ward_core::account::MAX_NEW_PASSWORD_CHARS;
    let mut response = no_store(page(
        "Change your password",
        html! {
            h1 { "Change your password" }
            @if required {
                p class="note" role="status" {
                    "Your password was generated for you when this server was set up. Choose your own before going on."
                }
            }
            @if let Some(e) = error { p class="error" role="alert" { (e) } }
            @if has_password {
                form method="post" action=(PATH) {
                    (csrf_field(&token))
                    input type="hidden" name="return_to" value=(return_to);
                    input type="hidden" name="email" autocomplete="username" value=(caller.user.email);
                    label for="current_password" { "Current password" }
                    input id="current_password" type="password" name="current_password" autocomplete="current-password" required autofocus;
                    label for="new_password" { "New password" }
                    input id="new_password" type="password" name="new_password" autocomplete="new-password" required minlength=(min) maxlength=(max) aria-describedby="password-rules";
                    p id="password-rules" class="muted small" {
                        "At least " (min) " characters, hard to guess: a few unrelated words work well."
                    }
                    label for="confirm_password" { "New password again" }
                    input id="confirm_password" type="password" name="confirm_password" autocomplete="new-password" required minlength=(min) maxlength=(max);
                    button type="submit" { "Change password" }
                }
                p class="muted small" { "Changing it signs out your other sessions; this one stays signed in." }
            } @else {
                p { "Your account has no password here: it signs in through your organization's identity provider or a passkey." }
            }
            @if !required { p class="muted" { a href=(return_to) { "Cancel" } } }
        },
    ));
    *response.status_mut() = status;
    Ok((jar, response).into_response())
}
