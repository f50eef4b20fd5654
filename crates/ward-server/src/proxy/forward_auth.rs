//! Forward-auth (nginx `auth_request`, Traefik `forwardAuth`): `GET /api/auth/validate` with
//! `X-Forwarded-Method` and `X-Forwarded-Uri` also checks the permission of the route matching
//! that URI, and the original request's `Origin`. The URI's path is normalised first, exactly as
//! the edge normalises ward's own requests (SPEC §2.12), so `/api/%63ontainers` and
//! `/api/x/../containers` meet the `/api/containers` route. A URI that matches no route is
//! refused (`proxy.unmatched = "deny"`, the default) or only needs a valid identity (`"allow"`).
//!
//! Refusals are 403, never 400: nginx's `auth_request` turns any answer other than 2xx, 401 or
//! 403 into a 500 for the client.

use axum::http::{HeaderMap, Method, StatusCode};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

use super::config::{find_route, Unmatched};
use super::origin::{self, OriginVerdict};

/// The route the forwarded request (`X-Forwarded-Uri`) is for, if any.
pub fn route_of<'a>(state: &'a AppState, headers: &HeaderMap) -> Option<&'a super::config::Route> {
    let uri = headers.get("x-forwarded-uri")?.to_str().ok()?;
    let raw_path = uri.split(['?', '#']).next().unwrap_or_default();
    let path = ward_core::path::normalize(raw_path).ok()?;
    find_route(&state.config.routes, &path)
}

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
    let raw_path = uri.split(['?', '#']).next().unwrap_or_default();
    let path = ward_core::path::normalize(raw_path)
        .map_err(|e| ApiError::new(StatusCode::FORBIDDEN, "invalid_path", e.to_string()))?;
    let Some(route) = find_route(&state.config.routes, &path) else {
        return match state.config.proxy.unmatched {
            Unmatched::Allow => Ok(()),
            Unmatched::Deny => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "no route matches this path (proxy.unmatched = \"deny\")",
            )),
        };
    };
    super::authorize(state, route, &method, caller)?;
    if let Some(kind) = &route.lock_kind {
        let proof = super::lock::Proof::from_headers(headers);
        super::lock::check(state, caller, kind, route.resource_id(&path), &proof).await?;
    }
    Ok(())
}
