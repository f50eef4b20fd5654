//! Property tests for every ward-core function that reads network input (tokens, redirect URIs,
//! PKCE, scopes and permissions, device user codes, MFA codes, email addresses): none panics on
//! any input, and each keeps its stated invariant.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use ward_core::device::{display_user_code, normalize_user_code, USER_CODE_ALPHABET};
use ward_core::email;
use ward_core::mfa::{is_totp_shaped, normalize_backup_code};
use ward_core::pkce::{is_valid_challenge, is_valid_verifier, s256_challenge, verify_s256};
use ward_core::random::OsRandom;
use ward_core::redirect::{is_loopback_callback, redirect_allowed};
use ward_core::scope::{Permission, ScopeSet};
use ward_core::token::{
    api_token_checksum_ok, is_refresh_token_shape, new_api_token, new_refresh_token,
};

/// Arbitrary text, including the characters parsers split on.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,80}",
        "[a-zA-Z0-9_.:/@%?#&=+\\- \\[\\]\\\\]{0,80}",
        any::<Vec<u8>>().prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Tokens: only well-formed tokens of this prefix pass the shape and checksum checks.
    #[test]
    fn tokens(s in text(), prefix in "[a-z]{1,8}") {
        let (api_start, rt_start) = (format!("{prefix}_"), format!("{prefix}_rt_"));
        if api_token_checksum_ok(&s, &prefix) {
            prop_assert!(s.starts_with(&api_start));
        }
        if is_refresh_token_shape(&s, &prefix) {
            prop_assert!(s.starts_with(&rt_start));
            prop_assert!(s.is_ascii());
        }
        let api = new_api_token(&prefix, &OsRandom);
        prop_assert!(api_token_checksum_ok(&api, &prefix));
        prop_assert!(!is_refresh_token_shape(&api, &prefix));
        let rt = new_refresh_token(&prefix, &OsRandom);
        prop_assert!(is_refresh_token_shape(&rt, &prefix));
        // Anything appended breaks both shapes.
        let appended = format!("{api}{s}");
        prop_assert!(s.is_empty() || !api_token_checksum_ok(&appended, &prefix));
    }

    /// Redirect URIs: exact match, or (for the CLI) the loopback callback only.
    #[test]
    fn redirect_uris(s in text(), port in 1u16..) {
        let registered = vec!["https://app.example.com/callback".to_string()];
        if redirect_allowed(&s, &registered, false) {
            prop_assert_eq!(&s, &registered[0]);
        }
        if is_loopback_callback(&s) {
            prop_assert!(s.starts_with("http://"));
            prop_assert!(!s.contains('?') && !s.contains('#') && !s.contains('@'));
            prop_assert!(redirect_allowed(&s, &[], true));
        }
        let loopback = format!("http://127.0.0.1:{port}/callback");
        prop_assert!(is_loopback_callback(&loopback));
        // A query or fragment, however empty, is never a loopback callback.
        let (with_query, with_fragment) = (format!("{loopback}?{s}"), format!("{loopback}#{s}"));
        prop_assert!(!is_loopback_callback(&with_query));
        prop_assert!(!is_loopback_callback(&with_fragment));
    }

    /// PKCE: verifiers and challenges are RFC 7636's alphabet and length; S256 round-trips.
    #[test]
    fn pkce(s in text(), verifier in "[A-Za-z0-9._~-]{43,128}") {
        if is_valid_verifier(&s) {
            prop_assert!((43..=128).contains(&s.len()));
        }
        let _ = is_valid_challenge(&s);
        let challenge = s256_challenge(&verifier);
        prop_assert!(is_valid_challenge(&challenge));
        prop_assert!(verify_s256(&verifier, &challenge));
        prop_assert!(s == verifier || !verify_s256(&s, &challenge));
    }

    /// Scopes and permissions: a parsed permission prints as `resource:action` of a known
    /// resource; a scope set holds what it parsed.
    #[test]
    fn scopes_and_permissions(s in text()) {
        let resources = vec!["containers".to_string(), "files".to_string()];
        if let Some(p) = Permission::parse(&s, &resources) {
            let printed = p.to_string();
            let (resource, _) = printed.split_once(':').unwrap();
            prop_assert!(resources.iter().any(|r| r == resource));
        }
        let set = ScopeSet::parse(&s);
        for scope in set.iter() {
            prop_assert!(!scope.is_empty());
            prop_assert!(!scope.bytes().any(|b| b.is_ascii_whitespace()));
            prop_assert!(set.contains(scope));
        }
    }

    /// Device user codes: 8 letters of the alphabet, idempotent, display form round-trips.
    #[test]
    fn user_codes(s in text()) {
        if let Some(code) = normalize_user_code(&s) {
            prop_assert_eq!(code.len(), 8);
            prop_assert!(code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)));
            prop_assert_eq!(normalize_user_code(&code), Some(code.clone()));
            prop_assert_eq!(normalize_user_code(&display_user_code(&code)), Some(code.clone()));
        }
    }

    /// MFA codes: a TOTP shape is 6 digits; a backup code normalises idempotently.
    #[test]
    fn mfa_codes(s in text()) {
        if is_totp_shaped(&s) {
            prop_assert!(s.trim().len() == 6 && s.trim().bytes().all(|b| b.is_ascii_digit()));
        }
        if let Some(code) = normalize_backup_code(&s) {
            prop_assert_eq!(normalize_backup_code(&code), Some(code.clone()));
        }
    }

    /// Email addresses: one form (idempotent); the domain of a normalised address is ASCII
    /// whenever IDNA accepts it, and never ends with a dot.
    #[test]
    fn emails(s in text()) {
        let once = email::normalize(&s);
        prop_assert_eq!(email::normalize(&once), once.clone());
        if let Some((_, domain)) = once.rsplit_once('@') {
            prop_assert!(!domain.ends_with('.'));
        }
        let _ = email::single_script(&once);
        let _ = email::skeleton(&once);
        prop_assert!(!email::confusable(&once, &once));
    }
}
