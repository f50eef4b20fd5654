//! The second step of sign-in: a TOTP or backup code (`/login/mfa`), or, when policy requires
//! MFA and the user has none, enrolment (`/login/mfa/enrol`). Until it passes no session exists;
//! the pending sign-in is a short-lived, single-use challenge named by a cookie.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use maud::html;
use ward_core::audit::Outcome;
use ward_core::model::{ChallengePurpose, MfaChallenge, User};
use ward_core::token::{new_opaque_secret, token_hash};

use crate::audit::{self, Audit};
use crate::csrf;
use crate::csrf::CsrfForm;
use crate::error::{ApiError, RATELIMIT_REMAINING};
use crate::extract::{ClientIp, UserAgent};
use crate::mfa::{amr_with_otp, verify_code};
use crate::ops::web_sign_in::{clear_challenge, pending, MFA_COOKIE};
use crate::pages::login::{finish_sign_in, login_url, SignedIn};
use crate::pages::{csrf_field, message_page, no_store, page};
use crate::state::AppState;

pub const MFA_PATH: &str = "/login/mfa";
/// A pending sign-in waits at most this long for its second factor.
const CHALLENGE_SECS: i64 = 300;

pub async fn start_challenge(
    state: &AppState,
    jar: CookieJar,
    user: &User,
    purpose: ChallengePurpose,
    return_to: &str,
    amr: &[String],
) -> Result<CookieJar, ApiError> {
    let now = state.clock.now();
    let token = new_opaque_secret(state.random.as_ref());
    state
        .store
        .insert_mfa_challenge(&MfaChallenge {
            token_hash: token_hash(&token),
            user_id: user.id.clone(),
            purpose,
            return_to: return_to.to_string(),
            amr: amr.to_vec(),
            created_at: now,
            expires_at: now.plus_secs(CHALLENGE_SECS),
        })
        .await?;
    let cookie = Cookie::build((MFA_COOKIE, token))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.secure_cookies)
        .build();
    Ok(jar.add(cookie))
}

fn expired() -> Response {
    Redirect::to(&login_url("/", None)).into_response()
}

fn code_form(csrf: &str, email: &str, security_key: Option<&str>, error: Option<&str>) -> Response {
    no_store(page(
        "Two-step verification",
        html! {
            h1 { "Two-step verification" }
            p { "Enter the 6-digit code from your authenticator app for " strong { (email) } ", or one of your backup codes." }
            @if let Some(e) = error { p class="error" role="alert" { (e) } }
            form method="post" action=(MFA_PATH) {
                (csrf_field(csrf))
                label for="code" { "Code" }
                input id="code" class="code" type="text" name="code" inputmode="numeric"
                    autocomplete="one-time-code" required autofocus;
                button type="submit" { "Verify" }
            }
            @if let Some(return_to) = security_key { (super::security_key_button(return_to)) }
        },
    ))
}

async fn enrol_form(
    state: &AppState,
    csrf: &str,
    user: &User,
    error: Option<&str>,
) -> Result<Response, ApiError> {
    let material = crate::ops::mfa::start_enrolment(state, &user.id, &user.email).await?;
    let svg = material.qr_svg.as_str();
    let secret = material.secret.as_str();
    Ok(no_store(page(
        "Set up two-step verification",
        html! {
            h1 { "Set up two-step verification" }
            p { "Your role requires a second factor. Scan this code with an authenticator app, then enter the 6-digit code it shows." }
            @if let Some(e) = error { p class="error" role="alert" { (e) } }
            div class="qr" { (super::inline_svg(svg)) }
            p class="muted" { "Can't scan it? Enter this key: " code { (secret) } }
            form method="post" action="/login/mfa/enrol" {
                (csrf_field(csrf))
                label for="code" { "Code" }
                input id="code" class="code" type="text" name="code" inputmode="numeric"
                    autocomplete="one-time-code" required autofocus;
                button type="submit" { "Turn on and continue" }
            }
        },
    )))
}

/// Where the security-key button returns to, when the user has a security key.
async fn key_return(
    state: &AppState,
    challenge: &MfaChallenge,
) -> Result<Option<String>, ApiError> {
    let has_key = !state
        .store
        .webauthn_credentials_of_user(&challenge.user_id)
        .await?
        .is_empty();
    Ok(has_key.then(|| challenge.return_to.clone()))
}

pub async fn mfa_page(State(state): State<AppState>, jar: CookieJar) -> Result<Response, ApiError> {
    let Some((challenge, user)) = pending(&state, &jar).await? else {
        return Ok(expired());
    };
    let (jar, token) = csrf::token(&state, jar);
    let body = match challenge.purpose {
        ChallengePurpose::Verify => code_form(
            &token,
            &user.email,
            key_return(&state, &challenge).await?.as_deref(),
            None,
        ),
        ChallengePurpose::Enrol => {
            return Ok(Redirect::to("/login/mfa/enrol")
                .into_response()
                .with_jar(jar))
        }
    };
    Ok((jar, body).into_response())
}

trait WithJar {
    fn with_jar(self, jar: CookieJar) -> Response;
}

impl WithJar for Response {
    fn with_jar(self, jar: CookieJar) -> Response {
        (jar, self).into_response()
    }
}

pub async fn submit_code(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientIp(ip): ClientIp,
    UserAgent(user_agent): UserAgent,
    CsrfForm(form): CsrfForm,
) -> Result<Response, ApiError> {
    let Some((challenge, user)) = pending(&state, &jar).await? else {
        return Ok(expired());
    };
    if challenge.purpose != ChallengePurpose::Verify {
        return Ok(Redirect::to("/login/mfa/enrol").into_response());
    }
    let code = form.get("code").unwrap_or_default();
    if let Err(e) = verify_code(&state, &user.id, code).await {
        let limited = e.retry_after.is_some();
        audit::record(
            &state,
            Audit::new(
                "mfa.verify",
                if limited {
                    Outcome::RateLimited
                } else {
                    Outcome::Failed
                },
            )
            .target(user.id.as_str())
            .ip(ip.as_deref())
            .detail(serde_json::json!({"purpose": "signin"})),
        )
        .await;
        // The budget is spent: this pending sign-in is void, the password must be entered
        // again (SPEC §2.13).
        if limited || e.remaining == Some(0) {
            return void_challenge(&state, jar, &challenge, &user, ip.as_deref(), e).await;
        }
        let (jar, token) = csrf::token(&state, jar);
        let key = key_return(&state, &challenge).await?;
        let message = match e.remaining {
            Some(n) => format!("That code is not valid. {n} attempts left."),
            None => "That code is not valid. Try again.".to_string(),
        };
        let mut r = code_form(&token, &user.email, key.as_deref(), Some(&message));
        *r.status_mut() = StatusCode::UNAUTHORIZED;
        return Ok((jar, r).into_response());
    }
    complete(&state, jar, challenge, &user, ip, user_agent)
        .await
        .map(|(jar, to)| {
            (jar, Redirect::to(&super::login::safe_return_to(Some(&to)))).into_response()
        })
}

/// Ends a pending sign-in whose MFA budget is spent: the challenge is consumed and its cookie
/// cleared, and the answer (429 with `Retry-After` when refused, 401 for the last wrong code)
/// says to sign in again.
async fn void_challenge(
    state: &AppState,
    jar: CookieJar,
    challenge: &MfaChallenge,
    user: &User,
    ip: Option<&str>,
    cause: ApiError,
) -> Result<Response, ApiError> {
    let consumed = state
        .store
        .consume_mfa_challenge(&challenge.token_hash, state.clock.now())
        .await?;
    if consumed.is_some() {
        audit::record(
            state,
            Audit::new("mfa.challenge_voided", Outcome::Ok)
                .target(user.id.as_str())
                .ip(ip)
                .detail(serde_json::json!({"purpose": "signin"})),
        )
        .await;
    }
    let mut r = message_page(
        if cause.retry_after.is_some() {
            StatusCode::TOO_MANY_REQUESTS
        } else {
            StatusCode::UNAUTHORIZED
        },
        "Too many wrong codes",
        "Too many wrong codes for this account. This sign-in has ended: sign in again with \
         your password once the wait is over.",
    );
    let headers = r.headers_mut();
    if let Some(secs) = cause.retry_after {
        headers.insert(axum::http::header::RETRY_AFTER, HeaderValue::from(secs));
    }
    headers.insert(RATELIMIT_REMAINING, HeaderValue::from(0u32));
    Ok((clear_challenge(jar), r).into_response())
}

/// Consumes the challenge (exactly once) and starts the session.
async fn complete(
    state: &AppState,
    jar: CookieJar,
    challenge: MfaChallenge,
    user: &User,
    ip: Option<String>,
    user_agent: Option<String>,
) -> Result<(CookieJar, String), ApiError> {
    let now = state.clock.now();
    if state
        .store
        .consume_mfa_challenge(&challenge.token_hash, now)
        .await?
        .is_none()
    {
        return Err(ApiError::conflict(
            "this sign-in was already completed; sign in again",
        ));
    }
    audit::record(
        state,
        Audit::new("mfa.verify", Outcome::Ok)
            .actor(user.id.as_str())
            .ip(ip.as_deref())
            .detail(serde_json::json!({"purpose": "signin"})),
    )
    .await;
    // The first factor was a password or an upstream IdP (`fed`).
    let method = if ward_core::model::Amr::Fed.is_in(&challenge.amr) {
        "idp+totp"
    } else {
        "password+totp"
    };
    let jar = finish_sign_in(
        state,
        clear_challenge(jar),
        user,
        SignedIn {
            amr: amr_with_otp(&challenge.amr),
            ip,
            user_agent,
            method,
        },
    )
    .await?;
    Ok((jar, challenge.return_to))
}

pub async fn enrol_page(
    State(state): State<AppState>,
    jar: CookieJar,
) -> Result<Response, ApiError> {
    let Some((challenge, user)) = pending(&state, &jar).await? else {
        return Ok(expired());
    };
    if challenge.purpose != ChallengePurpose::Enrol {
        return Ok(Redirect::to(MFA_PATH).into_response());
    }
    let (jar, token) = csrf::token(&state, jar);
    let body = enrol_form(&state, &token, &user, None).await?;
    Ok((jar, body).into_response())
}

pub async fn submit_enrol(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientIp(ip): ClientIp,
    UserAgent(user_agent): UserAgent,
    CsrfForm(form): CsrfForm,
) -> Result<Response, ApiError> {
    let Some((challenge, user)) = pending(&state, &jar).await? else {
        return Ok(expired());
    };
    if challenge.purpose != ChallengePurpose::Enrol {
        return Ok(Redirect::to(MFA_PATH).into_response());
    }
    let code = form.get("code").unwrap_or_default();
    let codes = match crate::ops::mfa::finish_enrolment(&state, &user.id, code).await {
        Ok(codes) => codes,
        Err(e) if e.retry_after.is_some() => return Err(e),
        Err(_) => {
            let (jar, token) = csrf::token(&state, jar);
            let mut r = enrol_form(
                &state,
                &token,
                &user,
                Some("That code is not valid. Scan the new QR code and try again."),
            )
            .await?;
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            return Ok((jar, r).into_response());
        }
    };
    audit::record(
        &state,
        Audit::new("mfa.enabled", Outcome::Ok)
            .actor(user.id.as_str())
            .ip(ip.as_deref())
            .target(user.id.as_str()),
    )
    .await;
    let (jar, return_to) = complete(&state, jar, challenge, &user, ip, user_agent).await?;
    let body = super::backup_codes_page(&codes, &return_to, "Continue");
    Ok((jar, body).into_response())
}
