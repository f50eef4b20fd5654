//! `/account/email`: change the account's address (SPEC §2.14). The new address is unverified
//! until the link mailed to it is followed; the old one gets a notice.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use maud::html;

use crate::auth::Caller;
use crate::authz::REAUTH_REQUIRED;
use crate::csrf;
use crate::csrf::CsrfForm;
use crate::error::ApiError;
use crate::extract::ClientIp;
use crate::pages::reauth::redirect_to_reauth;
use crate::pages::PageResult;
use crate::pages::{csrf_field, error_page, no_store, page, page_caller};
use crate::state::AppState;

pub const PATH: &str = "/account/email";

/// `GET /account/email`.
pub async fn email_page(State(state): State<AppState>, jar: CookieJar) -> PageResult {
    let caller = page_caller(&state, &jar, PATH).await?;
    Ok(render(&state, jar, &caller, "", None, StatusCode::OK).await?)
}

/// `POST /account/email`.
pub async fn submit_email(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientIp(ip): ClientIp,
    CsrfForm(form): CsrfForm,
) -> PageResult {
    let caller = page_caller(&state, &jar, PATH).await?;
    let new = form.get("email").unwrap_or_default().to_string();
    let current = form.get("current_password").map(str::to_string);
    match crate::ops::email::change(&state, &caller, ip.as_deref(), &new, current).await {
        Ok(done) => Ok(no_store(page(
            "Email changed",
            html! {
                h1 { "Email changed" }
                p class="ok" role="status" {
                    "Your address is now " strong { (done.user.email) } ". "
                    @if done.verification_sent {
                        "We sent a link to it: follow it to verify the address. Until then, apps see it as unverified."
                    } @else {
                        "It stays unverified until an administrator's server can send mail to confirm it."
                    }
                }
                p { a class="button" href="/account" { "Back to your account" } }
            },
        ))),
        Err(e) if e.code == REAUTH_REQUIRED => Ok(redirect_to_reauth(PATH)),
        Err(e) if e.retry_after.is_some() || e.status.is_server_error() => Ok(error_page(&e)),
        Err(e) => {
            let message = sentence(&e.description);
            Ok(render(&state, jar, &caller, &new, Some(&message), e.status).await?)
        }
    }
}

fn sentence(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => {
            let s: String = first.to_uppercase().chain(chars).collect();
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
    typed: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let mfa = crate::mfa::is_enabled(state, &caller.user.id).await?;
    let (jar, token) = csrf::token(state, jar);
    let mut response = no_store(page(
        "Change your email",
        html! {
            h1 { "Change your email" }
            p { "Your address is " strong { (caller.user.email) } "." }
            @if let Some(e) = error { p class="error" role="alert" { (e) } }
            form method="post" action=(PATH) {
                (csrf_field(&token))
                label for="new_email" { "New email" }
                input id="new_email" type="email" name="email" value=(typed) autocomplete="email" required autofocus;
                @if !mfa {
                    label for="current_password" { "Current password" }
                    input id="current_password" type="password" name="current_password" autocomplete="current-password" required;
                }
                button type="submit" { "Change email" }
            }
            p class="muted small" { "You sign in with the new address from now on. A link goes to it to verify it, and your old address gets a notice." }
            p class="muted" { a href="/account" { "Cancel" } }
        },
    ));
    *response.status_mut() = status;
    Ok((jar, response).into_response())
}
