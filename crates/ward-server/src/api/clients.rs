//! OAuth clients as the admin sees them (SPEC §2.15): `GET /api/admin/clients`,
//! `DELETE /api/admin/clients/{client_id}` (registered clients only) and
//! `POST /api/admin/registration-tokens` (initial access tokens for RFC 7591 registration).
//! Thin: the rules are in [`crate::ops::registration`].

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ward_proto::registration::{ClientList, RegistrationTokenCreated, RegistrationTokenRequest};
use ward_proto::ErrorBody;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ClientIp};
use crate::ops::registration as ops;
use crate::state::AppState;

/// Every OAuth client: `ward-cli` and the `[[clients]]` of the configuration (`kind:
/// configured`), then the clients that registered themselves (`kind: registered`), newest
/// first. No secrets.
#[utoipa::path(
    get,
    path = "/api/admin/clients",
    operation_id = "admin_list_clients",
    tag = "admin",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "Clients", body = ClientList),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    )
)]
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<ClientList>> {
    Ok(Json(ClientList {
        clients: ops::list(&state, &caller).await?,
    }))
}

/// Removes a registered client: every session issued to it is revoked (its refresh and access
/// tokens stop working at once) and it cannot sign anyone in again. Configured clients are
/// removed from the configuration file instead.
#[utoipa::path(
    delete,
    path = "/api/admin/clients/{client_id}",
    operation_id = "admin_delete_client",
    tag = "admin",
    security(("bearer" = []), ("session_cookie" = [])),
    params(("client_id" = String, Path, description = "A registered client's id (`reg_…`)")),
    responses(
        (status = 204, description = "Removed; its sessions are revoked"),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such registered client", body = ErrorBody),
        (status = 409, description = "A configured client: it is removed from the configuration file", body = ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    Path(client_id): Path<String>,
) -> ApiResult<StatusCode> {
    ops::remove(&state, &caller, ip.as_deref(), &client_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Makes an initial access token for `POST /oauth/register` (`[registration] mode =
/// "token"`): single-use and valid a day unless asked otherwise. The token is in this response
/// only; ward keeps its hash.
#[utoipa::path(
    post,
    path = "/api/admin/registration-tokens",
    operation_id = "admin_create_registration_token",
    tag = "admin",
    security(("bearer" = []), ("session_cookie" = [])),
    request_body = RegistrationTokenRequest,
    responses(
        (status = 201, description = "Created; the token is shown only now", body = RegistrationTokenCreated),
        (status = 400, description = "A lifetime outside 60 s to 30 days", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    )
)]
pub async fn create_token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    ApiJson(req): ApiJson<RegistrationTokenRequest>,
) -> ApiResult<Response> {
    let created = ops::create_token(&state, &caller, ip.as_deref(), &req).await?;
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(created),
    )
        .into_response())
}
