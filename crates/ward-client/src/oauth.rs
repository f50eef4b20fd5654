//! The OAuth 2.0 / OIDC wire side: discovery, the token endpoint and its RFC 6749 §5.2 errors,
//! and the few ward API bodies the client reads. (Wire types live here rather than in ward-proto
//! so the client builds on its own; they mirror the server's.)

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{network_error, Error, Kind, Result};
use crate::Secret;

/// OIDC discovery document (the fields the client uses).
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    /// `issuer`.
    #[serde(default)]
    pub issuer: Option<String>,
    /// `authorization_endpoint`.
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    /// `token_endpoint`.
    pub token_endpoint: String,
    /// `device_authorization_endpoint`; absent when the server switched the device flow off.
    #[serde(default)]
    pub device_authorization_endpoint: Option<String>,
    /// `revocation_endpoint`.
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
    /// `userinfo_endpoint`.
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    /// RFC 9207: the server puts `iss` in authorization responses.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
    /// RFC 9449 §5.1: the server binds tokens to a DPoP key with these algorithms.
    #[serde(default)]
    pub dpop_signing_alg_values_supported: Vec<String>,
    /// ward: whether `ward token` may print a plain bearer of a DPoP-bound session.
    #[serde(default)]
    pub ward_cli_bearer: bool,
    /// ward: where `--auth-flow password` sends the typed password (decision 164); absent
    /// when the server does not allow it.
    #[serde(default)]
    pub ward_terminal_sign_in_endpoint: Option<String>,
}

/// RFC 6749 §5.1 token response.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: Secret,
    /// `Bearer`.
    #[serde(default)]
    pub token_type: Option<String>,
    /// Seconds until the access token expires.
    #[serde(default)]
    pub expires_in: Option<u64>,
    /// The (rotated) refresh token.
    #[serde(default)]
    pub refresh_token: Option<Secret>,
    /// Granted scopes.
    #[serde(default)]
    pub scope: Option<String>,
    /// OIDC ID token.
    #[serde(default)]
    pub id_token: Option<Secret>,
}

/// RFC 6749 §5.2 error body (also ward's API error body).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct OAuthErrorBody {
    /// Machine-readable code.
    #[serde(default)]
    pub error: String,
    /// Human text.
    #[serde(default)]
    pub error_description: Option<String>,
}

impl OAuthErrorBody {
    pub(crate) fn text(&self) -> String {
        match &self.error_description {
            Some(d) if !d.is_empty() => format!("{} ({})", d, self.error),
            _ => self.error.clone(),
        }
    }
}

/// RFC 8628 §3.2 device authorization response.
#[derive(Debug, Clone, Deserialize)]
pub struct DeviceAuthorization {
    /// Secret code the client polls with.
    pub device_code: Secret,
    /// Code the user types.
    pub user_code: String,
    /// Where to type it.
    pub verification_uri: String,
    /// The same, with the code filled in.
    #[serde(default)]
    pub verification_uri_complete: Option<String>,
    /// Lifetime in seconds.
    pub expires_in: u64,
    /// Minimum polling interval in seconds (default 5).
    #[serde(default)]
    pub interval: Option<u64>,
}

/// `GET /api/profile`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct UserProfile {
    /// User id.
    #[serde(default)]
    pub id: String,
    /// Email.
    #[serde(default)]
    pub email: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Roles.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Effective permissions.
    #[serde(default)]
    pub permissions: Vec<String>,
    /// MFA state.
    #[serde(default)]
    pub mfa: Option<MfaInfo>,
    /// The session behind the token (`None` for API tokens).
    #[serde(default)]
    pub session: Option<SessionInfo>,
    /// Guest session.
    #[serde(default)]
    pub guest: bool,
    /// Role limits.
    #[serde(default)]
    pub limits: serde_json::Value,
}

/// MFA part of [`UserProfile`].
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct MfaInfo {
    /// Enrolled.
    #[serde(default)]
    pub enabled: bool,
    /// `totp`, `webauthn`, …
    #[serde(default)]
    pub methods: Vec<String>,
}

/// Session part of [`UserProfile`].
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct SessionInfo {
    /// Session id.
    #[serde(default)]
    pub id: String,
    /// `cli`, `web`, `api`, `guest`.
    #[serde(default)]
    pub channel: Option<String>,
    /// RFC 3339 UTC.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// Whether MFA was passed.
    #[serde(default)]
    pub mfa_verified: Option<bool>,
}

/// `GET /api/tokens/validate`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct TokenValidation {
    /// Owner.
    #[serde(default)]
    pub user_id: String,
    /// Owner's email.
    #[serde(default)]
    pub email: String,
    /// Scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Expiry (RFC 3339) or null.
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// A failed token-endpoint call: either an OAuth error code or something else.
#[derive(Debug)]
pub(crate) enum TokenError {
    OAuth(OAuthErrorBody),
    Other(Error),
}

/// Joins a relative path (`cli-login`, `api/profile`) to the server's base URL, keeping any path
/// prefix the base has.
pub(crate) fn endpoint(base: &Url, path: &str) -> Result<Url> {
    let mut b = base.clone();
    if !b.path().ends_with('/') {
        let p = format!("{}/", b.path());
        b.set_path(&p);
    }
    b.set_query(None);
    b.set_fragment(None);
    b.join(path.trim_start_matches('/'))
        .map_err(|e| Error::new(Kind::Usage, format!("bad URL {base}: {e}")))
}

/// Parses and checks a server URL given by the user.
///
/// # Errors
/// A usage error when it is not an absolute http(s) URL.
pub fn parse_server_url(s: &str) -> Result<Url> {
    let s = s.trim();
    let u = if s.contains("://") {
        Url::parse(s)
    } else {
        // No scheme: plain HTTP for this machine (a local server rarely has a certificate),
        // HTTPS for anything else.
        Url::parse(&format!("http://{s}")).and_then(|u| {
            if is_loopback_url(&u) {
                Ok(u)
            } else {
                Url::parse(&format!("https://{s}"))
            }
        })
    }
    .map_err(|e| Error::usage(format!("invalid server URL {s:?}: {e}")))?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        return Err(Error::usage(format!(
            "invalid server URL {s:?}: expected http(s)://host[:port]"
        )));
    }
    Ok(u)
}

/// Whether `u`'s host is this machine: `localhost` (and `*.localhost`), `127.0.0.0/8`, `::1`.
pub fn is_loopback_url(u: &Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

pub(crate) async fn discover(http: &reqwest::Client, base: &Url) -> Result<Discovery> {
    let url = endpoint(base, ".well-known/openid-configuration")?;
    let resp = http
        .get(url.clone())
        .send()
        .await
        .map_err(|e| network_error(base.as_str(), e))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(Error::new(
            Kind::Server,
            format!("{base} does not look like a ward server (discovery answered {status})"),
        )
        .with_hint("Check the URL"));
    }
    resp.json::<Discovery>().await.map_err(|e| {
        Error::new(
            Kind::Protocol,
            format!("{base} sent a malformed discovery document: {e}"),
        )
    })
}

/// POSTs a form to the token endpoint (or the device authorization endpoint) and decodes `T`.
pub(crate) async fn post_form<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
) -> std::result::Result<T, TokenError> {
    post_form_signed(http, url, form, None).await
}

/// [`post_form`] with a DPoP proof made with `dpop`'s key at its time (RFC 9449 §5). A
/// `use_dpop_nonce` answer is retried once with the server's `DPoP-Nonce` (§8).
pub(crate) async fn post_form_signed<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
    dpop: Option<(&crate::dpop::DpopKey, u64)>,
) -> std::result::Result<T, TokenError> {
    let mut nonce: Option<String> = None;
    loop {
        let mut request = http.post(url).form(form);
        if let Some((key, now)) = dpop {
            let target = Url::parse(url).map_err(|e| {
                TokenError::Other(Error::new(Kind::Protocol, format!("bad URL {url}: {e}")))
            })?;
            let proof = key
                .proof("POST", &target, None, nonce.as_deref(), now)
                .map_err(|e| TokenError::Other(Error::new(Kind::Protocol, e.to_string())))?;
            request = request.header("DPoP", proof);
        }
        let resp = request
            .send()
            .await
            .map_err(|e| TokenError::Other(network_error(url, e)))?;
        let status = resp.status();
        let server_nonce = resp
            .headers()
            .get("dpop-nonce")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| TokenError::Other(network_error(url, e)))?;
        if !status.is_success() && dpop.is_some() && nonce.is_none() && server_nonce.is_some() {
            if let Ok(body) = serde_json::from_slice::<OAuthErrorBody>(&bytes) {
                if body.error == "use_dpop_nonce" {
                    nonce = server_nonce;
                    continue;
                }
            }
        }
        return decode_token_answer(url, status, &bytes);
    }
}

/// Decodes an answer of the token endpoint or of a ward API that answers in its error shape
/// (RFC 6749 §5.2): `T` on success, the error body, or another error.
pub(crate) fn decode_token_answer<T: serde::de::DeserializeOwned>(
    url: &str,
    status: reqwest::StatusCode,
    bytes: &[u8],
) -> std::result::Result<T, TokenError> {
    if status.is_success() {
        return serde_json::from_slice(bytes).map_err(|e| {
            TokenError::Other(Error::new(
                Kind::Protocol,
                format!("malformed response from {url}: {e}"),
            ))
        });
    }
    match serde_json::from_slice::<OAuthErrorBody>(bytes) {
        Ok(body) if !body.error.is_empty() => Err(TokenError::OAuth(body)),
        _ => Err(TokenError::Other(Error::new(
            Kind::Server,
            format!("{url} answered {status}"),
        ))),
    }
}

/// A token error mapped to the library's error, for grants other than device polling.
pub(crate) fn token_error(e: TokenError, what: &str) -> Error {
    match e {
        TokenError::Other(e) => e,
        TokenError::OAuth(b) => match b.error.as_str() {
            "invalid_grant" => Error::new(
                Kind::SessionExpired,
                format!("{what} was rejected: {}", b.text()),
            ),
            "access_denied" => Error::new(Kind::AccessDenied, format!("{what}: {}", b.text())),
            _ => Error::new(Kind::Server, format!("{what} failed: {}", b.text())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_keeps_prefix() {
        let b = Url::parse("https://x.example/ward").unwrap();
        assert_eq!(
            endpoint(&b, "/cli-login").unwrap().as_str(),
            "https://x.example/ward/cli-login"
        );
        let b = Url::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            endpoint(&b, "api/profile").unwrap().as_str(),
            "http://127.0.0.1:8080/api/profile"
        );
    }

    #[test]
    fn server_url_parsing() {
        assert_eq!(
            parse_server_url("ward.example.com").unwrap().as_str(),
            "https://ward.example.com/"
        );
        assert!(parse_server_url("ftp://x").unwrap_err().is_usage());
        // Without a scheme, loopback addresses get http://, everything else https://.
        for (given, want) in [
            ("127.0.0.1:8080", "http://127.0.0.1:8080/"),
            ("localhost:8080", "http://localhost:8080/"),
            ("LOCALHOST", "http://localhost/"),
            ("app.localhost:3000", "http://app.localhost:3000/"),
            ("127.1.2.3", "http://127.1.2.3/"),
            ("[::1]:8080", "http://[::1]:8080/"),
            ("10.0.0.1:8080", "https://10.0.0.1:8080/"),
            ("localhost.example.com", "https://localhost.example.com/"),
            ("https://127.0.0.1:8080", "https://127.0.0.1:8080/"),
        ] {
            assert_eq!(parse_server_url(given).unwrap().as_str(), want, "{given}");
        }
        assert!(parse_server_url("http://").is_err());
    }
}
