//! Cross-cutting HTTP layers: security headers on every response, one log line and one metric
//! per request (path only: query strings can carry codes and are never logged).

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::metrics::{RouteLabel, StatusLabel};
use crate::state::AppState;

const CSP: &str = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// SPEC §2.8: every response carries these, unless the handler set its own. Plain tower
/// layers rather than a `from_fn` middleware: they neither box a future nor clone the inner
/// service per request (measured on the proxy's path, issue 15).
pub fn security_headers<S>(
    service: S,
) -> impl tower::Service<
    Request,
    Response = Response,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone
       + Send
       + Sync
       + 'static
where
    S: tower::Service<Request, Response = Response, Error = std::convert::Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send,
{
    let header = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    tower::ServiceBuilder::new()
        .layer(header(
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000; includeSubDomains",
        ))
        .layer(header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(header(header::CONTENT_SECURITY_POLICY, CSP))
        .layer(header(header::REFERRER_POLICY, "no-referrer"))
        .service(service)
}

pub async fn log_requests(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "proxy".to_string());
    let peer = crate::extract::ClientIp::of(request.extensions())
        .map(|ip| ip.to_string())
        .unwrap_or_default();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    state
        .metrics
        .requests
        .get_or_create(&StatusLabel { status })
        .inc();
    state
        .metrics
        .request_seconds
        .get_or_create(&RouteLabel {
            method: match method.as_str() {
                m @ ("GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS") => m,
                _ => "other",
            }
            .to_string(),
            route,
        })
        .observe(started.elapsed().as_secs_f64());
    tracing::info!(
        target: "ward::http",
        %method,
        path = %path,
        status,
        ip = %peer,
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}
