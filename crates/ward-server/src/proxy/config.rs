//! `[[routes]]`: what the proxy forwards where, and which permission each method needs
//! (SPEC §2.8). Raw serde form and its validated [`Route`].

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::Method;
use serde::{Deserialize, Serialize};
use url::Url;
use ward_core::scope::Permission;

use crate::config::ConfigError;

/// Upstream response headers must arrive within this time unless a route says otherwise.
pub const DEFAULT_TIMEOUT: &str = "30s";

/// ward's own paths: a route may not shadow them (ward's handlers would win anyway, so such a
/// route could never be reached).
const RESERVED_PREFIXES: &[&str] = &[
    "/oauth",
    "/.well-known",
    "/api/auth",
    "/api/profile",
    "/api/tokens",
    "/api/sessions",
    "/api/mfa",
    "/api/security",
    "/api/admin",
    "/api/openapi.json",
    "/login",
    "/logout",
    "/device",
    "/cli-login",
    "/static",
    "/healthz",
    "/readyz",
    "/metrics",
];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub prefix: String,
    /// The HTTP(S) upstream; not set for a `tcp` route.
    #[serde(default)]
    pub upstream: String,
    /// SPEC §2.17: `host:port` of a TCP upstream; the route is then a WebSocket byte tunnel to
    /// it (`websocket` is implied), with the route's permissions and lock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<String>,
    /// Per-method permissions, e.g. `{ GET = "containers:read", POST = "containers:write" }`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub permissions: BTreeMap<String, String>,
    /// One permission for every method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission: Option<String>,
    #[serde(default)]
    pub websocket: bool,
    /// A resource kind (`terminal`, `container`, …): the path segment after the prefix is the
    /// resource id, and a locked resource needs a fresh MFA verification per connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_kind: Option<String>,
    /// How long to wait for the upstream's response headers (then 504). Default 30s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// `https` upstreams: PEM file of the CAs to trust instead of the system's roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// `https` upstreams: PEM client certificate chain, with `key_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<String>,
    /// `https` upstreams: PEM private key of `cert_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<String>,
}

/// `[proxy]`: settings of the proxy and forward-auth as a whole.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RawProxySettings {
    /// Forward-auth for a path that matches no route: `deny` (403) or `allow` (identity only).
    pub unmatched: String,
}

impl Default for RawProxySettings {
    fn default() -> Self {
        RawProxySettings {
            unmatched: "deny".into(),
        }
    }
}

/// What forward-auth does with a path that matches no `[[routes]]` prefix (SPEC §2.12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unmatched {
    /// 403: only paths a route describes pass (the default).
    Deny,
    /// Any valid identity passes.
    Allow,
}

#[derive(Debug, Clone)]
pub struct ProxySettings {
    pub unmatched: Unmatched,
}

impl RawProxySettings {
    pub fn validate(&self) -> Result<ProxySettings, ConfigError> {
        let unmatched = match self.unmatched.as_str() {
            "deny" => Unmatched::Deny,
            "allow" => Unmatched::Allow,
            other => return Err(invalid("proxy.unmatched", other, "deny or allow")),
        };
        Ok(ProxySettings { unmatched })
    }
}

/// Which permission a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MethodPermissions {
    /// `permission = "…"`: the same for every method.
    Any(Permission),
    /// `permissions = { GET = … }`: methods not listed are refused with 405. `HEAD` falls
    /// back to `GET`'s permission.
    PerMethod(BTreeMap<Method, Permission>),
}

/// Outcome of looking up a method's permission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Needed<'a> {
    Permission(&'a Permission),
    /// The route does not accept this method at all.
    MethodNotAllowed,
}

impl MethodPermissions {
    pub fn for_method(&self, method: &Method) -> Needed<'_> {
        match self {
            MethodPermissions::Any(p) => Needed::Permission(p),
            MethodPermissions::PerMethod(map) => {
                let found = map.get(method).or_else(|| {
                    (method == Method::HEAD)
                        .then(|| map.get(&Method::GET))
                        .flatten()
                });
                found.map_or(Needed::MethodNotAllowed, Needed::Permission)
            }
        }
    }

    /// The methods a preflight may announce.
    pub fn allowed_methods(&self) -> Vec<String> {
        match self {
            MethodPermissions::Any(_) => ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            MethodPermissions::PerMethod(map) => map.keys().map(|m| m.to_string()).collect(),
        }
    }
}

/// A validated route.
#[derive(Debug, Clone)]
pub struct Route {
    /// Starts with `/`, no trailing `/` (except the catch-all `/`).
    pub prefix: String,
    /// `http://host:port` plus an optional base path (no trailing `/`), prepended to the
    /// request path. The request path is forwarded whole, prefix included (like nginx's
    /// `proxy_pass` without a URI).
    pub upstream: Url,
    pub permissions: MethodPermissions,
    pub websocket: bool,
    /// `host:port`: a WebSocket byte tunnel to this TCP upstream (SPEC §2.17).
    pub tcp: Option<String>,
    pub lock_kind: Option<String>,
    pub timeout: Duration,
    /// For an `https` upstream: the TLS client configuration (roots, client certificate).
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl Route {
    /// Whether `path` is under this route: the prefix itself or prefix + `/…`.
    pub fn matches(&self, path: &str) -> bool {
        if self.prefix == "/" {
            return path.starts_with('/');
        }
        match path.strip_prefix(self.prefix.as_str()) {
            Some(rest) => rest.is_empty() || rest.starts_with('/'),
            None => false,
        }
    }

    /// For `lock_kind` routes: the path segment right after the prefix.
    pub fn resource_id<'a>(&self, path: &'a str) -> Option<&'a str> {
        let rest = path.strip_prefix(self.prefix.as_str())?;
        rest.trim_start_matches('/')
            .split('/')
            .next()
            .filter(|s| !s.is_empty())
    }
}

/// The longest matching prefix wins.
pub fn find_route<'a>(routes: &'a [Route], path: &str) -> Option<&'a Route> {
    routes
        .iter()
        .filter(|r| r.matches(path))
        .max_by_key(|r| r.prefix.len())
}

fn invalid(key: &str, value: impl ToString, expected: &str) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        value: value.to_string(),
        expected: expected.to_string(),
    }
}

/// Validates `[[routes]]` against the configured resources and `mfa.lock_kinds` (a `lock_kind`
/// outside that list could never be locked, and the lock routes would answer 404 for it).
pub fn validate_routes(
    raw: &[RawRoute],
    resources: &[String],
    lock_kinds: &[String],
) -> Result<Vec<Route>, ConfigError> {
    let mut routes: Vec<Route> = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        let key = format!("routes[{i}]");
        let prefix = validate_prefix(&format!("{key}.prefix"), &r.prefix)?;
        if routes.iter().any(|other| other.prefix == prefix) {
            return Err(invalid(
                &format!("{key}.prefix"),
                &r.prefix,
                "a prefix not used by another route",
            ));
        }
        let upstream = match &r.tcp {
            Some(tcp) => validate_tcp(&format!("{key}.tcp"), tcp, &r.upstream)?,
            None => validate_upstream(&format!("{key}.upstream"), &r.upstream)?,
        };
        let parse = |k: &str, p: &str| {
            Permission::parse(p, resources).ok_or_else(|| {
                invalid(
                    k,
                    p,
                    "resource:action with a configured resource and read|write|delete",
                )
            })
        };
        let permissions = match (&r.permission, r.permissions.is_empty()) {
            (Some(p), true) => MethodPermissions::Any(parse(&format!("{key}.permission"), p)?),
            (None, false) => {
                let mut map = BTreeMap::new();
                for (m, p) in &r.permissions {
                    let k = format!("{key}.permissions.{m}");
                    let method = Method::from_bytes(m.as_bytes())
                        .ok()
                        .filter(|_| {
                            m.bytes().all(|b| b.is_ascii_uppercase()) && m.as_str() != "OPTIONS"
                        })
                        .ok_or_else(|| {
                            invalid(&k, m, "an upper-case HTTP method such as GET or POST")
                        })?;
                    map.insert(method, parse(&k, p)?);
                }
                MethodPermissions::PerMethod(map)
            }
            (Some(_), false) => {
                return Err(invalid(
                    &format!("{key}.permission"),
                    r.permission.clone().unwrap_or_default(),
                    "either permission or permissions, not both",
                ))
            }
            (None, true) => {
                return Err(invalid(
                    &format!("{key}.permissions"),
                    "(none)",
                    "permission = \"resource:action\" or permissions = { GET = \"resource:action\", … }",
                ))
            }
        };
        if let Some(kind) = &r.lock_kind {
            if kind.is_empty()
                || kind.len() > 32
                || !kind
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
            {
                return Err(invalid(
                    &format!("{key}.lock_kind"),
                    kind,
                    "a resource kind of 1 to 32 lowercase letters, digits, '-' or '_' (e.g. terminal)",
                ));
            }
            if !lock_kinds.contains(kind) {
                return Err(invalid(
                    &format!("{key}.lock_kind"),
                    kind,
                    &format!("one of mfa.lock_kinds ({})", lock_kinds.join(", ")),
                ));
            }
        }
        let timeout_text = r.timeout.as_deref().unwrap_or(DEFAULT_TIMEOUT);
        let timeout = humantime::parse_duration(timeout_text)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                invalid(
                    &format!("{key}.timeout"),
                    timeout_text,
                    "a duration such as 500ms or 30s",
                )
            })?;
        let tls = match upstream.scheme() {
            "https" => Some(super::tls::client_config(&super::tls::TlsFiles {
                key: &key,
                ca_file: r.ca_file.as_deref(),
                cert_file: r.cert_file.as_deref(),
                key_file: r.key_file.as_deref(),
            })?),
            _ => {
                let given = [
                    ("ca_file", &r.ca_file),
                    ("cert_file", &r.cert_file),
                    ("key_file", &r.key_file),
                ];
                if let Some((name, Some(value))) = given.into_iter().find(|(_, v)| v.is_some()) {
                    return Err(invalid(
                        &format!("{key}.{name}"),
                        value,
                        "no TLS file: the upstream is http:// (use https:// for TLS)",
                    ));
                }
                None
            }
        };
        routes.push(Route {
            prefix,
            upstream,
            permissions,
            websocket: r.websocket || r.tcp.is_some(),
            tcp: r.tcp.clone(),
            lock_kind: r.lock_kind.clone(),
            timeout,
            tls,
        });
    }
    Ok(routes)
}

fn validate_prefix(key: &str, prefix: &str) -> Result<String, ConfigError> {
    let ok = prefix.starts_with('/')
        && !prefix.contains("//")
        && !prefix.contains("/../")
        && !prefix.ends_with("/..")
        && prefix
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'?' && b != b'#' && b != b'%');
    if !ok {
        return Err(invalid(
            key,
            prefix,
            "a path starting with '/' such as /api/containers (no query, '%', '..' or '//')",
        ));
    }
    let trimmed = if prefix == "/" {
        "/".to_string()
    } else {
        prefix.trim_end_matches('/').to_string()
    };
    let shadowed = RESERVED_PREFIXES.iter().any(|reserved| {
        trimmed == *reserved
            || trimmed.starts_with(&format!("{reserved}/"))
            || reserved.starts_with(&format!("{trimmed}/"))
    });
    if shadowed {
        return Err(invalid(
            key,
            prefix,
            "a prefix that does not overlap ward's own paths (/oauth, /api/auth, /api/tokens, …)",
        ));
    }
    Ok(trimmed)
}

/// `host:port` of a TCP route; its `upstream` must then be unset. The route's `upstream` URL is
/// `tcp://host:port` (only logged).
fn validate_tcp(key: &str, tcp: &str, upstream: &str) -> Result<Url, ConfigError> {
    if !upstream.is_empty() {
        return Err(invalid(
            key,
            tcp,
            "either tcp or upstream on one route, not both",
        ));
    }
    Url::parse(&format!("tcp://{tcp}"))
        .ok()
        .filter(|u| {
            u.host().is_some()
                && u.port().is_some()
                && u.path().is_empty()
                && u.username().is_empty()
                && u.query().is_none()
        })
        .ok_or_else(|| invalid(key, tcp, "host:port, such as 127.0.0.1:22"))
}

fn validate_upstream(key: &str, upstream: &str) -> Result<Url, ConfigError> {
    let mut url = Url::parse(upstream)
        .ok()
        .filter(|u| {
            (u.scheme() == "http" || u.scheme() == "https")
                && u.host().is_some()
                && u.query().is_none()
                && u.fragment().is_none()
                && u.username().is_empty()
                && u.password().is_none()
        })
        .ok_or_else(|| {
            invalid(
                key,
                upstream,
                "an http:// or https:// URL such as http://127.0.0.1:9000 (no query or credentials)",
            )
        })?;
    let path = url.path().trim_end_matches('/').to_string();
    url.set_path(&path);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resources() -> Vec<String> {
        ward_core::scope::DEFAULT_RESOURCES
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    fn raw(prefix: &str) -> RawRoute {
        RawRoute {
            prefix: prefix.into(),
            upstream: "http://127.0.0.1:9000".into(),
            permissions: BTreeMap::new(),
            permission: Some("containers:read".into()),
            websocket: false,
            tcp: None,
            lock_kind: None,
            timeout: None,
            ca_file: None,
            cert_file: None,
            key_file: None,
        }
    }

    fn kinds() -> Vec<String> {
        vec!["terminal".into(), "agent".into()]
    }

    #[test]
    fn longest_prefix_wins_and_segments_matter() {
        let routes = validate_routes(
            &[raw("/api/containers"), raw("/api/containers/admin/")],
            &resources(),
            &kinds(),
        )
        .unwrap();
        assert_eq!(routes[1].prefix, "/api/containers/admin");
        let r = |p: &str| find_route(&routes, p).map(|r| r.prefix.as_str());
        assert_eq!(r("/api/containers"), Some("/api/containers"));
        assert_eq!(r("/api/containers/7"), Some("/api/containers"));
        assert_eq!(r("/api/containers/admin/x"), Some("/api/containers/admin"));
        assert_eq!(r("/api/containersX"), None);
        assert_eq!(
            routes[0].resource_id("/api/containers/abc/logs"),
            Some("abc")
        );
        assert_eq!(routes[0].resource_id("/api/containers"), None);
    }

    #[test]
    fn per_method_permissions() {
        let mut r = raw("/api/x");
        r.permission = None;
        r.permissions.insert("GET".into(), "containers:read".into());
        r.permissions
            .insert("DELETE".into(), "containers:delete".into());
        let routes = validate_routes(&[r], &resources(), &kinds()).unwrap();
        let p = &routes[0].permissions;
        assert!(
            matches!(p.for_method(&Method::HEAD), Needed::Permission(p) if p.to_string() == "containers:read")
        );
        assert_eq!(p.for_method(&Method::POST), Needed::MethodNotAllowed);
    }

    #[test]
    fn bad_routes_name_key_value_and_expectation() {
        let cases: Vec<(RawRoute, &str)> = vec![
            (raw("api"), "routes[0].prefix = \"api\""),
            (raw("/oauth/x"), "routes[0].prefix = \"/oauth/x\""),
            (
                RawRoute {
                    upstream: "ftp://x".into(),
                    ..raw("/a")
                },
                "routes[0].upstream = \"ftp://x\"",
            ),
            (
                RawRoute {
                    ca_file: Some("/etc/ca.pem".into()),
                    ..raw("/a")
                },
                "routes[0].ca_file = \"/etc/ca.pem\": expected no TLS file",
            ),
            (
                RawRoute {
                    upstream: "https://x".into(),
                    ca_file: Some("/nonexistent/ca.pem".into()),
                    ..raw("/a")
                },
                "routes[0].ca_file = \"/nonexistent/ca.pem\"",
            ),
            (
                RawRoute {
                    permission: Some("containers:fly".into()),
                    ..raw("/a")
                },
                "routes[0].permission = \"containers:fly\"",
            ),
            (
                RawRoute {
                    permission: None,
                    ..raw("/a")
                },
                "routes[0].permissions = \"(none)\"",
            ),
            (
                RawRoute {
                    lock_kind: Some("Bad Kind".into()),
                    ..raw("/a")
                },
                "routes[0].lock_kind = \"Bad Kind\"",
            ),
            (
                RawRoute {
                    lock_kind: Some("vm".into()),
                    ..raw("/a")
                },
                "routes[0].lock_kind = \"vm\": expected one of mfa.lock_kinds (terminal, agent)",
            ),
            (
                RawRoute {
                    timeout: Some("soon".into()),
                    ..raw("/a")
                },
                "routes[0].timeout = \"soon\"",
            ),
        ];
        for (route, expected) in cases {
            let msg = validate_routes(&[route], &resources(), &kinds())
                .unwrap_err()
                .to_string();
            assert!(msg.contains(expected), "{msg}");
            assert!(msg.contains("expected"), "{msg}");
        }
    }

    #[test]
    fn spec_example_parses_from_toml() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ward.toml");
        std::fs::write(
            &file,
            r#"
[[routes]]
prefix = "/api/containers"
upstream = "http://127.0.0.1:9000"
permissions = { GET = "containers:read", POST = "containers:write", DELETE = "containers:delete" }

[[routes]]
prefix = "/api/terminal"
upstream = "http://127.0.0.1:9000"
websocket = true
permission = "containers:write"
lock_kind = "terminal"
"#,
        )
        .unwrap();
        let (raw, _) =
            crate::config::load(Some(&file), &crate::config::FlagOverrides::default()).unwrap();
        let config = raw.validate().unwrap();
        assert_eq!(config.routes.len(), 2);
        let c = &config.routes[0];
        assert_eq!(c.upstream.as_str(), "http://127.0.0.1:9000/");
        assert!(matches!(&c.permissions, MethodPermissions::PerMethod(m) if m.len() == 3));
        let t = &config.routes[1];
        assert!(t.websocket);
        assert_eq!(t.lock_kind.as_deref(), Some("terminal"));
        assert_eq!(t.timeout, Duration::from_secs(30));

        std::fs::write(&file, "[[routes]]\nprefix = \"/x\"\nupstream = \"http://h\"\npermision = \"containers:read\"\n").unwrap();
        let err = crate::config::load(Some(&file), &crate::config::FlagOverrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("permision"), "{err}");
    }
}
