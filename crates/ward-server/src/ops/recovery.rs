//! Using an admin's recovery link (SPEC §2.14, Kanidm's credential reset): the person who
//! holds it sets a new password; the account's second factors are removed and its sessions
//! revoked in the same transaction, so whoever had the old factors or sessions is out, and the
//! user enrols MFA again when their role requires it.

use serde_json::json;
use ward_core::account::{AccountLink, LinkProblem, LinkPurpose};
use ward_core::audit::Outcome;
use ward_core::model::User;
use ward_core::token::token_hash;
use ward_core::UserId;

use crate::audit::{self, Audit};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The live link of `purpose` behind `secret` and its user, or why it cannot be used.
///
/// # Errors
/// The store's.
pub async fn check(
    state: &AppState,
    secret: &str,
    purpose: LinkPurpose,
) -> ApiResult<Result<(AccountLink, User), LinkProblem>> {
    let Some(link) = state.store.account_link(&token_hash(secret)).await? else {
        return Ok(Err(LinkProblem::Invalid));
    };
    if let Some(problem) = link.problem(purpose, state.clock.now()) {
        return Ok(Err(problem));
    }
    let user = match link.user_id.as_deref() {
        Some(id) => state.store.user_by_id(&UserId::from(id)).await?,
        None => None,
    };
    match user {
        Some(user) => Ok(Ok((link, user))),
        None => Ok(Err(LinkProblem::Invalid)),
    }
}

/// Sets the new password through a recovery link (which also removes the second factors) or
/// a mailed reset link (which keeps them), exactly once.
///
/// # Errors
/// 400 with the rule's code for a refused password; 403 for a disabled account.
pub async fn redeem(
    state: &AppState,
    ip: Option<&str>,
    secret: &str,
    purpose: LinkPurpose,
    new_password: String,
) -> ApiResult<Result<User, LinkProblem>> {
    let remove_factors = purpose == LinkPurpose::Recovery;
    let (_, user) = match check(state, secret, purpose).await? {
        Ok(found) => found,
        Err(problem) => return Ok(Err(problem)),
    };
    if user.disabled {
        return Err(ApiError::forbidden(
            "this account is disabled: ask your administrator to enable it first",
        ));
    }
    crate::ops::password::check_chosen(state, &user, &new_password)?;
    let hash = state
        .passwords
        .hash(new_password)
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let now = state.clock.now();
    let redeemed = state
        .store
        .redeem_password_link(&token_hash(secret), &hash, remove_factors, now)
        .await?;
    if redeemed.is_none() {
        // Used (or expired) between the check and now: say which.
        return Ok(Err(check(state, secret, purpose)
            .await?
            .err()
            .unwrap_or(LinkProblem::Used)));
    }
    let event = if remove_factors {
        "user.recovered"
    } else {
        "password.reset"
    };
    audit::record(
        state,
        Audit::new(event, Outcome::Ok)
            .actor(user.id.as_str())
            .ip(ip)
            .target(user.id.as_str())
            .detail(json!({"factors_removed": remove_factors, "sessions_revoked": true})),
    )
    .await;
    crate::mail::notice(state, &user, crate::mail::Notice::PasswordChanged).await;
    match state.store.user_by_id(&user.id).await? {
        Some(fresh) => Ok(Ok(fresh)),
        None => Ok(Err(LinkProblem::Invalid)),
    }
}
