//! The account page, `/account`: the profile, API tokens (create with the secret shown once,
//! list, revoke) and sessions (list with "this device" marked, revoke). Every form carries the
//! CSRF token; every action goes through the same functions as the API, so it writes the same
//! audit events.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar};
use maud::{html, Markup};
use serde::Deserialize;
use ward_core::SessionId;

use crate::auth::{Caller, SESSION_COOKIE};
use crate::authz;
use crate::csrf;
use crate::csrf::CsrfForm;
use crate::error::ApiError;
use crate::extract::ClientIp;
use crate::ops::sessions::{live_sessions, revoke_session, Via};
use crate::ops::tokens::{create_token, revoke_token};
use crate::pages::PageResult;
use crate::pages::{
    app_page, csrf_field, describe_agent, error_page, human_time, no_store, notice, page_caller,
    Nav,
};
use crate::state::AppState;

/// Expiry choices of the token form: (value, label, days).
const EXPIRY_CHOICES: [(&str, &str, Option<i64>); 4] = [
    ("30", "30 days", Some(30)),
    ("90", "90 days", Some(90)),
    ("365", "1 year", Some(365)),
    ("never", "Never", None),
];

#[derive(Deserialize)]
pub struct AccountQuery {
    done: Option<String>,
}

/// Fixed messages for `?done=`, so nothing from the URL is shown as text.
fn done_message(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "token-revoked" => Some("The API token was revoked. It stops working at once."),
        "session-revoked" => Some("The session was revoked. That device is signed out."),
        _ => None,
    }
}

#[derive(Default)]
struct Flash {
    ok: Option<String>,
    error: Option<String>,
    /// A token just created: its name and secret, shown this once.
    secret: Option<(String, String)>,
}

/// `GET /account`.
pub async fn account_page(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<AccountQuery>,
) -> PageResult {
    let caller = page_caller(&state, &jar, "/account").await?;
    let (jar, secret) = super::new_token::take(&state, jar, &caller);
    let flash = Flash {
        ok: done_message(q.done.as_deref()).map(str::to_string),
        secret,
        ..Flash::default()
    };
    Ok(render(&state, jar, &caller, flash, StatusCode::OK).await?)
}

async fn render(
    state: &AppState,
    jar: CookieJar,
    caller: &Caller,
    flash: Flash,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let (jar, csrf) = csrf::token(state, jar);
    let body = html! {
        (notice(flash.ok.as_deref(), flash.error.as_deref()))
        (profile_panel(state, caller))
        @if !authz::is_guest(caller) {
            (tokens_panel(state, caller, &csrf, flash.secret.as_ref()).await?)
        }
        (sessions_panel(state, caller, &csrf).await?)
    };
    let nav = Nav {
        email: &caller.user.email,
        admin: authz::is_admin_role(state, &caller.user.role),
        csrf: &csrf,
        active: "/account",
    };
    let mut response = no_store(app_page("Your account", &nav, body));
    *response.status_mut() = status;
    Ok((jar, response).into_response())
}

fn profile_panel(state: &AppState, caller: &Caller) -> Markup {
    let user = &caller.user;
    let permissions = state
        .config
        .roles
        .permissions_of(&user.role, &state.config.resources);
    let limits = state
        .config
        .roles
        .get(&user.role)
        .map(|r| r.limits.clone())
        .unwrap_or_default();
    html! {
        section class="panel" id="profile" aria-labelledby="profile-h" {
            h2 id="profile-h" { "Profile" }
            @if authz::is_guest(caller) {
                p class="note" {
                    "You are trying " (crate::branding::product()) " as a guest. This guest account and everything in it "
                    "are deleted when the session ends"
                    @if let Some(s) = &caller.session { ", on " strong { (human_time(s.expires_at)) } }
                    "."
                }
            }
            dl class="facts" {
                dt { "Email" }
                dd id="email" {
                    (user.email) " "
                    @if user.email_verified { span class="badge ok" { "verified" } }
                    @else { span class="badge" { "not verified" } }
                    @if user.password_hash.is_some() && !authz::is_guest(caller) {
                        " " a href="/account/email" id="change-email" { "Change email" }
                    }
                }
                dt { "Name" } dd { (user.name) }
                dt { "Role" } dd { span class="badge" { (user.role) } }
                dt { "Member since" } dd { (human_time(user.created_at)) }
                dt { "Permissions" }
                dd {
                    @if permissions.is_empty() { span class="muted" { "none" } }
                    ul class="pills" { @for p in &permissions { li { code { (p) } } } }
                }
                @if !limits.is_empty() {
                    dt { "Limits" }
                    dd {
                        ul class="pills" { @for (k, v) in &limits { li { (k) ": " strong { (v) } } } }
                    }
                }
                @if user.password_hash.is_some() {
                    dt { "Password" }
                    dd { a href="/account/password" id="change-password" { "Change password" } }
                }
                @if !authz::is_guest(caller) {
                    dt { "Two-step verification" }
                    dd { a href="/account/mfa" { "Authenticator app, backup codes, security keys" } }
                }
            }
        }
    }
}

async fn tokens_panel(
    state: &AppState,
    caller: &Caller,
    csrf: &str,
    secret: Option<&(String, String)>,
) -> Result<Markup, ApiError> {
    let now = state.clock.now();
    let tokens: Vec<_> = state
        .store
        .api_tokens_of_user(caller.user.id.as_str())
        .await?
        .into_iter()
        .filter(|t| t.unusable_reason(now).is_none())
        .collect();
    let grantable = state
        .config
        .roles
        .permissions_of(&caller.user.role, &state.config.resources);
    Ok(html! {
        section class="panel" id="tokens" aria-labelledby="tokens-h" {
            h2 id="tokens-h" { "API tokens" }
            p class="muted" { "For scripts and CI: send one as " code { "Authorization: Bearer <token>" } ". A token can do only what its scopes and your role allow." }
            @if let Some((name, value)) = secret {
                div class="secret" role="status" {
                    p { strong { "Token “" (name) "” created." } " Copy it now: it is not shown again." }
                    input type="text" id="new-token" readonly value=(value) aria-label="New API token";
                }
            }
            @if tokens.is_empty() {
                p class="empty" { "No API tokens yet." }
            } @else {
                div class="table-wrap" {
                    table {
                        thead { tr { th { "Name" } th { "Scopes" } th { "Created" } th { "Expires" } th { "Last used" } th { span class="sr-only" { "Actions" } } } }
                        tbody {
                            @for t in &tokens {
                                tr {
                                    td { strong { (t.name) } }
                                    td { ul class="pills" { @for s in &t.scopes { li { code { (s) } } } } }
                                    td { (human_time(t.created_at)) }
                                    td { @match t.expires_at { Some(e) => (human_time(e)), None => span class="muted" { "never" } } }
                                    td { @match t.last_used_at { Some(u) => (human_time(u)), None => span class="muted" { "never" } } }
                                    td class="actions-cell" {
                                        form method="post" action={ "/account/tokens/" (t.id) "/revoke" } {
                                            (csrf_field(csrf))
                                            button type="submit" class="danger small" aria-label={ "Revoke token " (t.name) } { "Revoke" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            form method="post" action="/account/tokens" class="create" {
                h3 { "New token" }
                (csrf_field(csrf))
                div class="row" {
                    div {
                        label for="token-name" { "Name" }
                        input id="token-name" type="text" name="name" maxlength="100" placeholder="e.g. ci-deploy" required autocomplete="off";
                    }
                    div {
                        label for="token-expires" { "Expires" }
                        select id="token-expires" name="expires" {
                            @for (value, label, _) in EXPIRY_CHOICES {
                                option value=(value) selected[value == "90"] { (label) }
                            }
                        }
                    }
                }
                fieldset {
                    legend { "Scopes" }
                    div class="checks" {
                        @for p in &grantable {
                            label class="check" {
                                input type="checkbox" name={ "scope." (p) } value="on";
                                code { (p) }
                            }
                        }
                    }
                }
                button type="submit" { "Create token" }
            }
        }
    })
}

async fn sessions_panel(state: &AppState, caller: &Caller, csrf: &str) -> Result<Markup, ApiError> {
    let sessions = live_sessions(state, Some(&caller.user.id)).await?;
    let current = caller.session.as_ref().map(|s| s.id.as_str());
    Ok(html! {
        section class="panel" id="sessions" aria-labelledby="sessions-h" {
            h2 id="sessions-h" { "Sessions" }
            p class="muted" { "Where you are signed in. Revoking a session signs that device out at once." }
            div class="table-wrap" {
                table {
                    thead { tr { th { "Device" } th { "Kind" } th { "IP" } th { "Signed in" } th { "Last active" } th { "Expires" } th { span class="sr-only" { "Actions" } } } }
                    tbody {
                        @for s in &sessions {
                            @let this = current == Some(s.id.as_str());
                            tr class=[this.then_some("current")] {
                                td {
                                    strong { (s.device_name.clone().or_else(|| describe_agent(s.user_agent.as_deref())).unwrap_or_else(|| fallback_device(s))) }
                                    @if this { " " span class="badge accent" { "This device" } }
                                }
                                td { (s.channel.as_str()) }
                                td { (s.ip.as_deref().unwrap_or("—")) }
                                td class="nowrap" { (human_time(s.created_at)) }
                                td class="nowrap" { (human_time(s.last_seen_at)) }
                                td class="nowrap" { (human_time(s.expires_at)) }
                                td class="actions-cell" {
                                    form method="post" action={ "/account/sessions/" (s.id) "/revoke" } {
                                        (csrf_field(csrf))
                                        button type="submit" class="danger small" {
                                            @if this { "Sign out" } @else { "Revoke" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    })
}

/// `POST /account/tokens`: creates a token and redirects to `/account#tokens`, which shows its
/// secret once (post/redirect/get, see [`super::new_token`]).
pub async fn create_token_form(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientIp(ip): ClientIp,
    CsrfForm(form): CsrfForm,
) -> PageResult {
    let caller = page_caller(&state, &jar, "/account").await?;
    if let Some(reauth) = super::reauth::gate(&state, &caller, "/account#tokens") {
        return Ok(reauth);
    }
    let name = form.get("name").unwrap_or_default().to_string();
    let mut scopes: Vec<String> = form
        .0
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .filter_map(|(k, _)| k.strip_prefix("scope.").map(str::to_string))
        .collect();
    scopes.sort();
    let expires = form.get("expires").unwrap_or("90");
    let days = EXPIRY_CHOICES
        .iter()
        .find(|(v, _, _)| *v == expires)
        .map(|(_, _, d)| *d)
        .ok_or_else(|| ApiError::bad_request("expires must be 30, 90, 365 or never"))?;
    let expires_at = days.map(|d| state.clock.now().plus_secs(d * 86_400));
    match create_token(&state, &caller, ip.as_deref(), &name, &scopes, expires_at).await {
        Ok((record, secret)) => {
            // Post/redirect/get: a reload of what follows creates nothing (decision 89).
            let jar = super::new_token::stash(&state, jar, &caller, record.name, secret)?;
            Ok((jar, Redirect::to("/account#tokens")).into_response())
        }
        Err(e) if e.status.is_client_error() => {
            let status = e.status;
            Ok(render(
                &state,
                jar,
                &caller,
                Flash {
                    error: Some(format!("The token was not created: {}", e.description)),
                    ..Flash::default()
                },
                status,
            )
            .await?)
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /account/tokens/{id}/revoke`.
pub async fn revoke_token_form(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    _csrf: CsrfForm,
) -> PageResult {
    let caller = page_caller(&state, &jar, "/account").await?;
    match revoke_token(&state, &caller, ip.as_deref(), &id).await {
        Ok(()) => Ok(Redirect::to("/account?done=token-revoked#tokens").into_response()),
        Err(e) => Ok(error_page(&e)),
    }
}

/// `POST /account/sessions/{id}/revoke`. Revoking the session of this browser signs it out.
pub async fn revoke_session_form(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientIp(ip): ClientIp,
    Path(id): Path<SessionId>,
    _csrf: CsrfForm,
) -> PageResult {
    let caller = page_caller(&state, &jar, "/account").await?;
    let current = caller.session.as_ref().is_some_and(|s| s.id == id);
    if !current {
        if let Some(reauth) = super::reauth::gate(&state, &caller, "/account#sessions") {
            return Ok(reauth);
        }
    }
    if let Err(e) = revoke_session(&state, &caller, ip.as_deref(), &id, Via::User).await {
        return Ok(error_page(&e));
    }
    if caller.session.as_ref().is_some_and(|s| s.id == id) {
        let jar = jar.remove(Cookie::build(SESSION_COOKIE).path("/").build());
        return Ok((jar, Redirect::to("/")).into_response());
    }
    Ok(Redirect::to("/account?done=session-revoked#sessions").into_response())
}

/// What to call a session whose device is unknown.
pub fn fallback_device(s: &ward_core::model::Session) -> String {
    match s.channel {
        ward_core::model::Channel::Web | ward_core::model::Channel::Guest => "Web browser".into(),
        _ => s.client_id.clone(),
    }
}
