//! Re-authentication of a session (SPEC §2.11): the owner proves a second factor again (or,
//! with no MFA enrolled, the password), so account-security operations accept the session for
//! `security.reauth_window` more.

use ward_core::audit::Outcome;
use ward_core::clock::Timestamp;

use crate::audit::{self, Audit};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// What the owner offers as proof.
pub enum Proof {
    /// A TOTP or backup code (accounts with MFA).
    Code(String),
    /// The password (accounts without MFA).
    Password(String),
}

/// Verifies `proof` for the caller's first-party session and records it; returns the new
/// `verified_at`.
///
/// # Errors
/// 403 for credentials that are not a first-party session; 400 for the wrong kind of proof (a
/// password from an account with MFA), a wrong code or a wrong password; 429 when guessing is
/// limited.
pub async fn reauthenticate(
    state: &AppState,
    caller: &Caller,
    ip: Option<&str>,
    proof: Proof,
) -> Result<Timestamp, ApiError> {
    crate::authz::require_first_party_session(state, caller)?;
    let session = caller
        .session
        .as_ref()
        .ok_or_else(|| ApiError::forbidden("re-authentication needs a session"))?;
    let has_mfa = crate::mfa::is_enabled(state, &caller.user.id).await?;
    let now = state.clock.now();
    let (method, result) = match proof {
        Proof::Code(code) => {
            if !has_mfa {
                return Err(ApiError::bad_request(
                    "multi-factor authentication is not enabled: re-authenticate with your password",
                ));
            }
            let result = crate::mfa::verify_code(state, &caller.user.id, &code).await;
            ("code", result.map(|_| ()))
        }
        Proof::Password(password) => {
            if has_mfa {
                return Err(ApiError::bad_request(
                    "your account has multi-factor authentication: re-authenticate with a code from your authenticator, a backup code or a security key",
                ));
            }
            ("password", check_password(state, caller, password).await)
        }
    };
    let outcome = Outcome::of(result.is_ok());
    audit::record(
        state,
        Audit::new("reauth", outcome)
            .actor(caller.user.id.as_str())
            .ip(ip)
            .target(session.id.as_str())
            .detail(serde_json::json!({ "method": method })),
    )
    .await;
    result?;
    if method == "code" {
        let amr = crate::mfa::amr_with_otp(&session.amr);
        state.store.mark_session_mfa(&session.id, &amr, now).await?;
    } else {
        state
            .store
            .mark_session_reauthenticated(&session.id, now)
            .await?;
    }
    Ok(now)
}

/// The password, counted against the account's sign-in budget before it is checked.
pub(crate) async fn check_password(
    state: &AppState,
    caller: &Caller,
    password: String,
) -> Result<(), ApiError> {
    let limits = state.config.rate_limits;
    state
        .limiter
        .hit(
            "signin_account",
            &caller.user.email,
            limits.signin_failures_per_account,
            limits.window_secs,
            state.clock.now(),
        )
        .await?;
    if state
        .passwords
        .verify(password, caller.user.password_hash.clone())
        .await
    {
        Ok(())
    } else {
        Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid_password",
            "incorrect password",
        ))
    }
}
