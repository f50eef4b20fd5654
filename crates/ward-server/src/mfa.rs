//! Checking second factors: TOTP with replay protection, backup codes used exactly once, and
//! the lockout after repeated failures (5 failures → 30 s, answered 429 with `Retry-After`).

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::StatusCode;
use ward_core::clock::Timestamp;
use ward_core::mfa::{self, LOCKOUT_SECS, MAX_FAILURES};
use ward_core::model::{amr_is_multi_factor, Session, User};

use crate::error::ApiError;
use crate::state::AppState;

/// Per-user failure counts and lockouts.
///
/// In memory: a lockout is a brake on guessing, and a replica that has not seen the failures
/// still allows only 5 guesses per 30 s itself (see docs/security.md).
#[derive(Default)]
pub struct MfaGuard {
    users: Mutex<HashMap<String, (u32, i64)>>,
}

impl MfaGuard {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, (u32, i64)>) -> T) -> T {
        let mut map = match self.users.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut map)
    }

    /// `Err(seconds)` while locked.
    pub fn check(&self, user_id: &str, now: Timestamp) -> Result<(), i64> {
        self.with(|m| match m.get(user_id) {
            Some((_, until)) if *until > now.0 => Err(*until - now.0),
            _ => Ok(()),
        })
    }

    pub fn failed(&self, user_id: &str, now: Timestamp) {
        self.with(|m| {
            let entry = m.entry(user_id.to_string()).or_insert((0, 0));
            if entry.1 > now.0 {
                return;
            }
            entry.0 += 1;
            if entry.0 >= MAX_FAILURES {
                *entry = (0, now.0 + LOCKOUT_SECS);
            }
        });
    }

    pub fn succeeded(&self, user_id: &str) {
        self.with(|m| {
            m.remove(user_id);
        });
    }
}

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
pub async fn totp_secret(state: &AppState, user_id: &str) -> Result<Option<Vec<u8>>, ApiError> {
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

pub async fn is_enabled(state: &AppState, user_id: &str) -> Result<bool, ApiError> {
    Ok(state
        .store
        .totp_enrolment(user_id)
        .await?
        .is_some_and(|e| e.confirmed))
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

/// Checks a TOTP or backup code for `user`, consuming it. Lockout: 429 with `Retry-After`.
pub async fn verify_code(state: &AppState, user_id: &str, code: &str) -> Result<Factor, ApiError> {
    let now = state.clock.now();
    state
        .mfa_guard
        .check(user_id, now)
        .map_err(ApiError::too_many_requests)?;
    let Some(secret) = totp_secret(state, user_id).await? else {
        return Err(ApiError::bad_request(
            "multi-factor authentication is not enabled",
        ));
    };
    let accepted = if mfa::is_totp_shaped(code) {
        match mfa::matching_step(&secret, code, now).map_err(ApiError::internal)? {
            // Accepted only when newer than the last accepted step: a code works once.
            Some(step) if state.store.accept_totp_step(user_id, step).await? => Some(Factor::Totp),
            _ => None,
        }
    } else {
        match mfa::normalize_backup_code(code) {
            Some(normalized) => {
                let hash = mfa::backup_code_hash(&pepper(state), user_id, &normalized);
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
            state.mfa_guard.succeeded(user_id);
            Ok(factor)
        }
        None => {
            state.mfa_guard.failed(user_id, now);
            Err(invalid_code())
        }
    }
}

/// The `amr` values after a second factor: the first factor's plus `otp`.
pub fn amr_with_otp(amr: &[String]) -> Vec<String> {
    let mut out = amr.to_vec();
    for m in ["otp", "mfa"] {
        if !out.iter().any(|x| x == m) {
            out.push(m.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_after_five_failures_for_thirty_seconds() {
        let g = MfaGuard::default();
        for _ in 0..4 {
            g.failed("u", Timestamp(100));
            assert!(g.check("u", Timestamp(100)).is_ok());
        }
        g.failed("u", Timestamp(100));
        assert_eq!(g.check("u", Timestamp(100)), Err(30));
        assert_eq!(g.check("u", Timestamp(129)), Err(1));
        assert!(g.check("u", Timestamp(130)).is_ok());
        assert!(g.check("other", Timestamp(100)).is_ok());
    }
}
