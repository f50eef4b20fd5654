//! Sign-up by invitation (SPEC §2.14, `signup = "invite"`): an admin invites an address
//! (`POST /api/admin/invitations`, the admin page), the single-use link (7 days) is shown to the
//! admin and mailed to the invitee when `[smtp]` is set, and whoever opens it chooses a
//! password for an account whose email (and role) the invitation pinned.

use serde_json::json;
use ward_core::account::{AccountLink, LinkProblem, LinkPurpose};
use ward_core::audit::Outcome;
use ward_core::model::{is_plausible_email, normalize_email, User};
use ward_core::token::{new_opaque_secret, token_hash};
use ward_core::StoreError;
use ward_core::UserId;

use crate::audit::{self, Audit};
use crate::auth::Caller;
use crate::authz;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Where an invitation points: the secret is in the query (paths are logged, queries never).
pub const INVITE_PATH: &str = "/invite";

/// A made invitation.
pub struct MadeInvitation {
    pub url: String,
    pub email: String,
    pub role: String,
    pub expires_at: ward_core::Timestamp,
    pub mailed: bool,
}

/// Invites `email` with `role` (`default_role` when `None`); a new invitation for the same
/// address replaces the unused one.
///
/// # Errors
/// 403 without `admin:write`; 400 for an address that is not one, is the guests' domain or a
/// domain routed to an identity provider, or an unknown role; 409 when the address has an
/// account already.
pub async fn invite(
    state: &AppState,
    caller: &Caller,
    ip: Option<&str>,
    email: &str,
    role: Option<&str>,
) -> ApiResult<MadeInvitation> {
    authz::require_admin(state, caller, true)?;
    let email = normalize_email(email);
    if !is_plausible_email(&email) {
        return Err(ApiError::bad_request(format!(
            "{email:?} is not an email address"
        )));
    }
    if email.ends_with(&format!("@{}", crate::guest::GUEST_EMAIL_DOMAIN)) {
        return Err(ApiError::bad_request(format!(
            "the domain {} is reserved for guests",
            crate::guest::GUEST_EMAIL_DOMAIN
        )));
    }
    if let Some(idp) = crate::config::idp_for_email(&state.config.idps, &email) {
        return Err(ApiError::bad_request(format!(
            "{email} signs in through the identity provider {}: no invitation is needed",
            idp.name
        )));
    }
    let role = role.unwrap_or(&state.config.default_role).to_string();
    if !state.config.roles.contains(&role) || role == crate::guest::GUEST_ROLE {
        let roles: Vec<&str> = state.config.roles.names().collect();
        return Err(ApiError::bad_request(format!(
            "unknown role {role:?}: use one of {}",
            roles.join(", ")
        )));
    }
    if state.store.user_by_email(&email).await?.is_some() {
        return Err(ApiError::conflict(format!(
            "{email} has an account already"
        )));
    }
    let secret = new_opaque_secret(state.random.as_ref());
    let now = state.clock.now();
    let link = AccountLink {
        token_hash: token_hash(&secret),
        purpose: LinkPurpose::Invite,
        user_id: None,
        email: Some(email.clone()),
        role: Some(role.clone()),
        created_by: Some(caller.user.id.to_string()),
        created_at: now,
        expires_at: now.plus_secs(LinkPurpose::Invite.lifetime_secs()),
        used_at: None,
    };
    state.store.insert_invitation(&link).await?;
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("token", &secret)
        .finish();
    let url = state.url(&format!("{INVITE_PATH}?{query}"));
    let mailed = crate::mail::enabled(state);
    if mailed {
        let rendered = crate::mail::templates::invitation(state, &caller.user, &url);
        crate::mail::enqueue(state, &email, "invitation", rendered).await?;
    }
    audit::record(
        state,
        Audit::new("invitation.created", Outcome::Ok)
            .actor(caller.user.id.as_str())
            .ip(ip)
            .detail(json!({"email": email, "role": role, "mailed": mailed})),
    )
    .await;
    Ok(MadeInvitation {
        url,
        email,
        role,
        expires_at: link.expires_at,
        mailed,
    })
}

/// The invitations neither used nor expired.
///
/// # Errors
/// 403 without `admin:read`.
pub async fn open(state: &AppState, caller: &Caller) -> ApiResult<Vec<AccountLink>> {
    authz::require_admin(state, caller, false)?;
    Ok(state.store.open_invitations(state.clock.now()).await?)
}

/// The live invitation behind `secret`, or why it cannot be used.
///
/// # Errors
/// The store's.
pub async fn check(state: &AppState, secret: &str) -> ApiResult<Result<AccountLink, LinkProblem>> {
    let Some(link) = state.store.account_link(&token_hash(secret)).await? else {
        return Ok(Err(LinkProblem::Invalid));
    };
    match link.problem(LinkPurpose::Invite, state.clock.now()) {
        Some(problem) => Ok(Err(problem)),
        None if link.email.is_none() => Ok(Err(LinkProblem::Invalid)),
        None => Ok(Ok(link)),
    }
}

/// Creates the invited account with the chosen password, exactly once. The address is
/// verified: an admin vouched for it, as for an account an admin creates (SPEC §2.11).
///
/// # Errors
/// 400 with the rule's code for a refused password; 409 when the address got an account since.
pub async fn redeem(
    state: &AppState,
    ip: Option<&str>,
    secret: &str,
    name: &str,
    password: String,
) -> ApiResult<Result<User, LinkProblem>> {
    let link = match check(state, secret).await? {
        Ok(link) => link,
        Err(problem) => return Ok(Err(problem)),
    };
    let email = link.email.clone().unwrap_or_default();
    let name = name.trim();
    let mut user = User {
        id: UserId::random(state.random.as_ref()),
        name: if name.is_empty() {
            email.split('@').next().unwrap_or_default().to_string()
        } else {
            name.chars().take(200).collect()
        },
        email: email.clone(),
        password_hash: None,
        role: link
            .role
            .clone()
            .filter(|r| state.config.roles.contains(r))
            .unwrap_or_else(|| state.config.default_role.clone()),
        disabled: false,
        created_at: state.clock.now(),
        email_verified: true,
    };
    crate::ops::password::check_chosen(state, &user, &password)?;
    user.password_hash = Some(
        state
            .passwords
            .hash(password)
            .await
            .map_err(|e| ApiError::bad_request(e.to_string()))?,
    );
    let now = state.clock.now();
    match state
        .store
        .redeem_invitation(&token_hash(secret), &user, now)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            return Ok(Err(check(state, secret)
                .await?
                .err()
                .unwrap_or(LinkProblem::Used)))
        }
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::conflict(format!(
                "{email} has an account already: sign in, or use \"Forgot password?\""
            )))
        }
        Err(e) => return Err(e.into()),
    }
    audit::record(
        state,
        Audit::new("user.created", Outcome::Ok)
            .actor(user.id.as_str())
            .ip(ip)
            .target(user.id.as_str())
            .detail(json!({
                "email": user.email,
                "role": user.role,
                "method": "invitation",
                "invited_by": link.created_by,
            })),
    )
    .await;
    Ok(Ok(user))
}
