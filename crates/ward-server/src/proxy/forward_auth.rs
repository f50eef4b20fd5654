//! Forward-auth (nginx `auth_request`, Traefik `forwardAuth`): `GET /api/auth/validate` with
//! `X-Forwarded-Method` and `X-Forwarded-Uri` also checks the permission of the route matching
//! that URI, and the original request's `Origin`. A URI that matches no route only needs a valid
//! identity.

use axum::http::{HeaderMap, Method};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

use super::config::find_route;
use super::origin::{self, OriginVerdict};

/// `Ok` when the forwarded request may pass; 403 (or 405) otherwise. Does nothing when the
/// request carries no `X-Forwarded-Uri`.
pub async fn check(state: &AppState, headers: &HeaderMap, caller: &Caller) -> Result<(), ApiError> {
    let Some(uri) = headers.get("x-forwarded-uri").and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    if let OriginVerdict::Refused(why) = origin::check(state, headers) {
        return Err(super::origin_refused(why));
    }
    let method = match headers.get("x-forwarded-method") {
        Some(m) => Method::from_bytes(m.as_bytes())
            .map_err(|_| ApiError::bad_request("X-Forwarded-Method is not an HTTP method"))?,
        None => Method::GET,
    };
    let path = uri.split(['?', '#']).next().unwrap_or_default();
    let Some(route) = find_route(&state.config.routes, path) else {
        return Ok(());
    };
    super::authorize(state, route, &method, caller)?;
    if let Some(kind) = &route.lock_kind {
        let proof = super::lock::Proof::from_headers(headers);
        super::lock::check(state, caller, kind, route.resource_id(path), &proof).await?;
    }
    Ok(())
}
