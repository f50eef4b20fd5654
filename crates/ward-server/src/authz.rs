//! Authorization: what a caller may do. A caller's effective permissions are its user's current
//! role permissions, narrowed by the credential's scopes when the credential carries
//! `resource:action` scopes (an API token, or an OAuth token asked for with such scopes). A
//! demoted or disabled owner takes their tokens' power with them: nothing is cached.

use ward_core::scope::{Permission, ScopeSet};

use crate::auth::Caller;
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
    let narrowed = scopes
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
    tracing::info!(
        target: "ward::audit",
        event = "policy.denied",
        user_id = %caller.user.id,
        permission = %permission,
        "permission denied"
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
