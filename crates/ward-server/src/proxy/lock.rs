//! Locked resources (SPEC §2.6, §2.8) — EXTENSION POINT, NOT ENFORCED YET.
//!
//! A route with `lock_kind` names a kind of resource (`terminal`, …) whose id is the path segment
//! after the route's prefix. Once MFA exists (its own issue: `POST /api/security/{kind}/{id}/
//! mfa-lock`, `…/verify` issuing single-use tickets), [`check`] must: look up whether
//! `(kind, id)` is locked, and if so refuse the connection unless [`Proof`] carries an unused,
//! unexpired ticket for exactly that resource and user (consumed atomically by the store, so a
//! reused ticket fails) or a valid `mfa_code`; each new connection needs its own.
//!
//! Today nothing can lock a resource — there is no lock store and no MFA — so there is nothing
//! to enforce and `check` lets every request through. It does not pretend to verify tickets.

use axum::http::HeaderMap;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// What a request or WebSocket auth message brings to open a locked resource.
#[derive(Debug, Default, Clone)]
pub struct Proof {
    /// A ticket from `POST /api/security/{kind}/{id}/verify`.
    pub ticket: Option<String>,
    /// A TOTP or backup code (WebSocket auth message `mfa_code`).
    pub mfa_code: Option<String>,
}

impl Proof {
    /// HTTP requests bring a ticket in `X-Ward-Ticket` (stripped before forwarding, like every
    /// `X-Ward-*` header).
    pub fn from_headers(headers: &HeaderMap) -> Proof {
        Proof {
            ticket: headers
                .get("x-ward-ticket")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            mfa_code: None,
        }
    }
}

/// Whether `caller` may open `(kind, resource_id)` with `proof`.
///
/// # Errors
/// Once enforced: 403 `resource_locked` when the resource is locked and `proof` is missing,
/// used or wrong.
pub async fn check(
    _state: &AppState,
    _caller: &Caller,
    _kind: &str,
    _resource_id: Option<&str>,
    _proof: &Proof,
) -> Result<(), ApiError> {
    // EXTENSION POINT (MFA issue): no resource can be locked yet, so there is nothing to refuse.
    Ok(())
}
