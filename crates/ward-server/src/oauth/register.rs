//! `POST /oauth/register`: dynamic client registration (RFC 7591, SPEC §2.15). Thin: the rules
//! are in [`crate::ops::registration`].

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ward_proto::registration::{ClientMetadata, ClientRegistration};
use ward_proto::ErrorBody;

use crate::error::{ApiError, ApiResult};
use crate::extract::ClientIp;
use crate::ops::registration;
use crate::state::AppState;

/// Registers an OAuth client (RFC 7591). With `[registration] mode = "token"` it needs an
/// initial access token from an admin (`Authorization: Bearer`); with `"off"` (the default) the
/// endpoint is not there. A registered client gets the authorization code flow with PKCE (and
/// refresh tokens when it asks), within `[registration] max_scopes`, and always a consent page
/// that names it as unverified.
#[utoipa::path(
    post,
    path = "/oauth/register",
    operation_id = "oauth_register",
    tag = "oauth",
    security((), ("bearer" = [])),
    request_body = ClientMetadata,
    responses(
        (status = 201, description = "Registered (RFC 7591 §3.2.1); `client_secret` is shown only now (`Cache-Control: no-store`)", body = ClientRegistration),
        (status = 400, description = "`invalid_redirect_uri` or `invalid_client_metadata` (RFC 7591 §3.2.2), naming the problem", body = ErrorBody),
        (status = 401, description = "Token mode: no, or no valid, initial access token (`invalid_token`)", body = ErrorBody),
        (status = 404, description = "Registration is off on this server", body = ErrorBody),
        (status = 429, description = "Too many registrations from this address; `Retry-After` says when to try again", body = ErrorBody),
    )
)]
pub async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    if state.config.registration.mode == crate::config::RegistrationMode::Off {
        return Err(registration::registration_off());
    }
    let meta: ClientMetadata = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
            format!("the body must be a JSON object of client metadata (RFC 7591 §2): {e}"),
        )
    })?;
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let registered = registration::register(&state, ip.as_deref(), bearer, &meta).await?;
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(registered),
    )
        .into_response())
}
