//! Service accounts (SPEC §2.15): `GET/POST /api/admin/service-accounts`,
//! `DELETE /api/admin/service-accounts/{id}`, `POST /api/admin/service-accounts/{id}/tokens`,
//! `DELETE /api/admin/service-accounts/{id}/tokens/{token_id}`. Thin: the rules are in
//! [`crate::ops::service_accounts`].

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ward_core::model::ApiToken;
use ward_proto::{
    CreatedServiceAccountToken, ErrorBody, ServiceAccount, ServiceAccountList,
    ServiceAccountRequest, ServiceAccountToken, ServiceAccountTokenRequest,
};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ClientIp};
use crate::ops::service_accounts::{self as ops, TokenRequest};
use crate::state::AppState;
use crate::time::{parse_rfc3339, rfc3339};

/// The wire form of a service account's token.
pub fn token_info(t: &ApiToken) -> ServiceAccountToken {
    ServiceAccountToken {
        id: t.id.clone(),
        name: t.name.clone(),
        scopes: t.scopes.clone(),
        created_at: rfc3339(t.created_at),
        expires_at: t.expires_at.map(rfc3339),
        last_used_at: t.last_used_at.map(rfc3339),
        revoked: t.revoked_at.is_some(),
    }
}

/// The wire form of a service account.
pub fn account_info(a: &ward_core::machine::ServiceAccount, tokens: &[ApiToken]) -> ServiceAccount {
    ServiceAccount {
        id: a.id.clone(),
        name: a.name.clone(),
        role: a.role.clone(),
        created_at: rfc3339(a.created_at),
        created_by: a.created_by.clone(),
        tokens: tokens.iter().map(token_info).collect(),
    }
}

/// Every service account with its tokens (without secrets), by name.
#[utoipa::path(
    get,
    path = "/api/admin/service-accounts",
    operation_id = "admin_list_service_accounts",
    tag = "admin",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "Service accounts, by name", body = ServiceAccountList),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<ServiceAccountList>> {
    let listed = ops::list(&state, &caller).await?;
    Ok(Json(ServiceAccountList {
        service_accounts: listed
            .iter()
            .map(|l| account_info(&l.account, &l.tokens))
            .collect(),
    }))
}

/// Makes a service account: a non-human holder of a role, which never signs in and acts only
/// through the tokens issued to it.
#[utoipa::path(
    post,
    path = "/api/admin/service-accounts",
    operation_id = "admin_create_service_account",
    tag = "admin",
    security(("bearer" = []), ("session_cookie" = [])),
    request_body = ServiceAccountRequest,
    responses(
        (status = 201, description = "Created", body = ServiceAccount),
        (status = 400, description = "A bad name, or an unknown role", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    ApiJson(req): ApiJson<ServiceAccountRequest>,
) -> ApiResult<(StatusCode, Json<ServiceAccount>)> {
    let account = ops::create(&state, &caller, ip.as_deref(), &req.name, &req.role).await?;
    Ok((StatusCode::CREATED, Json(account_info(&account, &[]))))
}

/// Deletes a service account and every token of it: the next request with one is refused.
#[utoipa::path(
    delete,
    path = "/api/admin/service-accounts/{id}",
    operation_id = "admin_delete_service_account",
    tag = "admin",
    security(("bearer" = []), ("session_cookie" = [])),
    params(("id" = String, Path, description = "Service account id")),
    responses(
        (status = 204, description = "Deleted with its tokens"),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such service account", body = ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    ops::delete(&state, &caller, ip.as_deref(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Issues a token of the service account. It acts within the account's role and its own
/// scopes, at the API, the proxy and forward-auth; the secret is in this response only.
#[utoipa::path(
    post,
    path = "/api/admin/service-accounts/{id}/tokens",
    operation_id = "admin_create_service_account_token",
    tag = "admin",
    security(("bearer" = []), ("session_cookie" = [])),
    params(("id" = String, Path, description = "Service account id")),
    request_body = ServiceAccountTokenRequest,
    responses(
        (status = 201, description = "Created; the secret is in `token`, shown only now", body = CreatedServiceAccountToken),
        (status = 400, description = "Bad name, scopes or expires_at", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such service account", body = ErrorBody),
    )
)]
pub async fn create_token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ServiceAccountTokenRequest>,
) -> ApiResult<Response> {
    let expires_at = match req.expires_at.as_deref() {
        Some(text) => Some(parse_rfc3339(text).ok_or_else(|| {
            ApiError::bad_request(format!(
                "expires_at {text:?} is not an RFC 3339 time such as 2027-01-31T00:00:00Z"
            ))
        })?),
        None => None,
    };
    let request = TokenRequest {
        name: &req.name,
        scopes: &req.scopes,
        expires_at,
    };
    let (record, secret) = ops::issue_token(&state, &caller, ip.as_deref(), &id, request).await?;
    let body = CreatedServiceAccountToken {
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

/// Revokes one token of a service account.
#[utoipa::path(
    delete,
    path = "/api/admin/service-accounts/{id}/tokens/{token_id}",
    operation_id = "admin_revoke_service_account_token",
    tag = "admin",
    security(("bearer" = []), ("session_cookie" = [])),
    params(
        ("id" = String, Path, description = "Service account id"),
        ("token_id" = String, Path, description = "Token id"),
    ),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such live token of that service account", body = ErrorBody),
    )
)]
pub async fn revoke_token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    Path((id, token_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    ops::revoke_token(&state, &caller, ip.as_deref(), &id, &token_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
