//! Extractors whose rejections use ward's JSON error shape instead of axum's plain text, so a
//! malformed body always gets a clear 400 (SPEC §2.4).

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(e) => Err(ApiError::bad_request(format!(
                "invalid JSON body: {}",
                e.body_text()
            ))),
        }
    }
}

/// An `application/x-www-form-urlencoded` body as name → value. Repeated names are refused
/// (RFC 6749 §3.1: parameters must not be included more than once).
pub struct FormParams(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequest<S> for FormParams {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !is_form {
            return Err(ApiError::bad_request(
                "expected Content-Type: application/x-www-form-urlencoded",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(body_error)?;
        parse_params(&bytes).map(FormParams)
    }
}

/// A body that could not be read: 413 when it is over the limit, 400 otherwise.
pub fn body_error(e: axum::extract::rejection::BytesRejection) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            "the request body is too large",
        )
    } else {
        ApiError::bad_request("cannot read the request body")
    }
}

/// Parses URL-encoded parameters, refusing duplicates.
pub fn parse_params(bytes: &[u8]) -> Result<HashMap<String, String>, ApiError> {
    let mut map = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(bytes) {
        if map.insert(k.to_string(), v.to_string()).is_some() {
            return Err(ApiError::bad_request(format!(
                "parameter {k} given more than once"
            )));
        }
    }
    Ok(map)
}

impl FormParams {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
    pub fn require(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name)
            .ok_or_else(|| ApiError::bad_request(format!("missing parameter {name}")))
    }
}

/// The client's IP address as the request edge decided it ([`crate::edge::ClientAddr`]: the
/// TCP peer, or what a trusted proxy reports). The one source of the address that per-IP
/// limits, audit events, sessions and the request log use.
pub struct ClientIp(pub Option<String>);

impl ClientIp {
    pub fn of(extensions: &axum::http::Extensions) -> Option<std::net::IpAddr> {
        match extensions.get::<crate::edge::ClientAddr>() {
            Some(addr) => Some(addr.ip),
            // Only a router served without the edge layer (never `serve`) lands here.
            None => extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            ClientIp::of(&parts.extensions).map(|ip| ip.to_string()),
        ))
    }
}

/// The `User-Agent` header, truncated.
pub struct UserAgent(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for UserAgent {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(UserAgent(
            parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.chars().take(256).collect()),
        ))
    }
}
