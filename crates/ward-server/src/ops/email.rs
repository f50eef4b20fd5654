//! Changing the account's email (SPEC §2.14): the new address is stored at once, unverified
//! (`email_verified` false in ID tokens and userinfo) until the link mailed to it is followed;
//! the old address gets a notice. The same proof as a password change: a recent second factor
//! for an account with MFA, the current password otherwise.

use axum::http::StatusCode;
use serde_json::json;
use ward_core::account::LinkPurpose;
use ward_core::audit::Outcome;
use ward_core::model::{is_plausible_email, normalize_email, User};
use ward_core::StoreError;

use crate::audit::{self, Audit};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// What the change did.
pub struct Changed {
    pub user: User,
    /// Whether a verification link went to the new address (`[smtp]` is set).
    pub verification_sent: bool,
}

/// Changes the caller's email to `new_email`.
///
/// # Errors
/// 400 `invalid_password` for a wrong current password, or an address that is not one, is the
/// current one, is at a domain routed to an identity provider or the guests', or is a
/// look-alike; 401 `reauth_required`; 403 for a guest, an account that signs in through an
/// identity provider, or credentials other than a first-party session; 409 when another account
/// has the address; 429 when guessing is limited.
pub async fn change(
    state: &AppState,
    caller: &Caller,
    ip: Option<&str>,
    new_email: &str,
    current_password: Option<String>,
) -> ApiResult<Changed> {
    let mfa = crate::mfa::is_enabled(state, &caller.user.id).await?;
    if mfa {
        crate::authz::require_account_security(state, caller)?;
    } else {
        crate::authz::require_first_party_session(state, caller)?;
    }
    let user = &caller.user;
    if user.role == crate::guest::GUEST_ROLE {
        return Err(ApiError::forbidden("guests cannot change their address"));
    }
    if let Some(idp) = crate::idp::required_idp(state, &user.email, Some(&user.id)).await? {
        return Err(ApiError::forbidden(format!(
            "your address comes from the identity provider {}: change it there",
            idp.name
        )));
    }
    if user.password_hash.is_none() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "no_password",
            "your account has no password here: it signs in through an identity provider or a passkey",
        ));
    }
    if !mfa {
        let current = current_password.unwrap_or_default();
        if let Err(e) = crate::ops::reauth::check_password(state, caller, current).await {
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
    }
    let email = normalize_email(new_email);
    if !is_plausible_email(&email) {
        return Err(ApiError::bad_request(format!(
            "{new_email:?} is not an email address"
        )));
    }
    if email == user.email {
        return Err(ApiError::bad_request("that is your address already"));
    }
    if email.ends_with(&format!("@{}", crate::guest::GUEST_EMAIL_DOMAIN)) {
        return Err(ApiError::bad_request(format!(
            "the domain {} is reserved for guests",
            crate::guest::GUEST_EMAIL_DOMAIN
        )));
    }
    // An address at a routed domain belongs to the provider's accounts (decision 49).
    if let Some(idp) = crate::config::idp_for_email(&state.config.idps, &email) {
        return Err(ApiError::bad_request(format!(
            "addresses at {} sign in through {}: they cannot be moved to an account here",
            email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default(),
            idp.name
        )));
    }
    if let Some(e) = crate::accounts::refuse_look_alike(state, &email).await? {
        return Err(ApiError::bad_request(e.to_string()));
    }
    match state.store.change_email(&user.id, &email).await {
        Ok(true) => {}
        Ok(false) => return Err(ApiError::not_found("no such user")),
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::conflict(
                "another account has this address: choose another",
            ))
        }
        Err(e) => return Err(e.into()),
    }
    let updated = state
        .store
        .user_by_id(&user.id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such user"))?;
    audit::record(
        state,
        Audit::new("email.changed", Outcome::Ok)
            .actor(user.id.as_str())
            .ip(ip)
            .target(user.id.as_str())
            .detail(json!({"from": user.email, "to": updated.email})),
    )
    .await;
    let verification_sent = crate::mail::enabled(state);
    if verification_sent {
        let (url, _) =
            crate::ops::users::issue_link(state, LinkPurpose::Verify, &updated, None).await?;
        let rendered = crate::mail::templates::verify_new_email(state, &updated, &url);
        crate::mail::enqueue(state, &updated.email, "verify_email", rendered).await?;
        let notice = crate::mail::templates::email_changed(state, &user.email, &updated.email);
        if let Err(e) = crate::mail::enqueue(state, &user.email, "notice.email", notice).await {
            tracing::warn!(error = %e.description, "cannot queue the email-change notice");
        }
    }
    Ok(Changed {
        user: updated,
        verification_sent,
    })
}

/// Queues a verification mail for `user`'s address (sign-up).
///
/// # Errors
/// The store's.
pub async fn send_verification(state: &AppState, user: &User) -> Result<(), ApiError> {
    if !crate::mail::enabled(state) || user.email_verified {
        return Ok(());
    }
    let (url, _) = crate::ops::users::issue_link(state, LinkPurpose::Verify, user, None).await?;
    let rendered = crate::mail::templates::verify_email(state, user, &url);
    crate::mail::enqueue(state, &user.email, "verify_email", rendered).await
}
