//! The library's one error type: opaque, with `is_*()` predicates and an optional hint for the
//! user (hyper-style), so callers branch on meaning rather than on message text.

use std::fmt;

/// What went wrong, in categories a caller can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    NotSignedIn,
    SessionExpired,
    AccessDenied,
    Timeout,
    Network,
    Server,
    Config,
    Keyring,
    Usage,
    DeviceFlowDisabled,
    Bind,
    InvalidToken,
    Io,
    Protocol,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An error from ward-client. Its `Display` is one line meant for users; [`Error::hint`] may add
/// what to do next.
#[derive(thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: Kind,
    message: String,
    hint: Option<String>,
    #[source]
    source: Option<BoxError>,
}

/// `Result` with ward-client's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind).field("message", &self.message);
        if let Some(h) = &self.hint {
            d.field("hint", h);
        }
        if let Some(s) = &self.source {
            d.field("source", s);
        }
        d.finish()
    }
}

impl Error {
    pub(crate) fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            hint: None,
            source: None,
        }
    }

    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub(crate) fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// A usage error made by the caller (bad argument, missing URL): the CLI exits 2.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Kind::Usage, message)
    }

    /// What the user typed could not be read (for a [`crate::TerminalPrompt`]).
    pub fn input(message: impl Into<String>) -> Self {
        Self::new(Kind::Io, message)
    }

    /// A suggestion for the user, e.g. `Please run: ward login default https://…`.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// The message including every source, for verbose output.
    pub fn chain(&self) -> String {
        let mut out = self.message.clone();
        let mut cur: Option<&(dyn std::error::Error + 'static)> = self
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static));
        while let Some(e) = cur {
            out.push_str(": ");
            out.push_str(&e.to_string());
            cur = e.source();
        }
        out
    }

    /// No credentials are stored for the profile, or the profile does not exist.
    pub fn is_not_signed_in(&self) -> bool {
        self.kind == Kind::NotSignedIn
    }
    /// The server no longer accepts the stored session (expired, revoked, refresh rejected).
    pub fn is_session_expired(&self) -> bool {
        self.kind == Kind::SessionExpired
    }
    /// The user (or the server) refused the sign-in.
    pub fn is_access_denied(&self) -> bool {
        self.kind == Kind::AccessDenied
    }
    /// A flow waited longer than allowed (loopback callback, device code, file lock).
    pub fn is_timeout(&self) -> bool {
        self.kind == Kind::Timeout
    }
    /// The server could not be reached.
    pub fn is_network(&self) -> bool {
        self.kind == Kind::Network
    }
    /// The server answered with something unexpected (5xx, malformed body).
    pub fn is_server(&self) -> bool {
        matches!(self.kind, Kind::Server | Kind::Protocol)
    }
    /// The local configuration file is unreadable or corrupt.
    pub fn is_config(&self) -> bool {
        self.kind == Kind::Config
    }
    /// The OS keyring did not answer or refused.
    pub fn is_keyring(&self) -> bool {
        self.kind == Kind::Keyring
    }
    /// The caller passed bad arguments.
    pub fn is_usage(&self) -> bool {
        self.kind == Kind::Usage
    }
    /// The server has switched the device authorization grant off.
    pub fn is_device_flow_disabled(&self) -> bool {
        self.kind == Kind::DeviceFlowDisabled
    }
    /// The loopback callback server could not listen.
    pub fn is_bind(&self) -> bool {
        self.kind == Kind::Bind
    }
    /// A token (API token, pasted URL, code) was rejected as invalid.
    pub fn is_invalid_token(&self) -> bool {
        self.kind == Kind::InvalidToken
    }
    /// A local file operation failed.
    pub fn is_io(&self) -> bool {
        self.kind == Kind::Io
    }
}

pub(crate) fn io_error(what: impl fmt::Display, e: std::io::Error) -> Error {
    Error::new(Kind::Io, format!("{what}: {e}")).with_source(e)
}

pub(crate) fn network_error(url: &str, e: reqwest::Error) -> Error {
    if e.is_timeout() {
        return Error::new(Kind::Network, format!("request to {url} timed out")).with_source(e);
    }
    let (why, hint) = match classify(&e) {
        Failure::Refused => (
            ": connection refused (nothing listens on that port)",
            "Check that the server is running and the port is right".to_owned(),
        ),
        Failure::Dns => (
            ": the host name does not resolve",
            "Check the host name, your DNS, and HTTPS_PROXY/NO_PROXY".to_owned(),
        ),
        Failure::Tls => (": the TLS handshake failed", tls_hint(url)),
        Failure::Other => (
            "",
            "Check the URL, your network, and HTTPS_PROXY/NO_PROXY/WARD_CA_FILE".to_owned(),
        ),
    };
    Error::new(Kind::Network, format!("cannot reach {url}{why}"))
        .with_hint(hint)
        .with_source(e)
}

/// Why a connection failed, as far as the error chain tells.
#[derive(Debug, PartialEq, Eq)]
enum Failure {
    Refused,
    Dns,
    Tls,
    Other,
}

fn classify(e: &reqwest::Error) -> Failure {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut text = String::new();
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return Failure::Refused;
            }
        }
        text.push_str(&err.to_string().to_ascii_lowercase());
        text.push('\n');
        cur = err.source();
    }
    if text.contains("connection refused") {
        Failure::Refused
    } else if text.contains("dns error") || text.contains("failed to lookup address") {
        Failure::Dns
    } else if [
        "tls",
        "certificate",
        "handshake",
        "corrupt message",
        "invalidcontenttype",
    ]
    .iter()
    .any(|w| text.contains(w))
    {
        Failure::Tls
    } else {
        Failure::Other
    }
}

fn tls_hint(url: &str) -> String {
    let loopback = url::Url::parse(url)
        .ok()
        .filter(crate::oauth::is_loopback_url)
        .filter(|u| u.scheme() == "https");
    match loopback {
        Some(mut u) => {
            let _ = u.set_scheme("http");
            format!(
                "A server on this machine usually speaks plain HTTP: try {}",
                u.as_str().trim_end_matches('/')
            )
        }
        None => "Check the server's certificate, or point WARD_CA_FILE at its CA bundle".to_owned(),
    }
}
