//! Two-step verification operations shared by the API (`/api/mfa/*`) and the pages
//! (`/account/mfa`): a code checked and audited, MFA turned off, backup codes replaced.

use serde_json::json;
use ward_core::audit::Outcome;
use ward_core::mfa;
use ward_core::UserId;

use crate::audit::{self, Audit};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::error::ApiResult;
use crate::mfa::{backup_hashes, verify_code, Factor};
use crate::state::AppState;
use ward_proto::TotpSetup;

/// Checks a code and writes the MFA audit event either way.
pub async fn checked(
    state: &AppState,
    caller: &Caller,
    ip: Option<&str>,
    code: &str,
    purpose: &str,
) -> ApiResult<Factor> {
    let result = verify_code(state, &caller.user.id, code).await;
    let outcome = crate::mfa::outcome(&result);
    audit::record(
        state,
        Audit::new("mfa.verify", outcome)
            .actor(caller.user.id.as_str())
            .ip(ip)
            .detail(json!({ "purpose": purpose })),
    )
    .await;
    result
}

/// Turns TOTP and backup codes off, with a current code; returns whether MFA is still on
/// (registered security keys still count).
pub async fn disable(
    state: &AppState,
    caller: &Caller,
    ip: Option<&str>,
    code: &str,
) -> ApiResult<bool> {
    crate::authz::require_first_party_session(state, caller)?;
    checked(state, caller, ip, code, "disable").await?;
    state.store.remove_mfa(&caller.user.id).await?;
    audit::record(
        state,
        Audit::new("mfa.disabled", Outcome::Ok)
            .actor(caller.user.id.as_str())
            .ip(ip)
            .target(caller.user.id.as_str()),
    )
    .await;
    crate::mail::notice(state, &caller.user, crate::mail::Notice::MfaDisabled).await;
    crate::mfa::is_enabled(state, &caller.user.id).await
}

/// Replaces the backup codes, with a current code; returns the new ones (shown once).
pub async fn regenerate_backup_codes(
    state: &AppState,
    caller: &Caller,
    ip: Option<&str>,
    code: &str,
) -> ApiResult<Vec<String>> {
    crate::authz::require_first_party_session(state, caller)?;
    checked(state, caller, ip, code, "backup-codes").await?;
    let codes = mfa::new_backup_codes(state.random.as_ref());
    state
        .store
        .replace_backup_codes(
            &caller.user.id,
            &backup_hashes(state, caller.user.id.as_str(), &codes),
        )
        .await?;
    audit::record(
        state,
        Audit::new("mfa.backup_codes", Outcome::Ok)
            .actor(caller.user.id.as_str())
            .ip(ip)
            .target(caller.user.id.as_str()),
    )
    .await;
    Ok(codes)
}

/// Removes one of the caller's security keys or passkeys (account security).
pub async fn remove_security_key(
    state: &AppState,
    caller: &Caller,
    ip: Option<&str>,
    id: &str,
) -> ApiResult<()> {
    crate::authz::require_account_security(state, caller)?;
    if !state
        .store
        .delete_webauthn_credential(&caller.user.id, id)
        .await?
    {
        return Err(crate::error::ApiError::not_found(
            "no such security key of yours",
        ));
    }
    audit::record(
        state,
        Audit::new("mfa.webauthn_removed", Outcome::Ok)
            .actor(caller.user.id.as_str())
            .ip(ip)
            .target(id),
    )
    .await;
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
pub async fn start_enrolment(
    state: &AppState,
    user_id: &UserId,
    email: &str,
) -> ApiResult<TotpSetup> {
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
    user_id: &UserId,
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
    let attempt = crate::mfa::reserve_guess(state, user_id.as_str()).await?;
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
        .confirm_totp_enrolment(
            user_id,
            step,
            &backup_hashes(state, user_id.as_str(), &codes),
        )
        .await?
    {
        return Err(ApiError::conflict("the enrolment was already confirmed"));
    }
    state.limiter.release(attempt).await;
    Ok(codes)
}
