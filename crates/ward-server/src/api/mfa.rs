//! `/api/mfa/*`: TOTP enrolment, step-up verification, disabling, backup codes.

use axum::extract::State;
use axum::Json;
use ward_core::audit::Outcome;
use ward_proto::ErrorBody;

use crate::audit::{self, Audit};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ClientIp};
use crate::mfa::{amr_with_otp, Factor};
use crate::state::AppState;
pub use ward_proto::{BackupCodes, CodeBody, MfaDisabled, MfaStatus, MfaVerified, TotpSetup};

use crate::ops::mfa::{finish_enrolment, start_enrolment};

/// Guests are refused MFA enrolment (SPEC §2.5).
pub fn refuse_guests(caller: &Caller) -> ApiResult<()> {
    if crate::authz::is_guest(caller) {
        return Err(ApiError::forbidden(
            "guests cannot enrol in multi-factor authentication",
        ));
    }
    Ok(())
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
        Audit::new("mfa.enabled", Outcome::Ok)
            .actor(caller.user.id.as_str())
            .ip(ip.as_deref())
            .target(caller.user.id.as_str()),
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
            method: "totp".into(),
            backup_codes_remaining: None,
            message: None,
        },
        Factor::Backup { remaining } => MfaVerified {
            verified: true,
            method: "backup_code".into(),
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
            vec!["totp".into(), "backup_code".into()]
        } else {
            vec![]
        },
        backup_codes_remaining: remaining,
        required_by_policy: crate::mfa::required_for(&state, &caller.user.role),
        session_verified: caller.session.as_ref().map(|s| s.mfa_verified),
    }))
}
