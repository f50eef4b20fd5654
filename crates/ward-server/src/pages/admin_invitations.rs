//! `/admin/invitations` (SPEC §2.14): invite an address (the link is shown once and mailed when
//! `[smtp]` is set), the invitations still open, and the sign-ups waiting for approval with
//! Approve and Deny. The same operations as the admin API (`ops::invitations`,
//! `ops::approval`), so the same audit events.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use maud::html;
use serde::Deserialize;
use ward_core::account::SignupMode;
use ward_core::UserId;

use crate::auth::Caller;
use crate::csrf::CsrfForm;
use crate::error::ApiError;
use crate::extract::ClientIp;
use crate::ops::invitations::MadeInvitation;
use crate::pages::admin::{admin_caller, frame};
use crate::pages::PageResult;
use crate::pages::{csrf_field, human_time, notice};
use crate::state::AppState;

pub const PATH: &str = "/admin/invitations";

#[derive(Deserialize, Default)]
pub struct InvitationsQuery {
    done: Option<String>,
}

/// `GET /admin/invitations`.
pub async fn page(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<InvitationsQuery>,
) -> PageResult {
    let caller = admin_caller(&state, &jar, PATH, false).await?;
    let ok = match q.done.as_deref() {
        Some("approved") => Some("The account was approved: it can sign in now."),
        Some("denied") => Some("The request was denied and removed."),
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
    made: Option<&MadeInvitation>,
) -> Result<Response, ApiError> {
    let invitations = crate::ops::invitations::open(state, caller).await?;
    let pending = crate::ops::approval::pending(state, caller).await?;
    let roles: Vec<&str> = state
        .config
        .roles
        .names()
        .filter(|r| *r != crate::guest::GUEST_ROLE)
        .collect();
    let default_role = state.config.default_role.clone();
    let mode = state.config.signup;
    let mut response = frame(state, jar, caller, "Invitations", PATH, |csrf| {
        html! {
            (notice(ok, error))
            p class="muted" {
                "Sign-up on this server: " strong { (mode.as_str()) } ". "
                @match mode {
                    SignupMode::Invite => "Only invited people can create an account.",
                    SignupMode::Approval => "Anyone can ask for an account; it waits for your approval below.",
                    SignupMode::Open => "Anyone can create an account; invitations pin an address and a role.",
                    SignupMode::Off => "Only admins create accounts; invitations let people choose their own password.",
                }
            }
            @if let Some(m) = made {
                section class="panel" id="invitation" aria-labelledby="invitation-h" {
                    h2 id="invitation-h" { "Invitation for " (m.email) }
                    p {
                        @if m.mailed { "It was mailed to " (m.email) ". " } @else { "Send this link to " (m.email) " yourself. " }
                        "It works once, until " (human_time(m.expires_at)) ", and is shown only now. The account gets the role " strong { (m.role) } "."
                    }
                    label for="invitation-url" { "Link" }
                    input id="invitation-url" type="text" readonly value=(m.url);
                }
            }
            section class="panel" aria-labelledby="pending-h" {
                h2 id="pending-h" { "Waiting for approval " span class="count" { (pending.len()) } }
                @if pending.is_empty() {
                    p class="muted" { "No one is waiting." }
                } @else {
                    div class="table-wrap" {
                        table id="pending" {
                            thead { tr { th { "Who" } th { "Asked" } th { span class="sr-only" { "Decision" } } } }
                            tbody {
                                @for u in &pending {
                                    tr id={ "pending-" (u.id) } {
                                        td { strong { (u.email) } br; span class="muted" { (u.name) } }
                                        td { (human_time(u.created_at)) }
                                        td class="actions-cell" {
                                            form method="post" action={ "/admin/requests/" (u.id) "/approve" } {
                                                (csrf_field(csrf))
                                                button type="submit" class="small" { "Approve" }
                                            }
                                            form method="post" action={ "/admin/requests/" (u.id) "/deny" } {
                                                (csrf_field(csrf))
                                                button type="submit" class="danger small" { "Deny" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            section class="panel" aria-labelledby="invite-h" {
                h2 id="invite-h" { "Invite someone" }
                form method="post" action=(PATH) class="create" {
                    (csrf_field(csrf))
                    div class="row" {
                        div {
                            label for="invite-email" { "Email" }
                            input id="invite-email" type="email" name="email" required autocomplete="off";
                        }
                        div {
                            label for="invite-role" { "Role" }
                            select id="invite-role" name="role" {
                                @for r in &roles { option value=(r) selected[*r == default_role] { (r) } }
                            }
                        }
                    }
                    button type="submit" { "Invite" }
                }
            }
            section class="panel" aria-labelledby="open-h" {
                h2 id="open-h" { "Open invitations " span class="count" { (invitations.len()) } }
                @if invitations.is_empty() {
                    p class="muted" { "None." }
                } @else {
                    div class="table-wrap" {
                        table {
                            thead { tr { th { "Email" } th { "Role" } th { "Until" } } }
                            tbody {
                                @for i in &invitations {
                                    tr {
                                        td { (i.email.as_deref().unwrap_or_default()) }
                                        td { (i.role.as_deref().unwrap_or_default()) }
                                        td { (human_time(i.expires_at)) }
                                    }
                                }
                            }
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

/// `POST /admin/invitations`.
pub async fn invite_form(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientIp(ip): ClientIp,
    CsrfForm(form): CsrfForm,
) -> PageResult {
    let caller = admin_caller(&state, &jar, PATH, true).await?;
    let made = crate::ops::invitations::invite(
        &state,
        &caller,
        ip.as_deref(),
        form.get("email").unwrap_or_default(),
        form.get("role"),
    )
    .await;
    match made {
        Ok(m) => Ok(render(&state, jar, &caller, None, None, Some(&m)).await?),
        Err(e) if e.status.is_client_error() => {
            Ok(render(&state, jar, &caller, None, Some(&e.description), None).await?)
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /admin/requests/{id}/{approve|deny}`.
pub async fn decide_form(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientIp(ip): ClientIp,
    Path((id, decision)): Path<(UserId, String)>,
    _csrf: CsrfForm,
) -> PageResult {
    let caller = admin_caller(&state, &jar, PATH, true).await?;
    let ip = ip.as_deref();
    let (result, done) = match decision.as_str() {
        "approve" => (
            crate::ops::approval::approve(&state, &caller, ip, &id).await,
            "approved",
        ),
        "deny" => (
            crate::ops::approval::deny(&state, &caller, ip, &id).await,
            "denied",
        ),
        _ => return Err(ApiError::not_found("no such decision: approve or deny").into()),
    };
    match result {
        Ok(_) => Ok(Redirect::to(&format!("{PATH}?done={done}")).into_response()),
        Err(e) if e.status.is_client_error() => {
            Ok(render(&state, jar, &caller, None, Some(&e.description), None).await?)
        }
        Err(e) => Err(e.into()),
    }
}
