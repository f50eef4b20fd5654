//! Dynamic client registration (RFC 7591, SPEC §2.15): which metadata a self-registered client
//! may have, and the redirect rule for such clients. A registered client is untrusted by
//! construction: it only ever gets the code flow, within `[registration] max_scopes`, and always
//! behind a consent page that names it as unverified.

use url::{Host, Url};
use ward_proto::registration::ClientMetadata;

use crate::clock::Timestamp;
use crate::scope::{is_oidc_scope, ScopeSet};

/// The prefix of every registered client's id, so neither an operator nor ward's lookup can
/// mistake one for a configured client.
pub const REGISTERED_CLIENT_PREFIX: &str = "reg_";

/// A client stored by `POST /oauth/register`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredClient {
    pub client_id: String,
    /// SHA-256 of the secret of a confidential client; `None` for a public one.
    pub secret_hash: Option<String>,
    pub client_name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    /// What it may ask for: its requested scope, within `max_scopes` at registration time.
    pub scopes: Vec<String>,
    /// `none`, `client_secret_basic` or `client_secret_post`.
    pub token_endpoint_auth_method: String,
    pub created_at: Timestamp,
    /// The address it registered from.
    pub registered_ip: Option<String>,
    /// The initial access token it registered with (`mode = "token"`).
    pub registration_token_id: Option<String>,
}

/// An initial access token (RFC 7591 §3), kept by its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationToken {
    pub id: String,
    pub token_hash: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// The admin who made it.
    pub created_by: Option<String>,
    pub single_use: bool,
}

/// The grant types a registered client may list (decision 217: no `client_credentials`).
pub const REGISTRABLE_GRANTS: [&str; 2] = ["authorization_code", "refresh_token"];
/// Token endpoint authentication methods a registered client may choose.
pub const AUTH_METHODS: [&str; 3] = ["none", "client_secret_basic", "client_secret_post"];
const MAX_REDIRECT_URIS: usize = 10;
const MAX_URI_LEN: usize = 2000;
const MAX_NAME_CHARS: usize = 100;

/// Why metadata was refused: RFC 7591 §3.2.2's two error codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataError {
    /// `invalid_redirect_uri`.
    RedirectUri(String),
    /// `invalid_client_metadata`.
    Metadata(String),
}

impl MetadataError {
    pub fn code(&self) -> &'static str {
        match self {
            MetadataError::RedirectUri(_) => "invalid_redirect_uri",
            MetadataError::Metadata(_) => "invalid_client_metadata",
        }
    }

    pub fn description(&self) -> &str {
        match self {
            MetadataError::RedirectUri(d) | MetadataError::Metadata(d) => d,
        }
    }
}

/// Metadata that passed [`validate`], with the defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidMetadata {
    pub client_name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub token_endpoint_auth_method: String,
}

impl ValidMetadata {
    pub fn is_public(&self) -> bool {
        self.token_endpoint_auth_method == "none"
    }
}

/// Checks a registration request against RFC 7591 and ward's limits: redirect URIs
/// ([`redirect_uri_problem`]), `response_types` only `code`, `grant_types` within
/// [`REGISTRABLE_GRANTS`] and including `authorization_code`, a known authentication method, a
/// short printable name, and every asked-for scope within `max_scopes` (decision 216: refused,
/// not dropped). Without `scope`, the client gets all of `max_scopes`.
///
/// # Errors
/// The first problem found, with the RFC 7591 §3.2.2 code it answers.
pub fn validate(
    meta: &ClientMetadata,
    max_scopes: &[String],
) -> Result<ValidMetadata, MetadataError> {
    let bad = |d: String| Err(MetadataError::Metadata(d));
    let redirect_uris = match &meta.redirect_uris {
        Some(uris) if !uris.is_empty() => uris.clone(),
        _ => {
            return Err(MetadataError::RedirectUri(
                "redirect_uris is required: the authorization code flow needs at least one".into(),
            ))
        }
    };
    if redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err(MetadataError::RedirectUri(format!(
            "at most {MAX_REDIRECT_URIS} redirect_uris"
        )));
    }
    for uri in &redirect_uris {
        if let Some(problem) = redirect_uri_problem(uri) {
            return Err(MetadataError::RedirectUri(format!("{uri}: {problem}")));
        }
    }
    if let Some(types) = &meta.response_types {
        if let Some(other) = types.iter().find(|t| *t != "code") {
            return bad(format!(
                "response_types may only hold \"code\", not {other:?}"
            ));
        }
    }
    let grant_types = meta
        .grant_types
        .clone()
        .unwrap_or_else(|| vec!["authorization_code".to_string()]);
    if let Some(other) = grant_types
        .iter()
        .find(|g| !REGISTRABLE_GRANTS.contains(&g.as_str()))
    {
        return bad(format!(
            "grant_type {other:?} is not available to registered clients: use authorization_code and refresh_token"
        ));
    }
    if !grant_types.iter().any(|g| g == "authorization_code") {
        return bad("grant_types must include authorization_code".into());
    }
    let method = meta
        .token_endpoint_auth_method
        .clone()
        .unwrap_or_else(|| "client_secret_basic".to_string());
    if !AUTH_METHODS.contains(&method.as_str()) {
        return bad(format!(
            "token_endpoint_auth_method {method:?} is not supported: use none, client_secret_basic or client_secret_post"
        ));
    }
    let client_name = match meta.client_name.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(n) if n.chars().count() > MAX_NAME_CHARS || n.chars().any(char::is_control) => {
            return bad(format!(
                "client_name must be at most {MAX_NAME_CHARS} printable characters"
            ))
        }
        Some(n) => Some(n.to_string()),
    };
    let scopes: Vec<String> = match meta.scope.as_deref() {
        None => max_scopes.to_vec(),
        Some(s) => {
            let asked = ScopeSet::parse(s);
            if let Some(outside) = asked.first_rejected(|s| max_scopes.iter().any(|m| m == s)) {
                return bad(format!(
                    "scope {outside} is not available to registered clients (allowed: {})",
                    max_scopes.join(" ")
                ));
            }
            asked.iter().map(str::to_string).collect()
        }
    };
    Ok(ValidMetadata {
        client_name,
        redirect_uris,
        grant_types: dedup(grant_types),
        scopes,
        token_endpoint_auth_method: method,
    })
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    let mut seen = Vec::new();
    v.retain(|x| {
        let new = !seen.contains(x);
        if new {
            seen.push(x.clone());
        }
        new
    });
    v
}

/// Why `uri` cannot be a registered client's redirect URI, or `None`: an absolute `https` URL
/// with a host, or `http` on the loopback addresses `127.0.0.1` and `[::1]` (RFC 8252 §7.3; the
/// name `localhost` is refused, §8.3); no fragment (RFC 6749 §3.1.2), no user info.
pub fn redirect_uri_problem(uri: &str) -> Option<&'static str> {
    if uri.len() > MAX_URI_LEN {
        return Some("too long");
    }
    let Ok(url) = Url::parse(uri) else {
        return Some("not an absolute URL");
    };
    if url.fragment().is_some() {
        return Some("a redirect URI must not have a fragment");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Some("a redirect URI must not carry user info");
    }
    match url.scheme() {
        "https" if url.host().is_some() => None,
        "http" if is_loopback_ip(&url) => None,
        "http" => Some("http is allowed only on 127.0.0.1 or [::1] (RFC 8252); use https"),
        _ => Some("use https (or http on a loopback address)"),
    }
}

fn is_loopback_ip(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    }
}

/// Whether `requested` may be used as a registered client's redirect: exactly a registered
/// one, or, for a registered loopback URI, the same URI on any port (RFC 8252 §7.3: a native
/// app's port is chosen when it runs).
pub fn redirect_allowed(requested: &str, registered: &[String]) -> bool {
    if registered.iter().any(|r| r == requested) {
        return true;
    }
    let Ok(asked) = Url::parse(requested) else {
        return false;
    };
    if asked.scheme() != "http" || !is_loopback_ip(&asked) || asked.fragment().is_some() {
        return false;
    }
    registered
        .iter()
        .filter_map(|r| Url::parse(r).ok())
        .any(|r| {
            r.scheme() == "http"
                && is_loopback_ip(&r)
                && r.host() == asked.host()
                && r.path() == asked.path()
                && r.query() == asked.query()
                && asked.username().is_empty()
                && asked.password().is_none()
        })
}

/// Whether every entry of `max_scopes` is an OIDC scope or a known permission (checked at
/// start-up); the first that is not.
pub fn first_unknown_scope(
    max_scopes: &[String],
    is_permission: impl Fn(&str) -> bool,
) -> Option<&str> {
    max_scopes
        .iter()
        .map(String::as_str)
        .find(|s| !is_oidc_scope(s) && !is_permission(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(uris: &[&str]) -> ClientMetadata {
        ClientMetadata {
            redirect_uris: Some(uris.iter().map(|s| s.to_string()).collect()),
            ..ClientMetadata::default()
        }
    }

    fn max() -> Vec<String> {
        vec![
            "openid".into(),
            "offline_access".into(),
            "containers:read".into(),
        ]
    }

    #[test]
    fn redirect_uris() {
        for ok in [
            "https://app.example.com/cb",
            "https://app.example.com/cb?x=1",
            "http://127.0.0.1:8765/callback",
            "http://[::1]/cb",
        ] {
            assert_eq!(redirect_uri_problem(ok), None, "{ok}");
        }
        for bad in [
            "http://app.example.com/cb",
            "http://localhost:8080/cb",
            "https://app.example.com/cb#frag",
            "https://user:pw@app.example.com/cb",
            "javascript:alert(1)",
            "/relative",
            "com.example.app:/cb",
        ] {
            assert!(redirect_uri_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn loopback_any_port() {
        let reg = vec!["http://127.0.0.1:1234/cb".to_string()];
        assert!(redirect_allowed("http://127.0.0.1:1234/cb", &reg));
        assert!(redirect_allowed("http://127.0.0.1:5555/cb", &reg));
        assert!(!redirect_allowed("http://127.0.0.1:5555/other", &reg));
        assert!(!redirect_allowed("http://[::1]:5555/cb", &reg));
        let https = vec!["https://app.example.com/cb".to_string()];
        assert!(!redirect_allowed("https://app.example.com:444/cb", &https));
    }

    #[test]
    fn defaults_and_caps() {
        let v = validate(&meta(&["https://a.example/cb"]), &max()).unwrap();
        assert_eq!(v.grant_types, vec!["authorization_code"]);
        assert_eq!(v.token_endpoint_auth_method, "client_secret_basic");
        assert_eq!(v.scopes, max());
        let mut m = meta(&["https://a.example/cb"]);
        m.scope = Some("openid containers:write".into());
        let e = validate(&m, &max()).unwrap_err();
        assert_eq!(e.code(), "invalid_client_metadata");
        assert!(e.description().contains("containers:write"));
        m.scope = Some("openid containers:read".into());
        assert_eq!(validate(&m, &max()).unwrap().scopes.len(), 2);
    }

    #[test]
    fn refusals() {
        let e = validate(&ClientMetadata::default(), &max()).unwrap_err();
        assert_eq!(e.code(), "invalid_redirect_uri");
        let mut m = meta(&["https://a.example/cb"]);
        m.grant_types = Some(vec!["client_credentials".into()]);
        assert_eq!(
            validate(&m, &max()).unwrap_err().code(),
            "invalid_client_metadata"
        );
        m.grant_types = Some(vec!["refresh_token".into()]);
        assert!(validate(&m, &max()).is_err());
        m.grant_types = None;
        m.token_endpoint_auth_method = Some("private_key_jwt".into());
        assert!(validate(&m, &max()).is_err());
        m.token_endpoint_auth_method = None;
        m.response_types = Some(vec!["token".into()]);
        assert!(validate(&m, &max()).is_err());
        m.response_types = None;
        m.client_name = Some("a\nb".into());
        assert!(validate(&m, &max()).is_err());
    }
}
