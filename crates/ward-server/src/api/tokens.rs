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
use ward_proto::ErrorBody;

use crate::audit::{self, Audit};
use crate::auth::{Caller, Credential};
use crate::authz;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ClientIp};
use crate::state::AppState;
use crate::time::{parse_rfc3339, rfc3339};

/// An API token, without its secret. Times are RFC 3339, UTC.
#[derive(Debug, Serialize, utoipa::ToSchema)]
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

/// `GET /api/tokens`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenInfo>,
}

/// `POST /api/tokens`: the new token's record and, this once, its secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub info: TokenInfo,
    /// The secret, shown only in this response.
    pub token: String,
}

/// `GET /api/tokens/validate`: the API token and its owner.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenValidation {
    pub id: String,
    pub name: String,
    pub user_id: String,
    pub email: String,
    pub role: String,
    pub scopes: Vec<String>,
    pub expires_at: Option<String>,
}

/// `GET /api/tokens`: the caller's API tokens, revoked ones included.
#[utoipa::path(
    get,
    path = "/api/tokens",
    operation_id = "tokens_list",
    tag = "tokens",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The caller's API tokens", body = TokenList),
        (status = 401, description = "No valid credential", body = ErrorBody),
    )
)]
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<TokenList>> {
    let tokens = state.store.api_tokens_of_user(&caller.user.id).await?;
    let tokens: Vec<TokenInfo> = tokens.iter().map(TokenInfo::from).collect();
    Ok(Json(TokenList { tokens }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// 1 to 100 characters.
    pub name: String,
    /// Permissions (`resource:action`), each one the creator holds now.
    pub scopes: Vec<String>,
    /// RFC 3339, in the future; none for a token that does not expire.
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// `POST /api/tokens`: creates an API token for the caller.
#[utoipa::path(
    post,
    path = "/api/tokens",
    operation_id = "tokens_create",
    tag = "tokens",
    security(("bearer" = []), ("session_cookie" = [])),
    request_body = CreateToken,
    responses(
        (status = 201, description = "Created; the secret is in `token`, shown only now", body = CreatedToken),
        (status = 400, description = "Bad name, scopes or expires_at", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "A guest, or a scope the caller does not hold", body = ErrorBody),
    )
)]
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
    let body = CreatedToken {
        info: TokenInfo::from(&record),
        token: secret,
    };
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

/// `DELETE /api/tokens/{id}`: revokes one of the caller's API tokens.
#[utoipa::path(
    delete,
    path = "/api/tokens/{id}",
    operation_id = "tokens_revoke",
    tag = "tokens",
    security(("bearer" = []), ("session_cookie" = [])),
    params(("id" = String, Path, description = "API token id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 404, description = "No such live API token of the caller's", body = ErrorBody),
    )
)]
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
#[utoipa::path(
    get,
    path = "/api/tokens/validate",
    operation_id = "tokens_validate",
    tag = "tokens",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The API token and its owner", body = TokenValidation),
        (status = 401, description = "The bearer is not a valid API token", body = ErrorBody),
    )
)]
pub async fn validate(caller: Caller) -> ApiResult<Json<TokenValidation>> {
    let token = match (&caller.credential, &caller.api_token) {
        (Credential::ApiToken, Some(t)) => t,
        _ => {
            return Err(ApiError::unauthorized(
                "expected an API token as the bearer",
            ))
        }
    };
    Ok(Json(TokenValidation {
        id: token.id.clone(),
        name: token.name.clone(),
        user_id: caller.user.id.clone(),
        email: caller.user.email.clone(),
        role: caller.user.role.clone(),
        scopes: token.scopes.clone(),
        expires_at: token.expires_at.map(rfc3339),
    }))
}
