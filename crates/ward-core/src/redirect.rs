//! Redirect URI matching. RFC 8252 §7.3: the CLI's loopback redirect may use any port; every
//! other redirect URI must equal a registered one exactly (RFC 9700 §4.1.3).

use url::{Host, Url};

/// Where a browser goes after signing in when it asked for nothing usable.
pub const DEFAULT_AFTER_SIGN_IN: &str = "/account";

/// SPEC §2.12: whether `target` is a same-origin path a browser may be sent to after signing in:
/// one leading `/`, no second `/` or `\` right after it, no control character or whitespace in
/// the path (the query is not where the browser goes), and the same again after percent-decoding (browsers strip a tab or newline from a URL, so
/// `/\t/evil.example` would become `//evil.example`, and some servers decode `%2F` before
/// redirecting again). Only printable ASCII is accepted as written (a `Location` header carries
/// no other byte); other characters must come percent-encoded.
pub fn is_local_path(target: &str) -> bool {
    // The path (what comes before `?` or `#`) decides where the browser goes; the query is
    // passed along as written, so a decoded space in it (`scope=openid%20email`) is harmless.
    fn path_of(s: &str) -> &str {
        s.split(['?', '#']).next().unwrap_or_default()
    }
    fn shape_ok(s: &str) -> bool {
        let path = path_of(s);
        let mut chars = path.chars();
        chars.next() == Some('/')
            && !matches!(chars.next(), Some('/' | '\\'))
            && !path.chars().any(|c| c.is_control() || c.is_whitespace())
    }
    if !target.bytes().all(|b| b.is_ascii_graphic()) || !shape_ok(target) {
        return false;
    }
    let decoded = percent_encoding::percent_decode_str(target).decode_utf8_lossy();
    // Decoded twice: a `%25` in front of an escape hides it from one round of decoding.
    let twice = percent_encoding::percent_decode_str(&decoded).decode_utf8_lossy();
    shape_ok(&decoded) && shape_ok(&twice) && !path_of(&decoded).contains('\\')
}

/// `target` when it is a local path ([`is_local_path`]), otherwise [`DEFAULT_AFTER_SIGN_IN`].
pub fn after_sign_in(target: Option<&str>) -> String {
    match target {
        Some(t) if is_local_path(t) => t.to_string(),
        _ => DEFAULT_AFTER_SIGN_IN.to_string(),
    }
}

/// Whether `requested` is an allowed redirect for a client with `registered` URIs.
/// `loopback_any_port` is set for native public clients such as `ward-cli`.
pub fn redirect_allowed(requested: &str, registered: &[String], loopback_any_port: bool) -> bool {
    if registered.iter().any(|r| r == requested) {
        return true;
    }
    loopback_any_port && is_loopback_callback(requested)
}

/// `http://127.0.0.1:<port>/callback` or `http://[::1]:<port>/callback`, nothing more: no user
/// info, no query, no fragment, and never the name `localhost` (RFC 8252 §8.3). The port must be
/// written, and any port means any, 80 included: the `url` crate drops a scheme's default port
/// (`http://127.0.0.1:80/callback` parses with `port() == None`), so the written port is read off
/// the text rather than the parsed URL.
pub fn is_loopback_callback(uri: &str) -> bool {
    let Ok(url) = Url::parse(uri) else {
        return false;
    };
    let loopback_host = match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback() && ip.octets() == [127, 0, 0, 1],
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    };
    // The text's own scheme, lower case (the parser would accept `HTTP://` too).
    uri.starts_with("http://")
        && loopback_host
        && has_written_port(uri)
        && url.path() == "/callback"
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none()
}

/// Whether the authority of `http://HOST:PORT/callback` ends in `:digits` (an IPv6 host alone
/// ends in `]`).
fn has_written_port(uri: &str) -> bool {
    uri.strip_suffix("/callback")
        .and_then(|authority| authority.rsplit_once(':'))
        .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_after_sign_in() {
        for ok in [
            "/",
            "/account",
            "/oauth/authorize?client_id=x&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb",
            "/device?user_code=ABCD-EFGH",
            // An authorization request as relying parties send it (mod_auth_openidc).
            "/oauth/authorize?response_type=code&scope=openid%20email&redirect_uri=http%3A%2F%2F127.0.0.1%3A8081%2Fcb&state=a%0Ab",
            "/x?next=%2F%2Fnot-a-redirect#frag%20ment",
            "/caf%C3%A9",
            "/a/b//c",
        ] {
            assert!(is_local_path(ok), "{ok}");
            assert_eq!(after_sign_in(Some(ok)), ok);
        }
        for bad in [
            "",
            "account",
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/%09/evil.example",
            "/\n",
            "/%0a",
            "/%0d%0aSet-Cookie:x=1",
            "/%2F/evil.example",
            "/%2f%2fevil.example",
            "/%5Cevil.example",
            "/%5c%5cevil.example",
            "/%252F%252Fevil.example",
            "/a b",
            "/a%20b",
            "/a\u{a0}b",
            "/a%C2%A0b",
            "/café",
            "https://evil.example/",
            "\\\\evil.example",
            " /account",
            "/x\\y",
            "/a%20b?scope=openid%20email",
        ] {
            assert!(!is_local_path(bad), "{bad:?}");
            assert_eq!(after_sign_in(Some(bad)), "/account", "{bad:?}");
        }
        assert_eq!(after_sign_in(None), "/account");
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            /// Whatever is accepted is a path a browser keeps on this origin, and survives
            /// being put in a `Location` header.
            #[test]
            fn accepted_targets_stay_on_this_origin(s in "\\PC{0,24}", raw in proptest::collection::vec(any::<u8>(), 0..24)) {
                for candidate in [s.clone(), format!("/{s}"), String::from_utf8_lossy(&raw).into_owned()] {
                    let out = after_sign_in(Some(&candidate));
                    prop_assert!(out.starts_with('/'));
                    let decoded = percent_encoding::percent_decode_str(&out).decode_utf8_lossy();
                    let stripped: String = decoded.chars().filter(|c| !c.is_control() && !c.is_whitespace()).collect();
                    prop_assert!(!stripped.starts_with("//") && !stripped.starts_with("/\\"), "{out}");
                    prop_assert!(out.bytes().all(|b| b.is_ascii_graphic()), "{out}");
                    let base = Url::parse("https://ward.example/").map_err(|e| TestCaseError::fail(e.to_string()))?;
                    let joined = base.join(&out).map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(joined.host_str(), Some("ward.example"), "{}", out);
                }
            }
        }
    }

    #[test]
    fn loopback_rules() {
        assert!(is_loopback_callback("http://127.0.0.1:9876/callback"));
        assert!(is_loopback_callback("http://127.0.0.1:51234/callback"));
        assert!(is_loopback_callback("http://[::1]:9876/callback"));
        // Any port is any port: 80 is the scheme's default, which the URL parser forgets.
        assert!(is_loopback_callback("http://127.0.0.1:80/callback"));
        assert!(is_loopback_callback("http://[::1]:80/callback"));
        assert!(!is_loopback_callback("http://[::1]/callback"));
        assert!(!is_loopback_callback("HTTP://127.0.0.1:9876/callback"));
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
        // Dot segments parse to `/callback` but are not the text a client registers or sends:
        // the token endpoint compares `redirect_uri` exactly.
        assert!(!is_loopback_callback("http://127.0.0.1:9876/x/../callback"));
        assert!(!is_loopback_callback("http://127.0.0.1:9876/./callback"));
        assert!(!is_loopback_callback("http://127.0.0.1:9876/%2e/callback"));
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
