//! An admin's account actions (SPEC §2.14): a single-use recovery link, resetting a user's
//! second factors, deleting a user. Each is audited; the user is named by id, which stays in
//! the audit log after a deletion.

use serde_json::json;
use ward_core::account::{AccountLink, LinkPurpose};
use ward_core::audit::Outcome;
use ward_core::model::User;
use ward_core::token::{new_opaque_secret, token_hash};
use ward_core::UserId;

use crate::audit::{self, Audit};
use crate::auth::Caller;
use crate::authz;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::time::rfc3339;
use ward_proto::{CreateUser, PatchUser, UserInfo};

/// Where a recovery link points: the secret is in the query (paths are logged, queries never).
pub const RECOVERY_PATH: &str = "/recover";
/// Where a mailed password-reset link points.
pub const RESET_PATH: &str = "/reset";
/// Where a mailed verification link points.
pub const VERIFY_PATH: &str = "/verify-email";

/// Stores a new single-use link of `purpose` for `user` (replacing their unused one of the same
/// purpose); returns its URL (with the secret, shown or mailed once) and its deadline.
///
/// # Errors
/// The store's.
pub async fn issue_link(
    state: &AppState,
    purpose: LinkPurpose,
    user: &User,
    created_by: Option<&str>,
) -> ApiResult<(String, ward_core::Timestamp)> {
    let secret = new_opaque_secret(state.random.as_ref());
    let now = state.clock.now();
    let link = AccountLink {
        token_hash: token_hash(&secret),
        purpose,
        user_id: Some(user.id.to_string()),
        email: Some(user.email.clone()),
        role: None,
        created_by: created_by.map(str::to_string),
        created_at: now,
        expires_at: now.plus_secs(purpose.lifetime_secs()),
        used_at: None,
    };
    state.store.insert_account_link(&link).await?;
    let path = match purpose {
        LinkPurpose::Recovery => RECOVERY_PATH,
        LinkPurpose::Reset => RESET_PATH,
        LinkPurpose::Verify => VERIFY_PATH,
        LinkPurpose::Invite => crate::ops::invitations::INVITE_PATH,
    };
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("token", &secret)
        .finish();
    Ok((state.url(&format!("{path}?{query}")), link.expires_at))
}

/// A made link: its URL (with the secret, shown once) and when it stops working.
pub struct MadeLink {
    pub url: String,
    pub expires_at: ward_core::Timestamp,
    pub user: User,
}

async fn target(state: &AppState, id: &UserId) -> ApiResult<User> {
    state
        .store
        .user_by_id(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such user"))
}

/// Makes a recovery link for user `id` (replacing any unused one): whoever opens it sets a
/// new password, the user's second factors are removed and their sessions revoked, and they
/// enrol MFA again when their role requires it.
///
/// # Errors
/// 403 for a caller without `admin:write`; 404 for no such user; 400 for a guest or an
/// account at a domain routed to an identity provider (it has no password here to recover).
pub async fn recovery_link(
    state: &AppState,
    caller: &Caller,
    ip: Option<&str>,
    id: &UserId,
) -> ApiResult<MadeLink> {
    authz::require_admin(state, caller, true)?;
    let user = target(state, id).await?;
    if user.role == crate::guest::GUEST_ROLE {
        return Err(ApiError::bad_request(
            "guests have nothing to recover: their account ends with the session",
        ));
    }
    if crate::idp::required_idp(state, &user.email, Some(&user.id))
        .await?
        .is_some()
    {
        return Err(ApiError::bad_request(format!(
            "{} signs in through an identity provider: recover the account there (or allow local sign-in first with PATCH local_login)",
            user.email
        )));
    }
    let (url, expires_at) = issue_link(
        state,
        LinkPurpose::Recovery,
        &user,
        Some(caller.user.id.as_str()),
    )
    .await?;
    audit::record(
        state,
        Audit::new("user.recovery_link", Outcome::Ok)
            .actor(caller.user.id.as_str())
            .ip(ip)
            .target(user.id.as_str())
            .detail(json!({"expires_at": crate::time::rfc3339(expires_at)})),
    )
    .await;
    Ok(MadeLink {
        url,
        expires_at,
        user,
    })
}

/// Removes every second factor of user `id` and revokes their sessions: they sign in with
/// the password and, when their role requires MFA, enrol again.
///
/// # Errors
/// 403 without `admin:write`; 404 for no such user.
pub async fn reset_mfa(
    state: &AppState,
    caller: &Caller,
    ip: Option<&str>,
    id: &UserId,
) -> ApiResult<User> {
    authz::require_admin(state, caller, true)?;
    let user = target(state, id).await?;
    if !state.store.reset_mfa(id, state.clock.now()).await? {
        return Err(ApiError::not_found("no such user"));
    }
    audit::record(
        state,
        Audit::new("mfa.reset", Outcome::Ok)
            .actor(caller.user.id.as_str())
            .ip(ip)
            .target(id.as_str()),
    )
    .await;
    crate::mail::notice(state, &user, crate::mail::Notice::MfaReset).await;
    Ok(user)
}

/// Deletes user `id` with their sessions, tokens and factors; their audit events stay.
///
/// # Errors
/// 403 without `admin:write`; 404 for no such user; 409 for the caller's own account.
pub async fn delete_user(
    state: &AppState,
    caller: &Caller,
    ip: Option<&str>,
    id: &UserId,
) -> ApiResult<User> {
    authz::require_admin(state, caller, true)?;
    if *id == caller.user.id {
        return Err(ApiError::conflict(
            "you cannot delete your own account; ask another admin",
        ));
    }
    let user = target(state, id).await?;
    remove_account(
        state,
        caller,
        ip,
        id,
        Audit::new("user.deleted", Outcome::Ok).detail(json!({"role": user.role})),
    )
    .await?;
    Ok(user)
}

/// Deletes account `id` and every row that names it (decision 114), then records `event` (its
/// actor, address and target filled in here): the one way an admin removes an account, whether
/// deleted or a sign-up denied. 404 when it is already gone.
pub async fn remove_account<'a>(
    state: &AppState,
    caller: &'a Caller,
    ip: Option<&'a str>,
    id: &'a UserId,
    event: Audit<'a>,
) -> ApiResult<()> {
    if !state.store.delete_user(id).await? {
        return Err(ApiError::not_found("no such user"));
    }
    audit::record(
        state,
        event
            .actor(caller.user.id.as_str())
            .ip(ip)
            .target(id.as_str()),
    )
    .await;
    Ok(())
}

/// A user as the admin API shows it.
pub fn user_info(u: &User) -> UserInfo {
    UserInfo {
        id: u.id.to_string(),
        email: u.email.clone(),
        name: u.name.clone(),
        role: u.role.clone(),
        disabled: u.disabled,
        created_at: rfc3339(u.created_at),
    }
}

fn known_role(state: &AppState, role: &str) -> ApiResult<()> {
    if state.config.roles.contains(role) {
        Ok(())
    } else {
        let roles: Vec<&str> = state.config.roles.names().collect();
        Err(ApiError::bad_request(format!(
            "unknown role {role:?}: expected one of {}",
            roles.join(", ")
        )))
    }
}

/// Creates a user (the API and the admin page).
pub async fn create_user_record(
    state: &AppState,
    caller: &Caller,
    ip: Option<&str>,
    req: CreateUser,
) -> ApiResult<User> {
    authz::require_admin(state, caller, true)?;
    let role = req
        .role
        .unwrap_or_else(|| state.config.default_role.clone());
    known_role(state, &role)?;
    let user = crate::accounts::create_local_user(
        state,
        crate::accounts::NewLocalUser {
            email: req.email,
            name: req.name,
            password: req.password,
            role,
            email_verified: true,
        },
    )
    .await?;
    audit::record(
        state,
        Audit::new("user.created", Outcome::Ok)
            .actor(caller.user.id.as_str())
            .ip(ip)
            .target(user.id.as_str())
            .detail(json!({"email": user.email, "role": user.role})),
    )
    .await;
    Ok(user)
}

/// Changes a user's role and/or disabled flag (the API and the admin page).
pub async fn patch_user_record(
    state: &AppState,
    caller: &Caller,
    ip: Option<&str>,
    id: &UserId,
    req: PatchUser,
) -> ApiResult<User> {
    authz::require_admin(state, caller, true)?;
    if req.role.is_none() && req.disabled.is_none() && req.local_login.is_none() {
        return Err(ApiError::bad_request(
            "nothing to change: send role, disabled and/or local_login",
        ));
    }
    let before = state
        .store
        .user_by_id(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such user"))?;
    if *id == caller.user.id
        && (req.disabled == Some(true)
            || req
                .role
                .as_deref()
                .is_some_and(|r| !authz::is_admin_role(state, r)))
    {
        return Err(ApiError::conflict(
            "you cannot disable or demote yourself; ask another admin",
        ));
    }
    let now = state.clock.now();
    if let Some(role) = &req.role {
        known_role(state, role)?;
        if *role != before.role {
            state.store.set_user_role(id, role).await?;
            audit::record(
                state,
                Audit::new("role.changed", Outcome::Ok)
                    .actor(caller.user.id.as_str())
                    .ip(ip)
                    .target(id.as_str())
                    .detail(json!({"from": before.role, "to": role})),
            )
            .await;
        }
    }
    if let Some(disabled) = req.disabled {
        if disabled != before.disabled {
            state.store.set_user_disabled(id, disabled, now).await?;
            let event = if disabled {
                "user.disabled"
            } else {
                "user.enabled"
            };
            audit::record(
                state,
                Audit::new(event, Outcome::Ok)
                    .actor(caller.user.id.as_str())
                    .ip(ip)
                    .target(id.as_str()),
            )
            .await;
        }
    }
    if let Some(local_login) = req.local_login {
        crate::accounts::set_local_login(state, caller, ip, id, local_login).await?;
    }
    let after = state
        .store
        .user_by_id(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such user"))?;
    Ok(after)
}
