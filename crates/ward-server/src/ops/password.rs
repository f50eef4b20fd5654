//! Passwords (SPEC §2.14): the rules a chosen password must meet, and a person changing theirs
//! (the page `/account/password`, `POST /api/account/password`, `ward password`).

use axum::http::StatusCode;
use serde_json::json;
use ward_core::account::{check_new_password, PasswordRule};
use ward_core::audit::Outcome;
use ward_core::model::User;

use crate::audit::{self, Audit};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The error for a refused password: 400 with a code naming the rule.
pub fn rule_error(rule: &PasswordRule) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, rule.code(), rule.to_string())
}

/// Checks a password `user` chose against `[password]` and zxcvbn, with what an attacker knows
/// of the account (address, name, product) counted as guessable.
pub fn check_chosen(state: &AppState, user: &User, password: &str) -> ApiResult<()> {
    let product = state.config.branding.product_name.as_str();
    let context = [user.email.as_str(), user.name.as_str(), "ward", product];
    check_new_password(password, state.config.password.min_score, &context)
        .map_err(|r| rule_error(&r))
}

/// Changes the caller's password: the current one is checked (counted against the account's
/// sign-in budget), the new one must pass [`check_chosen`] and differ from it; every other
/// session of the user is revoked, this one lives. Returns how many sessions were revoked.
///
/// An account with MFA needs a session whose second factor is recent (the password alone must
/// not take over an account that has one); without MFA the current password in the request is
/// the fresh proof, as a code is for disabling MFA (decision 55).
///
/// # Errors
/// 400 `invalid_password` for a wrong current password, a rule's code for a refused new one,
/// `no_password` for an account that signs in elsewhere; 401 `reauth_required`; 403 for
/// credentials other than a first-party session; 429 when guessing is limited.
pub async fn change(
    state: &AppState,
    caller: &Caller,
    ip: Option<&str>,
    current: String,
    new: String,
) -> ApiResult<usize> {
    if crate::mfa::is_enabled(state, &caller.user.id).await? {
        crate::authz::require_account_security(state, caller)?;
    } else {
        crate::authz::require_first_party_session(state, caller)?;
    }
    if caller.user.password_hash.is_none() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "no_password",
            "your account has no password here: it signs in through an identity provider or a passkey",
        ));
    }
    let checked = crate::ops::reauth::check_password(state, caller, current.clone()).await;
    if let Err(e) = checked {
        audit::record(
            state,
            Audit::new("password.changed", Outcome::Failed)
                .actor(caller.user.id.as_str())
                .ip(ip)
                .target(caller.user.id.as_str())
                .detail(json!({"reason": e.code})),
        )
        .await;
        return Err(if e.code == "invalid_password" {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_password",
                "the current password is incorrect",
            )
        } else {
            e
        });
    }
    if new == current {
        return Err(rule_error(&PasswordRule::SameAsCurrent));
    }
    check_chosen(state, &caller.user, &new)?;
    let hash = state
        .passwords
        .hash(new)
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let now = state.clock.now();
    let keep = caller.session.as_ref().map(|s| s.id.clone());
    let others = state
        .store
        .live_sessions(Some(&caller.user.id), now, 10_000)
        .await?
        .iter()
        .filter(|s| Some(&s.id) != keep.as_ref())
        .count();
    if !state
        .store
        .set_password(&caller.user.id, &hash, keep.as_ref(), now)
        .await?
    {
        return Err(ApiError::not_found("no such user"));
    }
    audit::record(
        state,
        Audit::new("password.changed", Outcome::Ok)
            .actor(caller.user.id.as_str())
            .ip(ip)
            .target(caller.user.id.as_str())
            .detail(json!({"sessions_revoked": others})),
    )
    .await;
    crate::mail::notice(state, &caller.user, crate::mail::Notice::PasswordChanged).await;
    Ok(others)
}
