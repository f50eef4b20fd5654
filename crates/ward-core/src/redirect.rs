//! Redirect URI matching. RFC 8252 §7.3: the CLI's loopback redirect may use any port; every
//! other redirect URI must equal a registered one exactly (RFC 9700 §4.1.3).

use url::{Host, Url};

/// Whether `requested` is an allowed redirect for a client with `registered` URIs.
/// `loopback_any_port` is set for native public clients such as `ward-cli`.
pub fn redirect_allowed(requested: &str, registered: &[String], loopback_any_port: bool) -> bool {
    if registered.iter().any(|r| r == requested) {
        return true;
    }
    loopback_any_port && is_loopback_callback(requested)
}

/// `http://127.0.0.1:<port>/callback` or `http://[::1]:<port>/callback`, nothing more: no user
/// info, no query, no fragment, and never the name `localhost` (RFC 8252 §8.3).
pub fn is_loopback_callback(uri: &str) -> bool {
    let Ok(url) = Url::parse(uri) else {
        return false;
    };
    let loopback_host = match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback() && ip.octets() == [127, 0, 0, 1],
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    };
    url.scheme() == "http"
        && loopback_host
        && url.port().is_some()
        && url.path() == "/callback"
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_rules() {
        assert!(is_loopback_callback("http://127.0.0.1:9876/callback"));
        assert!(is_loopback_callback("http://127.0.0.1:51234/callback"));
        assert!(is_loopback_callback("http://[::1]:9876/callback"));
        assert!(!is_loopback_callback("http://localhost:9876/callback"));
        assert!(!is_loopback_callback("https://127.0.0.1:9876/callback"));
        assert!(!is_loopback_callback("http://127.0.0.1/callback"));
        assert!(!is_loopback_callback("http://127.0.0.1:9876/other"));
        assert!(!is_loopback_callback("http://127.0.0.1:9876/callback?x=1"));
        assert!(!is_loopback_callback(
            "http://127.0.0.1.evil.com:9876/callback"
        ));
        assert!(!is_loopback_callback("http://user@127.0.0.1:9876/callback"));
        assert!(!is_loopback_callback("http://127.0.0.2:9876/callback"));
    }

    #[test]
    fn exact_match_for_others() {
        let reg = vec!["https://app.example.com/callback".to_string()];
        assert!(redirect_allowed(
            "https://app.example.com/callback",
            &reg,
            false
        ));
        assert!(!redirect_allowed(
            "https://app.example.com/callback/",
            &reg,
            false
        ));
        assert!(!redirect_allowed(
            "https://app.example.com/callback?a=b",
            &reg,
            false
        ));
        assert!(!redirect_allowed(
            "http://127.0.0.1:9876/callback",
            &reg,
            false
        ));
        assert!(redirect_allowed(
            "http://127.0.0.1:9876/callback",
            &[],
            true
        ));
    }
}
