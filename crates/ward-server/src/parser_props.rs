//! Property tests for the server's parsers of network input: access-token JWTs, Basic client
//! credentials, form bodies, `return_to`, WebSocket auth messages and the route matcher. None
//! panics on any input, and each keeps the invariant stated on its test. (ward-core's parsers:
//! `crates/ward-core/tests/parsers.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use proptest::prelude::*;
use ward_core::clock::Timestamp;
use ward_core::random::OsRandom;

use crate::jwt::{sign_access_token, verify_access_token, AccessClaims, JwtError};
use crate::keys::KeyRing;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,80}",
        "[a-zA-Z0-9_.:/@%?#&=+\\-\\\\ \t\r\n{}\"]{0,80}",
        any::<Vec<u8>>().prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

fn ring() -> KeyRing {
    KeyRing::ephemeral(&OsRandom, Timestamp(1_000)).unwrap()
}

fn claims(exp: i64) -> AccessClaims {
    AccessClaims {
        iss: "https://ward.example".into(),
        sub: "u1".into(),
        aud: "https://ward.example".into(),
        exp,
        iat: 1_000,
        jti: "j1".into(),
        client_id: "ward-cli".into(),
        sid: None,
        scope: String::new(),
        roles: vec!["user".into()],
        email: None,
        amr: vec![],
        cnf: None,
        act: None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// JWTs: arbitrary text, and a real token with any one character changed or anything
    /// appended, is refused; the real one verifies until `exp`.
    #[test]
    fn access_tokens(s in text(), pos in any::<prop::sample::Index>(), c in "[A-Za-z0-9_.-]") {
        let keys = ring();
        let iss = "https://ward.example";
        prop_assert!(verify_access_token(&keys, &s, iss, Timestamp(1_000)).is_err());
        let token = sign_access_token(&keys, &claims(2_000)).unwrap();
        prop_assert!(verify_access_token(&keys, &token, iss, Timestamp(1_999)).is_ok());
        prop_assert!(matches!(
            verify_access_token(&keys, &token, iss, Timestamp(2_000)),
            Err(JwtError::Expired)
        ));
        prop_assert!(verify_access_token(&keys, &token, "https://other.example", Timestamp(1_500)).is_err());
        let mut bytes = token.clone().into_bytes();
        let i = pos.index(bytes.len());
        let replacement = c.as_bytes()[0];
        prop_assume!(bytes[i] != replacement);
        bytes[i] = replacement;
        let changed = String::from_utf8(bytes).unwrap();
        prop_assert!(verify_access_token(&keys, &changed, iss, Timestamp(1_500)).is_err(), "{changed}");
        let appended = format!("{token}{s}");
        prop_assert!(s.is_empty() || verify_access_token(&keys, &appended, iss, Timestamp(1_500)).is_err());
    }

    /// JOSE headers: any header JSON (alg `none`, HS256, a foreign `kid`, `jwk`, `crit`…) on a
    /// real payload and signature is refused.
    #[test]
    fn jose_headers(alg in "(none|HS256|RS256|ES256|ES384|EdDSA|[A-Za-z0-9]{0,8})",
                    typ in "(at\\+jwt|JWT|[a-z+]{0,8})",
                    kid in "[A-Za-z0-9_-]{0,20}",
                    extra in "(|,\"jwk\":\\{\\}|,\"crit\":\\[\"x\"\\]|,\"jku\":\"http://x\")") {
        let keys = ring();
        let token = sign_access_token(&keys, &claims(2_000)).unwrap();
        let mut parts = token.split('.');
        let (header, payload, sig) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
        let forged = format!("{{\"alg\":\"{alg}\",\"typ\":\"{typ}\",\"kid\":\"{kid}\"{extra}}}");
        let forged = URL_SAFE_NO_PAD.encode(forged);
        prop_assume!(forged != header);
        let token = format!("{forged}.{payload}.{sig}");
        prop_assert!(verify_access_token(&keys, &token, "https://ward.example", Timestamp(1_500)).is_err());
    }

    /// Basic credentials (RFC 6749 §2.3.1): never a panic; what was form-encoded round-trips.
    #[test]
    fn basic_credentials(s in text(), id in "[^:]{0,20}", secret in "\\PC{0,30}") {
        let _ = crate::ops::client::parse_basic(&s);
        let _ = crate::ops::client::parse_basic(&STANDARD.encode(s.as_bytes()));
        let enc = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
        let b64 = STANDARD.encode(format!("{}:{}", enc(&id), enc(&secret)));
        prop_assert_eq!(crate::ops::client::parse_basic(&b64).unwrap(), (id, secret));
    }

    /// Form bodies: a repeated parameter is refused, distinct ones round-trip.
    #[test]
    fn form_bodies(bytes in any::<Vec<u8>>(), pairs in prop::collection::btree_map("\\PC{1,10}", "\\PC{0,20}", 0..6)) {
        let _ = crate::extract::parse_params(&bytes);
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &pairs {
            ser.append_pair(k, v);
        }
        let body = ser.finish();
        let parsed = crate::extract::parse_params(body.as_bytes()).unwrap();
        prop_assert_eq!(parsed.len(), pairs.len());
        for (k, v) in &pairs {
            prop_assert_eq!(parsed.get(k), Some(v));
        }
        if let Some((k, v)) = pairs.iter().next() {
            let mut twice = url::form_urlencoded::Serializer::new(String::new());
            twice.append_pair(k, v).append_pair(k, v);
            prop_assert!(crate::extract::parse_params(twice.finish().as_bytes()).is_err());
        }
    }

    /// `return_to`: always a local path that is a valid `Location` header value, never one a
    /// browser reads as another host (after dropping tabs and newlines, as browsers do).
    #[test]
    fn return_to(s in text()) {
        let r = crate::pages::login::safe_return_to(Some(&s));
        prop_assert!(axum::http::HeaderValue::from_str(&r).is_ok(), "{r:?}");
        let seen: String = r.chars().filter(|c| !matches!(c, '\t' | '\n' | '\r')).collect();
        prop_assert!(seen.starts_with('/'));
        prop_assert!(!seen.starts_with("//") && !seen.starts_with("/\\"), "{r:?}");
        prop_assert!(r == "/account" || r == s, "{r:?}");
    }

    /// WebSocket auth messages: only `{"type":"auth","token":…}` objects pass; the token comes
    /// back without `Bearer ` and outer space.
    #[test]
    fn websocket_auth_messages(s in text(), token in "[A-Za-z0-9_.-]{1,40}", code in proptest::option::of("[0-9]{6}")) {
        if let Ok(m) = crate::proxy::websocket::parse_auth_message(&s) {
            prop_assert!(s.contains("auth"));
            prop_assert_eq!(m.token.trim(), m.token.as_str());
        }
        let msg = serde_json::json!({"type": "auth", "token": format!("Bearer {token}"), "mfa_code": code});
        let m = crate::proxy::websocket::parse_auth_message(&msg.to_string()).unwrap();
        prop_assert_eq!(m.token, token);
        prop_assert_eq!(m.mfa_code, code);
        let wrong = serde_json::json!({"type": "Auth", "token": "t"});
        prop_assert!(crate::proxy::websocket::parse_auth_message(&wrong.to_string()).is_err());
    }

    /// The route matcher: the route found covers the path on a segment boundary, and no longer
    /// prefix covers it; a lock resource id is one non-empty segment.
    #[test]
    fn route_matcher(path in "(/[a-z0-9.%-]{0,6}){0,5}/?") {
        use crate::proxy::config::{find_route, validate_routes, RawRoute};
        let raw = |prefix: &str| RawRoute {
            prefix: prefix.into(),
            upstream: "http://127.0.0.1:9".into(),
            permissions: Default::default(),
            permission: Some("containers:read".into()),
            websocket: false,
            tcp: None,
            lock_kind: Some("terminal".into()),
            timeout: None,
            ca_file: None,
            cert_file: None,
            key_file: None,
        };
        let routes = validate_routes(
            &[raw("/"), raw("/a"), raw("/a/b"), raw("/ab")],
            &["containers".to_string()],
            &["terminal".to_string()],
        )
        .unwrap();
        match find_route(&routes, &path) {
            Some(route) => {
                prop_assert!(route.matches(&path));
                let below = format!("{}/", route.prefix);
                prop_assert!(route.prefix == "/" || path == route.prefix || path.starts_with(&below));
                prop_assert!(routes.iter().all(|r| !r.matches(&path) || r.prefix.len() <= route.prefix.len()));
                if let Some(id) = route.resource_id(&path) {
                    prop_assert!(!id.is_empty() && !id.contains('/'));
                }
            }
            None => prop_assert!(!path.starts_with('/')),
        }
    }
}
