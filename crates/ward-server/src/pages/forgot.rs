//! "Forgot password?" (SPEC §2.14): `/login/forgot` asks for the address and always answers
//! the same page, whether or not it has an account (the mail, if any, is queued in the
//! background so the answer takes the same time); the mailed link leads to `/reset`. Also
//! `/verify-email`, where a sign-up's verification link lands.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use maud::html;
use serde::Deserialize;
use ward_core::account::{LinkProblem, LinkPurpose};
use ward_core::audit::Outcome;
use ward_core::model::{is_plausible_email, normalize_email};
use ward_core::token::token_hash;

use crate::audit::{self, Audit};
use crate::csrf;
use crate::error::ApiError;
use crate::extract::{ClientIp, FormParams};
use crate::pages::recovery::link_problem_page;
use crate::pages::{csrf_field, error_page, no_store, page};
use crate::state::AppState;

pub const FORGOT_PATH: &str = "/login/forgot";

#[derive(Deserialize)]
pub struct ForgotQuery {
    email: Option<String>,
}

fn form(csrf: &str, email: &str, error: Option<&str>) -> Response {
    no_store(page(
        "Forgot your password?",
        html! {
            h1 { "Forgot your password?" }
            p { "Enter your email address: we send you a link to choose a new password." }
            @if let Some(e) = error { p class="error" role="alert" { (e) } }
            form method="post" action=(FORGOT_PATH) {
                (csrf_field(csrf))
                label for="email" { "Email" }
                input id="email" type="email" name="email" value=(email) autocomplete="username" required autofocus;
                button type="submit" { "Send me a link" }
            }
            p class="muted" { a href="/login" { "Back to sign-in" } }
        },
    ))
}

fn no_mail() -> Response {
    no_store(page(
        "Forgot your password?",
        html! {
            h1 { "Forgot your password?" }
            p { "This server sends no mail. Ask your administrator for a recovery link: it lets you choose a new password." }
            p class="muted" { a href="/login" { "Back to sign-in" } }
        },
    ))
}

/// `GET /login/forgot`.
pub async fn forgot_page(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<ForgotQuery>,
) -> Result<Response, ApiError> {
    if !crate::mail::enabled(&state) {
        return Ok(no_mail());
    }
    let (jar, token) = csrf::token(&state, jar);
    let email = q.email.unwrap_or_default();
    Ok((jar, form(&token, &email, None)).into_response())
}

/// `POST /login/forgot`: the same answer for every address.
pub async fn submit_forgot(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientIp(ip): ClientIp,
    params: FormParams,
) -> Result<Response, ApiError> {
    csrf::verify(&state, &jar, params.get("csrf_token").unwrap_or_default())?;
    if !crate::mail::enabled(&state) {
        return Ok(no_mail());
    }
    let email = normalize_email(params.get("email").unwrap_or_default());
    if !is_plausible_email(&email) {
        let (jar, token) = csrf::token(&state, jar);
        let mut r = form(&token, &email, Some("Enter a valid email address."));
        *r.status_mut() = StatusCode::BAD_REQUEST;
        return Ok((jar, r).into_response());
    }
    let limits = state.config.rate_limits;
    let hit = state
        .limiter
        .hit(
            "forgot_ip",
            ip.as_deref().unwrap_or_default(),
            limits.signin_per_ip,
            limits.window_secs,
            state.clock.now(),
        )
        .await;
    if let Err(e) = hit {
        return Ok(error_page(&ApiError::from(e)));
    }
    // In the background: a known address costs a few writes, an unknown one none, and the
    // answer must not tell them apart by its time.
    let background = state.clone();
    let wanted = email.clone();
    tokio::spawn(async move {
        if let Err(e) = send_reset(&background, &wanted, ip.as_deref()).await {
            tracing::warn!(error = %e.description, "cannot queue a password-reset mail");
        }
    });
    Ok(no_store(page(
        "Check your mail",
        html! {
            h1 { "Check your mail" }
            p { "If " strong { (email) } " has an account here, we sent it a link to choose a new password. The link works for 30 minutes." }
            p class="muted" { "Nothing arrived? Check your spam folder, or ask your administrator." }
            p class="muted" { a href="/login" { "Back to sign-in" } }
        },
    )))
}

/// Queues the reset mail when `email` is a local account that may sign in with a password.
async fn send_reset(state: &AppState, email: &str, ip: Option<&str>) -> Result<(), ApiError> {
    let Some(user) = state.store.user_by_email(email).await? else {
        return Ok(());
    };
    if user.disabled
        || user.role == crate::guest::GUEST_ROLE
        || crate::idp::required_idp(state, &user.email, Some(&user.id))
            .await?
            .is_some()
    {
        return Ok(());
    }
    let (url, _) = crate::ops::users::issue_link(state, LinkPurpose::Reset, &user, None).await?;
    let rendered = crate::mail::templates::password_reset(state, &user, &url);
    crate::mail::enqueue(state, &user.email, "password_reset", rendered).await?;
    audit::record(
        state,
        Audit::new("password.reset_requested", Outcome::Ok)
            .ip(ip)
            .target(user.id.as_str()),
    )
    .await;
    Ok(())
}

#[derive(Deserialize)]
pub struct VerifyQuery {
    token: Option<String>,
}

/// `GET /verify-email?token=…`: marks the address verified.
pub async fn verify_email(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Query(q): Query<VerifyQuery>,
) -> Result<Response, ApiError> {
    let secret = q.token.unwrap_or_default();
    if secret.is_empty() {
        return Ok(crate::pages::recovery::incomplete_link(LinkPurpose::Verify));
    }
    let hash = token_hash(&secret);
    let now = state.clock.now();
    match state.store.redeem_verify_link(&hash, now).await? {
        Some(user_id) => {
            audit::record(
                &state,
                Audit::new("email.verified", Outcome::Ok)
                    .actor(user_id.as_str())
                    .ip(ip.as_deref())
                    .target(user_id.as_str()),
            )
            .await;
            Ok(no_store(page(
                "Email verified",
                html! {
                    h1 { "Email verified" }
                    p class="ok" role="status" { "Thank you: your email address is verified." }
                    p { a class="button" href="/account" { "Go to your account" } }
                },
            )))
        }
        None => {
            let problem = match state.store.account_link(&hash).await? {
                Some(link) => link
                    .problem(LinkPurpose::Verify, now)
                    .unwrap_or(LinkProblem::Invalid),
                None => LinkProblem::Invalid,
            };
            Ok(link_problem_page(problem, LinkPurpose::Verify))
        }
    }
}
