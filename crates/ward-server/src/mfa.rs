//! Checking second factors: TOTP with replay protection, backup codes used exactly once, and
//! the per-account budget of guesses (`rate_limits.mfa_failures_per_account` per window, shared
//! by every replica and every place a code is accepted; 429 with `Retry-After` once spent).

use axum::http::StatusCode;
use ward_core::audit::Outcome;
use ward_core::mfa;
use ward_core::model::{amr_is_multi_factor, Session, User};
use ward_core::UserId;

use crate::error::ApiError;
use crate::ratelimit::LimitError;
use crate::state::AppState;

/// Which factor a code turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    Totp,
    Backup { remaining: i64 },
}

pub fn invalid_code() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_code",
        "invalid or already used code",
    )
}

/// A wrong code, with the attempts left in this window.
fn wrong_code(remaining: u32) -> ApiError {
    let mut e = invalid_code();
    e.description = format!("invalid or already used code; {remaining} attempts left");
    e.with_remaining(remaining)
}

/// Reserves one guess of the user's MFA budget before a code is evaluated (SPEC §2.13).
pub async fn reserve_guess(
    state: &AppState,
    user_id: &str,
) -> Result<crate::ratelimit::Attempt, ApiError> {
    let budget = state.config.rate_limits.mfa_account();
    match state
        .limiter
        .reserve(budget, user_id, state.clock.now())
        .await
    {
        Ok(a) => Ok(a),
        Err(e @ LimitError::Limited { .. }) => {
            state.metrics.auth_event("mfa_code", "rate_limited");
            Err(e.into())
        }
        Err(e) => Err(e.into()),
    }
}

/// The pepper for backup-code hashes.
fn pepper(state: &AppState) -> [u8; 32] {
    state.master_key.derive("ward backup codes v1")
}

pub fn backup_hashes(state: &AppState, user_id: &str, codes: &[String]) -> Vec<String> {
    codes
        .iter()
        .filter_map(|c| mfa::normalize_backup_code(c))
        .map(|c| mfa::backup_code_hash(&pepper(state), user_id, &c))
        .collect()
}

/// The user's confirmed TOTP secret, if MFA is on.
pub async fn totp_secret(state: &AppState, user_id: &UserId) -> Result<Option<Vec<u8>>, ApiError> {
    match state.store.totp_enrolment(user_id).await? {
        Some(e) if e.confirmed => {
            let secret = state
                .master_key
                .open("totp", &e.secret_enc)
                .map_err(ApiError::internal)?;
            Ok(Some(secret))
        }
        _ => Ok(None),
    }
}

/// MFA is on when the user has confirmed TOTP or registered a security key.
/// MFA is on when the user has confirmed TOTP or registered a security key.
pub async fn is_enabled(state: &AppState, user_id: &UserId) -> Result<bool, ApiError> {
    Ok(!methods(state, user_id).await?.is_empty())
}

/// The second factors a user has: `totp`, `backup_code`, `webauthn`.
pub async fn methods(state: &AppState, user_id: &UserId) -> Result<Vec<&'static str>, ApiError> {
    let mut out = Vec::new();
    if state
        .store
        .totp_enrolment(user_id)
        .await?
        .is_some_and(|e| e.confirmed)
    {
        out.extend(["totp", "backup_code"]);
    }
    if !state
        .store
        .webauthn_credentials_of_user(user_id)
        .await?
        .is_empty()
    {
        out.push("webauthn");
    }
    Ok(out)
}

/// Whether policy (`mfa.required_roles`) demands MFA of this role.
pub fn required_for(state: &AppState, role: &str) -> bool {
    state.config.mfa.required_roles.iter().any(|r| r == role)
}

/// Sessions that lack a verified second factor stop working once policy requires MFA of their
/// user's role (raising the policy takes effect on the next request).
pub fn policy_allows(state: &AppState, user: &User, session: &Session) -> bool {
    !required_for(state, &user.role) || session.mfa_verified || amr_is_multi_factor(&session.amr)
}

/// Checks a TOTP or backup code for `user`, consuming it. The guess is counted before it is
/// evaluated; over the budget: 429 with `Retry-After`, the code unread.
pub async fn verify_code(
    state: &AppState,
    user_id: &UserId,
    code: &str,
) -> Result<Factor, ApiError> {
    let Some(secret) = totp_secret(state, user_id).await? else {
        return Err(ApiError::bad_request(
            "multi-factor authentication is not enabled",
        ));
    };
    let attempt = reserve_guess(state, user_id.as_str()).await?;
    let now = state.clock.now();
    let accepted = if mfa::is_totp_shaped(code) {
        match mfa::matching_step(&secret, code, now).map_err(ApiError::internal)? {
            // Accepted only when newer than the last accepted step: a code works once.
            Some(step) if state.store.accept_totp_step(user_id, step).await? => Some(Factor::Totp),
            _ => None,
        }
    } else {
        match mfa::normalize_backup_code(code) {
            Some(normalized) => {
                let hash = mfa::backup_code_hash(&pepper(state), user_id.as_str(), &normalized);
                if state.store.use_backup_code(user_id, &hash, now).await? {
                    let remaining = state.store.backup_codes_remaining(user_id).await?;
                    Some(Factor::Backup { remaining })
                } else {
                    None
                }
            }
            None => None,
        }
    };
    match accepted {
        Some(factor) => {
            state.metrics.auth_event("mfa_code", "ok");
            state.limiter.release(attempt).await;
            Ok(factor)
        }
        None => {
            state.metrics.auth_event("mfa_code", "failed");
            Err(wrong_code(attempt.remaining))
        }
    }
}

/// The audit outcome of a code check: `ok`, `failed` (evaluated and wrong) or `rate_limited`
/// (refused unread).
pub fn outcome<T>(result: &Result<T, ApiError>) -> Outcome {
    match result {
        Ok(_) => Outcome::Ok,
        Err(e) if e.retry_after.is_some() => Outcome::RateLimited,
        Err(_) => Outcome::Failed,
    }
}

/// After a TOTP or backup code (RFC 8176 `otp`).
pub fn amr_with_otp(amr: &[String]) -> Vec<String> {
    ward_core::model::amr_with(amr, ward_core::model::Amr::Otp)
}
