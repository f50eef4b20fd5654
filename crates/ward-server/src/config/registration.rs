//! `[registration]` (SPEC §2.15): dynamic client registration (RFC 7591) at
//! `POST /oauth/register`. Raw serde form and the validated [`RegistrationConfig`].

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

/// Who may register a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationMode {
    /// No registration: `POST /oauth/register` answers 404 (decision 215).
    Off,
    /// Anyone may register, within the per-address rate limit.
    Open,
    /// Only with an initial access token from `POST /api/admin/registration-tokens`.
    Token,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RawRegistration {
    /// `"off"` (the default), `"open"` or `"token"`.
    pub mode: String,
    /// What a registered client may ask for: OIDC scopes and `resource:action` permissions.
    pub max_scopes: Vec<String>,
    /// Registrations per client address per `rate_limits.window_secs` (every mode).
    pub per_ip: u32,
}

impl Default for RawRegistration {
    fn default() -> Self {
        RawRegistration {
            mode: "off".into(),
            max_scopes: ward_core::scope::OIDC_SCOPES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            per_ip: 10,
        }
    }
}

/// The validated `[registration]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistrationConfig {
    pub mode: RegistrationMode,
    pub max_scopes: Vec<String>,
    pub per_ip: u32,
}

impl RawRegistration {
    /// # Errors
    /// A bad mode, a scope that is neither an OIDC scope nor a permission of a configured
    /// resource, or `per_ip = 0`.
    pub fn validate(&self, resources: &[String]) -> Result<RegistrationConfig, ConfigError> {
        let invalid = |key: &str, value: &str, expected: &str| ConfigError::Invalid {
            key: key.to_string(),
            value: value.to_string(),
            expected: expected.to_string(),
        };
        let mode = match self.mode.as_str() {
            "off" => RegistrationMode::Off,
            "open" => RegistrationMode::Open,
            "token" => RegistrationMode::Token,
            other => return Err(invalid("registration.mode", other, "off, open or token")),
        };
        if let Some(bad) = ward_core::registration::first_unknown_scope(&self.max_scopes, |s| {
            // Never the admin API: a client anyone may register must not be able to ask for it.
            ward_core::scope::Permission::parse(s, resources)
                .is_some_and(|p| p.resource != ward_core::scope::ADMIN_RESOURCE)
        }) {
            return Err(invalid(
                "registration.max_scopes",
                bad,
                "OIDC scopes (openid, profile, email, offline_access) or resource:action with a configured resource other than admin",
            ));
        }
        if self.per_ip == 0 {
            return Err(invalid(
                "registration.per_ip",
                "0",
                "at least 1 registration per window",
            ));
        }
        Ok(RegistrationConfig {
            mode,
            max_scopes: self.max_scopes.clone(),
            per_ip: self.per_ip,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_refusals() {
        let c = RawRegistration::default().validate(&[]).unwrap();
        assert_eq!(c.mode, RegistrationMode::Off);
        assert!(c.max_scopes.iter().any(|s| s == "openid"));
        let bad_mode = RawRegistration {
            mode: "maybe".into(),
            ..RawRegistration::default()
        };
        assert!(bad_mode
            .validate(&[])
            .unwrap_err()
            .to_string()
            .contains("registration.mode"));
        let bad_scope = RawRegistration {
            max_scopes: vec!["admin:write".into()],
            ..RawRegistration::default()
        };
        assert!(bad_scope
            .validate(&["containers".into()])
            .unwrap_err()
            .to_string()
            .contains("registration.max_scopes"));
        let ok = RawRegistration {
            mode: "token".into(),
            max_scopes: vec!["openid".into(), "containers:read".into()],
            per_ip: 3,
        };
        assert_eq!(
            ok.validate(&["containers".into()]).unwrap().mode,
            RegistrationMode::Token
        );
    }
}
