//! Domain errors: the RFC 6749 / 8628 error codes and storage failures.

use std::fmt;

/// RFC 6749 §5.2 and RFC 8628 §3.5 error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    AccessDenied,
    AuthorizationPending,
    SlowDown,
    ExpiredToken,
    UnsupportedTokenType,
    /// RFC 8707 §2: the `resource` is unknown or not acceptable.
    InvalidTarget,
}

impl OAuthErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthErrorCode::InvalidRequest => "invalid_request",
            OAuthErrorCode::InvalidClient => "invalid_client",
            OAuthErrorCode::InvalidGrant => "invalid_grant",
            OAuthErrorCode::UnauthorizedClient => "unauthorized_client",
            OAuthErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            OAuthErrorCode::InvalidScope => "invalid_scope",
            OAuthErrorCode::AccessDenied => "access_denied",
            OAuthErrorCode::AuthorizationPending => "authorization_pending",
            OAuthErrorCode::SlowDown => "slow_down",
            OAuthErrorCode::ExpiredToken => "expired_token",
            OAuthErrorCode::UnsupportedTokenType => "unsupported_token_type",
            OAuthErrorCode::InvalidTarget => "invalid_target",
        }
    }
}

/// An OAuth protocol error with a human-readable description (never containing a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
pub struct OAuthError {
    pub code: OAuthErrorCode,
    pub description: String,
}

impl OAuthError {
    pub fn new(code: OAuthErrorCode, description: impl fmt::Display) -> Self {
        OAuthError {
            code,
            description: description.to_string(),
        }
    }
    pub fn invalid_request(description: impl fmt::Display) -> Self {
        Self::new(OAuthErrorCode::InvalidRequest, description)
    }
    pub fn invalid_grant(description: impl fmt::Display) -> Self {
        Self::new(OAuthErrorCode::InvalidGrant, description)
    }
    pub fn invalid_client(description: impl fmt::Display) -> Self {
        Self::new(OAuthErrorCode::InvalidClient, description)
    }
}

/// A storage failure. `Conflict` is a violated uniqueness rule (e.g. an email already taken);
/// `Unavailable` means the database cannot be reached or cannot take writes right now (down,
/// restarting, out of connections, out of disk): the request may succeed if tried again, and the
/// server answers 503 rather than 500.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("storage backend error: {0}")]
    Backend(#[source] Cause),
    #[error("database unavailable: {0}")]
    Unavailable(#[source] Cause),
}

/// What went wrong below the store: a message, and the driver's error when there is one, kept
/// as the source so logs (`{:#}` / error chains) show it whole.
#[derive(Debug)]
pub struct Cause {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Cause {
    /// The driver's error `e`, described by its own message.
    pub fn of(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Cause {
            message: e.to_string(),
            source: Some(Box::new(e)),
        }
    }
}

impl Cause {
    /// `message`, caused by the driver's error `e`.
    pub fn context(
        message: impl Into<String>,
        e: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Cause {
            message: message.into(),
            source: Some(Box::new(e)),
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<String> for Cause {
    fn from(message: String) -> Self {
        Cause {
            message,
            source: None,
        }
    }
}

impl From<&str> for Cause {
    fn from(message: &str) -> Self {
        Cause::from(message.to_string())
    }
}
