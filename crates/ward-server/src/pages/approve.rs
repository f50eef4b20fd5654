//! `/approve/{id}`: approval from another device (SPEC §2.17). The signed-in owner sees which
//! resource is asked for, from which device and address, and when, and approves with a second
//! factor (or denies). The rules live in `ops::stepup`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use axum_extra::extract::cookie::CookieJar;
use maud::html;
use ward_core::stepup::VerifyRequest;

use crate::auth::Caller;
use crate::csrf;
use crate::csrf::CsrfForm;
use crate::error::ApiError;
use crate::extract::{ClientIp, FormParams};
use crate::ops::locks::Proof;
use crate::ops::stepup;
use crate::pages::PageResult;
use crate::pages::{
    csrf_field, describe_agent, error_page, human_time, message_page, no_store, page, page_caller,
};
use crate::state::AppState;

fn here(id: &str) -> String {
    // Only letters, digits and `_` reach a page: anything else is not a request id.
    let safe: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect();
    format!("/approve/{safe}")
}

/// `GET /approve/{id}`.
pub async fn approve_page(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(id): Path<String>,
) -> PageResult {
    let caller = page_caller(&state, &jar, &here(&id)).await?;
    let request = match stepup::for_owner(&state, caller.user.id.as_str(), &id).await {
        Ok(r) => r,
        Err(e) if e.status.is_client_error() => return Ok(error_page(&e)),
        Err(e) => return Err(e.into()),
    };
    let now = state.clock.now();
    if let Some(why) = ward_core::stepup::approval_refusal(&request, caller.user.id.as_str(), now) {
        return Ok(message_page(StatusCode::CONFLICT, "Cannot approve", why));
    }
    Ok(render(&state, jar, &caller, &request, None, StatusCode::OK).await?)
}

/// `POST /approve/{id}/passkey`: starts the passkey check for approving (the page's "Use a
/// passkey" button); `{"ceremony","options"}` for `navigator.credentials.get`.
pub async fn passkey_start(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(id): Path<String>,
    _csrf: CsrfForm,
) -> Result<Response, ApiError> {
    let caller = match page_caller(&state, &jar, &here(&id)).await {
        Ok(c) => c,
        Err(super::PageExit::Error(e)) => return Err(e),
        Err(super::PageExit::Respond(_)) => {
            return Err(ApiError::unauthorized("sign in again, then approve"))
        }
    };
    let started = stepup::start_approval_passkey(&state, &caller, &id).await?;
    Ok(Json(serde_json::json!({
        "ceremony": started.ceremony,
        "options": started.options,
    }))
    .into_response())
}

/// The proof an approving form brings: `code`, or `ceremony` and `webauthn` (the assertion as
/// JSON) from the passkey button.
fn proof_of(form: &FormParams) -> Result<Proof, ApiError> {
    let webauthn = match form.get("webauthn").filter(|w| !w.is_empty()) {
        Some(json) => Some(serde_json::from_str(json).map_err(|e| {
            ApiError::bad_request(format!(
                "webauthn is not a PublicKeyCredential as JSON: {e}"
            ))
        })?),
        None => None,
    };
    let code = form.get("code").map(str::to_string);
    let ceremony = form
        .get("ceremony")
        .filter(|c| !c.is_empty())
        .map(str::to_string);
    match (code, ceremony, webauthn) {
        (None, None, None) => Err(ApiError::bad_request(
            "enter a code from your authenticator app or a backup code, or use a passkey",
        )),
        (code, ceremony, webauthn) => Proof::from_parts(code, ceremony, webauthn),
    }
}

/// `POST /approve/{id}`: `decision=allow` with `code` (or `ceremony` and `webauthn`), or
/// `decision=deny`.
pub async fn submit(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm,
) -> PageResult {
    let caller = page_caller(&state, &jar, &here(&id)).await?;
    let approve = match form.get("decision") {
        Some("allow") => Some(proof_of(&form)?),
        Some("deny") => None,
        _ => return Err(ApiError::bad_request("decision must be allow or deny").into()),
    };
    let approving = approve.is_some();
    match stepup::decide(&state, &caller, &id, approve.as_ref(), ip.as_deref()).await {
        Ok(r) => {
            let target = format!("{}/{}", r.kind, r.resource_id);
            Ok(if approving {
                message_page(
                    StatusCode::OK,
                    "Approved",
                    &format!("Approved: the requesting device can now open {target}. You can close this page."),
                )
            } else {
                message_page(
                    StatusCode::OK,
                    "Denied",
                    &format!("Denied: the request to open {target} was refused."),
                )
            })
        }
        // A wrong code shows the form again with the reason; the rest is a message page.
        Err(e) if e.status == StatusCode::BAD_REQUEST && e.retry_after.is_none() => {
            match stepup::for_owner(&state, caller.user.id.as_str(), &id).await {
                Ok(request) => Ok(render(
                    &state,
                    jar,
                    &caller,
                    &request,
                    Some(&e.description),
                    e.status,
                )
                .await?),
                Err(e) => Ok(error_page(&e)),
            }
        }
        Err(e) if e.status.is_client_error() => Ok(error_page(&e)),
        Err(e) => Err(e.into()),
    }
}

async fn render(
    state: &AppState,
    jar: CookieJar,
    caller: &Caller,
    r: &VerifyRequest,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let methods = crate::mfa::methods(state, &caller.user.id).await?;
    let by_code = methods.contains(&"totp");
    let by_passkey = methods.contains(&"webauthn") && state.webauthn.is_some();
    let (jar, token) = csrf::token(state, jar);
    let action = here(&r.id);
    let now = state.clock.now();
    let minutes_ago = (now.0 - r.created_at.0).max(0) / 60;
    let agent = describe_agent(r.user_agent.as_deref());
    let mut response = no_store(page(
        "Approve access",
        html! {
            h1 { "Approve access" }
            p { "A device signed in as " strong { (caller.user.email) } " asks to open a locked resource." }
            dl class="request" {
                dt { "Resource" } dd { code { (r.kind) "/" (r.resource_id) } }
                dt { "Requesting device" } dd { (r.device_name.as_deref().unwrap_or("unnamed device")) @if let Some(a) = &agent { " (" (a) ")" } }
                dt { "Address" } dd { (r.ip.as_deref().unwrap_or("unknown")) }
                dt { "Requested" } dd { (human_time(r.created_at)) @if minutes_ago > 0 { " (" (minutes_ago) " min ago)" } }
            }
            p class="muted" { "Approve only if you started this yourself, just now." }
            @if let Some(e) = error { p class="error" role="alert" { (e) } }
            @if by_code {
                form method="post" action=(action) {
                    (csrf_field(&token))
                    label for="code" { "Code from your authenticator app, or a backup code" }
                    input id="code" class="code" type="text" name="code" inputmode="numeric" autocomplete="one-time-code" required autofocus;
                    button type="submit" name="decision" value="allow" { "Approve" }
                }
            }
            @if by_passkey {
                form id="approve-passkey" method="post" action=(action) {
                    (csrf_field(&token))
                    input type="hidden" name="decision" value="allow";
                    input type="hidden" name="ceremony" value="";
                    input type="hidden" name="webauthn" value="";
                    button type="button" class=(if by_code { "secondary" } else { "" }) data-webauthn="approve" data-start=(format!("{action}/passkey")) { "Use a passkey" }
                }
                p id="webauthn-status" role="status" {}
                script src="/static/webauthn.js" defer {}
            }
            @if !by_code && !by_passkey {
                p { "Approving needs a second factor: an authenticator app or a passkey." }
            }
            form method="post" action=(action) {
                (csrf_field(&token))
                button type="submit" class="secondary" name="decision" value="deny" { "Deny" }
            }
        },
    ))
    .into_response();
    *response.status_mut() = status;
    Ok((jar, response).into_response())
}
