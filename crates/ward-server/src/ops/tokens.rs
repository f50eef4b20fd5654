//! API tokens: creating and revoking a user's own, shared by `/api/tokens` and the account page.

use serde_json::json;
use ward_core::audit::Outcome;
use ward_core::clock::Timestamp;
use ward_core::model::ApiToken;
use ward_core::random::random_id;
use ward_core::token::{new_api_token, token_hash};
use ward_proto::TokenInfo;

use crate::audit::{self, Audit};
use crate::auth::Caller;
use crate::authz;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::time::rfc3339;

/// An API token as the API shows it.
pub fn token_info(t: &ApiToken) -> TokenInfo {
    TokenInfo {
        id: t.id.clone(),
        name: t.name.clone(),
        scopes: t.scopes.clone(),
        created_at: rfc3339(t.created_at),
        expires_at: t.expires_at.map(rfc3339),
        last_used_at: t.last_used_at.map(rfc3339),
        revoked: t.revoked_at.is_some(),
    }
}

/// Creates an API token for the caller (the API and the account page); returns the record
/// and the secret, which exists only in this return value.
pub async fn create_token(
    state: &AppState,
    caller: &Caller,
    ip: Option<&str>,
    name: &str,
    requested: &[String],
    expires_at: Option<Timestamp>,
) -> ApiResult<(ApiToken, String)> {
    if authz::is_guest(caller) {
        return Err(ApiError::forbidden("guests cannot create API tokens"));
    }
    // A token must not mint tokens, and a stale session must prove itself again (SPEC §2.11).
    authz::require_account_security(state, caller)?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::bad_request("name must be 1 to 100 characters"));
    }
    if requested.is_empty() {
        return Err(ApiError::bad_request(
            "scopes must name at least one permission, e.g. containers:read",
        ));
    }
    let mut scopes = Vec::new();
    for s in requested {
        let permission = authz::parse_permission(state, s)?;
        // A token can never hold more than its creator may do right now.
        authz::require(state, caller, &permission)?;
        if !scopes.contains(s) {
            scopes.push(s.clone());
        }
    }
    let now = state.clock.now();
    if expires_at.is_some_and(|t| t <= now) {
        return Err(ApiError::bad_request("expires_at must be in the future"));
    }
    let (record, secret) = new_token_record(
        state,
        caller.user.id.as_str(),
        name,
        scopes,
        now,
        expires_at,
    );
    state.store.insert_api_token(&record).await?;
    audit::record(
        state,
        Audit::new("token.created", Outcome::Ok)
            .actor(caller.user.id.as_str())
            .ip(ip)
            .target(&record.id)
            .detail(json!({"name": record.name, "scopes": record.scopes})),
    )
    .await;
    crate::mail::notice(
        state,
        &caller.user,
        crate::mail::Notice::TokenCreated {
            name: record.name.clone(),
        },
    )
    .await;
    Ok((record, secret))
}

/// A new API token of `owner` (a user, or a service account) and its secret, shown once.
pub fn new_token_record(
    state: &AppState,
    owner: &str,
    name: &str,
    scopes: Vec<String>,
    now: Timestamp,
    expires_at: Option<Timestamp>,
) -> (ApiToken, String) {
    let secret = new_api_token(&state.config.token_prefix, state.random.as_ref());
    let record = ApiToken {
        id: random_id(state.random.as_ref()),
        user_id: owner.to_string(),
        name: name.to_string(),
        token_hash: token_hash(&secret),
        scopes,
        created_at: now,
        expires_at,
        last_used_at: None,
        revoked_at: None,
    };
    (record, secret)
}

/// Revokes one of the caller's API tokens (the API and the account page).
pub async fn revoke_token(
    state: &AppState,
    caller: &Caller,
    ip: Option<&str>,
    id: &str,
) -> ApiResult<()> {
    if !state
        .store
        .revoke_api_token(caller.user.id.as_str(), id, state.clock.now())
        .await?
    {
        return Err(ApiError::not_found("no such live API token of yours"));
    }
    audit::record(
        state,
        Audit::new("token.revoked", Outcome::Ok)
            .actor(caller.user.id.as_str())
            .ip(ip)
            .target(id),
    )
    .await;
    Ok(())
}
