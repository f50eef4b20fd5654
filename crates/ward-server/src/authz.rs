//! Authorization: what a caller may do. A caller's effective permissions are its user's current
//! role permissions, narrowed by the credential's scopes when the credential carries
//! `resource:action` scopes (an API token, or an OAuth token asked for with such scopes). A
//! demoted or disabled owner takes their tokens' power with them: nothing is cached.

use ward_core::scope::{Permission, ScopeSet};

use crate::auth::{Caller, Credential};
use crate::error::ApiError;
use crate::state::AppState;

/// Whether `caller` holds `permission` right now.
pub fn allows(state: &AppState, caller: &Caller, permission: &Permission) -> bool {
    let role_grants = state
        .config
        .roles
        .get(&caller.user.role)
        .is_some_and(|role| role.grants(permission));
    if !role_grants {
        return false;
    }
    let scopes = ScopeSet::parse(&caller.scope);
    let resources = &state.config.resources;
    // An API token is always limited to its scopes; an OAuth token only when it asked for some.
    let narrowed = caller.credential == Credential::ApiToken
        || scopes
            .iter()
            .any(|s| Permission::parse(s, resources).is_some());
    !narrowed || scopes.contains(&permission.to_string())
}

/// `Ok` when allowed; otherwise 403 with SPEC's message,
/// `permission denied: containers:delete requires admin role`.
pub fn require(state: &AppState, caller: &Caller, permission: &Permission) -> Result<(), ApiError> {
    if allows(state, caller, permission) {
        return Ok(());
    }
    crate::audit::record_soon(
        state,
        crate::audit::Audit::new("policy.denied", "denied")
            .actor(&caller.user.id)
            .detail(serde_json::json!({
                "permission": permission.to_string(),
                "credential": caller.credential.as_str(),
            })),
    );
    Err(ApiError::forbidden(denial_message(state, permission)))
}

pub fn denial_message(state: &AppState, permission: &Permission) -> String {
    match state.config.roles.least_role_granting(permission) {
        Some(role) => format!("permission denied: {permission} requires {role} role"),
        None => format!("permission denied: {permission} is granted to no role"),
    }
}

/// Parses `resource:action` against the configured resources, as a 400 when malformed.
pub fn parse_permission(state: &AppState, text: &str) -> Result<Permission, ApiError> {
    Permission::parse(text, &state.config.resources).ok_or_else(|| {
        ApiError::bad_request(format!(
            "{text:?} is not a permission: expected resource:action with resource one of {} and action read, write or delete",
            state.config.resources.join(", ")
        ))
    })
}

/// Whether a role is an administrator's (it grants `"*"`).
pub fn is_admin_role(state: &AppState, role: &str) -> bool {
    state
        .config
        .roles
        .get(role)
        .is_some_and(|r| r.permissions.iter().any(|p| p == "*"))
}

/// The admin API needs an administrator signed in (access token or session cookie). API tokens
/// are refused there: a token scoped to `containers:read` must not be able to create users.
pub fn require_admin(state: &AppState, caller: &Caller) -> Result<(), ApiError> {
    if caller.credential == Credential::ApiToken {
        return Err(ApiError::forbidden(
            "permission denied: the admin API needs a signed-in admin, not an API token",
        ));
    }
    if !is_admin_role(state, &caller.user.role) {
        let admin = state
            .config
            .roles
            .names()
            .find(|r| is_admin_role(state, r))
            .unwrap_or("admin")
            .to_string();
        crate::audit::record_soon(
            state,
            crate::audit::Audit::new("policy.denied", "denied")
                .actor(&caller.user.id)
                .detail(serde_json::json!({
                    "permission": "admin API",
                    "credential": caller.credential.as_str(),
                })),
        );
        return Err(ApiError::forbidden(format!(
            "permission denied: the admin API requires {admin} role"
        )));
    }
    Ok(())
}

/// Whether the caller is a guest (role `guest`): no API tokens, no MFA enrolment.
pub fn is_guest(caller: &Caller) -> bool {
    caller.user.role == crate::guest::GUEST_ROLE
}
