//! Per-resource MFA locks (SPEC §2.6, §2.17): `POST /api/security/{kind}/{id}/mfa-lock|mfa-unlock`
//! and `…/verify` for a single-use ticket that opens one connection to a locked resource, each
//! with a code or a passkey (`…/verify/start`). The rules live in `ops::locks`.

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use ward_proto::ErrorBody;
use webauthn_rs::prelude::PublicKeyCredential;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ClientIp};
use crate::ops::locks::{self, Proof};
use crate::state::AppState;
pub use ward_proto::{LockChanged, LockStatus, Ticket};

/// The resource a lock guards, as the path names it.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ResourcePath {
    /// A resource kind from `mfa.lock_kinds`
    pub kind: String,
    /// The resource id: 1-128 letters, digits, - _ . :
    pub id: String,
}

/// A second factor: a TOTP or backup `code`, or a passkey: the `ceremony` id from
/// `POST /api/security/{kind}/{id}/verify/start` and `webauthn`, the browser's
/// `PublicKeyCredential` from `navigator.credentials.get` as JSON.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProofBody {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub ceremony: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub webauthn: Option<PublicKeyCredential>,
}

impl ProofBody {
    fn proof(self) -> ApiResult<Proof> {
        Proof::from_parts(self.code, self.ceremony, self.webauthn)
    }
}

/// A started passkey check: pass `options` to `navigator.credentials.get`, then send the result
/// as `webauthn` with this `ceremony` to `mfa-lock`, `mfa-unlock` or `verify` of the same
/// resource within 5 minutes.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PasskeyCeremony {
    pub ceremony: String,
    /// `PublicKeyCredentialRequestOptions` (W3C WebAuthn), wrapped as `{"publicKey": …}`.
    pub options: serde_json::Value,
}

/// `GET /api/security/{kind}/{id}`: whether a resource is locked behind MFA.
#[utoipa::path(
    get,
    path = "/api/security/{kind}/{id}",
    operation_id = "security_status",
    tag = "security",
    security(("bearer" = []), ("session_cookie" = [])),
    params(ResourcePath),
    responses(
        (status = 200, description = "The lock state", body = LockStatus),
        (status = 400, description = "Malformed resource id", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "Neither an admin nor holding the permission of a route of this kind", body = ErrorBody),
        (status = 404, description = "Unknown resource kind", body = ErrorBody),
    )
)]
pub async fn status(
    State(state): State<AppState>,
    caller: Caller,
    Path(ResourcePath { kind, id }): Path<ResourcePath>,
) -> ApiResult<Json<LockStatus>> {
    let locked_by = locks::status(&state, &caller, &kind, &id).await?;
    let admin = crate::authz::is_admin_role(&state, &caller.user.role);
    Ok(Json(LockStatus {
        kind,
        id,
        locked: locked_by.is_some(),
        locked_by: locked_by.filter(|_| admin),
    }))
}

/// `POST /api/security/{kind}/{id}/mfa-lock`: locks a resource behind MFA, with a current code
/// or a passkey.
#[utoipa::path(
    post,
    path = "/api/security/{kind}/{id}/mfa-lock",
    operation_id = "security_lock",
    tag = "security",
    security(("bearer" = []), ("session_cookie" = [])),
    params(ResourcePath),
    request_body = ProofBody,
    responses(
        (status = 200, description = "Locked", body = LockChanged),
        (status = 400, description = "Malformed id, MFA not enabled, a wrong code or a refused passkey (`webauthn_failed`)", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "Neither an admin nor holding the permission of a route of this kind", body = ErrorBody),
        (status = 404, description = "Unknown resource kind", body = ErrorBody),
        (status = 409, description = "Already locked", body = ErrorBody),
        (status = 429, description = "Too many wrong codes", body = ErrorBody),
    )
)]
pub async fn lock(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    Path(ResourcePath { kind, id }): Path<ResourcePath>,
    ApiJson(body): ApiJson<ProofBody>,
) -> ApiResult<Json<LockChanged>> {
    let proof = body.proof()?;
    locks::lock(&state, &caller, ip.as_deref(), &kind, &id, &proof).await?;
    Ok(Json(LockChanged {
        kind,
        id,
        locked: true,
    }))
}

/// `POST /api/security/{kind}/{id}/mfa-unlock`: removes the lock, with a current code or a
/// passkey; only
/// the user who locked it, or an admin.
#[utoipa::path(
    post,
    path = "/api/security/{kind}/{id}/mfa-unlock",
    operation_id = "security_unlock",
    tag = "security",
    security(("bearer" = []), ("session_cookie" = [])),
    params(ResourcePath),
    request_body = ProofBody,
    responses(
        (status = 200, description = "Unlocked", body = LockChanged),
        (status = 400, description = "Malformed id, MFA not enabled, a wrong code or a refused passkey (`webauthn_failed`)", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "Neither the locker nor an admin, or without the permission of a route of this kind", body = ErrorBody),
        (status = 404, description = "Unknown resource kind, or not locked", body = ErrorBody),
        (status = 429, description = "Too many wrong codes", body = ErrorBody),
    )
)]
pub async fn unlock(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    Path(ResourcePath { kind, id }): Path<ResourcePath>,
    ApiJson(body): ApiJson<ProofBody>,
) -> ApiResult<Json<LockChanged>> {
    let proof = body.proof()?;
    locks::unlock(&state, &caller, ip.as_deref(), &kind, &id, &proof).await?;
    Ok(Json(LockChanged {
        kind,
        id,
        locked: false,
    }))
}

/// `POST /api/security/{kind}/{id}/verify`: a single-use ticket for one connection to a
/// locked resource, with a current code or a passkey.
#[utoipa::path(
    post,
    path = "/api/security/{kind}/{id}/verify",
    operation_id = "security_verify",
    tag = "security",
    security(("bearer" = []), ("session_cookie" = [])),
    params(ResourcePath),
    request_body = ProofBody,
    responses(
        (status = 200, description = "A ticket", body = Ticket),
        (status = 400, description = "Malformed id, a credential that cannot hold a ticket, MFA not enabled, a wrong code or a refused passkey (`webauthn_failed`)", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 404, description = "Unknown resource kind", body = ErrorBody),
        (status = 429, description = "Too many wrong codes", body = ErrorBody),
    )
)]
pub async fn verify(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    Path(ResourcePath { kind, id }): Path<ResourcePath>,
    ApiJson(body): ApiJson<ProofBody>,
) -> ApiResult<Json<Ticket>> {
    let proof = body.proof()?;
    let ticket = locks::verify(&state, &caller, ip.as_deref(), &kind, &id, &proof).await?;
    Ok(Json(Ticket {
        ticket,
        expires_in: state.config.mfa.ticket_ttl,
    }))
}

/// `POST /api/security/{kind}/{id}/verify/start`: starts a passkey check for `mfa-lock`,
/// `mfa-unlock` or `verify` of this resource.
#[utoipa::path(
    post,
    path = "/api/security/{kind}/{id}/verify/start",
    operation_id = "security_verify_start",
    tag = "security",
    security(("bearer" = []), ("session_cookie" = [])),
    params(ResourcePath),
    responses(
        (status = 200, description = "The WebAuthn request options for the caller's security keys and passkeys", body = PasskeyCeremony),
        (status = 400, description = "Malformed id, or no security key or passkey registered", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 404, description = "Unknown resource kind", body = ErrorBody),
        (status = 501, description = "WebAuthn is off: public_url is an IP address (`webauthn_unavailable`)", body = ErrorBody),
    )
)]
pub async fn verify_start(
    State(state): State<AppState>,
    caller: Caller,
    Path(ResourcePath { kind, id }): Path<ResourcePath>,
) -> ApiResult<Json<PasskeyCeremony>> {
    let started = locks::start_passkey(&state, &caller, &kind, &id).await?;
    Ok(Json(PasskeyCeremony {
        ceremony: started.ceremony,
        options: started.options,
    }))
}
