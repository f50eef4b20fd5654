//! `[[trust]]` (SPEC §2.15): which external issuers' ID tokens become which service account's
//! access tokens through token exchange. Raw serde form and the validated [`TrustConfig`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::config::ConfigError;

fn invalid(key: &str, value: impl ToString, expected: &str) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        value: value.to_string(),
        expected: expected.to_string(),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawTrust {
    /// The issuer, exactly as its discovery document and its tokens' `iss` say it.
    pub issuer: String,
    /// The `aud` the ID token must carry (GitHub Actions: what the job asked for).
    pub audience: String,
    /// Claims the ID token must carry: each value exact, or with `*` globs.
    #[serde(default)]
    pub claims: BTreeMap<String, String>,
    /// The name of the service account whose token the exchange gives.
    pub service_account: String,
}

/// A validated `[[trust]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct TrustConfig {
    pub issuer: String,
    pub audience: String,
    pub claims: BTreeMap<String, String>,
    pub service_account: String,
}

/// # Errors
/// A `trust[N].key` naming what is wrong.
pub fn validate(raw: &[RawTrust]) -> Result<Vec<TrustConfig>, ConfigError> {
    let mut out = Vec::new();
    for (i, t) in raw.iter().enumerate() {
        let key = |k: &str| format!("trust[{i}].{k}");
        match Url::parse(&t.issuer) {
            Ok(u) if matches!(u.scheme(), "https" | "http") && u.host().is_some() => {}
            _ => {
                return Err(invalid(
                    &key("issuer"),
                    &t.issuer,
                    "the issuer's https URL (http only for tests on loopback)",
                ))
            }
        }
        if t.audience.trim().is_empty() {
            return Err(invalid(
                &key("audience"),
                &t.audience,
                "a non-empty audience",
            ));
        }
        if let Some(problem) = ward_core::machine::name_problem(&t.service_account) {
            return Err(invalid(
                &key("service_account"),
                &t.service_account,
                problem,
            ));
        }
        for (name, pattern) in &t.claims {
            if name.is_empty() || pattern.is_empty() {
                return Err(invalid(
                    &key("claims"),
                    format!("{name} = {pattern:?}"),
                    "non-empty claim names and values (use \"*\" for any value)",
                ));
            }
        }
        out.push(TrustConfig {
            issuer: t.issuer.clone(),
            audience: t.audience.clone(),
            claims: t.claims.clone(),
            service_account: t.service_account.clone(),
        });
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_checked() {
        let good = RawTrust {
            issuer: "https://token.actions.githubusercontent.com".into(),
            audience: "https://id.example.com".into(),
            claims: [("repository".to_string(), "acme/*".to_string())].into(),
            service_account: "ci-deploy".into(),
        };
        assert_eq!(validate(std::slice::from_ref(&good)).unwrap().len(), 1);
        let bad = RawTrust {
            issuer: "not a url".into(),
            ..good.clone()
        };
        assert!(validate(&[bad])
            .unwrap_err()
            .to_string()
            .contains("trust[0].issuer"));
        let bad = RawTrust {
            service_account: "has space".into(),
            ..good
        };
        assert!(validate(&[bad])
            .unwrap_err()
            .to_string()
            .contains("trust[0].service_account"));
    }
}
