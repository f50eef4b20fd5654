//! Configuration in two phases: [`RawConfig`] is what serde reads, merged as built-in defaults <
//! `ward.toml` < `WARD_*` environment < flags (figment); [`Config`] is the validated form with
//! real types. A bad value stops start-up with one message naming the key, the value and what
//! was expected.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use url::Url;
use ward_core::roles::{Role, RoleMap};
use ward_core::scope::DEFAULT_RESOURCES;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {0}")]
    Parse(String),
    #[error("invalid configuration: {key} = {value:?}: expected {expected}")]
    Invalid {
        key: String,
        value: String,
        expected: String,
    },
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
}

fn invalid(key: &str, value: impl ToString, expected: &str) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        value: value.to_string(),
        expected: expected.to_string(),
    }
}

/// A secret given either inline (`field`) or as a file (`field_file`, read and trimmed), never
/// both; `key` is the table (`idps.corp`, `webhooks[0]`), `missing` what to ask for when neither
/// is set.
pub fn inline_or_file(
    key: &str,
    field: &str,
    inline: &Option<String>,
    file: &Option<String>,
    missing: &str,
) -> Result<String, ConfigError> {
    match (inline, file) {
        (Some(s), None) => Ok(s.clone()),
        (None, Some(f)) => Ok(std::fs::read_to_string(f)
            .map_err(|e| ConfigError::Read {
                path: f.clone(),
                reason: e.to_string(),
            })?
            .trim()
            .to_string()),
        (Some(_), Some(f)) => Err(invalid(
            &format!("{key}.{field}_file"),
            f,
            &format!("either {field} or {field}_file, not both"),
        )),
        (None, None) => Err(invalid(&format!("{key}.{field}"), "", missing)),
    }
}

mod env;
mod idp;
mod raw;
mod registration;
mod validate;

pub use env::*;
pub use idp::*;
pub use raw::*;
pub use registration::*;

#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub id: String,
    /// `None` for public clients.
    pub secret: Option<String>,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    /// May introspect any token (a resource server), not only its own.
    pub introspect: bool,
    /// Where `/oauth/logout` may send the browser after signing out (exact match).
    pub post_logout_redirect_uris: Vec<String>,
    /// Every grant must come with a DPoP proof.
    pub require_dpop: bool,
    /// The role of its `client_credentials` tokens (SPEC §2.15).
    pub role: Option<String>,
}

#[derive(Debug, Clone, Copy)]
pub struct SessionLifetimes {
    pub cli: i64,
    pub web: i64,
    pub api: i64,
    pub guest: i64,
    pub idle_timeout: i64,
    pub guests: bool,
    pub sweep_interval: i64,
    pub retention: i64,
}

#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    pub window_secs: i64,
    pub signin_per_ip: u32,
    pub signin_failures_per_account: u32,
    pub user_code_per_ip: u32,
    pub guests_per_ip: u32,
    pub signups_per_ip: u32,
    pub token_failures_per_client: u32,
    pub mfa_failures_per_account: u32,
    pub user_code_failures_per_account: u32,
    pub device_codes_per_ip: u32,
    pub passkey_starts_per_ip: u32,
}

#[derive(Debug, Clone)]
pub struct MfaConfig {
    pub required_roles: Vec<String>,
    pub lock_kinds: Vec<String>,
    pub ticket_ttl: i64,
    pub totp_issuer: String,
    /// Seconds of grace per lock kind; a kind that is not here has none.
    pub lock_grace: BTreeMap<String, i64>,
}

impl MfaConfig {
    /// The grace window of `kind`, in seconds (0: none).
    pub fn grace(&self, kind: &str) -> i64 {
        self.lock_grace.get(kind).copied().unwrap_or(0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// `None`: derived from the bound address at start-up.
    pub public_url: Option<Url>,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub token_prefix: String,
    pub bootstrap_admin: Option<(String, String)>,
    pub log_format: LogFormat,
    pub master_key: Option<String>,
    pub dev: bool,
    /// Who may create an account (SPEC §2.14).
    pub signup: ward_core::account::SignupMode,
    pub device_flow: bool,
    /// Whether `POST /api/auth/terminal-sign-in` is open (decision 164).
    pub terminal_sign_in: bool,
    pub default_role: String,
    pub resources: Vec<String>,
    pub allowed_origins: Vec<String>,
    pub block_empty_origin: bool,
    pub access_token_ttl: i64,
    pub security: SecurityConfig,
    pub password: PasswordPolicy,
    /// Where mail goes; `None` without `[smtp] url` (then links are only made by admins).
    pub smtp: Option<crate::mail::config::SmtpConfig>,
    /// `[branding]`, shared with every request's page frame.
    pub branding: std::sync::Arc<crate::branding::Branding>,
    pub sessions: SessionLifetimes,
    pub rate_limits: RateLimits,
    pub mfa: MfaConfig,
    pub roles: RoleMap,
    pub clients: Vec<ClientConfig>,
    pub idps: Vec<IdpConfig>,
    pub routes: Vec<crate::proxy::config::Route>,
    pub proxy: crate::proxy::config::ProxySettings,
    /// Peers whose forwarding headers are read (SPEC §2.12).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How long the store trusts a cached session, user or API token (1 s). Not read from the
    /// configuration file: on PostgreSQL, changes reach every replica by `LISTEN/NOTIFY`, and
    /// this TTL only bounds staleness while a replica's listener is reconnecting. Tests raise it
    /// to show that changes arrive by notification.
    pub store_cache_ttl: std::time::Duration,
    /// `[[webhooks]]` and `[events]` (SPEC §2.18).
    pub events: crate::events::config::EventsConfig,
    /// `[dpop]` (SPEC §2.16).
    pub dpop: crate::dpop::DpopConfig,
    /// `[ssh]` (SPEC §2.17).
    pub ssh: crate::ssh::config::SshConfig,
    /// `[[trust]]` (SPEC §2.15).
    pub trust: Vec<crate::trust::config::TrustConfig>,
    /// `[registration]` (SPEC §2.15).
    pub registration: RegistrationConfig,
}

#[cfg(test)]
mod tests;
