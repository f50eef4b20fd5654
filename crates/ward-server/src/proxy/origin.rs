//! Origin checks and CORS (SPEC §2.8). Allowed origins come from `allowed_origins` /
//! `ALLOWED_ORIGINS`; when none are configured they are `public_url` and `http://localhost:*`.
//! ward's own origin (`public_url`) is always allowed: it is not cross-origin.
//!
//! Patterns: an exact origin (`https://app.example.com`), any port (`http://localhost:*`), or
//! any subdomain (`https://*.example.com`, which does not match `example.com` itself).

use axum::http::{header, HeaderMap, HeaderValue, Method};

use crate::state::AppState;

/// What the `Origin` header says about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginVerdict {
    /// No `Origin` header (not a browser's cross-origin request) and empty origins allowed.
    Absent,
    /// An allowed origin; CORS responses name it.
    Allowed(HeaderValue),
    /// Refused: 403 over HTTP, close 1008 over WebSocket. The text is safe to send.
    Refused(&'static str),
}

/// The allowed-origin patterns in force for this server.
pub fn patterns(state: &AppState) -> Vec<String> {
    let own = state.public_url.origin().ascii_serialization();
    let mut list = if state.config.allowed_origins.is_empty() {
        vec!["http://localhost:*".to_string()]
    } else {
        state.config.allowed_origins.clone()
    };
    list.push(own);
    list
}

pub fn check(state: &AppState, headers: &HeaderMap) -> OriginVerdict {
    let Some(value) = headers.get(header::ORIGIN) else {
        return if state.config.block_empty_origin {
            OriginVerdict::Refused("a request without an Origin header is not allowed")
        } else {
            OriginVerdict::Absent
        };
    };
    let Ok(origin) = value.to_str() else {
        return OriginVerdict::Refused("origin not allowed");
    };
    if patterns(state).iter().any(|p| origin_matches(p, origin)) {
        OriginVerdict::Allowed(value.clone())
    } else {
        OriginVerdict::Refused("origin not allowed")
    }
}

/// Whether `origin` (as a browser sends it: `scheme://host[:port]`) matches `pattern`.
pub fn origin_matches(pattern: &str, origin: &str) -> bool {
    let pattern = pattern.trim().trim_end_matches('/');
    let origin = origin.trim();
    if origin.eq_ignore_ascii_case(pattern) {
        return true;
    }
    let Some((o_scheme, o_rest)) = origin.split_once("://") else {
        return false;
    };
    let Some((p_scheme, p_rest)) = pattern.split_once("://") else {
        return false;
    };
    if !o_scheme.eq_ignore_ascii_case(p_scheme) {
        return false;
    }
    let (o_host, o_port) = split_port(o_rest);
    let (p_host, p_port) = split_port(p_rest);
    let port_ok = match p_port {
        Some("*") => o_port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())),
        other => other == o_port,
    };
    let host_ok = match p_host.strip_prefix("*.") {
        Some(suffix) => {
            let o_host = o_host.to_ascii_lowercase();
            let dotted = format!(".{}", suffix.to_ascii_lowercase());
            o_host.len() > dotted.len() && o_host.ends_with(&dotted)
        }
        None => o_host.eq_ignore_ascii_case(p_host),
    };
    port_ok && host_ok
}

/// `host:port` → (`host`, `Some(port)`), aware of `[v6]` literals.
fn split_port(authority: &str) -> (&str, Option<&str>) {
    if authority.starts_with('[') {
        return match authority.find("]:") {
            Some(i) => (&authority[..=i], authority.get(i + 2..)),
            None => (authority, None),
        };
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    }
}

/// Whether this is a CORS preflight (`OPTIONS` with `Access-Control-Request-Method`).
pub fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::OPTIONS
        && headers.contains_key(header::ORIGIN)
        && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// Adds the CORS headers of an actual (non-preflight) response for an allowed origin.
pub fn add_cors_headers(headers: &mut HeaderMap, origin: &HeaderValue) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
}

#[cfg(test)]
mod tests {
    use super::origin_matches;

    #[test]
    fn patterns() {
        assert!(origin_matches(
            "http://localhost:*",
            "http://localhost:3000"
        ));
        assert!(origin_matches("http://localhost:*", "http://localhost"));
        assert!(!origin_matches(
            "http://localhost:*",
            "http://localhost.evil.com:3000"
        ));
        assert!(!origin_matches(
            "http://localhost:*",
            "https://localhost:3000"
        ));
        assert!(origin_matches(
            "https://app.example.com",
            "https://app.example.com"
        ));
        assert!(origin_matches(
            "https://app.example.com/",
            "https://APP.example.com"
        ));
        assert!(!origin_matches(
            "https://app.example.com",
            "https://app.example.com:8443"
        ));
        assert!(origin_matches(
            "https://*.example.com",
            "https://a.b.example.com"
        ));
        assert!(!origin_matches(
            "https://*.example.com",
            "https://example.com"
        ));
        assert!(!origin_matches(
            "https://*.example.com",
            "https://evilexample.com"
        ));
        assert!(!origin_matches("https://app.example.com", "null"));
        assert!(origin_matches("http://[::1]:*", "http://[::1]:8080"));
    }
}
