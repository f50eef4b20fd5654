//! The pages behind the single-use password links (SPEC §2.14): `/recover?token=…` (an admin's
//! recovery link) and `/reset?token=…` ("Forgot password?" by mail). Each shows the
//! new-password form, or says why the link does not work (altered, used or expired) and what to
//! do; after the new password the user signs in through the normal path (a second factor, or
//! enrolment when their role needs it and a recovery removed theirs).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use maud::html;
use serde::Deserialize;
use ward_core::account::{LinkProblem, LinkPurpose};
use ward_core::model::User;

use crate::csrf;
use crate::error::ApiError;
use crate::extract::{ClientIp, FormParams, UserAgent};
use crate::ops::users::{RECOVERY_PATH, RESET_PATH};
use crate::pages::login::{after_password, SignedIn};
use crate::pages::{csrf_field, error_page, human_time, no_store, page};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct LinkQuery {
    token: Option<String>,
}

/// The page for a link that does not work: 404 for an unknown one, 410 for a used or expired
/// one, each saying what to do.
pub fn link_problem_page(problem: LinkProblem, purpose: LinkPurpose) -> Response {
    let status = match problem {
        LinkProblem::Invalid => StatusCode::NOT_FOUND,
        LinkProblem::Used | LinkProblem::Expired => StatusCode::GONE,
    };
    let body = html! {
        h1 { (problem.title()) }
        p { (problem.explanation(purpose)) }
        p { a class="button" href="/login" { "Sign in" } }
    };
    (status, no_store(page(problem.title(), body))).into_response()
}

/// A link address without its secret: 400, "not valid", what to do.
pub fn incomplete_link(purpose: LinkPurpose) -> Response {
    let mut r = link_problem_page(LinkProblem::Invalid, purpose);
    *r.status_mut() = StatusCode::BAD_REQUEST;
    r
}

fn path_of(purpose: LinkPurpose) -> &'static str {
    match purpose {
        LinkPurpose::Reset => RESET_PATH,
        _ => RECOVERY_PATH,
    }
}

/// `GET /recover?token=…`.
pub async fn recovery_page(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<LinkQuery>,
) -> Result<Response, ApiError> {
    show(&state, jar, q, LinkPurpose::Recovery).await
}

/// `POST /recover`.
pub async fn submit_recovery(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientIp(ip): ClientIp,
    UserAgent(user_agent): UserAgent,
    form: FormParams,
) -> Result<Response, ApiError> {
    submit(&state, jar, ip, user_agent, form, LinkPurpose::Recovery).await
}

/// `GET /reset?token=…`.
pub async fn reset_page(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<LinkQuery>,
) -> Result<Response, ApiError> {
    show(&state, jar, q, LinkPurpose::Reset).await
}

/// `POST /reset`.
pub async fn submit_reset(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientIp(ip): ClientIp,
    UserAgent(user_agent): UserAgent,
    form: FormParams,
) -> Result<Response, ApiError> {
    submit(&state, jar, ip, user_agent, form, LinkPurpose::Reset).await
}

async fn show(
    state: &AppState,
    jar: CookieJar,
    q: LinkQuery,
    purpose: LinkPurpose,
) -> Result<Response, ApiError> {
    let secret = q.token.unwrap_or_default();
    if secret.is_empty() {
        return Ok(incomplete_link(purpose));
    }
    match crate::ops::recovery::check(state, &secret, purpose).await? {
        Ok((link, user)) => {
            let (jar, token) = csrf::token(state, jar);
            let form = form(&token, &secret, &user, link.expires_at, purpose, None);
            Ok((jar, form).into_response())
        }
        Err(problem) => Ok(link_problem_page(problem, purpose)),
    }
}

async fn submit(
    state: &AppState,
    jar: CookieJar,
    ip: Option<String>,
    user_agent: Option<String>,
    form_params: FormParams,
    purpose: LinkPurpose,
) -> Result<Response, ApiError> {
    csrf::verify(
        state,
        &jar,
        form_params.get("csrf_token").unwrap_or_default(),
    )?;
    let secret = form_params.get("token").unwrap_or_default().to_string();
    let new = form_params
        .get("new_password")
        .unwrap_or_default()
        .to_string();
    let (link, user) = match crate::ops::recovery::check(state, &secret, purpose).await? {
        Ok(found) => found,
        Err(problem) => return Ok(link_problem_page(problem, purpose)),
    };
    let refuse = |jar: CookieJar, status: StatusCode, message: &str| {
        let (jar, token) = csrf::token(state, jar);
        let mut r = form(
            &token,
            &secret,
            &user,
            link.expires_at,
            purpose,
            Some(message),
        );
        *r.status_mut() = status;
        (jar, r).into_response()
    };
    if form_params.get("confirm_password").unwrap_or_default() != new {
        return Ok(refuse(
            jar,
            StatusCode::BAD_REQUEST,
            "The two new passwords differ: type the same new password twice.",
        ));
    }
    let redeemed = crate::ops::recovery::redeem(state, ip.as_deref(), &secret, purpose, new).await;
    let user = match redeemed {
        Ok(Ok(user)) => user,
        Ok(Err(problem)) => return Ok(link_problem_page(problem, purpose)),
        Err(e) if e.status == StatusCode::BAD_REQUEST => {
            return Ok(refuse(jar, e.status, &capitalized(&e.description)));
        }
        Err(e) if e.status.is_client_error() => return Ok(error_page(&e)),
        Err(e) => return Err(e),
    };
    after_password(
        state,
        jar,
        &user,
        "/account",
        SignedIn {
            amr: vec![ward_core::model::Amr::Pwd.into()],
            ip,
            user_agent,
            method: purpose.as_str(),
        },
    )
    .await
}

fn capitalized(s: &str) -> String {
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

fn form(
    csrf: &str,
    secret: &str,
    user: &User,
    expires_at: ward_core::Timestamp,
    purpose: LinkPurpose,
    error: Option<&str>,
) -> Response {
    let min = ward_core::account::MIN_NEW_PASSWORD_CHARS;
    let max = ward_core::account::MAX_NEW_PASSWORD_CHARS;
    let recovery = purpose == LinkPurpose::Recovery;
    let title = if recovery {
        "Recover your account"
    } else {
        "Choose a new password"
    };
    no_store(page(
        title,
        html! {
            h1 { (title) }
            p { "Choose a new password for " strong { (user.email) } "." }
            p class="muted small" {
                @if recovery {
                    "Your old password, your authenticator app, backup codes and security keys stop working, and every session is signed out. "
                    "If your role needs two-step verification, you set it up again next. "
                } @else {
                    "Every session of yours is signed out. Your two-step verification stays as it is. "
                }
                "This link works once, until " (human_time(expires_at)) "."
            }
            @if let Some(e) = error { p class="error" role="alert" { (e) } }
            form method="post" action=(path_of(purpose)) {
                (csrf_field(csrf))
                input type="hidden" name="token" value=(secret);
                input type="hidden" name="email" autocomplete="username" value=(user.email);
                label for="new_password" { "New password" }
                input id="new_password" type="password" name="new_password" autocomplete="new-password" required minlength=(min) maxlength=(max) autofocus aria-describedby="password-rules";
                p id="password-rules" class="muted small" {
                    "At least " (min) " characters, hard to guess: a few unrelated words work well."
                }
                label for="confirm_password" { "New password again" }
                input id="confirm_password" type="password" name="confirm_password" autocomplete="new-password" required minlength=(min) maxlength=(max);
                button type="submit" { "Set password and sign in" }
            }
        },
    ))
}
