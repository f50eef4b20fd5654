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

/// A list given either as a TOML array or as one comma-separated string (environment).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(untagged)]
pub enum StringList {
    #[default]
    Empty,
    List(Vec<String>),
    Comma(String),
}

impl StringList {
    pub fn items(&self) -> Vec<String> {
        match self {
            StringList::Empty => Vec::new(),
            StringList::List(v) => v.clone(),
            StringList::Comma(s) => s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub listen: String,
    pub public_url: Option<String>,
    pub data_dir: String,
    pub database_url: Option<String>,
    pub token_prefix: String,
    pub bootstrap_admin_email: Option<String>,
    pub bootstrap_admin_password: Option<String>,
    pub log_format: String,
    pub master_key: Option<String>,
    pub dev: bool,
    pub signup: bool,
    pub device_flow: bool,
    pub default_role: String,
    pub resources: Vec<String>,
    pub allowed_origins: StringList,
    pub block_empty_origin: bool,
    pub tokens: RawTokens,
    pub sessions: RawSessions,
    pub rate_limits: RawRateLimits,
    pub roles: BTreeMap<String, RawRole>,
    pub clients: Vec<RawClient>,
    /// `[[routes]]`: the identity-aware proxy (SPEC §2.8), validated in `proxy::config`.
    #[serde(default)]
    pub routes: Vec<crate::proxy::config::RawRoute>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTokens {
    pub access_token_ttl: String,
}

impl Default for RawTokens {
    fn default() -> Self {
        RawTokens {
            access_token_ttl: "1h".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSessions {
    pub cli_ttl: String,
    pub web_ttl: String,
    pub api_ttl: String,
    pub guest_ttl: String,
    pub idle_timeout: String,
}

impl Default for RawSessions {
    fn default() -> Self {
        RawSessions {
            cli_ttl: "90d".into(),
            web_ttl: "24h".into(),
            api_ttl: "90d".into(),
            guest_ttl: "50h".into(),
            idle_timeout: "30d".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRateLimits {
    /// Length of one counting window.
    pub window: String,
    /// Sign-in attempts per client IP per window.
    pub signin_per_ip: u32,
    /// Failed sign-ins per account per window.
    pub signin_failures_per_account: u32,
    /// Device `user_code` entries per client IP per window.
    pub user_code_per_ip: u32,
}

impl Default for RawRateLimits {
    fn default() -> Self {
        RawRateLimits {
            window: "5m".into(),
            signin_per_ip: 60,
            signin_failures_per_account: 10,
            user_code_per_ip: 20,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawRole {
    pub permissions: Vec<String>,
    pub limits: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    pub id: String,
    pub secret: Option<String>,
    pub secret_file: Option<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub grant_types: Vec<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
}

impl Default for RawConfig {
    fn default() -> Self {
        let mut roles = BTreeMap::new();
        roles.insert(
            "admin".to_string(),
            RawRole {
                permissions: vec!["*".into()],
                limits: BTreeMap::new(),
            },
        );
        let user_permissions = DEFAULT_RESOURCES
            .iter()
            .flat_map(|r| [format!("{r}:read"), format!("{r}:write")])
            .collect();
        roles.insert(
            "user".to_string(),
            RawRole {
                permissions: user_permissions,
                limits: BTreeMap::new(),
            },
        );
        roles.insert(
            "guest".to_string(),
            RawRole {
                permissions: vec!["containers:read".into(), "containers:write".into()],
                limits: BTreeMap::from([("containers".to_string(), 5)]),
            },
        );
        RawConfig {
            listen: "127.0.0.1:8080".into(),
            public_url: None,
            data_dir: "./ward-data".into(),
            database_url: None,
            token_prefix: "ward".into(),
            bootstrap_admin_email: None,
            bootstrap_admin_password: None,
            log_format: "text".into(),
            master_key: None,
            dev: false,
            signup: false,
            device_flow: true,
            default_role: "user".into(),
            resources: DEFAULT_RESOURCES.iter().map(|s| s.to_string()).collect(),
            allowed_origins: StringList::Empty,
            block_empty_origin: false,
            tokens: RawTokens::default(),
            sessions: RawSessions::default(),
            rate_limits: RawRateLimits::default(),
            roles,
            clients: Vec::new(),
            routes: Vec::new(),
        }
    }
}

/// Top-level keys settable as `WARD_<KEY>`, and sections settable as `WARD_<SECTION>__<KEY>`.
const ENV_KEYS: &[&str] = &[
    "listen",
    "public_url",
    "data_dir",
    "database_url",
    "token_prefix",
    "bootstrap_admin_email",
    "bootstrap_admin_password",
    "log_format",
    "master_key",
    "dev",
    "signup",
    "device_flow",
    "default_role",
    "resources",
    "allowed_origins",
    "block_empty_origin",
];
const ENV_SECTIONS: &[&str] = &["tokens", "sessions", "rate_limits", "roles"];
/// Variables the CLI reads; the server ignores them without a warning.
const CLI_ENV: &[&str] = &[
    "token",
    "url",
    "profile",
    "config_dir",
    "credential_store",
    "ca_file",
];

fn env_key_known(key: &str) -> bool {
    ENV_KEYS.contains(&key)
        || key
            .split_once("__")
            .is_some_and(|(section, _)| ENV_SECTIONS.contains(&section))
}

/// Overrides from the command line (highest precedence).
#[derive(Debug, Default, Clone, Serialize)]
pub struct FlagOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dev: Option<bool>,
}

/// Merges defaults < file < environment < flags. `config_file` is read when given (it must
/// exist then) or when `./ward.toml` exists. Returns the warnings to log once logging is up.
pub fn load(
    config_file: Option<&Path>,
    flags: &FlagOverrides,
) -> Result<(RawConfig, Vec<String>), ConfigError> {
    let mut warnings = Vec::new();
    let mut figment = Figment::from(Serialized::defaults(RawConfig::default()));
    match config_file {
        Some(path) => {
            if !path.exists() {
                return Err(ConfigError::Read {
                    path: path.display().to_string(),
                    reason: "no such file".into(),
                });
            }
            figment = figment.merge(Toml::file(path));
        }
        None if Path::new("ward.toml").exists() => {
            figment = figment.merge(Toml::file("ward.toml"));
        }
        None => {}
    }
    for (name, _) in std::env::vars() {
        if let Some(key) = name.strip_prefix("WARD_") {
            let key = key.to_ascii_lowercase();
            if !env_key_known(&key) && !CLI_ENV.contains(&key.as_str()) {
                warnings.push(format!("ignoring unknown environment variable {name}"));
            }
        }
    }
    figment = figment
        .merge(
            Env::prefixed("WARD_")
                .filter(|k| env_key_known(k.as_str()))
                .split("__"),
        )
        .merge(
            Env::raw()
                .only(&["ALLOWED_ORIGINS", "BLOCK_EMPTY_ORIGIN"])
                .map(|k| k.as_str().to_ascii_lowercase().into()),
        )
        .merge(Serialized::defaults(flags));
    let raw: RawConfig = figment
        .extract()
        .map_err(|e| ConfigError::Parse(e.to_string()))?;
    Ok((raw, warnings))
}

#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub id: String,
    /// `None` for public clients.
    pub secret: Option<String>,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, Copy)]
pub struct SessionLifetimes {
    pub cli: i64,
    pub web: i64,
    pub api: i64,
    pub guest: i64,
    pub idle_timeout: i64,
}

#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    pub window_secs: i64,
    pub signin_per_ip: u32,
    pub signin_failures_per_account: u32,
    pub user_code_per_ip: u32,
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
    pub signup: bool,
    pub device_flow: bool,
    pub default_role: String,
    pub resources: Vec<String>,
    pub allowed_origins: Vec<String>,
    pub block_empty_origin: bool,
    pub access_token_ttl: i64,
    pub sessions: SessionLifetimes,
    pub rate_limits: RateLimits,
    pub roles: RoleMap,
    pub clients: Vec<ClientConfig>,
    pub routes: Vec<crate::proxy::config::Route>,
}

fn duration(key: &str, value: &str) -> Result<i64, ConfigError> {
    let d: Duration = humantime::parse_duration(value)
        .map_err(|_| invalid(key, value, "a duration such as 90s, 1h or 30d"))?;
    let secs = i64::try_from(d.as_secs()).map_err(|_| invalid(key, value, "a shorter duration"))?;
    if secs == 0 {
        return Err(invalid(key, value, "a duration longer than 0s"));
    }
    Ok(secs)
}

impl RawConfig {
    pub fn validate(self) -> Result<Config, ConfigError> {
        let listen: SocketAddr = self
            .listen
            .parse()
            .map_err(|_| invalid("listen", &self.listen, "an address such as 127.0.0.1:8080"))?;
        let public_url = match &self.public_url {
            Some(u) => {
                let url = Url::parse(u)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                    .ok_or_else(|| {
                        invalid(
                            "public_url",
                            u,
                            "an http(s) URL such as https://ward.example.com",
                        )
                    })?;
                Some(url)
            }
            None => None,
        };
        let data_dir = PathBuf::from(&self.data_dir);
        let database_url = self
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("ward.db").display()));
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres:")
            || database_url.starts_with("postgresql:"))
        {
            return Err(invalid(
                "database_url",
                &database_url,
                "sqlite://PATH or postgres://USER@HOST/DB",
            ));
        }
        if self.token_prefix.is_empty()
            || self.token_prefix.len() > 16
            || !self
                .token_prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Err(invalid(
                "token_prefix",
                &self.token_prefix,
                "1 to 16 lowercase letters or digits",
            ));
        }
        let bootstrap_admin = match (self.bootstrap_admin_email, self.bootstrap_admin_password) {
            (Some(e), Some(p)) => Some((e, p)),
            (Some(e), None) => {
                return Err(invalid(
                    "bootstrap_admin_password",
                    "",
                    &format!("a password for the bootstrap admin {e}"),
                ))
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "bootstrap_admin_email",
                    "",
                    "an email for the bootstrap admin",
                ))
            }
            (None, None) => None,
        };
        let log_format = match self.log_format.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => return Err(invalid("log_format", other, "text or json")),
        };
        for r in &self.resources {
            if r.is_empty() || r.contains(':') || r.contains(' ') {
                return Err(invalid(
                    "resources",
                    r,
                    "resource names without ':' or spaces",
                ));
            }
        }
        let mut roles = Vec::new();
        for (name, raw) in &self.roles {
            for p in &raw.permissions {
                if p != "*" && ward_core::scope::Permission::parse(p, &self.resources).is_none() {
                    return Err(invalid(
                        &format!("roles.{name}.permissions"),
                        p,
                        "\"*\" or resource:action with a configured resource and read|write|delete",
                    ));
                }
            }
            roles.push(Role {
                name: name.clone(),
                permissions: raw.permissions.clone(),
                limits: raw.limits.clone(),
            });
        }
        let roles = RoleMap::new(roles);
        if !roles.contains(&self.default_role) {
            return Err(invalid(
                "default_role",
                &self.default_role,
                "the name of a configured role",
            ));
        }
        if !roles.contains("admin") {
            return Err(invalid("roles", "(no admin)", "an `admin` role"));
        }
        let mut clients = Vec::new();
        for (i, c) in self.clients.iter().enumerate() {
            let key = format!("clients[{i}]");
            if c.id.is_empty() || c.id == ward_proto::CLI_CLIENT_ID {
                return Err(invalid(
                    &format!("{key}.id"),
                    &c.id,
                    "a unique client id other than ward-cli",
                ));
            }
            let secret = match (&c.secret, &c.secret_file) {
                (Some(s), None) => Some(s.clone()),
                (None, Some(f)) => Some(
                    std::fs::read_to_string(f)
                        .map_err(|e| ConfigError::Read {
                            path: f.clone(),
                            reason: e.to_string(),
                        })?
                        .trim()
                        .to_string(),
                ),
                (None, None) => None,
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        &format!("{key}.secret_file"),
                        f_or(&c.secret_file),
                        "either secret or secret_file, not both",
                    ))
                }
            };
            if secret.as_ref().is_some_and(|s| s.len() < 16) {
                return Err(invalid(
                    &format!("{key}.secret"),
                    "[redacted]",
                    "a secret of at least 16 characters",
                ));
            }
            for g in &c.grant_types {
                if !["authorization_code", "refresh_token", "client_credentials"]
                    .contains(&g.as_str())
                {
                    return Err(invalid(
                        &format!("{key}.grant_types"),
                        g,
                        "authorization_code, refresh_token or client_credentials",
                    ));
                }
            }
            if c.grant_types.iter().any(|g| g == "client_credentials") && secret.is_none() {
                return Err(invalid(
                    &format!("{key}.secret"),
                    "",
                    "a secret: client_credentials needs a confidential client",
                ));
            }
            for u in &c.redirect_uris {
                if Url::parse(u).is_err() {
                    return Err(invalid(&format!("{key}.redirect_uris"), u, "absolute URLs"));
                }
            }
            clients.push(ClientConfig {
                id: c.id.clone(),
                secret,
                redirect_uris: c.redirect_uris.clone(),
                grant_types: c.grant_types.clone(),
                scopes: c.scopes.clone(),
            });
        }
        let s = &self.sessions;
        let rl = &self.rate_limits;
        Ok(Config {
            listen,
            public_url,
            data_dir,
            database_url,
            token_prefix: self.token_prefix.clone(),
            bootstrap_admin,
            log_format,
            master_key: self.master_key.clone(),
            dev: self.dev,
            signup: self.signup,
            device_flow: self.device_flow,
            default_role: self.default_role.clone(),
            resources: self.resources.clone(),
            allowed_origins: self.allowed_origins.items(),
            block_empty_origin: self.block_empty_origin,
            access_token_ttl: duration("tokens.access_token_ttl", &self.tokens.access_token_ttl)?,
            sessions: SessionLifetimes {
                cli: duration("sessions.cli_ttl", &s.cli_ttl)?,
                web: duration("sessions.web_ttl", &s.web_ttl)?,
                api: duration("sessions.api_ttl", &s.api_ttl)?,
                guest: duration("sessions.guest_ttl", &s.guest_ttl)?,
                idle_timeout: duration("sessions.idle_timeout", &s.idle_timeout)?,
            },
            rate_limits: RateLimits {
                window_secs: duration("rate_limits.window", &rl.window)?,
                signin_per_ip: rl.signin_per_ip,
                signin_failures_per_account: rl.signin_failures_per_account,
                user_code_per_ip: rl.user_code_per_ip,
            },
            routes: crate::proxy::config::validate_routes(&self.routes, &self.resources)?,
            roles,
            clients,
        })
    }
}

fn f_or(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        let c = RawConfig::default().validate().unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database_url, "sqlite://./ward-data/ward.db");
        assert_eq!(c.sessions.guest, 50 * 3600);
    }

    #[test]
    fn bad_values_name_key_value_and_expectation() {
        let raw = RawConfig {
            listen: "nonsense".into(),
            ..RawConfig::default()
        };
        let msg = raw.validate().unwrap_err().to_string();
        assert_eq!(
            msg,
            "invalid configuration: listen = \"nonsense\": expected an address such as 127.0.0.1:8080"
        );
        let mut raw = RawConfig::default();
        raw.tokens.access_token_ttl = "soon".into();
        let msg = raw.validate().unwrap_err().to_string();
        assert!(msg.contains("tokens.access_token_ttl = \"soon\""), "{msg}");
    }

    #[test]
    fn comma_lists() {
        let l = StringList::Comma("https://a.example, http://localhost:*".into());
        assert_eq!(l.items(), vec!["https://a.example", "http://localhost:*"]);
    }
}
