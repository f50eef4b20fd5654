//! Service accounts (SPEC §2.15): an admin makes one with a role, issues it tokens, and deletes
//! it (its tokens die with it, at once). The account is the audit actor of what its tokens do;
//! it never signs in interactively (it is not a user: see `ward_core::machine`).

use serde_json::json;
use ward_core::audit::Outcome;
use ward_core::clock::Timestamp;
use ward_core::machine::{name_problem, ServiceAccount, SERVICE_ACCOUNT_ID_PREFIX};
use ward_core::model::ApiToken;
use ward_core::random::random_id;
use ward_core::StoreError;

use crate::audit::{self, Audit};
use crate::auth::Caller;
use crate::authz;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// A service account and its tokens (without secrets).
pub struct Listed {
    pub account: ServiceAccount,
    pub tokens: Vec<ApiToken>,
}

/// Every service account with its tokens.
///
/// # Errors
/// 403 without `admin:read`.
pub async fn list(state: &AppState, caller: &Caller) -> ApiResult<Vec<Listed>> {
    authz::require_admin(state, caller, false)?;
    let mut out = Vec::new();
    for account in state.store.service_accounts().await? {
        let tokens = state.store.service_account_tokens(&account.id).await?;
        out.push(Listed { account, tokens });
    }
    Ok(out)
}

/// Makes a service account named `name` with `role`.
///
/// # Errors
/// 403 without `admin:write`; 400 for a bad name or an unknown (or the guests') role; 409
/// when the name is taken.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    ip: Option<&str>,
    name: &str,
    role: &str,
) -> ApiResult<ServiceAccount> {
    authz::require_admin(state, caller, true)?;
    let name = name.trim();
    if let Some(problem) = name_problem(name) {
        return Err(ApiError::bad_request(problem));
    }
    if !state.config.roles.contains(role) || role == crate::guest::GUEST_ROLE {
        let roles: Vec<&str> = state
            .config
            .roles
            .names()
            .filter(|r| *r != crate::guest::GUEST_ROLE)
            .collect();
        return Err(ApiError::bad_request(format!(
            "unknown role {role:?}: use one of {}",
            roles.join(", ")
        )));
    }
    let account = ServiceAccount {
        id: format!(
            "{SERVICE_ACCOUNT_ID_PREFIX}{}",
            random_id(state.random.as_ref())
        ),
        name: name.to_string(),
        role: role.to_string(),
        created_at: state.clock.now(),
        created_by: Some(caller.user.id.to_string()),
    };
    match state.store.insert_service_account(&account).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::conflict(format!(
                "a service account named {name} exists already"
            )))
        }
        Err(e) => return Err(e.into()),
    }
    audit::record(
        state,
        Audit::new("service_account.created", Outcome::Ok)
            .actor(caller.user.id.as_str())
            .ip(ip)
            .target(&account.id)
            .detail(json!({"name": account.name, "role": account.role})),
    )
    .await;
    Ok(account)
}

async fn existing(state: &AppState, id: &str) -> ApiResult<ServiceAccount> {
    state
        .store
        .service_account_by_id(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no service account with id {id}")))
}

/// Deletes the service account and every token of it; the next request with one of them is
/// refused. Audit events stay, naming it by id.
///
/// # Errors
/// 403 without `admin:write`; 404 when there is no such account.
pub async fn delete(
    state: &AppState,
    caller: &Caller,
    ip: Option<&str>,
    id: &str,
) -> ApiResult<()> {
    authz::require_admin(state, caller, true)?;
    let account = existing(state, id).await?;
    if !state.store.delete_service_account(id).await? {
        return Err(ApiError::not_found(format!(
            "no service account with id {id}"
        )));
    }
    audit::record(
        state,
        Audit::new("service_account.deleted", Outcome::Ok)
            .actor(caller.user.id.as_str())
            .ip(ip)
            .target(id)
            .detail(json!({"name": account.name})),
    )
    .await;
    Ok(())
}

/// What a new token is asked for.
pub struct TokenRequest<'a> {
    pub name: &'a str,
    pub scopes: &'a [String],
    pub expires_at: Option<Timestamp>,
}

/// Issues a token of the service account; returns the record and the secret, which exists
/// only in this return value. Each scope must be a permission the account's role grants.
///
/// # Errors
/// 403 without `admin:write`; 404 for no such account; 400 for a bad name, no scopes, a scope
/// that is not a permission or that the role does not grant, or an `expires_at` in the past.
pub async fn issue_token(
    state: &AppState,
    caller: &Caller,
    ip: Option<&str>,
    id: &str,
    req: TokenRequest<'_>,
) -> ApiResult<(ApiToken, String)> {
    authz::require_admin(state, caller, true)?;
    let account = existing(state, id).await?;
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::bad_request("name must be 1 to 100 characters"));
    }
    if req.scopes.is_empty() {
        return Err(ApiError::bad_request(
            "scopes must name at least one permission, e.g. containers:read",
        ));
    }
    let role = state.config.roles.get(&account.role);
    let mut scopes = Vec::new();
    for s in req.scopes {
        let permission = authz::parse_permission(state, s)?;
        if !role.is_some_and(|r| r.grants(&permission)) {
            return Err(ApiError::bad_request(format!(
                "{s} is not granted by the service account's role {}",
                account.role
            )));
        }
        if !scopes.contains(s) {
            scopes.push(s.clone());
        }
    }
    let now = state.clock.now();
    if req.expires_at.is_some_and(|t| t <= now) {
        return Err(ApiError::bad_request("expires_at must be in the future"));
    }
    let (record, secret) =
        super::tokens::new_token_record(state, &account.id, name, scopes, now, req.expires_at);
    state.store.insert_service_account_token(&record).await?;
    audit::record(
        state,
        Audit::new("service_account.token_created", Outcome::Ok)
            .actor(caller.user.id.as_str())
            .ip(ip)
            .target(&record.id)
            .detail(json!({
                "service_account": account.id,
                "name": record.name,
                "scopes": record.scopes,
            })),
    )
    .await;
    Ok((record, secret))
}

/// Revokes one token of the service account.
///
/// # Errors
/// 403 without `admin:write`; 404 when there is no such live token of that account.
pub async fn revoke_token(
    state: &AppState,
    caller: &Caller,
    ip: Option<&str>,
    id: &str,
    token_id: &str,
) -> ApiResult<()> {
    authz::require_admin(state, caller, true)?;
    if !state
        .store
        .revoke_service_account_token(id, token_id, state.clock.now())
        .await?
    {
        return Err(ApiError::not_found(
            "no such live token of that service account",
        ));
    }
    audit::record(
        state,
        Audit::new("service_account.token_revoked", Outcome::Ok)
            .actor(caller.user.id.as_str())
            .ip(ip)
            .target(token_id)
            .detail(json!({"service_account": id})),
    )
    .await;
    Ok(())
}
