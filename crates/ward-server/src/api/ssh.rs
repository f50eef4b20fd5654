//! SSH certificates (SPEC §2.17): `GET /api/ssh/ca` and `POST /api/ssh/certificates`. The rules
//! live in `ops::ssh`, the CA in `crate::ssh`.

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ward_proto::ErrorBody;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ClientIp};
use crate::ops::ssh::{issue, Ask};
use crate::state::AppState;
pub use ward_proto::{CertificateBody, CertificateIssued};

/// `GET /api/ssh/ca`: the CA public keys hosts should trust, one OpenSSH line each, newest first
/// (a key retired by a rotation stays listed for `ssh.ttl`).
#[utoipa::path(
    get,
    path = "/api/ssh/ca",
    operation_id = "ssh_ca",
    tag = "ssh",
    responses(
        (status = 200, description = "The CA public keys, one per line, for sshd's TrustedUserCAKeys", body = String, content_type = "text/plain"),
        (status = 404, description = "SSH certificates are not enabled", body = ErrorBody),
    )
)]
pub async fn ca(State(state): State<AppState>) -> ApiResult<Response> {
    if !state.config.ssh.enabled {
        return Err(ApiError::not_found(
            "SSH certificates are not enabled on this server ([ssh] enabled = true)",
        ));
    }
    let mut text = crate::ssh::published(&state).await?.join("\n");
    text.push('\n');
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        text,
    )
        .into_response())
}

/// `POST /api/ssh/certificates`: a short-lived user certificate for the caller's public key.
#[utoipa::path(
    post,
    path = "/api/ssh/certificates",
    operation_id = "ssh_certificate",
    tag = "ssh",
    security(("bearer" = []), ("session_cookie" = [])),
    request_body = CertificateBody,
    responses(
        (status = 200, description = "The certificate", body = CertificateIssued),
        (status = 400, description = "Not an OpenSSH public key, an unaccepted key type, RSA under 3072 bits, or a missing host", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "Without ssh:write, a principal not granted, or a locked host without a valid ticket (`mfa_required`)", body = ErrorBody),
        (status = 404, description = "SSH certificates are not enabled", body = ErrorBody),
    )
)]
pub async fn certificate(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CertificateBody>,
) -> ApiResult<Json<CertificateIssued>> {
    let header_ticket = headers
        .get("x-ward-ticket")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let issued = issue(
        &state,
        &caller,
        Ask {
            public_key: &body.public_key,
            principals: body.principals.as_deref(),
            host: body.host.as_deref(),
            ticket: body.ticket.as_deref().or(header_ticket.as_deref()),
        },
        ip.as_deref(),
    )
    .await?;
    Ok(Json(CertificateIssued {
        certificate: issued.certificate,
        valid_before: issued.valid_before,
        principals: issued.principals,
        key_id: issued.key_id,
    }))
}
