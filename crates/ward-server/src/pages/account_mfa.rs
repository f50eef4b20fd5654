//! `/account/mfa`: two-step verification for the signed-in user — the authenticator app (TOTP
//! enrolment with a QR code, backup codes shown once) and security keys / passkeys.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use maud::html;
use ward_core::audit::Outcome;

use crate::auth::web_session;
use crate::csrf;
use crate::csrf::CsrfForm;
use crate::error::ApiError;
use crate::extract::FormParams;
use crate::guest::GUEST_ROLE;
use crate::pages::login::login_url;
use crate::pages::PageResult;
use crate::pages::{csrf_field, no_store, page};
use crate::state::AppState;

const PATH: &str = "/account/mfa";

pub async fn show(State(state): State<AppState>, jar: CookieJar) -> super::PageResult {
    let user = super::page_caller(&state, &jar, PATH).await?.user;
    let (jar, token) = csrf::token(&state, jar);
    let totp_on = state
        .store
        .totp_enrolment(&user.id)
        .await?
        .is_some_and(|e| e.confirmed);
    let remaining = if totp_on {
        state.store.backup_codes_remaining(&user.id).await?
    } else {
        0
    };
    let keys = state.store.webauthn_credentials_of_user(&user.id).await?;
    let body = page(
        "Two-step verification",
        html! {
            h1 { "Two-step verification" }
            p { a href="/" { "← Back" } }
            h2 { "Authenticator app" }
            @if totp_on {
                p { "On. " (remaining) " backup codes remaining." }
                form method="post" action="/account/mfa/backup-codes" {
                    (csrf_field(&token))
                    label for="codes-code" { "Code from your app, to make a new set of backup codes" }
                    input id="codes-code" class="code" type="text" name="code" inputmode="numeric" autocomplete="one-time-code" required;
                    button type="submit" { "New backup codes" }
                }
                form method="post" action="/account/mfa/disable" {
                    (csrf_field(&token))
                    label for="disable-code" { "Code from your app, to turn it off" }
                    input id="disable-code" class="code" type="text" name="code" inputmode="numeric" autocomplete="one-time-code" required;
                    button type="submit" class="secondary" { "Turn off authenticator app" }
                }
            } @else {
                p { "Use an app such as Google Authenticator, 1Password or Aegis for a 6-digit code at sign-in." }
                form method="post" action="/account/mfa/totp" {
                    (csrf_field(&token))
                    button type="submit" { "Set up authenticator app" }
                }
            }
            h2 { "Security keys and passkeys" }
            @if keys.is_empty() {
                p class="muted" { "None registered." }
            } @else {
                ul class="keys" {
                    @for k in &keys {
                        li {
                            strong { (k.name) } " · added " (crate::time::rfc3339(k.created_at))
                            form method="post" action=(format!("/account/mfa/keys/{}/remove", k.credential_id)) class="inline" {
                                (csrf_field(&token))
                                button type="submit" class="secondary" { "Remove" }
                            }
                        }
                    }
                }
            }
            @if user.role == GUEST_ROLE {
                p class="muted" { "Guests cannot register security keys." }
            } @else if state.webauthn.is_none() {
                p class="muted" {
                    "Security keys and passkeys need the server's public_url to use a host name (such as localhost), not an IP address."
                }
            } @else {
                label for="key-name" { "Name" }
                input id="key-name" type="text" name="key_name" value="Security key" maxlength="64";
                button type="button" data-webauthn="register" { "Add a security key or passkey" }
                p id="webauthn-status" class="muted" role="status" {}
                script src="/static/webauthn.js" defer {}
            }
        },
    );
    Ok((jar, no_store(body)).into_response())
}

/// `POST /account/mfa/totp`: a new secret with its QR code and a field for the first code;
/// `POST /account/mfa/totp/confirm` with that code turns it on and shows the backup codes.
pub async fn totp_start(
    State(state): State<AppState>,
    jar: CookieJar,
    _csrf: CsrfForm,
) -> Result<Response, ApiError> {
    let Some((session, user)) = web_session(&state, &jar).await? else {
        return Ok(Redirect::to(&login_url(PATH, None)).into_response());
    };
    let caller = crate::auth::cookie_caller(&state, session, user.clone());
    if let Some(reauth) = super::reauth::gate(&state, &caller, PATH) {
        return Ok(reauth);
    }
    if user.role == GUEST_ROLE {
        return Err(ApiError::forbidden(
            "guests cannot enrol in multi-factor authentication",
        ));
    }
    let material = crate::ops::mfa::start_enrolment(&state, &user.id, &user.email).await?;
    let (jar, token) = csrf::token(&state, jar);
    Ok((jar, enrol_page(&token, &material, None)).into_response())
}

fn enrol_page(csrf: &str, material: &ward_proto::TotpSetup, error: Option<&str>) -> Response {
    no_store(page(
        "Set up authenticator app",
        html! {
            h1 { "Set up authenticator app" }
            p { "Scan this QR code with your authenticator app, then enter the 6-digit code it shows." }
            @if let Some(e) = error { p class="error" role="alert" { (e) } }
            div class="qr" { (super::inline_svg(&material.qr_svg)) }
            p class="muted" { "Can't scan it? Enter this key: " code { (&material.secret) } }
            form method="post" action="/account/mfa/totp/confirm" {
                (csrf_field(csrf))
                label for="code" { "Code" }
                input id="code" class="code" type="text" name="code" inputmode="numeric" autocomplete="one-time-code" required autofocus;
                button type="submit" { "Turn on" }
            }
        },
    ))
}

pub async fn totp_confirm(
    State(state): State<AppState>,
    jar: CookieJar,
    CsrfForm(form): CsrfForm,
) -> Result<Response, ApiError> {
    let Some((session, user)) = web_session(&state, &jar).await? else {
        return Ok(Redirect::to(&login_url(PATH, None)).into_response());
    };
    let caller = crate::auth::cookie_caller(&state, session.clone(), user.clone());
    if let Some(reauth) = super::reauth::gate(&state, &caller, PATH) {
        return Ok(reauth);
    }
    let codes = match crate::ops::mfa::finish_enrolment(
        &state,
        &user.id,
        form.get("code").unwrap_or_default(),
    )
    .await
    {
        Ok(codes) => codes,
        Err(e) if e.retry_after.is_some() => return Err(e),
        Err(_) => {
            let material = crate::ops::mfa::start_enrolment(&state, &user.id, &user.email).await?;
            let (jar, token) = csrf::token(&state, jar);
            let mut r = enrol_page(
                &token,
                &material,
                Some("That code is not valid. Scan the new QR code and try again."),
            );
            *r.status_mut() = StatusCode::BAD_REQUEST;
            return Ok((jar, r).into_response());
        }
    };
    state
        .store
        .mark_session_mfa(
            &session.id,
            &crate::mfa::amr_with_otp(&session.amr),
            state.clock.now(),
        )
        .await?;
    crate::audit::record(
        &state,
        crate::audit::Audit::new("mfa.enabled", Outcome::Ok)
            .actor(user.id.as_str())
            .target(user.id.as_str()),
    )
    .await;
    Ok(super::backup_codes_page(&codes, PATH, "Done"))
}

/// The signed-in browser's caller for a form post to this page, or where to send it instead.
async fn form_caller(
    state: &AppState,
    jar: &CookieJar,
    form: &FormParams,
) -> Result<crate::auth::Caller, super::PageExit> {
    csrf::verify(state, jar, form.get("csrf_token").unwrap_or_default())?;
    super::page_caller(state, jar, PATH).await
}

/// A failed code re-shows nothing new: an error page with a way back (429 keeps Retry-After).
fn code_refused(e: &ApiError) -> Response {
    super::error_page(e)
}

/// `POST /account/mfa/disable`: turns the authenticator app and backup codes off, with a code.
pub async fn disable_form(
    State(state): State<AppState>,
    jar: CookieJar,
    crate::extract::ClientIp(ip): crate::extract::ClientIp,
    form: FormParams,
) -> PageResult {
    let caller = form_caller(&state, &jar, &form).await?;
    let code = form.get("code").unwrap_or_default();
    match crate::ops::mfa::disable(&state, &caller, ip.as_deref(), code).await {
        Ok(_) => Ok(Redirect::to(PATH).into_response()),
        Err(e) if e.status.is_server_error() => Err(e.into()),
        Err(e) => Ok(code_refused(&e)),
    }
}

/// `POST /account/mfa/backup-codes`: a new set of backup codes, with a code; shown once.
pub async fn backup_codes_form(
    State(state): State<AppState>,
    jar: CookieJar,
    crate::extract::ClientIp(ip): crate::extract::ClientIp,
    form: FormParams,
) -> PageResult {
    let caller = form_caller(&state, &jar, &form).await?;
    let code = form.get("code").unwrap_or_default();
    match crate::ops::mfa::regenerate_backup_codes(&state, &caller, ip.as_deref(), code).await {
        Ok(codes) => Ok(super::backup_codes_page(&codes, PATH, "Done")),
        Err(e) if e.status.is_server_error() => Err(e.into()),
        Err(e) => Ok(code_refused(&e)),
    }
}

/// `POST /account/mfa/keys/{id}/remove`: removes a security key (account security: a fresh
/// session, else `/reauth` first).
pub async fn remove_key_form(
    State(state): State<AppState>,
    jar: CookieJar,
    crate::extract::ClientIp(ip): crate::extract::ClientIp,
    axum::extract::Path(id): axum::extract::Path<String>,
    form: FormParams,
) -> PageResult {
    let caller = form_caller(&state, &jar, &form).await?;
    if let Some(reauth) = super::reauth::gate(&state, &caller, PATH) {
        return Ok(reauth);
    }
    match crate::ops::mfa::remove_security_key(&state, &caller, ip.as_deref(), &id).await {
        Ok(()) => Ok(Redirect::to(PATH).into_response()),
        Err(e) if e.status.is_server_error() => Err(e.into()),
        Err(e) => Ok(super::error_page(&e)),
    }
}
