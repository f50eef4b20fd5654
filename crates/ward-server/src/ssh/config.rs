//! `[ssh]` (SPEC §2.17): raw serde form and the validated [`SshConfig`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

fn invalid(key: &str, value: impl ToString, expected: &str) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        value: value.to_string(),
        expected: expected.to_string(),
    }
}

/// Which principals (login names) a certificate may carry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum RawPrincipals {
    /// `"email_local_part"`: the part of the user's email before `@`.
    Rule(String),
    /// `{ admin = ["root", "deploy"], user = ["dev"] }`: a fixed list per role.
    PerRole(BTreeMap<String, Vec<String>>),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSsh {
    /// Issue SSH user certificates (`POST /api/ssh/certificates`).
    pub enabled: bool,
    /// How long a certificate is valid.
    pub ttl: String,
    /// `"email_local_part"` or a table of role → principals.
    pub principals: RawPrincipals,
    /// A lock kind (from `mfa.lock_kinds`) whose resource id is the host asked for: a locked
    /// host needs a ticket before a certificate is issued for it.
    pub lock_kind: Option<String>,
}

impl Default for RawSsh {
    fn default() -> Self {
        RawSsh {
            enabled: false,
            ttl: "15m".into(),
            principals: RawPrincipals::Rule("email_local_part".into()),
            lock_kind: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Principals {
    EmailLocalPart,
    PerRole(BTreeMap<String, Vec<String>>),
}

#[derive(Debug, Clone)]
pub struct SshConfig {
    pub enabled: bool,
    /// Seconds.
    pub ttl: i64,
    pub principals: Principals,
    pub lock_kind: Option<String>,
}

/// A principal as OpenSSH and a Unix account name accept it: 1-32 of `a-z A-Z 0-9 . _ -`,
/// not starting with `-`.
pub fn is_principal(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 32
        && !p.starts_with('-')
        && p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

pub fn validate(
    raw: &RawSsh,
    roles: &[String],
    lock_kinds: &[String],
) -> Result<SshConfig, ConfigError> {
    let d = humantime::parse_duration(&raw.ttl)
        .map_err(|_| invalid("ssh.ttl", &raw.ttl, "a duration such as 15m"))?;
    let ttl = i64::try_from(d.as_secs())
        .ok()
        .filter(|s| (60..=86_400).contains(s))
        .ok_or_else(|| invalid("ssh.ttl", &raw.ttl, "a duration from 1m to 24h"))?;
    let principals = match &raw.principals {
        RawPrincipals::Rule(r) if r == "email_local_part" => Principals::EmailLocalPart,
        RawPrincipals::Rule(r) => {
            return Err(invalid(
                "ssh.principals",
                r,
                "\"email_local_part\" or a table of role = [principals]",
            ))
        }
        RawPrincipals::PerRole(map) => {
            for (role, list) in map {
                if !roles.contains(role) {
                    return Err(invalid(
                        &format!("ssh.principals.{role}"),
                        role,
                        "the name of a configured role",
                    ));
                }
                for (i, p) in list.iter().enumerate() {
                    if !is_principal(p) {
                        return Err(invalid(
                            &format!("ssh.principals.{role}[{i}]"),
                            p,
                            "1-32 of letters, digits, . _ - (not starting with -)",
                        ));
                    }
                }
            }
            Principals::PerRole(map.clone())
        }
    };
    if let Some(kind) = &raw.lock_kind {
        if !lock_kinds.contains(kind) {
            return Err(invalid(
                "ssh.lock_kind",
                kind,
                "a kind listed in mfa.lock_kinds",
            ));
        }
    }
    Ok(SshConfig {
        enabled: raw.enabled,
        ttl,
        principals,
        lock_kind: raw.lock_kind.clone(),
    })
}
