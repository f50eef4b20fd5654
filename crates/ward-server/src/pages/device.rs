//! The device-code entry page (`/device`, RFC 8628 §3.3) and its consent step.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use maud::html;
use serde::Deserialize;
use ward_core::device::{display_user_code, needs_second_confirmation, normalize_user_code};
use ward_core::model::DeviceGrantStatus;

use crate::auth::web_session;
use crate::csrf;
use crate::csrf::CsrfForm;
use crate::error::ApiError;
use crate::extract::ClientIp;
use crate::html::consent::{self, Consent, DeviceRequest};
use crate::pages::login::login_url;
use crate::pages::{csrf_field, message_page, no_store, page};
use crate::ratelimit::Attempt;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct DeviceQuery {
    user_code: Option<String>,
}

fn entry_form(csrf: &str, user_code: &str, error: Option<&str>) -> Response {
    no_store(page(
        "Connect a device",
        html! {
            h1 { "Connect a device" }
            p { "Enter the code shown in your terminal." }
            @if let Some(e) = error { p class="error" role="alert" { (e) } }
            form method="post" action="/device" {
                (csrf_field(csrf))
                label for="user_code" { "Code" }
                input id="user_code" class="code" type="text" name="user_code" value=(user_code)
                    autocomplete="one-time-code" placeholder="XXXX-XXXX" maxlength="9" required autofocus;
                button type="submit" { "Continue" }
            }
        },
    ))
}

pub async fn device_page(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<DeviceQuery>,
) -> Result<Response, ApiError> {
    let code = q.user_code.unwrap_or_default();
    let signed_in = web_session(&state, &jar).await?;
    if let Some(refused) = signed_in
        .as_ref()
        .and_then(|(_, u)| consent::refuse_guest(u))
    {
        return Ok(refused);
    }
    if signed_in.is_none() {
        let mut here = String::from("/device");
        if !code.is_empty() {
            here.push_str("?user_code=");
            here.push_str(
                &url::form_urlencoded::byte_serialize(code.as_bytes()).collect::<String>(),
            );
        }
        return Ok(Redirect::to(&login_url(&here, None)).into_response());
    }
    let (jar, token) = csrf::token(&state, jar);
    let shown: String = code.chars().take(9).collect();
    Ok((jar, entry_form(&token, &shown, None)).into_response())
}

/// `POST /device`: the code typed in; rate-limited per IP (user codes are guessable).
pub async fn submit_code(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientIp(ip): ClientIp,
    CsrfForm(form): CsrfForm,
) -> Result<Response, ApiError> {
    let Some((_, user)) = web_session(&state, &jar).await? else {
        return Ok(Redirect::to(&login_url("/device", None)).into_response());
    };
    if let Some(refused) = consent::refuse_guest(&user) {
        return Ok(refused);
    }
    let now = state.clock.now();
    let limits = state.config.rate_limits;
    state
        .limiter
        .hit(
            "user_code_ip",
            ip.as_deref().unwrap_or(""),
            limits.user_code_per_ip,
            limits.window_secs,
            now,
        )
        .await?;
    let attempt = reserve_guess(&state, user.id.as_str()).await?;
    let typed = form.get("user_code").unwrap_or_default();
    let (jar, token) = csrf::token(&state, jar);
    let grant = match normalize_user_code(typed) {
        Some(code) => state.store.device_grant_by_user_code(&code).await?,
        None => None,
    };
    let grant = match grant {
        Some(g) if g.status == DeviceGrantStatus::Pending && now < g.expires_at => {
            state.limiter.release(attempt).await;
            g
        }
        _ => {
            state.metrics.auth_event("user_code", "failed");
            let mut r = entry_form(
                &token,
                "",
                Some("That code is not valid or has expired. Check your terminal and try again."),
            );
            *r.status_mut() = StatusCode::BAD_REQUEST;
            with_remaining(&mut r, attempt.remaining);
            return Ok((jar, r).into_response());
        }
    };
    let page = consent::render(Consent {
        user: &user,
        client_id: &grant.client_id,
        unverified: None,
        device_name: grant.device_name.as_deref(),
        scopes: grant
            .scope
            .split_ascii_whitespace()
            .map(str::to_string)
            .collect(),
        action: "/device/decision",
        hidden: vec![("user_code", display_user_code(&grant.user_code))],
        csrf: &token,
        device: Some(DeviceRequest {
            user_code: display_user_code(&grant.user_code),
            requested_ip: grant.requested_ip.clone(),
            requested_at: crate::time::rfc3339(grant.created_at),
            minutes_ago: (now.0 - grant.created_at.0).max(0) / 60,
            confirm: needs_second_confirmation(&grant, ip.as_deref(), now),
        }),
    });
    Ok((jar, page).into_response())
}

/// A wrong user code's answer says how many guesses are left (`RateLimit-Remaining`).
fn with_remaining(r: &mut Response, remaining: u32) {
    r.headers_mut().insert(
        crate::error::RATELIMIT_REMAINING,
        axum::http::HeaderValue::from(remaining),
    );
}

/// Reserves one user-code guess of the signed-in account's budget before it is evaluated.
async fn reserve_guess(state: &AppState, user_id: &str) -> Result<Attempt, ApiError> {
    let budget = state.config.rate_limits.user_code_account();
    let now = state.clock.now();
    state
        .limiter
        .reserve(budget, user_id, now)
        .await
        .map_err(|e| {
            if e.is_limited() {
                state.metrics.auth_event("user_code", "rate_limited");
            }
            e.into()
        })
}

/// `POST /device/decision`: allow or deny. Allowing an old request from another network needs
/// the second confirmation (`confirm_other_network=yes`, SPEC §2.13).
pub async fn decision(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientIp(ip): ClientIp,
    CsrfForm(form): CsrfForm,
) -> Result<Response, ApiError> {
    let Some((session, user)) = web_session(&state, &jar).await? else {
        return Ok(Redirect::to(&login_url("/device", None)).into_response());
    };
    let approve = match form.get("decision") {
        Some("allow") => true,
        Some("deny") => false,
        _ => return Err(ApiError::bad_request("decision must be allow or deny")),
    };
    if let Some(refused) = approve.then(|| consent::refuse_guest(&user)).flatten() {
        return Ok(refused);
    }
    // The user code is a guess here too (SPEC §2.13): counted before it is looked up.
    let attempt = reserve_guess(&state, user.id.as_str()).await?;
    let now = state.clock.now();
    let approved_by = approve.then_some((&user.id, session.verified_at, session.amr.as_slice()));
    let code = normalize_user_code(form.get("user_code").unwrap_or_default());
    if approve && form.get("confirm_other_network") != Some("yes") {
        let grant = match &code {
            Some(code) => state.store.device_grant_by_user_code(code).await?,
            None => None,
        };
        if grant.is_some_and(|g| needs_second_confirmation(&g, ip.as_deref(), now)) {
            state.limiter.release(attempt).await;
            return Ok(message_page(
                StatusCode::BAD_REQUEST,
                "Confirm it is your device",
                "This sign-in was requested a while ago from another network than yours. Go \
                 back, check the address and the code, and tick the box if you started it \
                 yourself; if someone sent you the link, deny it.",
            ));
        }
    }
    let decided = match code {
        Some(code) => {
            state
                .store
                .decide_device_grant(&code, approved_by, now)
                .await?
        }
        None => false,
    };
    if decided {
        state.limiter.release(attempt).await;
    } else {
        state.metrics.auth_event("user_code", "failed");
        let mut r = message_page(
            StatusCode::BAD_REQUEST,
            "Code expired",
            "This code has expired or was already used. Start again from your terminal.",
        );
        with_remaining(&mut r, attempt.remaining);
        return Ok(r);
    }
    crate::audit::record(
        &state,
        crate::audit::Audit::new(
            if approve {
                "device.approved"
            } else {
                "device.denied"
            },
            ward_core::audit::Outcome::Ok,
        )
        .actor(user.id.as_str())
        .ip(ip.as_deref())
        .target(form.get("user_code").unwrap_or_default()),
    )
    .await;
    Ok(if approve {
        no_store(page(
            "Device approved",
            html! {
                p class="success" { "✓" }
                h1 { "Device approved" }
                p { "You can return to your terminal." }
            },
        ))
    } else {
        message_page(
            StatusCode::OK,
            "Request denied",
            "The device was not signed in.",
        )
    })
}
