//! API tokens: `GET/POST /api/tokens`, `DELETE /api/tokens/{id}`, `GET /api/tokens/validate`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use ward_proto::ErrorBody;

use crate::auth::{Caller, Credential};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ClientIp};
use crate::state::AppState;
use crate::time::{parse_rfc3339, rfc3339};
pub use ward_proto::{CreateToken, CreatedToken, TokenInfo, TokenList};

use crate::ops::tokens::{create_token, revoke_token, token_info};

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
    let tokens = state
        .store
        .api_tokens_of_user(caller.user.id.as_str())
        .await?;
    let tokens: Vec<TokenInfo> = tokens.iter().map(token_info).collect();
    Ok(Json(TokenList { tokens }))
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
        info: token_info(&record),
        token: secret,
    };
    Ok((
        StatusCode::CREATED,
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Json(body),
    )
        .into_response())
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
        user_id: caller.user.id.to_string(),
        email: caller.user.email.clone(),
        role: caller.user.role.clone(),
        scopes: token.scopes.clone(),
        expires_at: token.expires_at.map(rfc3339),
    }))
}
