//! Plain HTTP through the proxy: authenticate, authorize, rewrite headers, forward. Bodies are
//! handed to hyper as streams in both directions, so memory per request stays bounded whatever
//! the body size. Only the wait for the upstream's response headers is timed (504); a long
//! download or upload is not cut off.

use axum::body::Body;
use axum::extract::{FromRequestParts, Request};
use axum::http::header;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

use super::config::Route;
use super::{
    authorize, identity_headers, lock, sanitize_request_headers, set_forwarding_headers,
    upstream_url, Proxy,
};

pub async fn forward(proxy: &Proxy, state: &AppState, route: &Route, request: Request) -> Response {
    match try_forward(proxy, state, route, request).await {
        Ok(response) => response,
        Err(mut e) => {
            // RFC 9728 §5.1: a client that was refused learns where to read how to get in.
            if e.status == StatusCode::UNAUTHORIZED {
                e.resource_metadata = Some(crate::ops::audience::resource_metadata_url(
                    state,
                    &route.prefix,
                ));
            }
            e.into_response()
        }
    }
}

async fn try_forward(
    proxy: &Proxy,
    state: &AppState,
    route: &Route,
    request: Request,
) -> Result<Response, ApiError> {
    let (mut parts, body) = request.into_parts();
    let caller = Caller::from_request_parts(&mut parts, state).await?;
    authorize(state, route, &parts.method, &caller)?;
    if let Some(kind) = &route.lock_kind {
        let ticket = lock::Proof::from_headers(&parts.headers);
        lock::check(
            state,
            &caller,
            kind,
            route.resource_id(parts.uri.path()),
            &ticket,
        )
        .await?;
    }

    let uri: Uri = upstream_url(route, parts.uri.path(), parts.uri.query())
        .parse()
        .map_err(|_| ApiError::bad_request("request path cannot be forwarded"))?;
    let host = parts.headers.get(header::HOST).cloned();
    let mut headers = std::mem::take(&mut parts.headers);
    sanitize_request_headers(&mut headers);
    headers.remove(header::HOST);
    set_forwarding_headers(state, &mut headers, parts.extensions.get(), host);
    for (name, value) in identity_headers(state, &caller) {
        headers.insert(name, value);
    }

    let mut upstream_request = axum::http::Request::new(body);
    *upstream_request.method_mut() = parts.method.clone();
    *upstream_request.uri_mut() = uri;
    *upstream_request.headers_mut() = headers;

    let sent = tokio::time::timeout(route.timeout, proxy.send(route, upstream_request)).await;
    let response = match sent {
        Err(_) => {
            tracing::warn!(target: "ward::proxy", route = %route.prefix, "upstream timed out");
            return Err(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "upstream_timeout",
                "the upstream did not answer in time",
            ));
        }
        Ok(Err(e)) => {
            // The whole chain: for TLS it says why (e.g. "invalid peer certificate: UnknownIssuer").
            let error = super::tls::error_chain(&e);
            let message = if route.tls.is_some() && e.is_connect() {
                "upstream TLS connection failed"
            } else {
                "upstream failed"
            };
            tracing::warn!(target: "ward::proxy", route = %route.prefix, upstream = %route.upstream, connect = e.is_connect(), error = %error, "{message}");
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "upstream_unavailable",
                "the upstream could not be reached",
            ));
        }
        Ok(Ok(response)) => response,
    };
    let (mut parts, incoming) = response.into_parts();
    super::remove_hop_by_hop(&mut parts.headers);
    Ok(Response::from_parts(parts, Body::new(incoming)))
}
