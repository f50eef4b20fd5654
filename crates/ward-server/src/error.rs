//! Errors as HTTP answers. The ward API and the OAuth endpoints share one JSON shape,
//! `{"error", "error_description"}` (RFC 6749 §5.2). Internal causes are logged, never sent.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ward_core::{OAuthError, OAuthErrorCode, StoreError};
use ward_proto::ErrorBody;

/// The attempts left in a guessing budget (the `RateLimit` header fields draft).
pub const RATELIMIT_REMAINING: header::HeaderName =
    header::HeaderName::from_static("ratelimit-remaining");

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub description: String,
    pub retry_after: Option<i64>,
    /// Attempts left in the caller's budget for a guessable input (`RateLimit-Remaining`).
    pub remaining: Option<u32>,
    /// A 401 that also offers `WWW-Authenticate: Basic` (a token as the password), for git,
    /// docker and other non-browser clients that only answer a Basic challenge.
    pub basic_challenge: bool,
    /// A 401 whose challenge is `DPoP` with this error's code (RFC 9449 §7.1) instead of
    /// `Bearer`.
    pub dpop_challenge: bool,
    /// A server nonce for the client's next proof (`DPoP-Nonce`, RFC 9449 §8).
    pub dpop_nonce: Option<String>,
    /// A 401 of a protected resource (a proxied route): its RFC 9728 metadata URL, sent as
    /// `WWW-Authenticate: Bearer resource_metadata="…"` so clients (MCP) can discover ward.
    pub resource_metadata: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, description: impl ToString) -> Self {
        ApiError {
            status,
            code,
            description: description.to_string(),
            retry_after: None,
            remaining: None,
            basic_challenge: false,
            dpop_challenge: false,
            dpop_nonce: None,
            resource_metadata: None,
        }
    }
    /// A 401 that also offers HTTP Basic (decision 130): git's libcurl sends the credential
    /// helper's answer only in reply to a challenge it can meet.
    pub fn with_basic_challenge(mut self) -> Self {
        self.basic_challenge = self.status == StatusCode::UNAUTHORIZED;
        self
    }
    /// Adds the attempts left in the caller's budget (`RateLimit-Remaining`).
    pub fn with_remaining(mut self, remaining: u32) -> Self {
        self.remaining = Some(remaining);
        self
    }
    pub fn bad_request(description: impl ToString) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }
    pub fn unauthorized(description: impl ToString) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_token", description)
    }
    pub fn forbidden(description: impl ToString) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", description)
    }
    pub fn not_found(description: impl ToString) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", description)
    }
    pub fn conflict(description: impl ToString) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", description)
    }
    /// A refusal over a limit: `Retry-After` and no attempts left (the description says when,
    /// for answers without headers such as a WebSocket close).
    pub fn too_many_requests(retry_after: i64) -> Self {
        let retry_after = retry_after.max(1);
        ApiError {
            retry_after: Some(retry_after),
            remaining: Some(0),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many attempts; try again in {retry_after} s"),
            )
        }
    }
    /// The database cannot serve right now (down, restarting, out of disk): 503 with
    /// `Retry-After`, logged with its cause; the client may try again.
    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "database unavailable");
        ApiError {
            retry_after: Some(1),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the database is unavailable; try again shortly",
            )
        }
    }
    /// A failure that is ours, not the client's: logged with its cause, answered vaguely.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal error",
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(_) => ApiError::conflict("already exists"),
            StoreError::Backend(_) => ApiError::internal(e),
            StoreError::Unavailable(_) => ApiError::unavailable(e),
        }
    }
}

impl From<OAuthError> for ApiError {
    fn from(e: OAuthError) -> Self {
        let status = match e.code {
            OAuthErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, e.code.as_str(), e.description)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let challenge = (self.status == StatusCode::UNAUTHORIZED && self.dpop_challenge)
            .then(|| crate::dpop::challenge(self.code, &self.description));
        let body = ErrorBody {
            error: self.code.to_string(),
            error_description: self.description,
        };
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(remaining) = self.remaining {
            headers.insert(RATELIMIT_REMAINING, HeaderValue::from(remaining));
        }
        if let Some(nonce) = self
            .dpop_nonce
            .as_deref()
            .and_then(|n| HeaderValue::from_str(n).ok())
        {
            headers.insert(crate::dpop::NONCE_HEADER, nonce);
        }
        match self.status {
            StatusCode::UNAUTHORIZED if challenge.is_some() => {
                if let Some(value) = challenge {
                    headers.insert(header::WWW_AUTHENTICATE, value);
                }
            }
            StatusCode::UNAUTHORIZED if self.code == "invalid_client" => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"ward\""),
                );
            }
            StatusCode::UNAUTHORIZED => {
                let bearer = match self.resource_metadata.as_deref().and_then(|url| {
                    HeaderValue::from_str(&format!(
                        "Bearer realm=\"ward\", error=\"invalid_token\", resource_metadata=\"{url}\""
                    ))
                    .ok()
                }) {
                    Some(v) => v,
                    None => HeaderValue::from_static("Bearer realm=\"ward\", error=\"invalid_token\""),
                };
                headers.insert(header::WWW_AUTHENTICATE, bearer);
                if self.basic_challenge {
                    headers.append(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Basic realm=\"ward\", charset=\"UTF-8\""),
                    );
                }
            }
            _ => {}
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
