//! API tokens: `GET/POST /api/tokens`, `DELETE /api/tokens/{id}`, `GET /api/tokens/validate`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use ward_core::clock::Timestamp;
use ward_core::model::ApiToken;
use ward_core::random::random_id;
use ward_core::token::{new_api_token, token_hash};

use crate::audit::{self, Audit};
use crate::auth::{Caller, Credential};
use crate::authz;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ClientIp};
use crate::state::AppState;
use crate::time::{parse_rfc3339, rfc3339};

#[derive(Debug, Serialize)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked: bool,
}

impl From<&ApiToken> for TokenInfo {
    fn from(t: &ApiToken) -> Self {
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
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<serde_json::Value>> {
    let tokens = state.store.api_tokens_of_user(&caller.user.id).await?;
    let tokens: Vec<TokenInfo> = tokens.iter().map(TokenInfo::from).collect();
    Ok(Json(json!({ "tokens": tokens })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub name: String,
    pub scopes: Vec<String>,
    #[serde(default)]
    pub expires_at: Option<String>,
}

pub async fn create(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    ApiJson(req): ApiJson<CreateToken>,
) -> ApiResult<Response> {
    let expires_at = match req.expires_at.as_deref() {
        Some(text) => Some(parse_rfc3339(text).ok_or_else(|| {
            ApiError::bad_request(format!(
                "expires_at {text:?} is not an RFC 3339 time such as 2027-01-31T00:00:00Z"
            ))
        })?),
        None => None,
    };
    let (record, secret) = create_token(
        &state,
        &caller,
        ip.as_deref(),
        &req.name,
        &req.scopes,
        expires_at,
    )
    .await?;
    let mut body = serde_json::to_value(TokenInfo::from(&record)).map_err(ApiError::internal)?;
    body["token"] = json!(secret);
    Ok((
        StatusCode::CREATED,
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Json(body),
    )
        .into_response())
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
    let secret = new_api_token(&state.config.token_prefix, state.random.as_ref());
    let record = ApiToken {
        id: random_id(state.random.as_ref()),
        user_id: caller.user.id.clone(),
        name: name.to_string(),
        token_hash: token_hash(&secret),
        scopes,
        created_at: now,
        expires_at,
        last_used_at: None,
        revoked_at: None,
    };
    state.store.insert_api_token(&record).await?;
    audit::record(
        state,
        Audit::new("token.created", "ok")
            .actor(&caller.user.id)
            .ip(ip)
            .target(&record.id)
            .detail(json!({"name": record.name, "scopes": record.scopes})),
    )
    .await;
    Ok((record, secret))
}

pub async fn revoke(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    revoke_token(&state, &caller, ip.as_deref(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
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
        .revoke_api_token(&caller.user.id, id, state.clock.now())
        .await?
    {
        return Err(ApiError::not_found("no such live API token of yours"));
    }
    audit::record(
        state,
        Audit::new("token.revoked", "ok")
            .actor(&caller.user.id)
            .ip(ip)
            .target(id),
    )
    .await;
    Ok(())
}

/// `GET /api/tokens/validate`: the bearer must be an API token.
pub async fn validate(caller: Caller) -> ApiResult<Json<serde_json::Value>> {
    let token = match (&caller.credential, &caller.api_token) {
        (Credential::ApiToken, Some(t)) => t,
        _ => {
            return Err(ApiError::unauthorized(
                "expected an API token as the bearer",
            ))
        }
    };
    Ok(Json(json!({
        "id": token.id,
        "name": token.name,
        "user_id": caller.user.id,
        "email": caller.user.email,
        "role": caller.user.role,
        "scopes": token.scopes,
        "expires_at": token.expires_at.map(rfc3339),
    })))
}
