//! The device-code entry page (`/device`, RFC 8628 §3.3) and its consent step.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use maud::html;
use serde::Deserialize;
use ward_core::device::{display_user_code, normalize_user_code};
use ward_core::model::DeviceGrantStatus;

use crate::auth::web_session;
use crate::csrf;
use crate::error::ApiError;
use crate::extract::{ClientIp, FormParams};
use crate::pages::consent::{self, Consent};
use crate::pages::login::login_url;
use crate::pages::{csrf_field, message_page, no_store, page};
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
    if web_session(&state, &jar).await?.is_none() {
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
    form: FormParams,
) -> Result<Response, ApiError> {
    csrf::verify(&state, &jar, form.get("csrf_token").unwrap_or_default())?;
    let Some((_, user)) = web_session(&state, &jar).await? else {
        return Ok(Redirect::to(&login_url("/device", None)).into_response());
    };
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
    let typed = form.get("user_code").unwrap_or_default();
    let (jar, token) = csrf::token(&state, jar);
    let grant = match normalize_user_code(typed) {
        Some(code) => state.store.device_grant_by_user_code(&code).await?,
        None => None,
    };
    let grant = match grant {
        Some(g) if g.status == DeviceGrantStatus::Pending && now < g.expires_at => g,
        _ => {
            let mut r = entry_form(
                &token,
                "",
                Some("That code is not valid or has expired. Check your terminal and try again."),
            );
            *r.status_mut() = StatusCode::BAD_REQUEST;
            return Ok((jar, r).into_response());
        }
    };
    let page = consent::render(Consent {
        user: &user,
        client_id: &grant.client_id,
        device_name: grant.device_name.as_deref(),
        scopes: grant
            .scope
            .split_ascii_whitespace()
            .map(str::to_string)
            .collect(),
        action: "/device/decision",
        hidden: vec![("user_code", display_user_code(&grant.user_code))],
        csrf: &token,
    });
    Ok((jar, page).into_response())
}

/// `POST /device/decision`: allow or deny.
pub async fn decision(
    State(state): State<AppState>,
    jar: CookieJar,
    form: FormParams,
) -> Result<Response, ApiError> {
    csrf::verify(&state, &jar, form.get("csrf_token").unwrap_or_default())?;
    let Some((session, user)) = web_session(&state, &jar).await? else {
        return Ok(Redirect::to(&login_url("/device", None)).into_response());
    };
    let code = normalize_user_code(form.require("user_code")?)
        .ok_or_else(|| ApiError::bad_request("malformed user_code"))?;
    let now = state.clock.now();
    let approve = match form.get("decision") {
        Some("allow") => true,
        Some("deny") => false,
        _ => return Err(ApiError::bad_request("decision must be allow or deny")),
    };
    let approved_by =
        approve.then_some((user.id.as_str(), session.created_at, session.amr.as_slice()));
    if !state
        .store
        .decide_device_grant(&code, approved_by, now)
        .await?
    {
        return Ok(message_page(
            StatusCode::BAD_REQUEST,
            "Code expired",
            "This code has expired or was already used. Start again from your terminal.",
        ));
    }
    tracing::info!(target: "ward::auth", event = if approve { "device.approved" } else { "device.denied" }, user_id = %user.id, "device decision");
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
