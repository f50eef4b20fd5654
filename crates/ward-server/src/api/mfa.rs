//! `/api/mfa/*`: TOTP enrolment, step-up verification, disabling, backup codes.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use ward_core::mfa;
use ward_proto::ErrorBody;

use crate::audit::{self, Audit};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ClientIp};
use crate::mfa::{amr_with_otp, backup_hashes, Factor};
use crate::state::AppState;

/// A TOTP code or a backup code.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeBody {
    pub code: String,
}

/// The enrolment material of `POST /api/mfa/totp/setup`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TotpSetup {
    /// The secret, base32.
    pub secret: String,
    pub otpauth_url: String,
    /// The `otpauth_url` as an SVG QR code.
    pub qr_svg: String,
}

/// Fresh backup codes, shown once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BackupCodes {
    pub backup_codes: Vec<String>,
}

/// A successful step-up.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MfaVerified {
    pub verified: bool,
    /// `totp` or `backup_code`.
    pub method: &'static str,
    /// With a backup code: how many are left.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_codes_remaining: Option<i64>,
    /// With a backup code: "N remaining".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `POST /api/mfa/disable`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MfaDisabled {
    /// Always false.
    pub enabled: bool,
}

/// `GET /api/mfa`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MfaStatus {
    pub enabled: bool,
    /// `totp` and `backup_code` when enabled.
    pub methods: Vec<&'static str>,
    pub backup_codes_remaining: i64,
    /// Whether the policy requires MFA of the caller's role.
    pub required_by_policy: bool,
    /// Whether the current session passed a second factor; null without a session.
    pub session_verified: Option<bool>,
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
pub async fn start_enrolment(state: &AppState, user_id: &str, email: &str) -> ApiResult<TotpSetup> {
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
    Ok(TotpSetup {
        secret: mfa::secret_base32(&secret),
        qr_svg: qr_svg(&url)?,
        otpauth_url: url,
    })
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
    let attempt = crate::mfa::reserve_guess(state, user_id).await?;
    let secret = state
        .master_key
        .open("totp", &enrolment.secret_enc)
        .map_err(ApiError::internal)?;
    let Some(step) = mfa::matching_step(&secret, code, now).map_err(ApiError::internal)? else {
        return Err(crate::mfa::invalid_code().with_remaining(attempt.remaining));
    };
    let codes = mfa::new_backup_codes(state.random.as_ref());
    if !state
        .store
        .confirm_totp_enrolment(user_id, step, &backup_hashes(state, user_id, &codes))
        .await?
    {
        return Err(ApiError::conflict("the enrolment was already confirmed"));
    }
    state.limiter.release(attempt).await;
    Ok(codes)
}

/// `POST /api/mfa/totp/setup`: starts TOTP enrolment; confirm with a first code.
#[utoipa::path(
    post,
    path = "/api/mfa/totp/setup",
    operation_id = "mfa_setup",
    tag = "mfa",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The secret to add to an authenticator app", body = TotpSetup),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "Guests cannot enrol; or not a first-party session (an API token, a third-party client's token)", body = ErrorBody),
        (status = 409, description = "MFA is already enabled", body = ErrorBody),
    )
)]
pub async fn setup(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<TotpSetup>> {
    refuse_guests(&caller)?;
    crate::authz::require_account_security(&state, &caller)?;
    Ok(Json(
        start_enrolment(&state, &caller.user.id, &caller.user.email).await?,
    ))
}

/// `POST /api/mfa/totp/confirm`: confirms the enrolment with a first code.
#[utoipa::path(
    post,
    path = "/api/mfa/totp/confirm",
    operation_id = "mfa_confirm",
    tag = "mfa",
    security(("bearer" = []), ("session_cookie" = [])),
    request_body = CodeBody,
    responses(
        (status = 200, description = "MFA is on; the backup codes are shown once", body = BackupCodes),
        (status = 400, description = "No enrolment in progress, or a wrong code (`invalid_code`)", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "Guests cannot enrol; or not a first-party session (an API token, a third-party client's token)", body = ErrorBody),
        (status = 429, description = "Too many wrong codes", body = ErrorBody),
    )
)]
pub async fn confirm(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    ApiJson(body): ApiJson<CodeBody>,
) -> ApiResult<Json<BackupCodes>> {
    refuse_guests(&caller)?;
    crate::authz::require_account_security(&state, &caller)?;
    let codes = finish_enrolment(&state, &caller.user.id, &body.code).await?;
    if let Some(session) = &caller.session {
        state
            .store
            .mark_session_mfa(&session.id, &amr_with_otp(&session.amr), state.clock.now())
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
    Ok(Json(BackupCodes {
        backup_codes: codes,
    }))
}

fn verified(factor: Factor) -> MfaVerified {
    match factor {
        Factor::Totp => MfaVerified {
            verified: true,
            method: "totp",
            backup_codes_remaining: None,
            message: None,
        },
        Factor::Backup { remaining } => MfaVerified {
            verified: true,
            method: "backup_code",
            backup_codes_remaining: Some(remaining),
            message: Some(format!("{remaining} remaining")),
        },
    }
}

/// `POST /api/mfa/verify`: step-up for the current session.
#[utoipa::path(
    post,
    path = "/api/mfa/verify",
    operation_id = "mfa_verify",
    tag = "mfa",
    security(("bearer" = []), ("session_cookie" = [])),
    request_body = CodeBody,
    responses(
        (status = 200, description = "Verified; the session is marked as having passed MFA", body = MfaVerified),
        (status = 400, description = "MFA is not enabled, or a wrong or used code (`invalid_code`)", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 429, description = "Too many wrong codes", body = ErrorBody),
    )
)]
pub async fn verify(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    ApiJson(body): ApiJson<CodeBody>,
) -> ApiResult<Json<MfaVerified>> {
    let factor =
        crate::ops::mfa::checked(&state, &caller, ip.as_deref(), &body.code, "step-up").await?;
    if let Some(session) = &caller.session {
        state
            .store
            .mark_session_mfa(&session.id, &amr_with_otp(&session.amr), state.clock.now())
            .await?;
    }
    Ok(Json(verified(factor)))
}

/// `POST /api/mfa/disable`: turns MFA off, with a current code.
#[utoipa::path(
    post,
    path = "/api/mfa/disable",
    operation_id = "mfa_disable",
    tag = "mfa",
    security(("bearer" = []), ("session_cookie" = [])),
    request_body = CodeBody,
    responses(
        (status = 200, description = "MFA is off", body = MfaDisabled),
        (status = 400, description = "MFA is not enabled, or a wrong code", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "Not a first-party session (an API token, a third-party client's token)", body = ErrorBody),
        (status = 429, description = "Too many wrong codes", body = ErrorBody),
    )
)]
pub async fn disable(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    ApiJson(body): ApiJson<CodeBody>,
) -> ApiResult<Json<MfaDisabled>> {
    // TOTP and backup codes are gone; registered security keys still count as MFA.
    let enabled = crate::ops::mfa::disable(&state, &caller, ip.as_deref(), &body.code).await?;
    Ok(Json(MfaDisabled { enabled }))
}

/// `POST /api/mfa/backup-codes`: replaces the backup codes, with a current code.
#[utoipa::path(
    post,
    path = "/api/mfa/backup-codes",
    operation_id = "mfa_regenerate_backup_codes",
    tag = "mfa",
    security(("bearer" = []), ("session_cookie" = [])),
    request_body = CodeBody,
    responses(
        (status = 200, description = "The new backup codes, shown once; the old ones stop working", body = BackupCodes),
        (status = 400, description = "MFA is not enabled, or a wrong code", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "Not a first-party session (an API token, a third-party client's token)", body = ErrorBody),
        (status = 429, description = "Too many wrong codes", body = ErrorBody),
    )
)]
pub async fn regenerate_backup_codes(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    ApiJson(body): ApiJson<CodeBody>,
) -> ApiResult<Json<BackupCodes>> {
    let codes =
        crate::ops::mfa::regenerate_backup_codes(&state, &caller, ip.as_deref(), &body.code)
            .await?;
    Ok(Json(BackupCodes {
        backup_codes: codes,
    }))
}

/// `GET /api/mfa`: what is enabled.
#[utoipa::path(
    get,
    path = "/api/mfa",
    operation_id = "mfa_status",
    tag = "mfa",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The caller's MFA state", body = MfaStatus),
        (status = 401, description = "No valid credential", body = ErrorBody),
    )
)]
pub async fn status(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<MfaStatus>> {
    let enabled = crate::mfa::is_enabled(&state, &caller.user.id).await?;
    let remaining = if enabled {
        state.store.backup_codes_remaining(&caller.user.id).await?
    } else {
        0
    };
    Ok(Json(MfaStatus {
        enabled,
        methods: if enabled {
            vec!["totp", "backup_code"]
        } else {
            vec![]
        },
        backup_codes_remaining: remaining,
        required_by_policy: crate::mfa::required_for(&state, &caller.user.role),
        session_verified: caller.session.as_ref().map(|s| s.mfa_verified),
    }))
}
