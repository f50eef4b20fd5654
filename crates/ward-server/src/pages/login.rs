//! Sign-in: email first; an email whose domain is routed to an upstream identity provider
//! (`[[idp]] domains`) goes there (see `pages::idp`), any other gets the password form. A
//! successful sign-in starts a `web` session with a cookie.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar};
use maud::html;
use serde::Deserialize;
use ward_core::account::SignupMode;
use ward_core::model::{is_plausible_email, normalize_email, ChallengePurpose, User};

use crate::auth::{web_session, SESSION_COOKIE};
use crate::authz;
use crate::config::idp_for_email;
use crate::csrf;
use crate::csrf::CsrfForm;
use crate::error::ApiError;
use crate::extract::{ClientIp, UserAgent};
use crate::guest::{GuestChannel, GuestStart, GUEST_ROLE};
use crate::ops::logout::{end_session, Via};
use crate::ops::signin::{check_password, PasswordCheck};
pub use crate::ops::web_sign_in::{finish_sign_in, session_cookie, SignedIn};
use crate::pages::error_page;
use crate::pages::human_time;
use crate::pages::{csrf_field, no_store, page};
use crate::state::AppState;

/// Only same-origin paths (SPEC §2.12, [`ward_core::redirect::is_local_path`]); anything else
/// becomes `/account`. Every post-sign-in target passes through here, when it is received and
/// again where the browser is sent on.
pub fn safe_return_to(return_to: Option<&str>) -> String {
    ward_core::redirect::after_sign_in(return_to)
}

pub use crate::html::login_url;

#[derive(Deserialize)]
pub struct LoginQuery {
    return_to: Option<String>,
    login_hint: Option<String>,
}

pub async fn login_page(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientIp(ip): ClientIp,
    Query(q): Query<LoginQuery>,
) -> Result<Response, ApiError> {
    let return_to = safe_return_to(q.return_to.as_deref());
    if web_session(&state, &jar).await?.is_some() {
        return Ok(Redirect::to(&return_to).into_response());
    }
    let hint = q
        .login_hint
        .as_deref()
        .filter(|h| is_plausible_email(h.trim()))
        .map(normalize_email);
    // A hint at a routed domain (`ward login --email`, `/oauth/authorize?login_hint=`) goes
    // straight to its identity provider.
    if let Some(idp) = hint
        .as_deref()
        .and_then(|h| idp_for_email(&state.config.idps, h))
    {
        let email = hint.as_deref().unwrap_or_default();
        return Ok(
            super::idp::send_to_idp(&state, jar, idp, email, &return_to, ip.as_deref()).await,
        );
    }
    let (jar, token) = csrf::token(&state, jar);
    let body = match hint {
        Some(hint) => password_form(&token, &hint, &return_to, None),
        None => email_form(&state, &token, &return_to, None),
    };
    Ok((jar, body).into_response())
}

/// Whether the sign-in page offers "Try without signing in".
fn guests_offered(state: &AppState) -> bool {
    state.config.sessions.guests && state.config.roles.contains(GUEST_ROLE)
}

fn email_form(state: &AppState, csrf: &str, return_to: &str, error: Option<&str>) -> Response {
    no_store(page(
        "Sign in",
        html! {
            h1 { "Sign in" }
            @if let Some(e) = error { p class="error" role="alert" { (e) } }
            form method="post" action="/login" {
                (csrf_field(csrf))
                input type="hidden" name="return_to" value=(return_to);
                label for="email" { "Email" }
                input id="email" type="email" name="email" autocomplete="username webauthn" required autofocus;
                button type="submit" { "Continue" }
            }
            @if guests_offered(state) {
                div class="divider" { span { "or" } }
                form method="post" action="/login/guest" {
                    (csrf_field(csrf))
                    input type="hidden" name="return_to" value=(return_to);
                    button type="submit" class="secondary wide-button" { "Try without signing in" }
                }
                p class="muted small" { "A guest session lasts " (state.config.sessions.guest / 3600) " hours; nothing is kept after it ends." }
            }
            // WebAuthn needs a host name in public_url: no button that can only fail.
            @if state.webauthn.is_some() { (super::passkey_signin(return_to)) }
            @if state.config.signup.form_open() {
                p class="muted" {
                    "New here? "
                    a href=(format!("{}?{}", super::signup::SIGNUP_PATH, url::form_urlencoded::Serializer::new(String::new()).append_pair("return_to", return_to).finish())) {
                        @if state.config.signup == SignupMode::Approval { "Request access" } @else { "Create an account" }
                    }
                }
            }
        },
    ))
}

fn password_form(csrf: &str, email: &str, return_to: &str, error: Option<&str>) -> Response {
    no_store(page(
        "Enter your password",
        html! {
            h1 { "Enter your password" }
            p { "Signing in as " strong { (email) } }
            @if let Some(e) = error { p class="error" role="alert" { (e) } }
            form method="post" action="/login/password" {
                (csrf_field(csrf))
                input type="hidden" name="return_to" value=(return_to);
                label for="email" { "Email" }
                input id="email" type="email" name="email" value=(email) autocomplete="username" required;
                label for="password" { "Password" }
                input id="password" type="password" name="password" autocomplete="current-password" required autofocus;
                button type="submit" { "Sign in" }
            }
            p class="muted" {
                a href=(format!("{}?{}", super::forgot::FORGOT_PATH, url::form_urlencoded::Serializer::new(String::new()).append_pair("email", email).finish())) { "Forgot password?" }
                " · "
                a href=(login_url(return_to, None)) { "Use another account" }
            }
        },
    ))
}

/// Step one: the email. A domain routed to an identity provider goes there; any other email
/// gets the password form.
pub async fn submit_email(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientIp(ip): ClientIp,
    CsrfForm(form): CsrfForm,
) -> Result<Response, ApiError> {
    let return_to = safe_return_to(form.get("return_to"));
    let (jar, token) = csrf::token(&state, jar);
    let email = normalize_email(form.get("email").unwrap_or_default());
    if !is_plausible_email(&email) {
        let mut r = email_form(
            &state,
            &token,
            &return_to,
            Some("Enter a valid email address."),
        );
        *r.status_mut() = StatusCode::BAD_REQUEST;
        return Ok((jar, r).into_response());
    }
    if idp_for_email(&state.config.idps, &email).is_some() {
        // A break-glass account (`local_login`) gets the password form; every other address
        // at a routed domain goes to its IdP.
        let user = state.store.user_by_email(&email).await?;
        let user_id = user.as_ref().map(|u| &u.id);
        if let Some(idp) = crate::idp::required_idp(&state, &email, user_id).await? {
            return Ok(super::idp::send_to_idp(
                &state,
                jar,
                idp,
                &email,
                &return_to,
                ip.as_deref(),
            )
            .await);
        }
    }
    Ok((jar, password_form(&token, &email, &return_to, None)).into_response())
}

/// Step two: the password. Rate-limited per IP (all attempts) and per account (failures).
pub async fn submit_password(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientIp(ip): ClientIp,
    UserAgent(user_agent): UserAgent,
    CsrfForm(form): CsrfForm,
) -> Result<Response, ApiError> {
    let return_to = safe_return_to(form.get("return_to"));
    let email = normalize_email(form.get("email").unwrap_or_default());
    let password = form.get("password").unwrap_or_default().to_string();
    let user = match check_password(&state, &email, password, ip.as_deref(), "password").await? {
        PasswordCheck::Passed(user) => user,
        PasswordCheck::RoutedToIdp(idp) => {
            return Ok(super::idp::must_use_idp(idp, &email, &return_to))
        }
        PasswordCheck::PendingApproval(user) => {
            return Ok(super::signup::waiting_page(
                &state,
                StatusCode::FORBIDDEN,
                &user.email,
            ))
        }
        PasswordCheck::Refused { remaining } => {
            let (jar, token) = csrf::token(&state, jar);
            let mut r = password_form(
                &token,
                &email,
                &return_to,
                Some("Incorrect email or password."),
            );
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            r.headers_mut().insert(
                crate::error::RATELIMIT_REMAINING,
                axum::http::HeaderValue::from(remaining),
            );
            return Ok((jar, r).into_response());
        }
    };
    after_password(
        &state,
        jar,
        &user,
        &return_to,
        SignedIn {
            amr: vec![ward_core::model::Amr::Pwd.into()],
            ip,
            user_agent,
            method: "password",
        },
    )
    .await
}

/// After a password proved who the user is (sign-in or sign-up): the second factor first when
/// the user has one, or enrolment when `mfa.required_roles` names the role and the user has
/// none — no session exists before that; otherwise the web session, and on to `return_to`.
pub async fn after_password(
    state: &AppState,
    jar: CookieJar,
    user: &User,
    return_to: &str,
    how: SignedIn,
) -> Result<Response, ApiError> {
    // A user who must choose a new password (the generated bootstrap admin) does that first,
    // then goes on (Keycloak's "update password" required action).
    let detour;
    let return_to = if state.store.password_change_required(&user.id).await? {
        detour = super::password::password_url(&safe_return_to(Some(return_to)));
        detour.as_str()
    } else {
        return_to
    };
    let mfa_on = crate::mfa::is_enabled(state, &user.id).await?;
    if mfa_on || crate::mfa::required_for(state, &user.role) {
        let purpose = if mfa_on {
            ChallengePurpose::Verify
        } else {
            ChallengePurpose::Enrol
        };
        let jar = super::mfa_login::start_challenge(state, jar, user, purpose, return_to, &how.amr)
            .await?;
        return Ok((jar, Redirect::to(super::mfa_login::MFA_PATH)).into_response());
    }
    let jar = finish_sign_in(state, jar, user, how).await?;
    Ok((jar, Redirect::to(&safe_return_to(Some(return_to)))).into_response())
}

/// `POST /login/guest`: "Try without signing in" (SPEC §2.5).
pub async fn start_guest(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientIp(ip): ClientIp,
    UserAgent(user_agent): UserAgent,
    CsrfForm(form): CsrfForm,
) -> Result<Response, ApiError> {
    let return_to = safe_return_to(form.get("return_to"));
    match crate::guest::start_guest(&state, GuestChannel::Web, ip, user_agent).await {
        Ok((_, GuestStart::Web { cookie, .. })) => Ok((
            jar.add(session_cookie(&state, cookie)),
            Redirect::to(&return_to),
        )
            .into_response()),
        Ok((_, GuestStart::Api { .. })) => {
            Err(ApiError::internal("guest web start gave a token session"))
        }
        Err(e) => Ok(error_page(&e)),
    }
}

pub async fn home(State(state): State<AppState>, jar: CookieJar) -> Result<Response, ApiError> {
    let signed_in = web_session(&state, &jar).await?;
    let (jar, token) = csrf::token(&state, jar);
    let body = match signed_in {
        Some((session, user)) => page(
            "Home",
            html! {
                h1 { "Signed in" }
                @if user.role == GUEST_ROLE {
                    p { "You are using " (crate::branding::product()) " as a " strong { "guest" } " until " (human_time(session.expires_at)) "." }
                } @else {
                    p { "You are signed in as " strong { (user.email) } " (" (user.role) ")." }
                }
                nav class="home-links" aria-label="Your pages" {
                    a href="/account/mfa" { strong { "Two-step verification" } span { "Authenticator app, security keys and passkeys" } }
                    a href="/account" { strong { "Your account" } span { "Profile, API tokens and sessions" } }
                    @if authz::is_admin_role(&state, &user.role) {
                        a href="/admin/users" { strong { "Users" } span { "Create users, change roles, disable" } }
                        a href="/admin/sessions" { strong { "Sessions" } span { "Everyone's sessions" } }
                        a href="/admin/audit" { strong { "Audit log" } span { "Who did what, and when" } }
                    }
                }
                form method="post" action="/logout" {
                    (csrf_field(&token))
                    button type="submit" class="secondary" { "Sign out" }
                }
            },
        ),
        None => page(
            "Welcome",
            html! {
                h1 { (crate::branding::product()) }
                p { "Sign in to continue." }
                p { a href="/login" { "Sign in" } }
            },
        ),
    };
    Ok((jar, no_store(body)).into_response())
}

pub async fn logout(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientIp(ip): ClientIp,
    _csrf: CsrfForm,
) -> Result<Response, ApiError> {
    if let Some((session, user)) = web_session(&state, &jar).await? {
        end_session(
            &state,
            &session,
            user.id.as_str(),
            ip.as_deref(),
            Via::Logout,
            None,
        )
        .await?;
    }
    let jar = jar.remove(Cookie::build(SESSION_COOKIE).path("/").build());
    Ok((jar, Redirect::to("/")).into_response())
}
