//! Locked resources (SPEC §2.6, §2.8). A route with `lock_kind` names a kind of resource
//! (`terminal`, …) whose id is the path segment after the route's prefix. When `(kind, id)` is
//! locked behind MFA (`POST /api/security/{kind}/{id}/mfa-lock`), every new connection needs its
//! own proof: a single-use ticket from `…/verify` (consumed atomically, bound to the session and
//! the resource) or a valid `mfa_code`. The rules live in `ops::locks::admit`.

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
/// 403 `mfa_required` when the resource is locked and `proof` is missing, used or wrong.
pub async fn check(
    state: &AppState,
    caller: &Caller,
    kind: &str,
    resource_id: Option<&str>,
    proof: &Proof,
) -> Result<(), ApiError> {
    let Some(id) = resource_id else {
        // No resource named in the path: nothing that can be locked.
        return Ok(());
    };
    // The path was normalised at the edge, so `.`, `..` and empty ids cannot arrive here; the
    // check stays next to the decision so that no caller can admit one.
    if !ward_core::path::is_resource_id(id) {
        return Err(ApiError::bad_request(
            "the resource id in the path is not valid (no '.', '..', '%', ';' or '\\')",
        ));
    }
    crate::ops::locks::admit(
        state,
        caller,
        kind,
        id,
        proof.ticket.as_deref(),
        proof.mfa_code.as_deref(),
    )
    .await
}
