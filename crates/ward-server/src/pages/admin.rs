//! The admin pages: `/admin/users` (create, change role, disable/enable), `/admin/sessions`
//! (everyone's live sessions, revoke) and `/admin/audit` (the audit log, filtered and paged).
//! Actions go through the admin API's functions, so they write the same audit events.

use std::collections::HashMap;
use ward_core::SessionId;
use ward_core::UserId;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use maud::{html, Markup};
use serde::Deserialize;
use ward_core::model::AuditQuery;
use ward_core::store::UserCursor;

use crate::auth::Caller;
use crate::authz;
use crate::csrf;
use crate::csrf::CsrfForm;
use crate::error::ApiError;
use crate::extract::ClientIp;
use crate::ops::sessions::{admin_sessions, resolve_user, revoke_session, Via};
use crate::ops::users::MadeLink;
use crate::ops::users::{create_user_record, patch_user_record};
use crate::pages::{
    app_page, csrf_field, describe_agent, error_page, human_time, no_store, notice, page_caller,
    Nav,
};
use crate::pages::{PageExit, PageResult};
use crate::state::AppState;
use ward_proto::{CreateUser, PatchUser};

/// Events per audit page.
const AUDIT_PAGE: i64 = 50;

/// Users per users page.
const USERS_PAGE: i64 = 100;

/// The users page counts users this far and no further (a bounded read on every view; past it
/// the page says "10000+").
const USERS_COUNTED: i64 = 10_000;

/// The users page's count of `counted` users, read with a cap of [`USERS_COUNTED`] + 1.
fn users_total(counted: i64) -> String {
    if counted > USERS_COUNTED {
        format!("{USERS_COUNTED}+")
    } else {
        counted.to_string()
    }
}

/// Event types offered in the audit filter (any other type can be typed in).
const EVENT_TYPES: [&str; 21] = [
    "signin",
    "mfa.verify",
    "mfa.enabled",
    "mfa.disabled",
    "mfa.backup_codes",
    "lock",
    "unlock",
    "guest.created",
    "token.created",
    "token.revoked",
    "session.revoked",
    "role.changed",
    "user.created",
    "user.disabled",
    "user.enabled",
    "user.deleted",
    "user.recovery_link",
    "user.recovered",
    "mfa.reset",
    "password.changed",
    "policy.denied",
];

#[derive(Deserialize, Default)]
pub struct AdminQuery {
    done: Option<String>,
    user: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    before: Option<String>,
    /// The users page's cursor (keyset paging).
    after: Option<String>,
}

fn done_message(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "user-created" => Some("The user was created."),
        "role-changed" => Some("The role was changed. It applies to the user's next request."),
        "user-disabled" => {
            Some("The user was disabled; their sessions and API tokens were revoked.")
        }
        "user-enabled" => Some("The user was enabled."),
        "session-revoked" => Some("The session was revoked."),
        "mfa-reset" => Some(
            "The user's second factors were removed and their sessions signed out. They sign in with their password and enrol again if their role needs it.",
        ),
        "user-deleted" => Some(
            "The user was deleted with their sessions, API tokens and factors. Their audit events stay.",
        ),
        _ => None,
    }
}

/// The signed-in admin, or the response to send instead (sign-in redirect or 403 page).
pub(super) async fn admin_caller(
    state: &AppState,
    jar: &CookieJar,
    return_to: &str,
    write: bool,
) -> Result<Caller, PageExit> {
    let caller = page_caller(state, jar, return_to).await?;
    authz::require_admin(state, &caller, write).map_err(|e| PageExit::Respond(error_page(&e)))?;
    Ok(caller)
}

pub(super) fn frame(
    state: &AppState,
    jar: CookieJar,
    caller: &Caller,
    title: &str,
    active: &str,
    body: impl FnOnce(&str) -> Markup,
) -> Response {
    let (jar, csrf) = csrf::token(state, jar);
    let nav = Nav {
        email: &caller.user.email,
        admin: true,
        csrf: &csrf,
        active,
    };
    let markup = body(&csrf);
    (jar, no_store(app_page(title, &nav, markup))).into_response()
}

// ---------------------------------------------------------------- users

/// `GET /admin/users`.
pub async fn users_page(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<AdminQuery>,
) -> PageResult {
    let caller = admin_caller(&state, &jar, "/admin/users", false).await?;
    let after = q.after.as_deref().and_then(UserCursor::parse);
    Ok(render_users_after(
        &state,
        jar,
        &caller,
        done_message(q.done.as_deref()),
        None,
        None,
        after.as_ref(),
    )
    .await?)
}

async fn render_users(
    state: &AppState,
    jar: CookieJar,
    caller: &Caller,
    ok: Option<&str>,
    error: Option<&str>,
    link: Option<&MadeLink>,
) -> Result<Response, ApiError> {
    render_users_after(state, jar, caller, ok, error, link, None).await
}

/// The users page from the cursor `after` (the first page without one).
async fn render_users_after(
    state: &AppState,
    jar: CookieJar,
    caller: &Caller,
    ok: Option<&str>,
    error: Option<&str>,
    link: Option<&MadeLink>,
    after: Option<&UserCursor>,
) -> Result<Response, ApiError> {
    let users = state.store.users_page(after, USERS_PAGE).await?;
    let total = users_total(state.store.count_users_up_to(USERS_COUNTED + 1).await?);
    let next = (users.len() as i64 == USERS_PAGE)
        .then(|| users.last())
        .flatten()
        .map(|u| {
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            q.append_pair("after", &UserCursor::after(u).encode());
            format!("/admin/users?{}", q.finish())
        });
    let waiting: std::collections::HashSet<UserId> = state
        .store
        .pending_users()
        .await?
        .into_iter()
        .map(|u| u.id)
        .collect();
    let roles: Vec<&str> = state.config.roles.names().collect();
    let default_role = state.config.default_role.clone();
    let mut response = frame(state, jar, caller, "Users", "/admin/users", |csrf| {
        html! {
            (notice(ok, error))
            @if let Some(l) = link {
                section class="panel" id="recovery" aria-labelledby="recovery-h" {
                    h2 id="recovery-h" { "Recovery link for " (l.user.email) }
                    p { "Send this link to " (l.user.email) " yourself (chat, phone, in person). It works once, until " (human_time(l.expires_at)) ", and is shown only now. Using it sets a new password, removes their second factors and signs out their sessions." }
                    label for="recovery-url" { "Link" }
                    input id="recovery-url" type="text" readonly value=(l.url);
                }
            }
            section class="panel" aria-labelledby="users-h" {
                h2 id="users-h" { "All users " span class="count" { (total) } }
                div class="table-wrap" {
                    table {
                        thead { tr { th { "User" } th { "Role" } th { "Status" } th { "Created" } th { span class="sr-only" { "Actions" } } } }
                        tbody {
                            @for u in &users {
                                @let me = u.id == caller.user.id;
                                tr class=[u.disabled.then_some("disabled")] {
                                    td {
                                        strong { (u.email) }
                                        @if me { " " span class="badge accent" { "you" } }
                                        br; span class="muted" { (u.name) }
                                    }
                                    td {
                                        form method="post" action={ "/admin/users/" (u.id) "/role" } class="inline" {
                                            (csrf_field(csrf))
                                            label class="sr-only" for={ "role-" (u.id) } { "Role of " (u.email) }
                                            select id={ "role-" (u.id) } name="role" {
                                                @for r in &roles {
                                                    option value=(r) selected[*r == u.role] { (r) }
                                                }
                                            }
                                            button type="submit" class="secondary small" { "Change" }
                                        }
                                    }
                                    td {
                                        @if waiting.contains(&u.id) { a class="badge" href="/admin/invitations" { "Waiting for approval" } }
                                        @else if u.disabled { span class="badge danger" { "Disabled" } }
                                        @else { span class="badge ok" { "Active" } }
                                    }
                                    td { (human_time(u.created_at)) }
                                    td class="actions-cell" {
                                        @if !me {
                                            form method="post" action={ "/admin/users/" (u.id) "/recovery" } {
                                                (csrf_field(csrf))
                                                button type="submit" class="secondary small" { "Recovery link" }
                                            }
                                            form method="post" action={ "/admin/users/" (u.id) "/mfa-reset" } {
                                                (csrf_field(csrf))
                                                button type="submit" class="secondary small" { "Reset MFA" }
                                            }
                                            details class="danger-zone" id={ "delete-" (u.id) } {
                                                summary { "Delete…" }
                                                form method="post" action={ "/admin/users/" (u.id) "/delete" } {
                                                    (csrf_field(csrf))
                                                    label {
                                                        input type="checkbox" name="confirm" value="yes" required;
                                                        " Delete " (u.email) ", their sessions, tokens and factors"
                                                    }
                                                    button type="submit" class="danger small" { "Delete user" }
                                                }
                                            }
                                            @if u.disabled {
                                                form method="post" action={ "/admin/users/" (u.id) "/enable" } {
                                                    (csrf_field(csrf))
                                                    button type="submit" class="secondary small" { "Enable" }
                                                }
                                            } @else {
                                                form method="post" action={ "/admin/users/" (u.id) "/disable" } {
                                                    (csrf_field(csrf))
                                                    button type="submit" class="danger small" { "Disable" }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                @if after.is_some() || next.is_some() {
                    nav class="pager" aria-label="Pages" {
                        @if after.is_some() { a href="/admin/users" { "← First" } }
                        @if let Some(n) = &next { a href=(n) { "Next →" } }
                    }
                }
            }
            section class="panel" aria-labelledby="new-user-h" {
                h2 id="new-user-h" { "Create a user" }
                form method="post" action="/admin/users" class="create" {
                    (csrf_field(csrf))
                    div class="row" {
                        div {
                            label for="new-email" { "Email" }
                            input id="new-email" type="email" name="email" required autocomplete="off";
                        }
                        div {
                            label for="new-name" { "Name " span class="muted" { "(optional)" } }
                            input id="new-name" type="text" name="name" autocomplete="off";
                        }
                    }
                    div class="row" {
                        div {
                            label for="new-password" { "Password " span class="muted" { "(optional: without one, the user signs in through an identity provider)" } }
                            input id="new-password" type="password" name="password" autocomplete="new-password" minlength="8";
                        }
                        div {
                            label for="new-role" { "Role" }
                            select id="new-role" name="role" {
                                @for r in &roles { option value=(r) selected[*r == default_role] { (r) } }
                            }
                        }
                    }
                    button type="submit" { "Create user" }
                }
            }
        }
    });
    if error.is_some() {
        *response.status_mut() = axum::http::StatusCode::BAD_REQUEST;
    }
    Ok(response)
}

/// `POST /admin/users`.
pub async fn create_user_form(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientIp(ip): ClientIp,
    CsrfForm(form): CsrfForm,
) -> PageResult {
    let caller = admin_caller(&state, &jar, "/admin/users", true).await?;
    let req = CreateUser {
        email: form.get("email").unwrap_or_default().to_string(),
        password: form.get("password").map(str::to_string),
        role: form.get("role").map(str::to_string),
        name: form.get("name").map(str::to_string),
    };
    match create_user_record(&state, &caller, ip.as_deref(), req).await {
        Ok(_) => Ok(Redirect::to("/admin/users?done=user-created").into_response()),
        Err(e) if e.status.is_client_error() => {
            let message = format!("The user was not created: {}", e.description);
            Ok(render_users(&state, jar, &caller, None, Some(&message), None).await?)
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /admin/users/{id}/{role|disable|enable}`.
pub async fn user_action_form(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientIp(ip): ClientIp,
    Path((id, action)): Path<(UserId, String)>,
    CsrfForm(form): CsrfForm,
) -> PageResult {
    let caller = admin_caller(&state, &jar, "/admin/users", true).await?;
    let ip = ip.as_deref();
    let account_action = match action.as_str() {
        "recovery" => Some(
            crate::ops::users::recovery_link(&state, &caller, ip, &id)
                .await
                .map(Some),
        ),
        "mfa-reset" => Some(
            crate::ops::users::reset_mfa(&state, &caller, ip, &id)
                .await
                .map(|_| None),
        ),
        "delete" => {
            if form.get("confirm") != Some("yes") {
                return Ok(render_users(
                    &state,
                    jar,
                    &caller,
                    None,
                    Some("Tick the box to confirm the deletion."),
                    None,
                )
                .await?);
            }
            Some(
                crate::ops::users::delete_user(&state, &caller, ip, &id)
                    .await
                    .map(|_| None),
            )
        }
        _ => None,
    };
    if let Some(result) = account_action {
        return match result {
            Ok(Some(link)) => {
                Ok(render_users(&state, jar, &caller, None, None, Some(&link)).await?)
            }
            Ok(None) => {
                let done = if action == "delete" {
                    "user-deleted"
                } else {
                    "mfa-reset"
                };
                Ok(Redirect::to(&format!("/admin/users?done={done}")).into_response())
            }
            Err(e) if e.status.is_client_error() => {
                Ok(render_users(&state, jar, &caller, None, Some(&e.description), None).await?)
            }
            Err(e) => Err(e.into()),
        };
    }
    let (req, done) = match action.as_str() {
        "role" => (
            PatchUser {
                role: Some(form.require("role")?.to_string()),
                disabled: None,
                local_login: None,
            },
            "role-changed",
        ),
        "disable" => (
            PatchUser {
                role: None,
                disabled: Some(true),
                local_login: None,
            },
            "user-disabled",
        ),
        "enable" => (
            PatchUser {
                role: None,
                disabled: Some(false),
                local_login: None,
            },
            "user-enabled",
        ),
        _ => return Err(ApiError::not_found("no such action").into()),
    };
    match patch_user_record(&state, &caller, ip, &id, req).await {
        Ok(_) => Ok(Redirect::to(&format!("/admin/users?done={done}")).into_response()),
        Err(e) if e.status.is_client_error() => {
            Ok(render_users(&state, jar, &caller, None, Some(&e.description), None).await?)
        }
        Err(e) => Err(e.into()),
    }
}

// ---------------------------------------------------------------- sessions

/// `GET /admin/sessions?user=`.
pub async fn sessions_page(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<AdminQuery>,
) -> PageResult {
    let caller = admin_caller(&state, &jar, "/admin/sessions", false).await?;
    let filter = q.user.clone().unwrap_or_default();
    let (sessions, next, error) =
        match admin_sessions(&state, Some(&filter), q.before.as_deref(), None).await {
            Ok(page) => (page.sessions, page.next, None),
            Err(e) if e.status.is_client_error() => (Vec::new(), None, Some(e.description)),
            Err(e) => return Err(e.into()),
        };
    let older = next.map(|cursor| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if !filter.is_empty() {
            q.append_pair("user", &filter);
        }
        q.append_pair("before", &cursor);
        format!("/admin/sessions?{}", q.finish())
    });
    let paged = q.before.is_some();
    let current = caller.session.as_ref().map(|s| s.id.clone());
    let ok = done_message(q.done.as_deref());
    Ok(frame(
        &state,
        jar,
        &caller,
        "Sessions",
        "/admin/sessions",
        |csrf| {
            html! {
                (notice(ok, error.as_deref()))
                form method="get" action="/admin/sessions" class="filters" role="search" {
                    div {
                        label for="filter-user" { "User (email or id)" }
                        input id="filter-user" type="text" name="user" value=(filter) autocomplete="off";
                    }
                    button type="submit" class="secondary" { "Filter" }
                    @if !filter.is_empty() { a href="/admin/sessions" { "Show all" } }
                }
                section class="panel" aria-labelledby="sessions-h" {
                    h2 id="sessions-h" { "Live sessions " span class="count" { (sessions.len()) } }
                    @if sessions.is_empty() {
                        p class="empty" { "No live sessions." }
                    } @else {
                        div class="table-wrap" {
                            table {
                                thead { tr { th { "User" } th { "Device" } th { "Kind" } th { "IP" } th { "Signed in" } th { "Last active" } th { "Expires" } th { span class="sr-only" { "Actions" } } } }
                                tbody {
                                    @for s in &sessions {
                                        @let this = current.as_ref().map(SessionId::as_str) == Some(s.id.as_str());
                                        tr class=[this.then_some("current")] {
                                            td { (s.email.as_deref().unwrap_or(&s.user_id)) }
                                            td {
                                                (s.device_name.clone().or_else(|| describe_agent(s.user_agent.as_deref())).unwrap_or_else(|| match s.channel.as_str() {
                                                "web" | "guest" => "Web browser".to_string(),
                                                _ => s.client_id.clone(),
                                            }))
                                                @if this { " " span class="badge accent" { "This device" } }
                                            }
                                            td { (s.channel) }
                                            td { (s.ip.as_deref().unwrap_or("—")) }
                                            td class="nowrap" { (short_time(&s.created_at)) }
                                            td class="nowrap" { (short_time(&s.last_seen_at)) }
                                            td class="nowrap" { (short_time(&s.expires_at)) }
                                            td class="actions-cell" {
                                                form method="post" action={ "/admin/sessions/" (s.id) "/revoke" } {
                                                    (csrf_field(csrf))
                                                    input type="hidden" name="user" value=(filter);
                                                    button type="submit" class="danger small" { "Revoke" }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @if paged || older.is_some() {
                        nav class="pager" aria-label="Pages" {
                            @if paged { a href="/admin/sessions" { "← Newest" } }
                            @if let Some(o) = &older { a href=(o) { "Older →" } }
                        }
                    }
                }
            }
        },
    ))
}

/// `2026-11-25T10:31:00Z` → `2026-11-25 10:31 UTC`.
fn short_time(rfc3339: &str) -> String {
    match (rfc3339.get(..10), rfc3339.get(11..16)) {
        (Some(d), Some(t)) => format!("{d} {t} UTC"),
        _ => rfc3339.to_string(),
    }
}

/// `POST /admin/sessions/{id}/revoke`.
pub async fn revoke_session_form(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientIp(ip): ClientIp,
    Path(id): Path<SessionId>,
    CsrfForm(form): CsrfForm,
) -> PageResult {
    let caller = admin_caller(&state, &jar, "/admin/sessions", true).await?;
    if let Err(e) = revoke_session(&state, &caller, ip.as_deref(), &id, Via::Admin).await {
        return Ok(error_page(&e));
    }
    if caller.session.as_ref().is_some_and(|s| s.id == id) {
        return Ok(Redirect::to("/").into_response());
    }
    let mut to = String::from("/admin/sessions?");
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("done", "session-revoked");
    if let Some(user) = form.get("user") {
        q.append_pair("user", user);
    }
    to.push_str(&q.finish());
    Ok(Redirect::to(&to).into_response())
}

// ---------------------------------------------------------------- audit

/// `GET /admin/audit?user=&type=&before=`.
pub async fn audit_page(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<AdminQuery>,
) -> PageResult {
    let caller = admin_caller(&state, &jar, "/admin/audit", false).await?;
    let user_filter = q.user.clone().unwrap_or_default();
    let type_filter = q.event_type.clone().unwrap_or_default();
    let mut error = None;
    let user_id = match user_filter.trim() {
        "" => None,
        u => match resolve_user(&state, u).await {
            Ok(id) => Some(id.into_string()),
            // An id that is no user any more (a swept guest) still filters.
            Err(_) if !u.contains('@') => Some(u.to_string()),
            Err(e) => {
                error = Some(e.description);
                None
            }
        },
    };
    let before = q.before.as_deref().and_then(|c| {
        c.split_once('.')
            .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
    });
    let rows = if error.is_some() {
        Vec::new()
    } else {
        state
            .store
            .audit_events(&AuditQuery {
                user_id,
                event_type: Some(type_filter.trim().to_string()).filter(|t| !t.is_empty()),
                before,
                limit: AUDIT_PAGE,
            })
            .await?
    };
    // The emails of the users this page names, not of every user.
    let named: Vec<UserId> = rows
        .iter()
        .flat_map(|(e, _)| [e.actor_user_id.clone(), e.target.clone()])
        .flatten()
        .map(UserId::from)
        .collect();
    let emails: HashMap<UserId, String> = state
        .store
        .users_by_ids(&named)
        .await?
        .into_iter()
        .map(|u| (u.id, u.email))
        .collect();
    let next = (rows.len() as i64 == AUDIT_PAGE)
        .then(|| rows.last().map(|(_, (at, seq))| format!("{at}.{seq}")))
        .flatten()
        .map(|cursor| {
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            if !user_filter.is_empty() {
                q.append_pair("user", &user_filter);
            }
            if !type_filter.is_empty() {
                q.append_pair("type", &type_filter);
            }
            q.append_pair("before", &cursor);
            format!("/admin/audit?{}", q.finish())
        });
    let first_page = {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if !user_filter.is_empty() {
            q.append_pair("user", &user_filter);
        }
        if !type_filter.is_empty() {
            q.append_pair("type", &type_filter);
        }
        format!("/admin/audit?{}", q.finish())
    };
    let who = |id: &Option<String>| -> Markup {
        match id {
            Some(id) => match emails.get(id.as_str()) {
                Some(email) => html! { span title=(id) { (email) } },
                None => short_id(id),
            },
            None => html! { span class="muted" { "—" } },
        }
    };
    Ok(frame(
        &state,
        jar,
        &caller,
        "Audit log",
        "/admin/audit",
        |_| {
            html! {
                (notice(None, error.as_deref()))
                form method="get" action="/admin/audit" class="filters" role="search" {
                    div {
                        label for="filter-user" { "User (email or id)" }
                        input id="filter-user" type="text" name="user" value=(user_filter) autocomplete="off";
                    }
                    div {
                        label for="filter-type" { "Event type" }
                        input id="filter-type" type="text" name="type" value=(type_filter) list="event-types" autocomplete="off";
                        datalist id="event-types" { @for t in EVENT_TYPES { option value=(t) {} } }
                    }
                    button type="submit" class="secondary" { "Filter" }
                    @if !user_filter.is_empty() || !type_filter.is_empty() { a href="/admin/audit" { "Clear" } }
                }
                section class="panel" aria-labelledby="audit-h" {
                    h2 id="audit-h" { "Events" span class="muted small" { " newest first" } }
                    @if rows.is_empty() {
                        p class="empty" { "No events match." }
                    } @else {
                        div class="table-wrap" {
                            table class="audit" {
                                thead { tr { th { "Time" } th { "Event" } th { "Outcome" } th { "Actor" } th { "IP" } th { "Target" } th { "Details" } } }
                                tbody {
                                    @for (e, _) in &rows {
                                        tr {
                                            td class="nowrap" { (human_time(e.at)) }
                                            td { code { (e.event_type) } }
                                            td {
                                                @let class = match e.outcome.as_str() { "ok" => "badge ok", "failed" | "denied" => "badge danger", _ => "badge" };
                                                span class=(class) { (e.outcome) }
                                            }
                                            td { (who(&e.actor_user_id)) }
                                            td { (e.actor_ip.as_deref().unwrap_or("—")) }
                                            td { (who(&e.target)) }
                                            td class="details" { (details(&e.detail)) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    nav class="pager" aria-label="Pages" {
                        @if before.is_some() { a href=(first_page) { "← Newest" } }
                        @if let Some(n) = &next { a href=(n) { "Older →" } }
                    }
                }
            }
        },
    ))
}

/// An event's JSON details as `key: value` pairs.
fn details(detail: &str) -> Markup {
    let value: serde_json::Value = serde_json::from_str(detail).unwrap_or_default();
    html! {
        @if let Some(map) = value.as_object() {
            @for (k, v) in map {
                span class="kv" {
                    span class="k" { (k) }
                    " "
                    @match v {
                        serde_json::Value::String(s) if k.ends_with("_id") => (short_id(s)),
                        serde_json::Value::String(s) => (s),
                        other => (other.to_string()),
                    }
                }
            }
        }
    }
}

/// An id in a table: whole when short (`terminal/t1`), else its first 10 characters with the
/// whole id as the tooltip (random 32-hex ids).
fn short_id(id: &str) -> Markup {
    if id.chars().count() <= 16 {
        html! { code { (id) } }
    } else {
        html! { code title=(id) { (id.chars().take(10).collect::<String>()) "…" } }
    }
}

// ---------------------------------------------------------------- mail

/// `GET /admin/mail`: mail not delivered yet (the outbox), with the last error of each.
pub async fn mail_page(State(state): State<AppState>, jar: CookieJar) -> PageResult {
    let caller = admin_caller(&state, &jar, "/admin/mail", false).await?;
    let waiting = state.store.undelivered_mail(200).await?;
    let enabled = crate::mail::enabled(&state);
    Ok(frame(&state, jar, &caller, "Mail", "/admin/mail", |_| {
        html! {
            section class="panel" id="outbox" aria-labelledby="outbox-h" {
                h2 id="outbox-h" { "Undelivered mail " span class="count" { (waiting.len()) } }
                @if !enabled {
                    p class="muted" { "This server sends no mail: set [smtp] url in the configuration. Recovery links are made on the Users page." }
                } @else if waiting.is_empty() {
                    p class="muted" { "Every mail was delivered." }
                } @else {
                    p class="muted" { "These wait for the mail server and are retried (after 30 s, doubling up to an hour). Sign-in never waits for them." }
                    div class="table-wrap" {
                        table class="outbox" {
                            thead { tr { th { "To" } th { "Subject" } th { "Queued" } th { "Tries" } th { "Last error" } } }
                            tbody {
                                @for m in &waiting {
                                    tr {
                                        td { (m.recipient) }
                                        td { (m.subject) }
                                        td { (human_time(m.created_at)) }
                                        td { (m.attempts) }
                                        td class="details" { (m.last_error.as_deref().unwrap_or("not tried yet")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }))
}
