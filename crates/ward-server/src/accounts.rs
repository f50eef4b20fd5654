//! Local accounts (email + password) as the admin API, the admin page and self-service sign-up
//! create them: one place that checks the email, hashes the password off the runtime and
//! inserts the user.

use ward_core::audit::Outcome;
use ward_core::email::LookAlike;
use ward_core::model::{is_plausible_email, normalize_email, User};
use ward_core::StoreError;
use ward_core::UserId;

use crate::error::ApiError;
use crate::state::AppState;

/// What a new local account needs. `role` must be a configured role (callers check).
pub struct NewLocalUser {
    pub email: String,
    pub name: Option<String>,
    pub password: Option<String>,
    pub role: String,
    /// True when an admin creates the account; false for self-service sign-up (SPEC §2.11).
    pub email_verified: bool,
}

/// Creates the account.
///
/// # Errors
/// 400 for an address that is not an email or is in the guests' reserved domain, or a password
/// the hashing policy refuses; 409 when the email is taken.
pub async fn create_local_user(state: &AppState, new: NewLocalUser) -> Result<User, ApiError> {
    let user = build_local_user(state, new).await?;
    insert_checked(state, user, false).await
}

/// Inserts `user` (waiting for an admin's approval when `pending`), a taken email as 409.
///
/// # Errors
/// 409 when the email is taken; the store's.
pub async fn insert_checked(state: &AppState, user: User, pending: bool) -> Result<User, ApiError> {
    let inserted = if pending {
        state.store.insert_pending_user(&user).await
    } else {
        state.store.insert_user(&user).await
    };
    match inserted {
        Ok(()) => Ok(user),
        Err(StoreError::Conflict(_)) => Err(ApiError::conflict(format!(
            "a user with email {} exists",
            user.email
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Checks the email (an address, not the guests' domain, not a look-alike of an account) and
/// hashes the password; the user is not stored yet.
///
/// # Errors
/// As [`create_local_user`], but never 409.
pub async fn build_local_user(state: &AppState, new: NewLocalUser) -> Result<User, ApiError> {
    let email = normalize_email(&new.email);
    if !is_plausible_email(&email) {
        return Err(ApiError::bad_request(format!(
            "{:?} is not an email address",
            new.email
        )));
    }
    if email.ends_with(&format!("@{}", crate::guest::GUEST_EMAIL_DOMAIN)) {
        return Err(ApiError::bad_request(format!(
            "the domain {} is reserved for guests",
            crate::guest::GUEST_EMAIL_DOMAIN
        )));
    }
    refuse_look_alike(state, &email)
        .await?
        .map_or(Ok(()), |e| Err(ApiError::bad_request(e)))?;
    let password_hash = match new.password {
        Some(p) => Some(
            state
                .passwords
                .hash(p)
                .await
                .map_err(|e| ApiError::bad_request(e.to_string()))?,
        ),
        None => None,
    };
    let user = User {
        id: UserId::random(state.random.as_ref()),
        name: new
            .name
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_string()),
        email,
        password_hash,
        role: new.role,
        disabled: false,
        created_at: state.clock.now(),
        email_verified: new.email_verified,
    };
    Ok(user)
}

/// Whether a new account's normalised `email` is refused as a look-alike (SPEC §2.13): a local
/// part mixing scripts, or one whose TR39 skeleton is an existing account's at the same domain.
/// `Ok(None)` when it may be created.
pub async fn refuse_look_alike(
    state: &AppState,
    email: &str,
) -> Result<Option<LookAlike>, StoreError> {
    if let Err(e) = ward_core::email::single_script(email) {
        return Ok(Some(e));
    }
    let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
    let existing = state.store.user_emails_at_domain(domain).await?;
    Ok(existing
        .iter()
        .any(|other| ward_core::email::confusable(email, other))
        .then_some(LookAlike::Confusable))
}

/// Sets an account's break-glass flag (`local_login`, SPEC §2.13) and audits the change; the
/// caller is an admin (checked by the caller).
pub async fn set_local_login(
    state: &AppState,
    caller: &crate::auth::Caller,
    ip: Option<&str>,
    id: &UserId,
    local_login: bool,
) -> Result<(), ApiError> {
    if state.store.user_local_login(id).await? == local_login {
        return Ok(());
    }
    if !state.store.set_user_local_login(id, local_login).await? {
        return Err(ApiError::not_found("no such user"));
    }
    crate::audit::record(
        state,
        crate::audit::Audit::new("user.local_login", Outcome::Ok)
            .actor(caller.user.id.as_str())
            .ip(ip)
            .target(id.as_str())
            .detail(serde_json::json!({ "local_login": local_login })),
    )
    .await;
    Ok(())
}
