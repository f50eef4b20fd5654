//! Per-resource MFA locks (SPEC §2.6, §2.13, §2.17): who may manage them, the proof they take
//! (a TOTP or backup code, or a passkey assertion), locking, unlocking, tickets, and admitting a
//! connection (ticket, grace window or code). The API, the pages, the proxy, forward-auth and
//! SSH certificates all come here; none of them holds a lock rule of its own.

use axum::http::StatusCode;
use serde_json::json;
use ward_core::audit::Outcome;
use ward_core::model::CeremonyKind;
use ward_core::token::token_hash;
use ward_core::UserId;
use webauthn_rs::prelude::PublicKeyCredential;

use crate::audit::{self, Audit};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::ops::passkey::{self, Started};
use crate::ops::stepup;
use crate::proxy::config::MethodPermissions;
use crate::state::AppState;

/// The ceremony kind of passkey checks for locks and approvals; what each is for is its bound
/// value ([`resource_bound`], `approve:{request id}`).
pub const CEREMONY_KIND: CeremonyKind = CeremonyKind::Resource;

/// A second factor for a lock, an unlock, a ticket or an approval.
#[derive(Debug)]
pub enum Proof {
    /// A TOTP or backup code.
    Code(String),
    /// A passkey assertion for a ceremony started with `…/verify/start` (or the approve page).
    Passkey {
        ceremony: String,
        credential: Box<PublicKeyCredential>,
    },
}

impl Proof {
    /// Exactly one of a `code`, or a `ceremony` with its `webauthn` assertion.
    pub fn from_parts(
        code: Option<String>,
        ceremony: Option<String>,
        webauthn: Option<PublicKeyCredential>,
    ) -> ApiResult<Proof> {
        match (code, ceremony, webauthn) {
            (Some(code), None, None) => Ok(Proof::Code(code)),
            (None, Some(ceremony), Some(credential)) => Ok(Proof::Passkey {
                ceremony,
                credential: Box::new(credential),
            }),
            (None, None, Some(_)) => Err(ApiError::bad_request(
                "webauthn needs the ceremony id from POST /api/security/{kind}/{id}/verify/start",
            )),
            (None, Some(_), None) => Err(ApiError::bad_request(
                "ceremony needs webauthn: the PublicKeyCredential from navigator.credentials.get",
            )),
            (None, None, None) => Err(ApiError::bad_request(
                "a second factor is required: code (TOTP or backup code), or ceremony and webauthn (a passkey)",
            )),
            _ => Err(ApiError::bad_request(
                "send either code, or ceremony and webauthn, not both",
            )),
        }
    }

    fn method(&self) -> &'static str {
        match self {
            Proof::Code(_) => "code",
            Proof::Passkey { .. } => "webauthn",
        }
    }
}

/// What a passkey ceremony for a lock on `target` (`kind/id`) is bound to.
pub fn resource_bound(target: &str) -> String {
    format!("resource:{target}")
}

/// A ticket is bound to what presented the proof: the session, or the API token when there is
/// no session.
pub fn holder(caller: &Caller) -> Option<String> {
    match (&caller.session, &caller.api_token) {
        (Some(s), _) => Some(s.id.to_string()),
        (None, Some(t)) => Some(format!("token:{}", t.id)),
        _ => None,
    }
}

/// The holder, or 400 for a credential that cannot hold a ticket.
pub fn ticket_holder(caller: &Caller) -> ApiResult<String> {
    holder(caller).ok_or_else(|| ApiError::bad_request("this credential cannot hold a ticket"))
}

/// Checks `{kind}/{id}`: the kind must be configured, the id a plain identifier.
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
    audit::record_soon(
        state,
        Audit::new("policy.denied", Outcome::Denied)
            .actor(caller.user.id.as_str())
            .detail(json!({
                "permission": format!("locks of {kind}"),
                "credential": caller.credential.as_str(),
            })),
    );
    Err(ApiError::forbidden(format!(
        "permission denied: {kind} locks need the permission of a {kind} route, or an admin"
    )))
}

/// Starts a passkey check for a lock, an unlock or a ticket on `kind/id`.
pub async fn start_passkey(
    state: &AppState,
    caller: &Caller,
    kind: &str,
    id: &str,
) -> ApiResult<Started> {
    resource(state, kind, id)?;
    let bound = resource_bound(&format!("{kind}/{id}"));
    passkey::start_for_user(state, &caller.user.id, CEREMONY_KIND, &bound).await
}

/// Checks `proof` of `user_id` for `target` (`kind/id`, audited as `mfa.verify` with purpose
/// `resource`). A passkey's ceremony must have been started for `bound`. Either kind of proof
/// spends one guess of the account's budget before it is evaluated (SPEC §2.13); a right one
/// gives it back.
pub async fn prove(
    state: &AppState,
    user_id: &UserId,
    ip: Option<&str>,
    proof: &Proof,
    bound: &str,
    target: &str,
) -> ApiResult<()> {
    let result = match proof {
        Proof::Code(code) => crate::mfa::verify_code(state, user_id, code)
            .await
            .map(|_| ()),
        Proof::Passkey {
            ceremony,
            credential,
        } => passkey_for(state, user_id, ceremony, credential, bound).await,
    };
    audit::record(
        state,
        Audit::new("mfa.verify", crate::mfa::outcome(&result))
            .actor(user_id.as_str())
            .ip(ip)
            .target(target)
            .detail(json!({"purpose": "resource", "method": proof.method()})),
    )
    .await;
    result
}

/// [`prove`] for an act on the resource `target` (`kind/id`) itself: a lock, an unlock, a
/// ticket; a passkey ceremony must have been started for that resource.
async fn prove_for_resource(
    state: &AppState,
    caller: &Caller,
    ip: Option<&str>,
    proof: &Proof,
    target: &str,
) -> ApiResult<()> {
    let bound = resource_bound(target);
    prove(state, &caller.user.id, ip, proof, &bound, target).await
}

async fn passkey_for(
    state: &AppState,
    user_id: &UserId,
    ceremony: &str,
    credential: &PublicKeyCredential,
    bound: &str,
) -> ApiResult<()> {
    passkey::relying_party(state)?;
    let attempt = crate::mfa::reserve_guess(state, user_id.as_str()).await?;
    let started_for: String =
        passkey::finish_for_user(state, user_id, CEREMONY_KIND, ceremony, credential).await?;
    if started_for != bound {
        return Err(passkey::failed(format!(
            "this passkey check was started for {}, not for this",
            started_for.replace(':', " ")
        )));
    }
    state.limiter.release(attempt).await;
    Ok(())
}

/// Locks `kind/id` behind MFA (409 when it already is).
pub async fn lock(
    state: &AppState,
    caller: &Caller,
    ip: Option<&str>,
    kind: &str,
    id: &str,
    proof: &Proof,
) -> ApiResult<()> {
    resource(state, kind, id)?;
    may_manage_locks(state, caller, kind)?;
    let target = format!("{kind}/{id}");
    prove_for_resource(state, caller, ip, proof, &target).await?;
    if !state
        .store
        .lock_resource(kind, id, caller.user.id.as_str(), state.clock.now())
        .await?
    {
        return Err(ApiError::conflict(format!("{target} is already locked")));
    }
    audit::record(
        state,
        Audit::new("lock", Outcome::Ok)
            .actor(caller.user.id.as_str())
            .ip(ip)
            .target(&target),
    )
    .await;
    Ok(())
}

/// Removes the lock on `kind/id`: only the user who locked it, or an admin.
pub async fn unlock(
    state: &AppState,
    caller: &Caller,
    ip: Option<&str>,
    kind: &str,
    id: &str,
    proof: &Proof,
) -> ApiResult<()> {
    resource(state, kind, id)?;
    may_manage_locks(state, caller, kind)?;
    let target = format!("{kind}/{id}");
    let Some(locked_by) = state.store.resource_lock(kind, id).await? else {
        return Err(ApiError::not_found(format!("{target} is not locked")));
    };
    if locked_by != caller.user.id && !crate::authz::is_admin_role(state, &caller.user.role) {
        return Err(ApiError::forbidden(
            "only the user who locked it, or an admin, can unlock it",
        ));
    }
    prove_for_resource(state, caller, ip, proof, &target).await?;
    state.store.unlock_resource(kind, id).await?;
    // A later lock starts from nothing: no grace window survives an unlock.
    state.store.delete_lock_graces(kind, id).await?;
    audit::record(
        state,
        Audit::new("unlock", Outcome::Ok)
            .actor(caller.user.id.as_str())
            .ip(ip)
            .target(&target),
    )
    .await;
    Ok(())
}

/// A single-use ticket for one connection to `kind/id`, bound to the caller's session (or API
/// token), after a proof; starts the kind's grace window. Returns the ticket.
pub async fn verify(
    state: &AppState,
    caller: &Caller,
    ip: Option<&str>,
    kind: &str,
    id: &str,
    proof: &Proof,
) -> ApiResult<String> {
    resource(state, kind, id)?;
    let holder = ticket_holder(caller)?;
    let target = format!("{kind}/{id}");
    prove_for_resource(state, caller, ip, proof, &target).await?;
    let (ticket, row) = stepup::new_ticket(state, &holder, kind, id);
    state.store.insert_lock_ticket(&row).await?;
    stepup::begin_grace(state, &holder, kind, id, row.created_at).await?;
    Ok(ticket)
}

/// Whether `kind/id` is locked, and by whom (the caller may manage its locks).
pub async fn status(
    state: &AppState,
    caller: &Caller,
    kind: &str,
    id: &str,
) -> ApiResult<Option<String>> {
    resource(state, kind, id)?;
    may_manage_locks(state, caller, kind)?;
    Ok(state.store.resource_lock(kind, id).await?)
}

/// Lets `caller` open one connection to `kind/id`: free when the resource is not locked;
/// otherwise it takes a grace window, a fresh ticket (used up here) or a valid MFA code. The
/// proxy, forward-auth and SSH certificates call this for every new connection.
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
        let target = format!("{kind}/{id}");
        let proof = Proof::Code(code.to_string());
        prove(
            state,
            &caller.user.id,
            None,
            &proof,
            &resource_bound(&target),
            &target,
        )
        .await?;
        if let Some(h) = &holder {
            stepup::begin_grace(state, h, kind, id, state.clock.now()).await?;
        }
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "mfa_required",
        format!("{kind}/{id} is locked: verify with a code or a passkey first (POST /api/security/{kind}/{id}/verify)"),
    ))
}
