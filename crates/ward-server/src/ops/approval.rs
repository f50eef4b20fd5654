//! Sign-up that waits for an admin (SPEC §2.14, `signup = "approval"`): anyone may ask for an
//! account at `/signup`; the account is stored disabled and `pending_approval`, so every
//! sign-in path refuses it, and the sign-in page tells the person who knows its password that
//! it waits. An admin approves (`POST /api/admin/users/{id}/approve`) or denies (`…/deny`, which
//! deletes the request); the person is mailed either way when `[smtp]` is set.

use serde_json::json;
use ward_core::audit::Outcome;
use ward_core::model::User;
use ward_core::UserId;

use crate::accounts::{build_local_user, insert_checked, NewLocalUser};
use crate::audit::{self, Audit};
use crate::auth::Caller;
use crate::authz;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Stores a request for an account. An address that has an account already gets the same
/// answer and nothing happens (SPEC §2.13: the page is no account oracle).
///
/// # Errors
/// 400 for an address or password the account rules refuse (the same for a taken address).
pub async fn request(state: &AppState, ip: Option<&str>, new: NewLocalUser) -> ApiResult<()> {
    let user = build_local_user(state, new).await?;
    let user = match insert_checked(state, user, true).await {
        Ok(user) => user,
        Err(e) if e.status == axum::http::StatusCode::CONFLICT => return Ok(()),
        Err(e) => return Err(e),
    };
    audit::record(
        state,
        Audit::new("user.requested", Outcome::Ok)
            .actor(user.id.as_str())
            .ip(ip)
            .target(user.id.as_str())
            .detail(json!({"email": user.email, "role": user.role, "method": "signup"})),
    )
    .await;
    if let Err(e) = crate::ops::email::send_verification(state, &user).await {
        tracing::warn!(error = %e.description, "cannot queue the verification mail");
    }
    Ok(())
}

/// The accounts waiting for approval.
///
/// # Errors
/// 403 without `admin:read`.
pub async fn pending(state: &AppState, caller: &Caller) -> ApiResult<Vec<User>> {
    authz::require_admin(state, caller, false)?;
    Ok(state.store.pending_users().await?)
}

async fn waiting(state: &AppState, id: &UserId) -> ApiResult<User> {
    let user = state
        .store
        .user_by_id(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such user"))?;
    if !state.store.pending_approval(id).await? {
        return Err(ApiError::conflict(format!(
            "{} is not waiting for approval",
            user.email
        )));
    }
    Ok(user)
}

/// Approves a waiting account: it can sign in from now on; the person is mailed.
///
/// # Errors
/// 403 without `admin:write`; 404 for no such user; 409 for an account not waiting.
pub async fn approve(
    state: &AppState,
    caller: &Caller,
    ip: Option<&str>,
    id: &UserId,
) -> ApiResult<User> {
    authz::require_admin(state, caller, true)?;
    let user = waiting(state, id).await?;
    if !state.store.approve_user(id).await? {
        return Err(ApiError::conflict(format!(
            "{} is not waiting for approval",
            user.email
        )));
    }
    audit::record(
        state,
        Audit::new("user.approved", Outcome::Ok)
            .actor(caller.user.id.as_str())
            .ip(ip)
            .target(id.as_str()),
    )
    .await;
    let rendered = crate::mail::templates::access_decided(state, &user, true);
    if let Err(e) = crate::mail::enqueue(state, &user.email, "access_approved", rendered).await {
        tracing::warn!(error = %e.description, "cannot queue the approval mail");
    }
    Ok(user)
}

/// Denies a waiting account: the request is deleted (its audit events stay); the person is
/// mailed.
///
/// # Errors
/// 403 without `admin:write`; 404 for no such user; 409 for an account not waiting.
pub async fn deny(
    state: &AppState,
    caller: &Caller,
    ip: Option<&str>,
    id: &UserId,
) -> ApiResult<User> {
    authz::require_admin(state, caller, true)?;
    let user = waiting(state, id).await?;
    super::users::remove_account(
        state,
        caller,
        ip,
        id,
        Audit::new("user.denied", Outcome::Ok).detail(json!({"email": user.email})),
    )
    .await?;
    let rendered = crate::mail::templates::access_decided(state, &user, false);
    if let Err(e) = crate::mail::enqueue(state, &user.email, "access_denied", rendered).await {
        tracing::warn!(error = %e.description, "cannot queue the denial mail");
    }
    Ok(user)
}
