//! Token exchange (RFC 8693, SPEC §2.15): the rules, without IO. The server verifies an external
//! ID token's signature, `iss`, `aud` and `exp` (with the issuer's JWKS) and a subject token's
//! session; this module decides whether the verified claims satisfy a `[[trust]]` entry, what
//! scope a delegated token may have, and how long an exchanged token lives.

use serde_json::Value;

use crate::scope::ScopeSet;

/// `grant_type` of a token exchange (RFC 8693 §2.1).
pub const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// `subject_token_type` of an OIDC ID token (RFC 8693 §3).
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
/// `subject_token_type` of any JWT (RFC 8693 §3); accepted for workload ID tokens too.
pub const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
/// `subject_token_type` of an access token (RFC 8693 §3): delegation.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// The longest a workload's exchanged token lives (SPEC §2.15: ≤ 1 h).
pub const MAX_WORKLOAD_TTL: i64 = 3600;

/// Whether `pattern` matches `value`: exact, or with `*` standing for any run of characters
/// (none included), anywhere and any number of times (`refs/heads/*`, `repo:acme/*:ref:*`).
pub fn glob_matches(pattern: &str, value: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == value;
    }
    let (Some(first), Some(last)) = (parts.first(), parts.last()) else {
        return false;
    };
    if !value.starts_with(first) || value.len() < first.len() + last.len() {
        return false;
    }
    // The last part is matched at the very end, so the middle ones must fit before it.
    let Some(mut rest) = value
        .get(first.len()..)
        .and_then(|r| r.get(..r.len() - last.len()))
    else {
        return false;
    };
    let middle = parts.get(1..parts.len() - 1).unwrap_or_default();
    for part in middle {
        match rest.find(part).and_then(|at| rest.get(at + part.len()..)) {
            Some(after) => rest = after,
            None => return false,
        }
    }
    value.ends_with(last)
}

/// Why verified claims do not satisfy a trust entry's `claims`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimMismatch {
    #[error("the ID token has no {0} claim, which the trust policy requires")]
    Missing(String),
    #[error("claim {name} is {actual:?}, which does not match the trust policy's {expected:?}")]
    Different {
        name: String,
        actual: String,
        expected: String,
    },
}

/// Checks every `(name, pattern)` against the token's claims: a string claim must match the
/// pattern (exact, or `*` glob); a number or boolean is compared by its JSON text; any other
/// shape never matches.
pub fn check_claims<'a>(
    claims: &serde_json::Map<String, Value>,
    required: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Result<(), ClaimMismatch> {
    for (name, pattern) in required {
        let actual = match claims.get(name) {
            None | Some(Value::Null) => return Err(ClaimMismatch::Missing(name.clone())),
            Some(Value::String(s)) => s.clone(),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
            Some(other) => other.to_string(),
        };
        let scalar = matches!(
            claims.get(name),
            Some(Value::String(_) | Value::Number(_) | Value::Bool(_))
        );
        if !scalar || !glob_matches(pattern, &actual) {
            return Err(ClaimMismatch::Different {
                name: name.clone(),
                actual,
                expected: pattern.clone(),
            });
        }
    }
    Ok(())
}

/// The scope of a delegated token: what was asked (`None`: all the subject holds), each of it
/// held by the subject. Returns the first permission asked for that the subject does not hold.
pub fn delegated_scope(
    requested: Option<&str>,
    subject_holds: &[String],
) -> Result<String, String> {
    let Some(requested) = requested else {
        return Ok(subject_holds.join(" "));
    };
    let set = ScopeSet::parse(requested);
    if let Some(bad) = set.first_rejected(|s| subject_holds.iter().any(|h| h == s)) {
        return Err(bad.to_string());
    }
    Ok(set.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn globs() {
        assert!(glob_matches("refs/heads/main", "refs/heads/main"));
        assert!(!glob_matches("refs/heads/main", "refs/heads/main2"));
        assert!(glob_matches("refs/heads/*", "refs/heads/feature/x"));
        assert!(glob_matches("refs/heads/*", "refs/heads/"));
        assert!(!glob_matches("refs/heads/*", "refs/tags/v1"));
        assert!(glob_matches("*", ""));
        assert!(glob_matches("acme/*-api", "acme/billing-api"));
        assert!(!glob_matches("acme/*-api", "acme/billing-api2"));
        assert!(glob_matches("a*b*c", "aXbYc"));
        assert!(!glob_matches("a*b*c", "aXc"));
        assert!(
            !glob_matches("ab*ba", "aba"),
            "prefix and suffix must not overlap"
        );
    }

    #[test]
    fn claims() {
        let c =
            json!({"repository": "acme/api", "ref": "refs/heads/main", "run": 7, "list": ["x"]});
        let c = c.as_object().unwrap();
        let need = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let ok = need(&[
            ("repository", "acme/api"),
            ("ref", "refs/heads/*"),
            ("run", "7"),
        ]);
        assert_eq!(check_claims(c, ok.iter().map(|(a, b)| (a, b))), Ok(()));
        let wrong = need(&[("ref", "refs/tags/*")]);
        assert!(matches!(
            check_claims(c, wrong.iter().map(|(a, b)| (a, b))),
            Err(ClaimMismatch::Different { .. })
        ));
        let missing = need(&[("workflow", "*")]);
        assert_eq!(
            check_claims(c, missing.iter().map(|(a, b)| (a, b))),
            Err(ClaimMismatch::Missing("workflow".into()))
        );
        let array = need(&[("list", "*")]);
        assert!(check_claims(c, array.iter().map(|(a, b)| (a, b))).is_err());
    }

    #[test]
    fn delegation_never_widens() {
        let holds = vec![
            "containers:read".to_string(),
            "containers:write".to_string(),
        ];
        assert_eq!(
            delegated_scope(Some("containers:read"), &holds),
            Ok("containers:read".into())
        );
        assert_eq!(
            delegated_scope(Some("containers:read admin:write"), &holds),
            Err("admin:write".into())
        );
        assert_eq!(
            delegated_scope(None, &holds),
            Ok("containers:read containers:write".into())
        );
    }
}
