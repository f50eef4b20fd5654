//! `/api/mfa/*`: TOTP enrolment, step-up verification, disabling, backup codes.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use ward_core::mfa;

use crate::audit::{self, Audit};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ClientIp};
use crate::mfa::{amr_with_otp, backup_hashes, verify_code, Factor};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeBody {
    pub code: String,
}

/// Guests are refused MFA enrolment (SPEC §2.5).
pub fn refuse_guests(caller: &Caller) -> ApiResult<()> {
    if crate::authz::is_guest(caller) {
        return Err(ApiError::forbidden(
            "guests cannot enrol in multi-factor authentication",
        ));
    }
    Ok(())
}

/// An SVG QR code of `data`.
pub fn qr_svg(data: &str) -> ApiResult<String> {
    let code = qrcode::QrCode::new(data.as_bytes()).map_err(ApiError::internal)?;
    Ok(code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build())
}

/// The enrolment material for a new secret: what the account page and `ward mfa enable` show.
pub async fn start_enrolment(state: &AppState, user_id: &str, email: &str) -> ApiResult<Value> {
    let secret = mfa::new_totp_secret(state.random.as_ref());
    let sealed = state
        .master_key
        .seal(&secret, state.random.as_ref())
        .map_err(ApiError::internal)?;
    if !state
        .store
        .begin_totp_enrolment(user_id, &sealed, state.clock.now())
        .await?
    {
        return Err(ApiError::conflict(
            "multi-factor authentication is already enabled; disable it first",
        ));
    }
    let url = mfa::otpauth_url(&secret, &state.config.mfa.totp_issuer, email)
        .map_err(ApiError::internal)?;
    Ok(json!({
        "secret": mfa::secret_base32(&secret),
        "otpauth_url": url,
        "qr_svg": qr_svg(&url)?,
    }))
}

/// Confirms a pending enrolment with a first code; returns the backup codes (shown once).
pub async fn finish_enrolment(
    state: &AppState,
    user_id: &str,
    code: &str,
) -> ApiResult<Vec<String>> {
    let enrolment = state
        .store
        .totp_enrolment(user_id)
        .await?
        .filter(|e| !e.confirmed)
        .ok_or_else(|| {
            ApiError::bad_request("no enrolment in progress: start with /api/mfa/totp/setup")
        })?;
    let now = state.clock.now();
    state
        .mfa_guard
        .check(user_id, now)
        .map_err(ApiError::too_many_requests)?;
    let secret = state
        .master_key
        .open("totp", &enrolment.secret_enc)
        .map_err(ApiError::internal)?;
    let Some(step) = mfa::matching_step(&secret, code, now).map_err(ApiError::internal)? else {
        state.mfa_guard.failed(user_id, now);
        return Err(crate::mfa::invalid_code());
    };
    let codes = mfa::new_backup_codes(state.random.as_ref());
    if !state
        .store
        .confirm_totp_enrolment(user_id, step, &backup_hashes(state, user_id, &codes))
        .await?
    {
        return Err(ApiError::conflict("the enrolment was already confirmed"));
    }
    state.mfa_guard.succeeded(user_id);
    Ok(codes)
}

pub async fn setup(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    refuse_guests(&caller)?;
    Ok(Json(
        start_enrolment(&state, &caller.user.id, &caller.user.email).await?,
    ))
}

pub async fn confirm(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    ApiJson(body): ApiJson<CodeBody>,
) -> ApiResult<Json<Value>> {
    refuse_guests(&caller)?;
    let codes = finish_enrolment(&state, &caller.user.id, &body.code).await?;
    if let Some(session) = &caller.session {
        state
            .store
            .mark_session_mfa(&session.id, &amr_with_otp(&session.amr))
            .await?;
    }
    audit::record(
        &state,
        Audit::new("mfa.enabled", "ok")
            .actor(&caller.user.id)
            .ip(ip.as_deref())
            .target(&caller.user.id),
    )
    .await;
    Ok(Json(json!({ "backup_codes": codes })))
}

/// Checks a code and writes the MFA audit event either way.
async fn checked(
    state: &AppState,
    caller: &Caller,
    ip: Option<&str>,
    code: &str,
    purpose: &str,
) -> ApiResult<Factor> {
    let result = verify_code(state, &caller.user.id, code).await;
    let outcome = if result.is_ok() { "ok" } else { "failed" };
    audit::record(
        state,
        Audit::new("mfa.verify", outcome)
            .actor(&caller.user.id)
            .ip(ip)
            .detail(json!({ "purpose": purpose })),
    )
    .await;
    result
}

fn factor_json(factor: Factor) -> Value {
    match factor {
        Factor::Totp => json!({ "method": "totp" }),
        Factor::Backup { remaining } => json!({
            "method": "backup_code",
            "backup_codes_remaining": remaining,
            "message": format!("{remaining} remaining"),
        }),
    }
}

/// Step-up for the current session.
pub async fn verify(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    ApiJson(body): ApiJson<CodeBody>,
) -> ApiResult<Json<Value>> {
    let factor = checked(&state, &caller, ip.as_deref(), &body.code, "step-up").await?;
    if let Some(session) = &caller.session {
        state
            .store
            .mark_session_mfa(&session.id, &amr_with_otp(&session.amr))
            .await?;
    }
    let mut out = factor_json(factor);
    out["verified"] = json!(true);
    Ok(Json(out))
}

pub async fn disable(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    ApiJson(body): ApiJson<CodeBody>,
) -> ApiResult<Json<Value>> {
    checked(&state, &caller, ip.as_deref(), &body.code, "disable").await?;
    state.store.remove_mfa(&caller.user.id).await?;
    audit::record(
        &state,
        Audit::new("mfa.disabled", "ok")
            .actor(&caller.user.id)
            .ip(ip.as_deref())
            .target(&caller.user.id),
    )
    .await;
    Ok(Json(json!({ "enabled": false })))
}

pub async fn regenerate_backup_codes(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    ApiJson(body): ApiJson<CodeBody>,
) -> ApiResult<Json<Value>> {
    checked(&state, &caller, ip.as_deref(), &body.code, "backup-codes").await?;
    let codes = mfa::new_backup_codes(state.random.as_ref());
    state
        .store
        .replace_backup_codes(
            &caller.user.id,
            &backup_hashes(&state, &caller.user.id, &codes),
        )
        .await?;
    audit::record(
        &state,
        Audit::new("mfa.backup_codes", "ok")
            .actor(&caller.user.id)
            .ip(ip.as_deref())
            .target(&caller.user.id),
    )
    .await;
    Ok(Json(json!({ "backup_codes": codes })))
}

/// `GET /api/mfa`: what is enabled.
pub async fn status(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let enabled = crate::mfa::is_enabled(&state, &caller.user.id).await?;
    let remaining = if enabled {
        state.store.backup_codes_remaining(&caller.user.id).await?
    } else {
        0
    };
    Ok(Json(json!({
        "enabled": enabled,
        "methods": if enabled { vec!["totp", "backup_code"] } else { vec![] },
        "backup_codes_remaining": remaining,
        "required_by_policy": crate::mfa::required_for(&state, &caller.user.role),
        "session_verified": caller.session.as_ref().map(|s| s.mfa_verified),
    })))
}
