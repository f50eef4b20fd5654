//! The identity-aware reverse proxy (SPEC §2.8): requests under a `[[routes]]` prefix are
//! authenticated (access token, API token or session cookie), authorized per method, stripped
//! of any incoming `X-Ward-*` header and of ward's own credentials, given `X-Ward-User-Id`,
//! `X-Ward-Email`, `X-Ward-Roles` and `X-Ward-Session-Id`, and forwarded with their bodies
//! streamed both ways. WebSocket routes do the same for upgrades ([`websocket`]).
//!
//! The proxy is the router's fallback: ward's own routes always win, anything else that
//! matches no route gets the JSON 404. Query strings and tokens are never logged.

pub mod config;
pub mod forward_auth;
pub mod http;
pub mod lock;
pub mod origin;
pub mod tls;
pub mod tunnel;
pub mod websocket;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::auth::{Caller, SESSION_COOKIE};
use crate::error::ApiError;
use crate::state::AppState;

use self::config::{find_route, Needed, Route};
use self::origin::OriginVerdict;

type TlsClient = Client<HttpsConnector<HttpConnector>, Body>;

/// The HTTP clients to upstreams, with their connection pools: one for every `http://` route,
/// and one per `https://` route (each has its own roots and client certificate). Cheap to clone.
#[derive(Clone)]
pub struct Proxy {
    client: Client<HttpConnector, Body>,
    tls_clients: Arc<HashMap<String, TlsClient>>,
}

/// `for_tls`: the TCP connector under a TLS one, which hands it `https://` URLs.
fn http_connector(for_tls: bool) -> HttpConnector {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    connector.enforce_http(!for_tls);
    connector
}

impl Proxy {
    pub fn new(routes: &[Route]) -> Proxy {
        let builder = || {
            let mut b = Client::builder(TokioExecutor::new());
            b.pool_idle_timeout(Duration::from_secs(60))
                .pool_max_idle_per_host(256);
            b
        };
        let client = builder().build(http_connector(false));
        let tls_clients = routes
            .iter()
            .filter_map(|route| {
                let tls = route.tls.as_ref()?;
                let connector = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config((**tls).clone())
                    .https_only()
                    .enable_http1()
                    .wrap_connector(http_connector(true));
                Some((route.prefix.clone(), builder().build(connector)))
            })
            .collect();
        Proxy {
            client,
            tls_clients: Arc::new(tls_clients),
        }
    }

    /// Sends `request` to `route`'s upstream, over TLS for an `https://` upstream.
    pub async fn send(
        &self,
        route: &Route,
        request: axum::http::Request<Body>,
    ) -> Result<axum::http::Response<hyper::body::Incoming>, hyper_util::client::legacy::Error>
    {
        match self.tls_clients.get(&route.prefix) {
            Some(client) => client.request(request).await,
            None => self.client.request(request).await,
        }
    }

    /// Handles a request that matched none of ward's own routes.
    pub async fn handle(&self, state: AppState, request: Request) -> Response {
        // Borrowed from the configuration for the request's life: a plain HTTP request costs
        // no copy of the route (only a WebSocket, which outlives this call, takes one).
        let Some(route) = find_route(&state.config.routes, request.uri().path()) else {
            return ApiError::not_found("no such route").into_response();
        };
        let verdict = origin::check(&state, request.headers());
        if origin::is_preflight(request.method(), request.headers()) {
            return preflight(route, &verdict, request.headers());
        }
        if websocket::is_upgrade(request.headers()) {
            if !route.websocket {
                return ApiError::bad_request("this route does not accept WebSocket connections")
                    .into_response();
            }
            let route = route.clone();
            return websocket::upgrade(state.clone(), route, request, verdict).await;
        }
        if route.tcp.is_some() {
            return ApiError::bad_request(
                "this route is a TCP tunnel: connect with a WebSocket (for example `ward tunnel`)",
            )
            .into_response();
        }
        if let OriginVerdict::Refused(why) = verdict {
            return origin_refused(why).into_response();
        }
        let mut response = http::forward(self, &state, route, request).await;
        if let OriginVerdict::Allowed(origin) = &verdict {
            origin::add_cors_headers(response.headers_mut(), origin);
        }
        response
    }
}

/// The router's fallback handler: proxies matching routes, 404 for the rest.
pub fn fallback(
    routes: &[Route],
) -> impl Fn(
    State<AppState>,
    Request,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>>
       + Clone
       + Send
       + Sync
       + 'static {
    // One `Arc` clone per request instead of the clients' several.
    let proxy = Arc::new(Proxy::new(routes));
    move |State(state): State<AppState>, request: Request| {
        let proxy = Arc::clone(&proxy);
        Box::pin(async move { proxy.handle(state, request).await })
    }
}

pub fn origin_refused(why: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "origin_not_allowed", why)
}

/// Authorizes `caller` for `method` on `route`: 401 for a token whose audience is another
/// route, 405 when the route does not take the method, 403 with SPEC's message when the caller
/// lacks the permission.
pub fn authorize(
    state: &AppState,
    route: &Route,
    method: &Method,
    caller: &Caller,
) -> Result<(), ApiError> {
    // RFC 8707: a token for another route (or for ward only) is not for this one.
    crate::ops::audience::check(state, caller.audience.as_deref(), Some(&route.prefix))?;
    match route.permissions.for_method(method) {
        Needed::Permission(p) => crate::authz::require(state, caller, p),
        Needed::MethodNotAllowed => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{method} is not allowed on {}", route.prefix),
        )),
    }
}

/// CORS preflight: answered by ward for allowed origins only, never forwarded.
fn preflight(route: &Route, verdict: &OriginVerdict, headers: &HeaderMap) -> Response {
    let OriginVerdict::Allowed(origin) = verdict else {
        return origin_refused("origin not allowed").into_response();
    };
    let mut response = StatusCode::NO_CONTENT.into_response();
    let h = response.headers_mut();
    origin::add_cors_headers(h, origin);
    if let Ok(v) = HeaderValue::from_str(&route.permissions.allowed_methods().join(", ")) {
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, v);
    }
    let requested = headers
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("authorization, content-type"));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested);
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    response
}

/// The identity ward asserts to the upstream (SPEC §2.8, §2.11), and to nginx at forward-auth.
pub fn identity_headers(state: &AppState, caller: &Caller) -> Vec<(HeaderName, HeaderValue)> {
    let permissions = caller
        .authority
        .effective_permissions(&state.config.resources);
    identity_headers_with(caller, &permissions)
}

/// [`identity_headers`] with the caller's effective permissions already computed.
pub fn identity_headers_with(
    caller: &Caller,
    permissions: &[String],
) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Vec::with_capacity(7);
    let mut add = |name: &'static str, value: &str| {
        // from_bytes: an email may be non-ASCII; control characters are refused.
        if let Ok(v) = HeaderValue::from_bytes(value.as_bytes()) {
            out.push((HeaderName::from_static(name), v));
        }
    };
    add("x-ward-user-id", caller.user.id.as_str());
    add("x-ward-email", &caller.user.email);
    add("x-ward-roles", &caller.user.role);
    if let Some(session) = &caller.session {
        add("x-ward-session-id", session.id.as_str());
    }
    add("x-ward-scopes", &permissions.join(" "));
    add("x-ward-credential", caller.credential.header_value());
    add("x-ward-client-id", &caller.client_id);
    out
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) are the proxy's, not the request's.
const HOP_BY_HOP: &[HeaderName] = &[
    header::CONNECTION,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in HOP_BY_HOP.iter().chain(listed.iter()) {
        headers.remove(name);
    }
    headers.remove("keep-alive");
}

/// SPEC §2.12: headers a backend may believe, so only ward sets them. Compared with `_` read
/// as `-` (header names are already lower case): CGI, WSGI and PHP map `X_Ward_User_Id` and
/// `X-Ward-User-Id` to the same variable.
fn is_reserved_for_ward(name: &HeaderName) -> bool {
    const PREFIXES: [&str; 2] = ["x-ward-", "x-forwarded-"];
    const NAMES: [&str; 5] = [
        "forwarded",
        "x-real-ip",
        "x-http-method-override",
        "x-http-method",
        "x-method-override",
    ];
    // Byte by byte, without allocating: this runs for every header of every proxied request.
    let same = |a: &[u8], b: &[u8]| {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(&x, &y)| x == y || (x == b'_' && y == b'-'))
    };
    let name = name.as_str().as_bytes();
    PREFIXES.iter().any(|p| {
        name.get(..p.len())
            .is_some_and(|head| same(head, p.as_bytes()))
    }) || NAMES.iter().any(|n| same(name, n.as_bytes()))
}

/// Removes everything the upstream must not see: spoofed `X-Ward-*` identity, forwarding and
/// method-override headers (whatever their spelling), ward's own credentials
/// (`Authorization`, ward's cookies) and hop-by-hop headers.
pub fn sanitize_request_headers(headers: &mut HeaderMap) {
    remove_hop_by_hop(headers);
    let reserved: Vec<HeaderName> = headers
        .keys()
        .filter(|name| is_reserved_for_ward(name))
        .cloned()
        .collect();
    for name in reserved {
        headers.remove(name);
    }
    headers.remove(header::AUTHORIZATION);
    // The proof was for ward; an upstream has no use for it (and no business replaying it).
    headers.remove(crate::dpop::DPOP_HEADER);
    let cookies: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .filter(|c| !is_ward_cookie(c.split('=').next().unwrap_or_default().trim()))
        .map(str::to_string)
        .collect();
    headers.remove(header::COOKIE);
    if !cookies.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&cookies.join("; ")) {
            headers.insert(header::COOKIE, v);
        }
    }
}

/// Sets what ward tells the upstream about the request's way here: `X-Forwarded-For` (the
/// trusted chain and the client, [`crate::edge::ClientAddr`]), `X-Forwarded-Proto` (from
/// `public_url`) and `X-Forwarded-Host` (the client's `Host`). Call after
/// [`sanitize_request_headers`].
pub fn set_forwarding_headers(
    state: &AppState,
    headers: &mut HeaderMap,
    client: Option<&crate::edge::ClientAddr>,
    host: Option<HeaderValue>,
) {
    if let Some(host) = host {
        headers.insert("x-forwarded-host", host);
    }
    if let Some(v) = client.and_then(|c| HeaderValue::from_str(&c.forwarded_for()).ok()) {
        headers.insert("x-forwarded-for", v);
    }
    let proto = if state.public_url.scheme() == "https" {
        "https"
    } else {
        "http"
    };
    headers.insert("x-forwarded-proto", HeaderValue::from_static(proto));
}

/// ward's own cookies (`ward_session`, `ward_csrf`, `__Host-ward_csrf`, …) are credentials or
/// CSRF secrets for ward's pages: the upstream never sees them.
fn is_ward_cookie(name: &str) -> bool {
    let name = name
        .strip_prefix("__Host-")
        .or_else(|| name.strip_prefix("__Secure-"))
        .unwrap_or(name);
    name == SESSION_COOKIE || name.starts_with("ward_")
}

/// The upstream URL for `path_and_query`: the route's upstream (with its base path) followed by
/// the request path.
pub fn upstream_url(route: &Route, path: &str, query: Option<&str>) -> String {
    let base = route.upstream.as_str().trim_end_matches('/');
    match query {
        Some(q) if !q.is_empty() => format!("{base}{path}?{q}"),
        _ => format!("{base}{path}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_strips_identity_credentials_and_hop_headers() {
        let mut h = HeaderMap::new();
        h.insert("x-ward-user-id", HeaderValue::from_static("evil"));
        h.insert("X-Ward-Roles", HeaderValue::from_static("admin"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        h.insert(
            header::COOKIE,
            HeaderValue::from_static(
                "a=1; ward_session=secret; b=2; ward_csrf=x; __Host-ward_csrf=y",
            ),
        );
        h.insert(header::CONNECTION, HeaderValue::from_static("close, x-hop"));
        h.insert("x-hop", HeaderValue::from_static("1"));
        h.insert("x-keep", HeaderValue::from_static("1"));
        for spoofed in [
            "x_ward_user_id",
            "X_WARD-email",
            "forwarded",
            "x-forwarded-for",
            "X_Forwarded_Host",
            "x-real-ip",
            "x_real_ip",
            "x-http-method-override",
            "X-HTTP-Method",
            "x_method_override",
        ] {
            h.insert(
                HeaderName::from_bytes(spoofed.as_bytes()).unwrap(),
                HeaderValue::from_static("evil"),
            );
        }
        sanitize_request_headers(&mut h);
        assert!(h.values().all(|v| v != "evil"), "{h:?}");
        assert!(!h.contains_key("x-ward-user-id"));
        assert!(!h.contains_key("x-ward-roles"));
        assert!(!h.contains_key(header::AUTHORIZATION));
        assert!(!h.contains_key("x-hop"));
        assert!(!h.contains_key(header::CONNECTION));
        assert_eq!(h[header::COOKIE], "a=1; b=2");
        assert_eq!(h["x-keep"], "1");
    }
}
