//! Authorization: the server's side of [`ward_core::authority::Authority`]. Each request's
//! caller carries its authority (computed once in [`crate::auth`]); these functions ask it and
//! turn its answers into ward's errors and audit events, so the API, the pages, the proxy and
//! forward-auth refuse the same things with the same words. Nothing is cached: a demoted or
//! disabled owner takes their tokens' power with them.

use axum::http::StatusCode;
use ward_core::audit::Outcome;
use ward_core::authority::Denial;
use ward_core::scope::{Action, Permission, ADMIN_RESOURCE};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// Whether `caller` holds `permission` right now.
pub fn allows(caller: &Caller, permission: &Permission) -> bool {
    caller.authority.allows(permission)
}

/// `Ok` when allowed; otherwise 403 naming the permission,
/// `permission denied: containers:delete requires admin role`, and an audit event.
pub fn require(state: &AppState, caller: &Caller, permission: &Permission) -> Result<(), ApiError> {
    if allows(caller, permission) {
        return Ok(());
    }
    audit_denial(state, caller, &permission.to_string());
    Err(ApiError::forbidden(denial_message(
        state, caller, permission,
    )))
}

fn audit_denial(state: &AppState, caller: &Caller, permission: &str) {
    crate::audit::record_soon(
        state,
        crate::audit::Audit::new("policy.denied", Outcome::Denied)
            .actor(caller.user.id.as_str())
            .detail(serde_json::json!({
                "permission": permission,
                "credential": caller.credential.as_str(),
                "client_id": caller.client_id,
            })),
    );
}

/// Why `caller` does not hold `permission`: the role, or a credential narrower than the role.
pub fn denial_message(state: &AppState, caller: &Caller, permission: &Permission) -> String {
    if caller.authority.role_allows(permission) {
        return format!(
            "permission denied: {permission} is not granted to this credential (its scopes: {})",
            scopes_or_none(
                &caller
                    .authority
                    .effective_permissions(&state.config.resources)
            )
        );
    }
    role_denial_message(state, permission)
}

/// SPEC's message for a role that lacks `permission`.
pub fn role_denial_message(state: &AppState, permission: &Permission) -> String {
    match state.config.roles.least_role_granting(permission) {
        Some(role) => format!("permission denied: {permission} requires {role} role"),
        None => format!("permission denied: {permission} is granted to no role"),
    }
}

fn scopes_or_none(scopes: &[String]) -> String {
    if scopes.is_empty() {
        "none".into()
    } else {
        scopes.join(" ")
    }
}

/// Parses `resource:action` against the configured resources, as a 400 when malformed.
pub fn parse_permission(state: &AppState, text: &str) -> Result<Permission, ApiError> {
    Permission::parse(text, &state.config.resources).ok_or_else(|| {
        ApiError::bad_request(format!(
            "{text:?} is not a permission: expected resource:action with resource one of {}, {ADMIN_RESOURCE} and action read, write or delete",
            state.config.resources.join(", ")
        ))
    })
}

/// Whether a role is an administrator's (it grants `admin:write`).
pub fn is_admin_role(state: &AppState, role: &str) -> bool {
    state
        .config
        .roles
        .get(role)
        .is_some_and(|r| r.grants(&admin_permission(true)))
}

/// `admin:write` or `admin:read`.
pub fn admin_permission(write: bool) -> Permission {
    Permission {
        resource: ADMIN_RESOURCE.into(),
        action: if write { Action::Write } else { Action::Read },
    }
}

/// The admin API (SPEC §2.11): the admin role, and a first-party session credential or a token
/// carrying `admin:read` (reads) / `admin:write` (changes).
pub fn require_admin(state: &AppState, caller: &Caller, write: bool) -> Result<(), ApiError> {
    require(state, caller, &admin_permission(write))
}

/// Account security (SPEC §2.11): registering or removing a security key, TOTP set-up and
/// removal, backup codes, API tokens, revoking another session. A first-party session whose
/// owner proved a second factor (or, without MFA, the password) within
/// `security.reauth_window`; otherwise 401 `reauth_required`. Other credentials get 403.
pub fn require_account_security(state: &AppState, caller: &Caller) -> Result<(), ApiError> {
    account_security(state, caller, state.config.security.reauth_window)
}

/// Account-security operations that carry their own fresh proof (a current TOTP or backup code
/// in the body: disabling MFA, new backup codes) need a first-party session of any age.
pub fn require_first_party_session(state: &AppState, caller: &Caller) -> Result<(), ApiError> {
    account_security(state, caller, i64::MAX)
}

fn account_security(state: &AppState, caller: &Caller, window: i64) -> Result<(), ApiError> {
    let now = state.clock.now();
    match caller.authority.require_account_security(now, window) {
        Ok(()) => Ok(()),
        Err(Denial::Forbidden(message)) => {
            audit_denial(state, caller, "account security");
            Err(ApiError::forbidden(message))
        }
        Err(Denial::ReauthRequired) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            REAUTH_REQUIRED,
            "this needs a recent second factor (or your password if you have none): verify with POST /api/auth/reauth (or `ward mfa verify`), then retry",
        )),
    }
}

/// The error code of a stale session at an account-security operation.
pub const REAUTH_REQUIRED: &str = "reauth_required";

/// Whether the caller is a guest (role `guest`): no API tokens, no MFA enrolment.
pub fn is_guest(caller: &Caller) -> bool {
    caller.user.role == crate::guest::GUEST_ROLE
}
