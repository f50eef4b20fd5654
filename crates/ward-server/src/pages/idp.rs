//! The federated half of sign-in: sending a routed email to its identity provider, and
//! `GET /idp/{name}/callback`, where the IdP sends the browser back. After the IdP, ward's own
//! MFA applies exactly as after a password (the same challenge, the same policy).

use std::collections::HashMap;
use ward_core::audit::Outcome;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use ward_core::model::ChallengePurpose;

use crate::audit::{self, Audit};
use crate::config::IdpConfig;
use crate::error::ApiError;
use crate::extract::{ClientIp, UserAgent};
use crate::idp::{self, IdpFailure};
use crate::pages::login::{finish_sign_in, SignedIn};
use crate::pages::message_page;
use crate::state::AppState;

/// The RFC 8176 method recorded for a sign-in at an upstream IdP ("federated").
pub const AMR_FEDERATED: &str = ward_core::model::Amr::Fed.as_str();

/// Records the failure and renders its page.
pub async fn fail(
    state: &AppState,
    idp: &IdpConfig,
    failure: IdpFailure,
    ip: Option<&str>,
    email: Option<&str>,
) -> Response {
    state.metrics.auth_event("idp", "failed");
    tracing::warn!(idp = %idp.name, reason = failure.reason(), detail = %failure.detail(), "federated sign-in failed");
    let mut detail = serde_json::json!({
        "method": "idp",
        "idp": idp.name,
        "reason": failure.reason(),
    });
    let d = failure.detail();
    if !d.is_empty() {
        detail["error"] = serde_json::json!(d);
    }
    if let Some(e) = email {
        detail["email"] = serde_json::json!(e);
    }
    audit::record(
        state,
        Audit::new("signin", Outcome::Failed).ip(ip).detail(detail),
    )
    .await;
    let (status, title, message) = failure.page(&idp.name);
    message_page(status, title, &message)
}

/// The answer to a password or passkey sign-in for an account that must use `idp`: 403, naming
/// the IdP, with a link that starts the sign-in there.
pub fn must_use_idp(idp: &IdpConfig, email: &str, return_to: &str) -> Response {
    let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
    let mut r = crate::pages::no_store(crate::pages::page(
        "Sign in with your organisation",
        maud::html! {
            h1 { "Sign in with " (idp.name) }
            p { "Accounts at " strong { (domain) } " sign in through " strong { (idp.name) } ", not with a password or passkey here." }
            p { a href=(crate::pages::login::login_url(return_to, Some(email))) { "Continue with " (idp.name) } }
        },
    ));
    *r.status_mut() = StatusCode::FORBIDDEN;
    r
}

/// Sends the browser to `idp` for `email` (already known to be routed there). An email whose
/// domain the IdP may not sign in ends here with "email domain not allowed".
pub async fn send_to_idp(
    state: &AppState,
    jar: CookieJar,
    idp: &IdpConfig,
    email: &str,
    return_to: &str,
    ip: Option<&str>,
) -> Response {
    let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
    if !idp.allows_domain(domain) {
        let failure = IdpFailure::DomainNotAllowed {
            email: email.to_string(),
        };
        return fail(state, idp, failure, ip, Some(email)).await;
    }
    // Each start stores a pending sign-in: the same per-IP budget as password attempts.
    let limits = state.config.rate_limits;
    if let Err(e) = state
        .limiter
        .hit(
            "signin_ip",
            ip.unwrap_or_default(),
            limits.signin_per_ip,
            limits.window_secs,
            state.clock.now(),
        )
        .await
    {
        if e.is_limited() {
            state.metrics.auth_event("idp", "rate_limited");
        }
        return ApiError::from(e).into_response();
    }
    match idp::start(state, jar, idp, Some(email), return_to).await {
        Ok((jar, url)) => (jar, Redirect::to(url.as_str())).into_response(),
        Err(f) => fail(state, idp, f, ip, Some(email)).await,
    }
}

pub async fn callback(
    State(state): State<AppState>,
    Path(name): Path<String>,
    jar: CookieJar,
    ClientIp(ip): ClientIp,
    UserAgent(user_agent): UserAgent,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let Some(idp) = idp::find(&state, &name).cloned() else {
        return Ok(message_page(
            StatusCode::NOT_FOUND,
            "Unknown identity provider",
            &format!(
                "{} has no identity provider by this name. Start again from the sign-in page.",
                crate::branding::product()
            ),
        ));
    };
    let ip_ref = ip.as_deref();
    let param = |k: &str| q.get(k).map(String::as_str).filter(|v| !v.is_empty());
    // RFC 6749 §4.1.2.1: the IdP reports a refusal (or its own failure) with `error`. The
    // pending sign-in is used up either way.
    if let Some(error) = param("error") {
        let _ = idp::take_pending(&state, &jar, &idp, param("state")).await;
        let error: String = error
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(64)
            .collect();
        return Ok(fail(&state, &idp, IdpFailure::Denied { error }, ip_ref, None).await);
    }
    let (pending, binding) = match idp::take_pending(&state, &jar, &idp, param("state")).await {
        Ok(p) => p,
        Err(f) => return Ok(fail(&state, &idp, f, ip_ref, None).await),
    };
    let hint = pending.login_hint.as_deref();
    let Some(code) = param("code") else {
        let f = IdpFailure::BadResponse("the callback has neither code nor error".into());
        return Ok(fail(&state, &idp, f, ip_ref, hint).await);
    };
    let state_value = param("state").unwrap_or_default();
    let who = match idp::identify(&state, &idp, code, &binding, state_value).await {
        Ok(w) => w,
        Err(f) => return Ok(fail(&state, &idp, f, ip_ref, hint).await),
    };
    let (user, created) = match idp::resolve_account(&state, &idp, &who).await {
        Ok(u) => u,
        Err(f) => {
            let email = who.email.as_deref().or(hint);
            return Ok(fail(&state, &idp, f, ip_ref, email).await);
        }
    };
    if created {
        audit::record(
            &state,
            Audit::new("user.created", Outcome::Ok)
                .actor(user.id.as_str())
                .ip(ip_ref)
                .target(user.id.as_str())
                .detail(serde_json::json!({
                    "email": user.email,
                    "role": user.role,
                    "idp": idp.name,
                    "subject": who.subject,
                })),
        )
        .await;
    }
    // The upstream step, like `mfa.verify` for the second factor; `signin` follows once every
    // factor passed.
    audit::record(
        &state,
        Audit::new("idp.authenticated", Outcome::Ok)
            .actor(user.id.as_str())
            .ip(ip_ref)
            .target(user.id.as_str())
            .detail(serde_json::json!({
                "idp": idp.name,
                "subject": who.subject,
                "email": user.email,
            })),
    )
    .await;
    state.metrics.auth_event("idp", "ok");
    let amr = vec![AMR_FEDERATED.to_string()];
    let return_to = pending.return_to;
    let mfa_on = crate::mfa::is_enabled(&state, &user.id).await?;
    if mfa_on || crate::mfa::required_for(&state, &user.role) {
        // The same second step as after a password: no session before it passes.
        let purpose = if mfa_on {
            ChallengePurpose::Verify
        } else {
            ChallengePurpose::Enrol
        };
        let jar = super::mfa_login::start_challenge(&state, jar, &user, purpose, &return_to, &amr)
            .await?;
        return Ok((jar, Redirect::to(super::mfa_login::MFA_PATH)).into_response());
    }
    let jar = finish_sign_in(
        &state,
        jar,
        &user,
        SignedIn {
            amr,
            ip,
            user_agent,
            method: "idp",
        },
    )
    .await?;
    Ok((
        jar,
        Redirect::to(&super::login::safe_return_to(Some(&return_to))),
    )
        .into_response())
}
