//! Forward-auth (nginx `auth_request`, Traefik `forwardAuth`): `GET /api/auth/validate` with
//! `X-Forwarded-Method` and `X-Forwarded-Uri` also checks the permission of the route matching
//! that URI, and the original request's `Origin`. The URI's path is normalised first, exactly as
//! the edge normalises ward's own requests (SPEC §2.12), so `/api/%63ontainers` and
//! `/api/x/../containers` meet the `/api/containers` route. A URI that matches no route is
//! refused (`proxy.unmatched = "deny"`, the default) or only needs a valid identity (`"allow"`).
//!
//! Refusals are 403, never 400: nginx's `auth_request` turns any answer other than 2xx, 401 or
//! 403 into a 500 for the client.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use ward_proto::{ErrorBody, ValidateResponse};

use crate::auth::Caller;
use crate::authz;
use crate::error::{ApiError, ApiResult};
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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ValidateParams {
    /// Also require this permission (`resource:action`): 403 with the denial message otherwise.
    /// Lets an nginx `auth_request` location state what it protects.
    pub permission: Option<String>,
    /// With `resource`: the connection is to a resource of this kind, which may be locked
    /// behind MFA; a ticket (`X-Ward-Ticket`) or code (`X-Ward-MFA-Code`) then admits it once.
    pub lock_kind: Option<String>,
    pub resource: Option<String>,
}

/// `GET /api/auth/validate`: 200 with the identity as JSON and as `X-Ward-*` headers.
///
/// Also the forward-auth endpoint (nginx `auth_request`, Traefik `forwardAuth`): with
/// `X-Forwarded-Uri` (and `X-Forwarded-Method`) the permission of the matching `[[routes]]`
/// entry and the original request's `Origin` are checked too.
#[utoipa::path(
    get,
    path = "/api/auth/validate",
    operation_id = "auth_validate",
    tag = "auth",
    security(("bearer" = []), ("session_cookie" = [])),
    params(
        ValidateParams,
        ("X-Forwarded-Uri" = Option<String>, Header, description = "Forward-auth: the URI of the original request"),
        ("X-Forwarded-Method" = Option<String>, Header, description = "Forward-auth: the method of the original request (default GET)"),
        ("X-Ward-Ticket" = Option<String>, Header, description = "A ticket from POST /api/security/{kind}/{id}/verify, for a locked resource"),
        ("X-Ward-MFA-Code" = Option<String>, Header, description = "An MFA code, for a locked resource"),
    ),
    responses(
        (status = 200, description = "The identity; also sent as X-Ward-User-Id, X-Ward-Email, X-Ward-Roles and X-Ward-Session-Id headers", body = ValidateResponse),
        (status = 400, description = "Malformed parameters", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "The permission is denied, the origin is refused, or the resource is locked (`mfa_required`)", body = ErrorBody),
        (status = 404, description = "`resource` names an unknown resource kind (`not_found`)", body = ErrorBody),
    )
)]
pub async fn validate(
    State(state): State<AppState>,
    caller: Caller,
    request_headers: HeaderMap,
    Query(params): Query<ValidateParams>,
) -> ApiResult<Response> {
    // nginx `auth_request`: the matching route's permission and the request's origin.
    check(&state, &request_headers, &caller).await?;
    match (params.lock_kind.as_deref(), params.resource.as_deref()) {
        (Some(kind), Some(id)) => {
            let header = |name: &str| request_headers.get(name).and_then(|v| v.to_str().ok());
            crate::ops::locks::admit(
                &state,
                &caller,
                kind,
                id,
                header("x-ward-ticket"),
                header("x-ward-mfa-code"),
            )
            .await?;
        }
        (None, None) => {}
        _ => return Err(ApiError::bad_request("lock_kind and resource go together")),
    }
    if let Some(p) = params.permission.as_deref() {
        let permission = authz::parse_permission(&state, p)?;
        // A denial is audited by `require` itself.
        authz::require(&state, &caller, &permission)?;
    }
    let body = ValidateResponse {
        user_id: caller.user.id.to_string(),
        email: caller.user.email.clone(),
        roles: vec![caller.user.role.clone()],
        session_id: caller.session.as_ref().map(|s| s.id.to_string()),
        scope: caller.scope.clone(),
        permissions: caller
            .authority
            .effective_permissions(&state.config.resources),
        credential: caller.credential.header_value().to_string(),
        client_id: caller.client_id.clone(),
    };
    // The same identity headers the built-in proxy sends its upstreams.
    let mut headers = HeaderMap::new();
    for (name, value) in super::identity_headers_with(&caller, &body.permissions) {
        headers.insert(name, value);
    }
    Ok((headers, Json(body)).into_response())
}
