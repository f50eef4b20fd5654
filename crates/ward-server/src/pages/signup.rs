//! Self-service sign-up (SPEC §2.5, §2.14). `signup = true`: `GET /signup` shows the form,
//! `POST /signup` creates a local account with the `default_role` and signs it in (or sends it
//! to MFA enrolment first when `mfa.required_roles` names that role). `signup = "approval"`: the
//! same form asks for access, the account waits for an admin, and every address gets the same
//! answer. `signup = "invite"`: the page says accounts come by invitation (`pages::invite`).
//!
//! Decisions (docs/design/decisions.md): the email's ownership is not verified (ward sends no
//! mail), so an address at a domain routed to an identity provider (`[[idp]] domains`) cannot
//! sign up — those users sign in through their provider, and a squatter cannot pre-claim their
//! address; a taken email is reported as taken (like GitHub and Keycloak), which is why sign-up
//! is rate-limited per IP (`rate_limits.signups_per_ip`).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use maud::html;
use serde::Deserialize;
use ward_core::account::SignupMode;
use ward_core::audit::Outcome;
use ward_core::model::normalize_email;

use crate::accounts::{create_local_user, NewLocalUser};
use crate::audit::{self, Audit};
use crate::auth::web_session;
use crate::config::idp_for_email;
use crate::csrf;
use crate::error::ApiError;
use crate::extract::{ClientIp, FormParams, UserAgent};
use crate::pages::login::{after_password, login_url, safe_return_to, SignedIn};
use crate::pages::{csrf_field, error_page, no_store, page};
use crate::state::AppState;

pub const SIGNUP_PATH: &str = "/signup";

#[derive(Deserialize)]
pub struct SignupQuery {
    return_to: Option<String>,
}

/// What the form shows again after a refusal (never the password).
struct Filled<'a> {
    email: &'a str,
    name: &'a str,
}

fn signup_off(state: &AppState) -> Response {
    if state.config.signup == SignupMode::Invite {
        return crate::pages::message_page(
            StatusCode::FORBIDDEN,
            "By invitation only",
            &format!(
                "Accounts on {} are made by invitation: ask an administrator to invite you, then open the link in the mail.",
                crate::branding::product()
            ),
        );
    }
    error_page(&ApiError::not_found(
        "sign-up is not enabled on this server",
    ))
}

/// "Your request waits for an administrator": after asking (every address gets it), and at
/// the sign-in of an account that still waits.
pub fn waiting_page(state: &AppState, status: StatusCode, email: &str) -> Response {
    let mailed = crate::mail::enabled(state);
    let mut r = no_store(page(
        "Waiting for approval",
        html! {
            h1 { "Waiting for approval" }
            p role="status" {
                "The account for " strong { (email) } " waits for an administrator's approval. "
                "You can sign in once it is approved"
                @if mailed { "; a mail tells you when." } @else { "." }
            }
            p class="muted small" { "Nothing else to do now. If it takes long, ask the people who run " (crate::branding::product()) "." }
            p { a class="button" href="/login" { "Back to sign-in" } }
        },
    ));
    *r.status_mut() = status;
    r
}

fn signup_form(
    mode: SignupMode,
    csrf: &str,
    return_to: &str,
    filled: &Filled<'_>,
    error: Option<&str>,
) -> Response {
    let (title, button) = if mode == SignupMode::Approval {
        ("Request access", "Request access")
    } else {
        ("Create an account", "Create account")
    };
    no_store(page(
        title,
        html! {
            h1 { (title) }
            @if mode == SignupMode::Approval {
                p class="muted" { "An administrator approves each new account before it can sign in." }
            }
            @if let Some(e) = error { p class="error" role="alert" { (e) } }
            form method="post" action=(SIGNUP_PATH) {
                (csrf_field(csrf))
                input type="hidden" name="return_to" value=(return_to);
                label for="email" { "Email" }
                input id="email" type="email" name="email" value=(filled.email) autocomplete="username" required autofocus;
                label for="name" { "Name " span class="muted small" { "(optional)" } }
                input id="name" type="text" name="name" value=(filled.name) autocomplete="name";
                label for="password" { "Password" }
                input id="password" type="password" name="password" autocomplete="new-password" required minlength="8";
                button type="submit" { (button) }
            }
            p class="muted" { "Already have an account? " a href=(login_url(return_to, None)) { "Sign in" } }
        },
    ))
}

/// `GET /signup`.
pub async fn signup_page(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<SignupQuery>,
) -> Result<Response, ApiError> {
    let mode = state.config.signup;
    if !mode.form_open() {
        return Ok(signup_off(&state));
    }
    let return_to = safe_return_to(q.return_to.as_deref());
    if web_session(&state, &jar).await?.is_some() {
        return Ok(Redirect::to(&return_to).into_response());
    }
    let (jar, token) = csrf::token(&state, jar);
    let empty = Filled {
        email: "",
        name: "",
    };
    Ok((jar, signup_form(mode, &token, &return_to, &empty, None)).into_response())
}

/// `POST /signup`.
pub async fn submit_signup(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientIp(ip): ClientIp,
    UserAgent(user_agent): UserAgent,
    form: FormParams,
) -> Result<Response, ApiError> {
    let mode = state.config.signup;
    if !mode.form_open() {
        return Ok(signup_off(&state));
    }
    // After the mode check: with sign-up off, every POST is a 404, token or not.
    crate::csrf::verify(&state, &jar, form.get("csrf_token").unwrap_or_default())?;
    let return_to = safe_return_to(form.get("return_to"));
    let limits = state.config.rate_limits;
    let hit = state
        .limiter
        .hit(
            "signup_ip",
            ip.as_deref().unwrap_or_default(),
            limits.signups_per_ip,
            limits.window_secs,
            state.clock.now(),
        )
        .await;
    if let Err(e) = hit {
        return Ok(error_page(&ApiError::from(e)));
    }
    let email = normalize_email(form.get("email").unwrap_or_default());
    let name = form.get("name").unwrap_or_default().trim().to_string();
    let refuse = |jar: CookieJar, status: StatusCode, message: &str| {
        let (jar, token) = csrf::token(&state, jar);
        let filled = Filled {
            email: &email,
            name: &name,
        };
        let mut r = signup_form(mode, &token, &return_to, &filled, Some(message));
        *r.status_mut() = status;
        (jar, r).into_response()
    };
    if let Some(idp) = idp_for_email(&state.config.idps, &email) {
        let message = format!(
            "Accounts at {} sign in through {}: use Sign in instead.",
            email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default(),
            idp.name
        );
        return Ok(refuse(jar, StatusCode::BAD_REQUEST, &message));
    }
    let new = NewLocalUser {
        email: email.clone(),
        name: Some(name.clone()),
        password: Some(form.get("password").unwrap_or_default().to_string()),
        role: state.config.default_role.clone(),
        email_verified: false,
    };
    if mode == SignupMode::Approval {
        return match crate::ops::approval::request(&state, ip.as_deref(), new).await {
            Ok(()) => Ok(waiting_page(&state, StatusCode::OK, &email)),
            Err(e) if e.status.is_client_error() => {
                Ok(refuse(jar, e.status, &capitalized(&e.description)))
            }
            Err(e) => Err(e),
        };
    }
    let user = match create_local_user(&state, new).await {
        Ok(user) => user,
        // Whether the address has an account is not for strangers to learn (SPEC §2.13).
        Err(e) if e.status == StatusCode::CONFLICT => {
            return Ok(refuse(
                jar,
                StatusCode::CONFLICT,
                "The account could not be created.",
            ));
        }
        Err(e) if e.status.is_client_error() => {
            return Ok(refuse(jar, e.status, &capitalized(&e.description)));
        }
        Err(e) => return Err(e),
    };
    audit::record(
        &state,
        Audit::new("user.created", Outcome::Ok)
            .actor(user.id.as_str())
            .ip(ip.as_deref())
            .target(user.id.as_str())
            .detail(
                serde_json::json!({"email": user.email, "role": user.role, "method": "signup"}),
            ),
    )
    .await;
    // Unverified until the mailed link is followed (`email_verified` false in ID tokens and
    // userinfo until then).
    if let Err(e) = crate::ops::email::send_verification(&state, &user).await {
        tracing::warn!(error = %e.description, "cannot queue the verification mail");
    }
    after_password(
        &state,
        jar,
        &user,
        &return_to,
        SignedIn {
            amr: vec![ward_core::model::Amr::Pwd.into()],
            ip,
            user_agent,
            method: "signup",
        },
    )
    .await
}

fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect::<String>() + ".",
        None => String::new(),
    }
}
