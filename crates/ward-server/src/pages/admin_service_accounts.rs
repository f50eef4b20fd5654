//! `/admin/service-accounts` (SPEC §2.15): the service accounts with their tokens, a form to
//! make one, and per account: issue a token (its secret shown once), revoke a token, delete
//! the account. The same operations as the admin API (`ops::service_accounts`), so the same
//! rules and audit events; CSRF as on every admin form.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use maud::html;
use serde::Deserialize;

use crate::auth::Caller;
use crate::csrf::CsrfForm;
use crate::error::ApiError;
use crate::extract::ClientIp;
use crate::ops::service_accounts::{self as ops, TokenRequest};
use crate::pages::admin::{admin_caller, frame};
use crate::pages::PageResult;
use crate::pages::{csrf_field, human_time, notice};
use crate::state::AppState;

pub const PATH: &str = "/admin/service-accounts";

#[derive(Deserialize, Default)]
pub struct ServiceAccountsQuery {
    done: Option<String>,
}

/// A token just issued: shown once.
struct Issued {
    account: String,
    secret: String,
}

/// `GET /admin/service-accounts`.
pub async fn page(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<ServiceAccountsQuery>,
) -> PageResult {
    let caller = admin_caller(&state, &jar, PATH, false).await?;
    let ok = match q.done.as_deref() {
        Some("created") => Some("The service account was created: issue it a token below."),
        Some("deleted") => Some("The service account and its tokens were deleted."),
        Some("revoked") => Some("The token was revoked."),
        _ => None,
    };
    Ok(render(&state, jar, &caller, ok, None, None).await?)
}

async fn render(
    state: &AppState,
    jar: CookieJar,
    caller: &Caller,
    ok: Option<&str>,
    error: Option<&str>,
    issued: Option<&Issued>,
) -> Result<Response, ApiError> {
    let accounts = ops::list(state, caller).await?;
    let roles: Vec<&str> = state
        .config
        .roles
        .names()
        .filter(|r| *r != crate::guest::GUEST_ROLE)
        .collect();
    let mut response = frame(state, jar, caller, "Service accounts", PATH, |csrf| {
        html! {
            (notice(ok, error))
            p class="muted" {
                "A service account is a non-human identity with its own role: CI jobs, agents and other programs. "
                "It never signs in; it acts through its tokens, within its role and each token's scopes, "
                "and is the actor in the audit log of what they do."
            }
            @if let Some(i) = issued {
                section class="panel" id="issued" aria-labelledby="issued-h" {
                    h2 id="issued-h" { "New token for " (i.account) }
                    p { "Copy it now: it is shown only once." }
                    label for="issued-token" { "Token" }
                    input id="issued-token" type="text" readonly value=(i.secret);
                }
            }
            section class="panel" aria-labelledby="create-h" {
                h2 id="create-h" { "New service account" }
                form method="post" action=(PATH) class="create" {
                    (csrf_field(csrf))
                    div class="row" {
                        div {
                            label for="sa-name" { "Name" }
                            input id="sa-name" type="text" name="name" required maxlength="64"
                                pattern="[A-Za-z0-9._\\-]+" autocomplete="off";
                        }
                        div {
                            label for="sa-role" { "Role" }
                            select id="sa-role" name="role" {
                                @for r in &roles { option value=(r) { (r) } }
                            }
                        }
                    }
                    button type="submit" { "Create" }
                }
            }
            section class="panel" aria-labelledby="list-h" {
                h2 id="list-h" { "Service accounts " span class="count" { (accounts.len()) } }
                @if accounts.is_empty() {
                    p class="muted" { "None yet." }
                }
                @for l in &accounts {
                    @let a = &l.account;
                    article class="sa" id={ "sa-" (a.id) } {
                        h3 { (a.name) " " span class="muted" { "role " (a.role) " · " (a.id) } }
                        @if !l.tokens.is_empty() {
                            div class="table-wrap" {
                                table {
                                    thead { tr { th { "Token" } th { "Scopes" } th { "Expires" } th { "Last used" } th { span class="sr-only" { "Actions" } } } }
                                    tbody {
                                        @for t in &l.tokens {
                                            tr {
                                                td { (t.name) }
                                                td { (t.scopes.join(" ")) }
                                                td { @match t.expires_at { Some(e) => (human_time(e)), None => "never" } }
                                                td { @match t.last_used_at { Some(u) => (human_time(u)), None => "never" } }
                                                td class="actions-cell" {
                                                    @if t.revoked_at.is_some() {
                                                        span class="muted" { "revoked" }
                                                    } @else {
                                                        form method="post" action={ (PATH) "/" (a.id) "/revoke" } {
                                                            (csrf_field(csrf))
                                                            input type="hidden" name="token_id" value=(t.id);
                                                            button type="submit" class="danger small" { "Revoke" }
                                                        }
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        form method="post" action={ (PATH) "/" (a.id) "/token" } class="create" {
                            (csrf_field(csrf))
                            div class="row" {
                                div {
                                    label for={ "tn-" (a.id) } { "Token name" }
                                    input id={ "tn-" (a.id) } type="text" name="name" required maxlength="100" autocomplete="off";
                                }
                                div {
                                    label for={ "ts-" (a.id) } { "Scopes (space-separated)" }
                                    input id={ "ts-" (a.id) } type="text" name="scopes" required autocomplete="off"
                                        placeholder="containers:read";
                                }
                            }
                            button type="submit" class="small" { "Issue token" }
                        }
                        form method="post" action={ (PATH) "/" (a.id) "/delete" } {
                            (csrf_field(csrf))
                            button type="submit" class="danger small" { "Delete " (a.name) }
                        }
                    }
                }
            }
        }
    });
    if error.is_some() {
        *response.status_mut() = axum::http::StatusCode::BAD_REQUEST;
    }
    Ok(response)
}

/// `POST /admin/service-accounts`: make one.
pub async fn create_form(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientIp(ip): ClientIp,
    CsrfForm(form): CsrfForm,
) -> PageResult {
    let caller = admin_caller(&state, &jar, PATH, true).await?;
    let made = ops::create(
        &state,
        &caller,
        ip.as_deref(),
        form.get("name").unwrap_or_default(),
        form.get("role").unwrap_or_default(),
    )
    .await;
    match made {
        Ok(_) => Ok(Redirect::to(&format!("{PATH}?done=created")).into_response()),
        Err(e) if e.status.is_client_error() => {
            Ok(render(&state, jar, &caller, None, Some(&e.description), None).await?)
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /admin/service-accounts/{id}/{token|revoke|delete}`.
pub async fn action_form(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientIp(ip): ClientIp,
    Path((id, action)): Path<(String, String)>,
    CsrfForm(form): CsrfForm,
) -> PageResult {
    let caller = admin_caller(&state, &jar, PATH, true).await?;
    let ip = ip.as_deref();
    let result = match action.as_str() {
        "token" => {
            let scopes: Vec<String> = form
                .get("scopes")
                .unwrap_or_default()
                .split_ascii_whitespace()
                .map(str::to_string)
                .collect();
            let request = TokenRequest {
                name: form.get("name").unwrap_or_default(),
                scopes: &scopes,
                expires_at: None,
            };
            match ops::issue_token(&state, &caller, ip, &id, request).await {
                Ok((record, secret)) => {
                    let account = state
                        .store
                        .service_account_by_id(&record.user_id)
                        .await?
                        .map_or(id.clone(), |a| a.name);
                    let issued = Issued { account, secret };
                    return Ok(render(&state, jar, &caller, None, None, Some(&issued)).await?);
                }
                Err(e) => Err(e),
            }
        }
        "revoke" => {
            let token_id = form.get("token_id").unwrap_or_default();
            ops::revoke_token(&state, &caller, ip, &id, token_id)
                .await
                .map(|()| "revoked")
        }
        "delete" => ops::delete(&state, &caller, ip, &id)
            .await
            .map(|()| "deleted"),
        _ => return Err(ApiError::not_found("no such action: token, revoke or delete").into()),
    };
    match result {
        Ok(done) => Ok(Redirect::to(&format!("{PATH}?done={done}")).into_response()),
        Err(e) if e.status.is_client_error() => {
            Ok(render(&state, jar, &caller, None, Some(&e.description), None).await?)
        }
        Err(e) => Err(e.into()),
    }
}
