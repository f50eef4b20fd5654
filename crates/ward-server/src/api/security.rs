//! Per-resource MFA locks (SPEC §2.6): `POST /api/security/{kind}/{id}/mfa-lock|mfa-unlock`
//! and `…/verify` for a single-use ticket that opens one connection to a locked resource.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use serde_json::json;
use ward_core::token::token_hash;
use ward_proto::ErrorBody;

use crate::api::mfa::CodeBody;
use crate::audit::{self, Audit};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ClientIp};
use crate::ops::stepup;
use crate::proxy::config::MethodPermissions;
use crate::state::AppState;

/// A ticket is bound to what presented the code: the session, or the API token when there is
/// no session.
pub fn holder(caller: &Caller) -> Option<String> {
    match (&caller.session, &caller.api_token) {
        (Some(s), _) => Some(s.id.clone()),
        (None, Some(t)) => Some(format!("token:{}", t.id)),
        _ => None,
    }
}

/// Parses `{kind}/{id}`: the kind must be configured, the id a plain identifier.
pub fn resource(state: &AppState, kind: &str, id: &str) -> ApiResult<()> {
    if !state.config.mfa.lock_kinds.iter().any(|k| k == kind) {
        return Err(ApiError::not_found(format!(
            "unknown resource kind {kind:?}: expected one of {}",
            state.config.mfa.lock_kinds.join(", ")
        )));
    }
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    if !ok {
        return Err(ApiError::bad_request(
            "resource ids are 1-128 letters, digits, - _ . :",
        ));
    }
    Ok(())
}

/// Who may lock, unlock or read the lock state of `kind` resources (SPEC §2.13): an admin, or a
/// caller holding a permission that opens such a resource through a `[[routes]]` entry with that
/// `lock_kind`. Refusals are 403 and audited like every policy denial.
pub fn may_manage_locks(state: &AppState, caller: &Caller, kind: &str) -> ApiResult<()> {
    if crate::authz::is_admin_role(state, &caller.user.role) {
        return Ok(());
    }
    let mut needed = state
        .config
        .routes
        .iter()
        .filter(|r| r.lock_kind.as_deref() == Some(kind))
        .flat_map(|r| match &r.permissions {
            MethodPermissions::Any(p) => vec![p],
            MethodPermissions::PerMethod(map) => map.values().collect(),
        });
    if needed.any(|p| crate::authz::allows(caller, p)) {
        return Ok(());
    }
    crate::audit::record_soon(
        state,
        Audit::new("policy.denied", "denied")
            .actor(&caller.user.id)
            .detail(json!({
                "permission": format!("locks of {kind}"),
                "credential": caller.credential.as_str(),
            })),
    );
    Err(ApiError::forbidden(format!(
        "permission denied: {kind} locks need the permission of a {kind} route, or an admin"
    )))
}

/// `GET /api/security/{kind}/{id}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LockStatus {
    pub kind: String,
    pub id: String,
    pub locked: bool,
    /// The id of the user who locked it, shown to admins only; null when unlocked or not an
    /// admin.
    pub locked_by: Option<String>,
}

/// The state after `mfa-lock` or `mfa-unlock`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LockChanged {
    pub kind: String,
    pub id: String,
    pub locked: bool,
}

/// A single-use ticket for one connection to a locked resource, bound to the session (or API
/// token) that asked for it; present it as `X-Ward-Ticket`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Ticket {
    pub ticket: String,
    /// Seconds.
    pub expires_in: i64,
}

async fn checked(
    state: &AppState,
    caller: &Caller,
    ip: Option<&str>,
    code: &str,
    target: &str,
) -> ApiResult<()> {
    stepup::code_for_resource(state, &caller.user.id, ip, code, target).await
}

/// `GET /api/security/{kind}/{id}`: whether a resource is locked behind MFA.
#[utoipa::path(
    get,
    path = "/api/security/{kind}/{id}",
    operation_id = "security_status",
    tag = "security",
    security(("bearer" = []), ("session_cookie" = [])),
    params(
        ("kind" = String, Path, description = "A resource kind from `mfa.lock_kinds`"),
        ("id" = String, Path, description = "The resource id: 1-128 letters, digits, - _ . :"),
    ),
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
    Path((kind, id)): Path<(String, String)>,
) -> ApiResult<Json<LockStatus>> {
    resource(&state, &kind, &id)?;
    may_manage_locks(&state, &caller, &kind)?;
    let locked_by = state.store.resource_lock(&kind, &id).await?;
    let admin = crate::authz::is_admin_role(&state, &caller.user.role);
    Ok(Json(LockStatus {
        kind,
        id,
        locked: locked_by.is_some(),
        locked_by: locked_by.filter(|_| admin),
    }))
}

/// `POST /api/security/{kind}/{id}/mfa-lock`: locks a resource behind MFA, with a current code.
#[utoipa::path(
    post,
    path = "/api/security/{kind}/{id}/mfa-lock",
    operation_id = "security_lock",
    tag = "security",
    security(("bearer" = []), ("session_cookie" = [])),
    params(
        ("kind" = String, Path, description = "A resource kind from `mfa.lock_kinds`"),
        ("id" = String, Path, description = "The resource id: 1-128 letters, digits, - _ . :"),
    ),
    request_body = CodeBody,
    responses(
        (status = 200, description = "Locked", body = LockChanged),
        (status = 400, description = "Malformed id, MFA not enabled, or a wrong code", body = ErrorBody),
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
    Path((kind, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<CodeBody>,
) -> ApiResult<Json<LockChanged>> {
    resource(&state, &kind, &id)?;
    may_manage_locks(&state, &caller, &kind)?;
    let target = format!("{kind}/{id}");
    checked(&state, &caller, ip.as_deref(), &body.code, &target).await?;
    if !state
        .store
        .lock_resource(&kind, &id, &caller.user.id, state.clock.now())
        .await?
    {
        return Err(ApiError::conflict(format!("{target} is already locked")));
    }
    audit::record(
        &state,
        Audit::new("lock", "ok")
            .actor(&caller.user.id)
            .ip(ip.as_deref())
            .target(&target),
    )
    .await;
    Ok(Json(LockChanged {
        kind,
        id,
        locked: true,
    }))
}

/// `POST /api/security/{kind}/{id}/mfa-unlock`: removes the lock, with a current code; only
/// the user who locked it, or an admin.
#[utoipa::path(
    post,
    path = "/api/security/{kind}/{id}/mfa-unlock",
    operation_id = "security_unlock",
    tag = "security",
    security(("bearer" = []), ("session_cookie" = [])),
    params(
        ("kind" = String, Path, description = "A resource kind from `mfa.lock_kinds`"),
        ("id" = String, Path, description = "The resource id: 1-128 letters, digits, - _ . :"),
    ),
    request_body = CodeBody,
    responses(
        (status = 200, description = "Unlocked", body = LockChanged),
        (status = 400, description = "Malformed id, MFA not enabled, or a wrong code", body = ErrorBody),
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
    Path((kind, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<CodeBody>,
) -> ApiResult<Json<LockChanged>> {
    resource(&state, &kind, &id)?;
    may_manage_locks(&state, &caller, &kind)?;
    let target = format!("{kind}/{id}");
    let Some(locked_by) = state.store.resource_lock(&kind, &id).await? else {
        return Err(ApiError::not_found(format!("{target} is not locked")));
    };
    if locked_by != caller.user.id && !crate::authz::is_admin_role(&state, &caller.user.role) {
        return Err(ApiError::forbidden(
            "only the user who locked it, or an admin, can unlock it",
        ));
    }
    checked(&state, &caller, ip.as_deref(), &body.code, &target).await?;
    state.store.unlock_resource(&kind, &id).await?;
    // A later lock starts from nothing: no grace window survives an unlock.
    state.store.delete_lock_graces(&kind, &id).await?;
    audit::record(
        &state,
        Audit::new("unlock", "ok")
            .actor(&caller.user.id)
            .ip(ip.as_deref())
            .target(&target),
    )
    .await;
    Ok(Json(LockChanged {
        kind,
        id,
        locked: false,
    }))
}

/// `POST /api/security/{kind}/{id}/verify`: a single-use ticket for one connection to a
/// locked resource, with a current code.
#[utoipa::path(
    post,
    path = "/api/security/{kind}/{id}/verify",
    operation_id = "security_verify",
    tag = "security",
    security(("bearer" = []), ("session_cookie" = [])),
    params(
        ("kind" = String, Path, description = "A resource kind from `mfa.lock_kinds`"),
        ("id" = String, Path, description = "The resource id: 1-128 letters, digits, - _ . :"),
    ),
    request_body = CodeBody,
    responses(
        (status = 200, description = "A ticket", body = Ticket),
        (status = 400, description = "Malformed id, a credential that cannot hold a ticket, MFA not enabled, or a wrong code", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 404, description = "Unknown resource kind", body = ErrorBody),
        (status = 429, description = "Too many wrong codes", body = ErrorBody),
    )
)]
pub async fn verify(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    Path((kind, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<CodeBody>,
) -> ApiResult<Json<Ticket>> {
    resource(&state, &kind, &id)?;
    let holder = holder(&caller)
        .ok_or_else(|| ApiError::bad_request("this credential cannot hold a ticket"))?;
    checked(
        &state,
        &caller,
        ip.as_deref(),
        &body.code,
        &format!("{kind}/{id}"),
    )
    .await?;
    let (ticket, row) = stepup::new_ticket(&state, &holder, &kind, &id);
    state.store.insert_lock_ticket(&row).await?;
    stepup::begin_grace(&state, &holder, &kind, &id, row.created_at).await?;
    Ok(Json(Ticket {
        ticket,
        expires_in: state.config.mfa.ticket_ttl,
    }))
}

/// Lets `caller` open one connection to `kind/id`: free when the resource is not locked;
/// otherwise it takes a fresh ticket (used up here) or a valid MFA code. The proxy and
/// forward-auth call this for every new connection.
pub async fn admit(
    state: &AppState,
    caller: &Caller,
    kind: &str,
    id: &str,
    ticket: Option<&str>,
    code: Option<&str>,
) -> ApiResult<()> {
    resource(state, kind, id)?;
    if state.store.resource_lock(kind, id).await?.is_none() {
        return Ok(());
    }
    let holder = holder(caller);
    if let Some(h) = &holder {
        if stepup::in_grace(state, h, kind, id).await? {
            return Ok(());
        }
    }
    if let Some(ticket) = ticket {
        let holder = holder.unwrap_or_default();
        if state
            .store
            .use_lock_ticket(&token_hash(ticket), &holder, kind, id, state.clock.now())
            .await?
        {
            return Ok(());
        }
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "mfa_required",
            "the ticket is not valid for this resource, was used already, or expired",
        ));
    }
    if let Some(code) = code {
        checked(state, caller, None, code, &format!("{kind}/{id}")).await?;
        if let Some(h) = &holder {
            stepup::begin_grace(state, h, kind, id, state.clock.now()).await?;
        }
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "mfa_required",
        format!("{kind}/{id} is locked: verify with a code first (POST /api/security/{kind}/{id}/verify)"),
    ))
}
