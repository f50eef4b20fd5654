//! The invitation page (SPEC §2.14, `signup = "invite"`): `/invite?token=…` shows the pinned
//! address and asks for a name and a password; the account is made and signed in through the
//! normal path (MFA enrolment first when the role needs it). A used, expired or altered link
//! gets a page that says which and what to do.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use maud::html;
use serde::Deserialize;
use ward_core::account::{AccountLink, LinkPurpose};

use crate::csrf;
use crate::error::ApiError;
use crate::extract::{ClientIp, FormParams, UserAgent};
use crate::ops::invitations::INVITE_PATH;
use crate::pages::login::{after_password, SignedIn};
use crate::pages::recovery::{incomplete_link, link_problem_page};
use crate::pages::{csrf_field, error_page, human_time, no_store, page};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct InviteQuery {
    token: Option<String>,
}

/// `GET /invite?token=…`.
pub async fn invite_page(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<InviteQuery>,
) -> Result<Response, ApiError> {
    let secret = q.token.unwrap_or_default();
    if secret.is_empty() {
        return Ok(incomplete_link(LinkPurpose::Invite));
    }
    match crate::ops::invitations::check(&state, &secret).await? {
        Ok(link) => {
            let (jar, token) = csrf::token(&state, jar);
            Ok((jar, form(&token, &secret, &link, "", None)).into_response())
        }
        Err(problem) => Ok(link_problem_page(problem, LinkPurpose::Invite)),
    }
}

/// `POST /invite`.
pub async fn submit_invite(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientIp(ip): ClientIp,
    UserAgent(user_agent): UserAgent,
    form_params: FormParams,
) -> Result<Response, ApiError> {
    csrf::verify(
        &state,
        &jar,
        form_params.get("csrf_token").unwrap_or_default(),
    )?;
    let secret = form_params.get("token").unwrap_or_default().to_string();
    let name = form_params.get("name").unwrap_or_default().to_string();
    let new = form_params
        .get("new_password")
        .unwrap_or_default()
        .to_string();
    let link = match crate::ops::invitations::check(&state, &secret).await? {
        Ok(link) => link,
        Err(problem) => return Ok(link_problem_page(problem, LinkPurpose::Invite)),
    };
    let refuse = |jar: CookieJar, status: StatusCode, message: &str| {
        let (jar, token) = csrf::token(&state, jar);
        let mut r = form(&token, &secret, &link, &name, Some(message));
        *r.status_mut() = status;
        (jar, r).into_response()
    };
    if form_params.get("confirm_password").unwrap_or_default() != new {
        return Ok(refuse(
            jar,
            StatusCode::BAD_REQUEST,
            "The two passwords differ: type the same password twice.",
        ));
    }
    let made = crate::ops::invitations::redeem(&state, ip.as_deref(), &secret, &name, new).await;
    let user = match made {
        Ok(Ok(user)) => user,
        Ok(Err(problem)) => return Ok(link_problem_page(problem, LinkPurpose::Invite)),
        Err(e) if e.status == StatusCode::BAD_REQUEST => {
            return Ok(refuse(jar, e.status, &sentence(&e.description)));
        }
        Err(e) if e.status.is_client_error() => return Ok(error_page(&e)),
        Err(e) => return Err(e),
    };
    after_password(
        &state,
        jar,
        &user,
        "/account",
        SignedIn {
            amr: vec![ward_core::model::Amr::Pwd.into()],
            ip,
            user_agent,
            method: "invitation",
        },
    )
    .await
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

fn form(csrf: &str, secret: &str, link: &AccountLink, name: &str, error: Option<&str>) -> Response {
    let min = ward_core::account::MIN_NEW_PASSWORD_CHARS;
    let max = ward_core::account::MAX_NEW_PASSWORD_CHARS;
    let email = link.email.as_deref().unwrap_or_default();
    let product = crate::branding::product();
    no_store(page(
        "Accept your invitation",
        html! {
            h1 { "Accept your invitation" }
            p { "You are invited to " (product) " as " strong id="invited-email" { (email) } "." }
            p class="muted small" { "Choose your password to create the account. This invitation works once, until " (human_time(link.expires_at)) "." }
            @if let Some(e) = error { p class="error" role="alert" { (e) } }
            form method="post" action=(INVITE_PATH) {
                (csrf_field(csrf))
                input type="hidden" name="token" value=(secret);
                input type="hidden" name="email" autocomplete="username" value=(email);
                label for="name" { "Name " span class="muted small" { "(optional)" } }
                input id="name" type="text" name="name" value=(name) autocomplete="name";
                label for="new_password" { "Password" }
                input id="new_password" type="password" name="new_password" autocomplete="new-password" required minlength=(min) maxlength=(max) autofocus aria-describedby="password-rules";
                p id="password-rules" class="muted small" {
                    "At least " (min) " characters, hard to guess: a few unrelated words work well."
                }
                label for="confirm_password" { "Password again" }
                input id="confirm_password" type="password" name="confirm_password" autocomplete="new-password" required minlength=(min) maxlength=(max);
                button type="submit" { "Create my account" }
            }
        },
    ))
}
