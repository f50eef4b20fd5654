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

mod registration;
pub use registration::*;

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

/// Environment values are parsed by type (`12345678` is a number); keys that hold text accept
/// such values as their text.
mod text {
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Text(String),
        Int(i64),
        Uint(u64),
        Float(f64),
        Bool(bool),
    }

    impl Scalar {
        fn into_text(self) -> String {
            match self {
                Scalar::Text(s) => s,
                Scalar::Int(i) => i.to_string(),
                Scalar::Uint(u) => u.to_string(),
                Scalar::Float(f) => f.to_string(),
                Scalar::Bool(b) => b.to_string(),
            }
        }
    }

    pub fn required<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        Scalar::deserialize(d).map(Scalar::into_text)
    }

    pub fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Option::<Scalar>::deserialize(d).map(|o| o.map(Scalar::into_text))
    }
}

/// `signup = true | false | "open" | "off" | "invite" | "approval"` (SPEC §2.14).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum RawSignup {
    Flag(bool),
    Mode(String),
}

impl From<bool> for RawSignup {
    fn from(b: bool) -> Self {
        RawSignup::Flag(b)
    }
}

impl RawSignup {
    fn validate(&self) -> Result<ward_core::account::SignupMode, ConfigError> {
        use ward_core::account::SignupMode;
        match self {
            RawSignup::Flag(true) => Ok(SignupMode::Open),
            RawSignup::Flag(false) => Ok(SignupMode::Off),
            RawSignup::Mode(m) => SignupMode::parse(m.trim()).ok_or_else(|| {
                invalid(
                    "signup",
                    m,
                    "true, false, \"open\", \"off\", \"invite\" or \"approval\"",
                )
            }),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub listen: String,
    pub public_url: Option<String>,
    #[serde(deserialize_with = "text::required")]
    pub data_dir: String,
    pub database_url: Option<String>,
    #[serde(deserialize_with = "text::required")]
    pub token_prefix: String,
    pub bootstrap_admin_email: Option<String>,
    #[serde(default, deserialize_with = "text::optional")]
    pub bootstrap_admin_password: Option<String>,
    pub log_format: String,
    #[serde(default, deserialize_with = "text::optional")]
    pub master_key: Option<String>,
    pub dev: bool,
    pub signup: RawSignup,
    pub device_flow: bool,
    /// `ward login --auth-flow password`: the password (and code) typed in the terminal
    /// approve the CLI's own device code (decision 164). Off by default.
    pub terminal_sign_in: bool,
    pub default_role: String,
    pub resources: Vec<String>,
    pub allowed_origins: StringList,
    pub block_empty_origin: bool,
    pub tokens: RawTokens,
    pub security: RawSecurity,
    pub sessions: RawSessions,
    pub rate_limits: RawRateLimits,
    pub mfa: RawMfa,
    /// `[password]`: what a chosen password must be (SPEC §2.14).
    #[serde(default)]
    pub password: RawPassword,
    /// `[smtp]`: where mail goes (SPEC §2.14), validated in `mail::config`.
    #[serde(default)]
    pub smtp: crate::mail::config::RawSmtp,
    /// `[branding]`: the product's name, logo, colour and support link (SPEC §2.14).
    #[serde(default)]
    pub branding: crate::branding::RawBranding,
    pub roles: BTreeMap<String, RawRole>,
    pub clients: Vec<RawClient>,
    #[serde(default)]
    pub idp: Vec<RawIdp>,
    /// `[[routes]]`: the identity-aware proxy (SPEC §2.8), validated in `proxy::config`.
    #[serde(default)]
    pub routes: Vec<crate::proxy::config::RawRoute>,
    /// `[proxy]`: settings of the proxy and forward-auth as a whole.
    #[serde(default)]
    pub proxy: crate::proxy::config::RawProxySettings,
    /// SPEC §2.12: CIDRs (or single addresses) of the proxies and load balancers in front of
    /// ward; only their `X-Forwarded-For` / `Forwarded` is read. Default: none.
    #[serde(default)]
    pub trusted_proxies: StringList,
    /// `[[webhooks]]` (SPEC §2.18), validated in `events::config`.
    #[serde(default)]
    pub webhooks: Vec<crate::events::config::RawWebhook>,
    /// `[events]`: webhook delivery and the event stream.
    #[serde(default)]
    pub events: crate::events::config::RawEvents,
    /// `[dpop]`: sender-constrained tokens (SPEC §2.16).
    #[serde(default)]
    pub dpop: crate::dpop::RawDpop,
    /// `[ssh]`: SSH user certificates (SPEC §2.17), validated in `ssh::config`.
    #[serde(default)]
    pub ssh: crate::ssh::config::RawSsh,
    /// `[[trust]]`: workload identity federation (SPEC §2.15), validated in `trust::config`.
    #[serde(default)]
    pub trust: Vec<crate::trust::config::RawTrust>,
    /// `[registration]`: dynamic client registration (SPEC §2.15), validated in
    /// `config::registration`.
    #[serde(default)]
    pub registration: RawRegistration,
}

/// An upstream identity provider (`[[idp]]`, SPEC §2.5).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawIdp {
    pub name: String,
    /// `oidc` or `github`.
    pub kind: String,
    /// OIDC: the issuer, whose `/.well-known/openid-configuration` is read.
    pub issuer: Option<String>,
    #[serde(deserialize_with = "text::required")]
    pub client_id: String,
    #[serde(default, deserialize_with = "text::optional")]
    pub client_secret: Option<String>,
    pub client_secret_file: Option<String>,
    /// Default: `openid email profile` (OIDC), `read:user user:email` (GitHub).
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Email domains routed to this IdP at the sign-in page.
    #[serde(default)]
    pub domains: Vec<String>,
    /// Email domains this IdP may sign in (checked on the email it returns). Default: `domains`;
    /// `["*"]` allows any.
    #[serde(default)]
    pub allowed_domains: Option<Vec<String>>,
    /// Link a first sign-in to an existing ward account with the same (verified) email instead
    /// of refusing it. Off by default: see docs/design/decisions.md.
    #[serde(default)]
    pub link_existing_accounts: bool,
    /// GitHub: endpoints, defaulting to github.com's (overridable for GitHub Enterprise Server).
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub api_url: Option<String>,
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

/// `[security]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSecurity {
    /// How recently a second factor (or, without MFA, the password) must have been proved for
    /// account-security operations (SPEC §2.11).
    pub reauth_window: String,
}

impl Default for RawSecurity {
    fn default() -> Self {
        RawSecurity {
            reauth_window: "10m".into(),
        }
    }
}

/// `[password]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawPassword {
    /// The zxcvbn score (0 to 4) a new password must reach.
    pub min_score: u8,
}

impl Default for RawPassword {
    fn default() -> Self {
        RawPassword {
            min_score: ward_core::account::DEFAULT_MIN_SCORE,
        }
    }
}

/// `[password]`, validated.
#[derive(Debug, Clone, Copy)]
pub struct PasswordPolicy {
    pub min_score: u8,
}

/// `[security]`, validated.
#[derive(Debug, Clone, Copy)]
pub struct SecurityConfig {
    /// Seconds.
    pub reauth_window: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSessions {
    pub cli_ttl: String,
    pub web_ttl: String,
    pub api_ttl: String,
    pub guest_ttl: String,
    pub idle_timeout: String,
    /// Guest mode ("Try without signing in", `POST /api/auth/guest`); needs a `guest` role.
    pub guests: bool,
    /// How often the sweeper deletes dead sessions and expired guests.
    pub sweep_interval: String,
    /// How long a dead (expired, idle or revoked) session is kept before the sweeper deletes
    /// it. Guest sessions and guest users are deleted at the first sweep after they end.
    pub retention: String,
}

impl Default for RawSessions {
    fn default() -> Self {
        RawSessions {
            cli_ttl: "90d".into(),
            web_ttl: "24h".into(),
            api_ttl: "90d".into(),
            guest_ttl: "50h".into(),
            idle_timeout: "30d".into(),
            // Off by default: anonymous sessions are an operator's choice (issue 18).
            guests: false,
            sweep_interval: "10m".into(),
            retention: "7d".into(),
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
    /// Guest sessions started per client IP per window.
    pub guests_per_ip: u32,
    /// Accounts created through sign-up (`signup = true`) per client IP per window.
    pub signups_per_ip: u32,
    /// Wrong client secrets per OAuth client per window (token, device, revoke, introspect).
    pub token_failures_per_client: u32,
    /// Wrong MFA codes (TOTP or backup, every place one is accepted) per account per window.
    pub mfa_failures_per_account: u32,
    /// Wrong device user codes (`/device` entry and decision) per account per window.
    pub user_code_failures_per_account: u32,
    /// Device authorizations (`POST /oauth/device/code`) per client IP per window: each writes
    /// a row for a caller that need not be anyone (SPEC §2.12).
    pub device_codes_per_ip: u32,
    /// Passkey sign-ins started (`POST /api/mfa/webauthn/authenticate/start`, mode `signin`)
    /// per client IP per window.
    pub passkey_starts_per_ip: u32,
}

impl Default for RawRateLimits {
    fn default() -> Self {
        RawRateLimits {
            window: "5m".into(),
            signin_per_ip: 60,
            signin_failures_per_account: 10,
            user_code_per_ip: 20,
            guests_per_ip: 10,
            signups_per_ip: 10,
            token_failures_per_client: 20,
            mfa_failures_per_account: 5,
            user_code_failures_per_account: 10,
            device_codes_per_ip: 30,
            passkey_starts_per_ip: 30,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawMfa {
    /// Users in these roles must enrol in MFA before they get a session.
    pub required_roles: Vec<String>,
    /// Resource kinds that can be locked behind MFA (`/api/security/{kind}/{id}/…`).
    pub lock_kinds: Vec<String>,
    /// How long a resource ticket from `…/verify` stays usable.
    pub ticket_ttl: String,
    /// The issuer shown in authenticator apps.
    pub totp_issuer: String,
    /// Per lock kind: after a verification, how long the same session may open connections to
    /// that resource without a new proof (`terminal = "10m"`; default `0s`, none).
    pub lock_grace: BTreeMap<String, String>,
}

impl Default for RawMfa {
    fn default() -> Self {
        RawMfa {
            required_roles: Vec::new(),
            lock_kinds: vec!["terminal".into(), "container".into(), "agent".into()],
            ticket_ttl: "60s".into(),
            totp_issuer: "ward".into(),
            lock_grace: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawRole {
    pub permissions: Vec<String>,
    pub limits: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
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
    /// A resource server: may introspect any token, not only those issued to it.
    #[serde(default)]
    pub introspect: bool,
    /// Where `/oauth/logout` may send the browser after signing out (exact match).
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Every grant at `/oauth/token` must come with a DPoP proof (SPEC §2.16).
    #[serde(default)]
    pub require_dpop: bool,
    /// The role its `client_credentials` tokens act with at the API, the proxy and
    /// forward-auth (within its `scopes`); without one they act nowhere at ward (SPEC §2.15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
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
                // Anonymous visitors: look, do not touch (issue 18). An operator who turns
                // guests on grants more deliberately.
                permissions: vec!["containers:read".into()],
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
            signup: RawSignup::Flag(false),
            device_flow: true,
            terminal_sign_in: false,
            default_role: "user".into(),
            resources: DEFAULT_RESOURCES.iter().map(|s| s.to_string()).collect(),
            allowed_origins: StringList::Empty,
            block_empty_origin: false,
            tokens: RawTokens::default(),
            security: RawSecurity::default(),
            sessions: RawSessions::default(),
            rate_limits: RawRateLimits::default(),
            mfa: RawMfa::default(),
            password: RawPassword::default(),
            smtp: Default::default(),
            branding: Default::default(),
            roles,
            clients: Vec::new(),
            idp: Vec::new(),
            routes: Vec::new(),
            proxy: Default::default(),
            trusted_proxies: StringList::Empty,
            webhooks: Vec::new(),
            events: Default::default(),
            dpop: Default::default(),
            ssh: Default::default(),
            trust: Vec::new(),
            registration: RawRegistration::default(),
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
    "terminal_sign_in",
    "default_role",
    "resources",
    "allowed_origins",
    "block_empty_origin",
    "trusted_proxies",
];
const ENV_SECTIONS: &[&str] = &[
    "tokens",
    "security",
    "branding",
    "sessions",
    "rate_limits",
    "mfa",
    "password",
    "smtp",
    "roles",
    "proxy",
    "events",
    "dpop",
    "registration",
];
/// Variables the CLI reads; the server ignores them without a warning.
const CLI_ENV: &[&str] = &[
    "log",
    "test_pg_url",
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
                .filter(|k| env_key_known(&k.as_str().to_ascii_lowercase()))
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

// Built once at start-up; boxing the GitHub URLs would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdpKind {
    /// Any OpenID Connect provider, found by discovery from its issuer. Kept as written: the
    /// discovery document's `issuer` must match it exactly (OIDC Discovery §4.3), trailing slash
    /// included.
    Oidc { issuer: String },
    /// GitHub's OAuth apps (not OIDC): `/user` and `/user/emails` give the identity.
    Github {
        authorize_url: Url,
        token_url: Url,
        api_url: Url,
    },
}

impl IdpKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            IdpKind::Oidc { .. } => "oidc",
            IdpKind::Github { .. } => "github",
        }
    }
}

/// A validated `[[idp]]`.
#[derive(Debug, Clone)]
pub struct IdpConfig {
    pub name: String,
    pub kind: IdpKind,
    pub client_id: String,
    pub client_secret: ward_core::Secret<String>,
    pub scopes: Vec<String>,
    /// Lowercased.
    pub domains: Vec<String>,
    /// Lowercased; `*` allows any domain.
    pub allowed_domains: Vec<String>,
    pub link_existing_accounts: bool,
}

impl IdpConfig {
    /// Whether this IdP may sign in an email at `domain`.
    pub fn allows_domain(&self, domain: &str) -> bool {
        let domain = domain.to_ascii_lowercase();
        self.allowed_domains
            .iter()
            .any(|d| d == "*" || *d == domain)
    }
}

/// The IdP an email's domain is routed to, if any.
pub fn idp_for_email<'a>(idps: &'a [IdpConfig], email: &str) -> Option<&'a IdpConfig> {
    let domain = email.rsplit_once('@')?.1.to_ascii_lowercase();
    idps.iter().find(|i| i.domains.contains(&domain))
}

fn is_domain(d: &str) -> bool {
    !d.is_empty()
        && d.len() <= 253
        && !d.starts_with('.')
        && !d.ends_with('.')
        && d.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// An https URL (http only on loopback, for development and tests).
fn endpoint(key: &str, value: &str, expected: &str) -> Result<Url, ConfigError> {
    Url::parse(value)
        .ok()
        .filter(|u| {
            u.host().is_some()
                && (u.scheme() == "https" || (u.scheme() == "http" && is_loopback(u)))
        })
        .ok_or_else(|| invalid(key, value, expected))
}

fn validate_idps(raw: &[RawIdp]) -> Result<Vec<IdpConfig>, ConfigError> {
    let mut idps: Vec<IdpConfig> = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        let key = format!("idp[{i}]");
        if r.name.is_empty()
            || r.name.len() > 32
            || !r
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            || idps.iter().any(|seen| seen.name == r.name)
        {
            return Err(invalid(
                &format!("{key}.name"),
                &r.name,
                "a unique name of 1 to 32 lowercase letters, digits, - or _ (it is part of the callback URL)",
            ));
        }
        let key = format!("idp.{}", r.name);
        let github_default = |field: &str, value: &Option<String>, default: &str| {
            endpoint(
                &format!("{key}.{field}"),
                value.as_deref().unwrap_or(default),
                "an https URL",
            )
        };
        let kind = match r.kind.as_str() {
            "oidc" => {
                for (field, v) in [
                    ("authorize_url", &r.authorize_url),
                    ("token_url", &r.token_url),
                    ("api_url", &r.api_url),
                ] {
                    if let Some(v) = v {
                        return Err(invalid(
                            &format!("{key}.{field}"),
                            v,
                            "nothing: an oidc IdP's endpoints come from discovery (set issuer)",
                        ));
                    }
                }
                let issuer = r.issuer.as_deref().ok_or_else(|| {
                    invalid(
                        &format!("{key}.issuer"),
                        "",
                        "the IdP's issuer URL, such as https://accounts.google.com",
                    )
                })?;
                endpoint(
                    &format!("{key}.issuer"),
                    issuer,
                    "an https issuer URL, such as https://accounts.google.com",
                )?;
                IdpKind::Oidc {
                    issuer: issuer.trim().to_string(),
                }
            }
            "github" => {
                if let Some(v) = &r.issuer {
                    return Err(invalid(
                        &format!("{key}.issuer"),
                        v,
                        "nothing: GitHub is not an OIDC provider (use authorize_url, token_url, api_url)",
                    ));
                }
                IdpKind::Github {
                    authorize_url: github_default(
                        "authorize_url",
                        &r.authorize_url,
                        "https://github.com/login/oauth/authorize",
                    )?,
                    token_url: github_default(
                        "token_url",
                        &r.token_url,
                        "https://github.com/login/oauth/access_token",
                    )?,
                    api_url: github_default("api_url", &r.api_url, "https://api.github.com")?,
                }
            }
            other => return Err(invalid(&format!("{key}.kind"), other, "oidc or github")),
        };
        if r.client_id.is_empty() {
            return Err(invalid(
                &format!("{key}.client_id"),
                "",
                "the client id registered at the IdP",
            ));
        }
        let client_secret = match (&r.client_secret, &r.client_secret_file) {
            (Some(s), None) => s.clone(),
            (None, Some(f)) => std::fs::read_to_string(f)
                .map_err(|e| ConfigError::Read {
                    path: f.clone(),
                    reason: e.to_string(),
                })?
                .trim()
                .to_string(),
            (Some(_), Some(f)) => {
                return Err(invalid(
                    &format!("{key}.client_secret_file"),
                    f,
                    "either client_secret or client_secret_file, not both",
                ))
            }
            (None, None) => {
                return Err(invalid(
                    &format!("{key}.client_secret"),
                    "",
                    "the client secret registered at the IdP (or client_secret_file)",
                ))
            }
        };
        if client_secret.is_empty() {
            return Err(invalid(
                &format!("{key}.client_secret"),
                "",
                "a non-empty client secret",
            ));
        }
        let domain_list = |field: &str, list: &[String], star: bool| {
            list.iter()
                .map(|d| {
                    let d = d.trim().to_ascii_lowercase();
                    if is_domain(&d) || (star && d == "*") {
                        Ok(d)
                    } else {
                        Err(invalid(
                            &format!("{key}.{field}"),
                            &d,
                            if star {
                                "email domains such as example.com, or \"*\" for any"
                            } else {
                                "email domains such as example.com"
                            },
                        ))
                    }
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let domains = domain_list("domains", &r.domains, false)?;
        for d in &domains {
            if let Some(other) = idps.iter().find(|o| o.domains.contains(d)) {
                return Err(invalid(
                    &format!("{key}.domains"),
                    d,
                    &format!(
                        "a domain routed to one IdP only (it is routed to {} already)",
                        other.name
                    ),
                ));
            }
        }
        let allowed_domains = match &r.allowed_domains {
            Some(list) => domain_list("allowed_domains", list, true)?,
            None => domains.clone(),
        };
        if allowed_domains.is_empty() {
            return Err(invalid(
                &format!("{key}.allowed_domains"),
                "[]",
                "at least one email domain this IdP may sign in (or list them under domains)",
            ));
        }
        let scopes = match (&r.scopes, &kind) {
            (Some(s), IdpKind::Oidc { .. }) => {
                let mut s = s.clone();
                if !s.iter().any(|x| x == "openid") {
                    s.insert(0, "openid".into());
                }
                s
            }
            (Some(s), IdpKind::Github { .. }) => s.clone(),
            (None, IdpKind::Oidc { .. }) => vec!["openid".into(), "email".into(), "profile".into()],
            (None, IdpKind::Github { .. }) => vec!["read:user".into(), "user:email".into()],
        };
        idps.push(IdpConfig {
            name: r.name.clone(),
            kind,
            client_id: r.client_id.clone(),
            client_secret: ward_core::Secret::new(client_secret),
            scopes,
            domains,
            allowed_domains,
            link_existing_accounts: r.link_existing_accounts,
        });
    }
    Ok(idps)
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
        if self.terminal_sign_in && !self.device_flow {
            // Terminal sign-in approves the CLI's own device code (decision 164).
            return Err(invalid(
                "terminal_sign_in",
                "true",
                "false while device_flow = false (terminal sign-in approves a device code)",
            ));
        }
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
            let segments_ok = r.split(':').all(|seg| {
                !seg.is_empty()
                    && seg
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            });
            if !segments_ok || r == ward_core::scope::ADMIN_RESOURCE {
                return Err(invalid(
                    "resources",
                    r,
                    "resource names of letters, digits, '-', '_' or '.', optionally namespaced with ':' (convox:app), other than the reserved \"admin\"",
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
        let mut clients: Vec<ClientConfig> = Vec::new();
        for (i, c) in self.clients.iter().enumerate() {
            let key = format!("clients[{i}]");
            if c.id.is_empty()
                || c.id == ward_proto::CLI_CLIENT_ID
                || clients.iter().any(|seen| seen.id == c.id)
            {
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
                if ![
                    "authorization_code",
                    "refresh_token",
                    "client_credentials",
                    ward_core::exchange::TOKEN_EXCHANGE_GRANT,
                ]
                .contains(&g.as_str())
                {
                    return Err(invalid(
                        &format!("{key}.grant_types"),
                        g,
                        "authorization_code, refresh_token, client_credentials or urn:ietf:params:oauth:grant-type:token-exchange",
                    ));
                }
            }
            for sc in &c.scopes {
                if !ward_core::scope::is_oidc_scope(sc)
                    && ward_core::scope::Permission::parse(sc, &self.resources).is_none()
                {
                    return Err(invalid(
                        &format!("{key}.scopes"),
                        sc,
                        "an OIDC scope (openid, profile, email, offline_access) or resource:action with a configured resource",
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
            for u in &c.post_logout_redirect_uris {
                if Url::parse(u).is_err() {
                    return Err(invalid(
                        &format!("{key}.post_logout_redirect_uris"),
                        u,
                        "absolute URLs",
                    ));
                }
            }
            if let Some(role) = &c.role {
                if !roles.contains(role) || role == crate::guest::GUEST_ROLE {
                    return Err(invalid(
                        &format!("{key}.role"),
                        role,
                        "the name of a configured role (not guest)",
                    ));
                }
                if !c.grant_types.iter().any(|g| g == "client_credentials") {
                    return Err(invalid(
                        &format!("{key}.role"),
                        role,
                        "a client whose grant_types include client_credentials",
                    ));
                }
            }
            clients.push(ClientConfig {
                role: c.role.clone(),
                id: c.id.clone(),
                secret,
                redirect_uris: c.redirect_uris.clone(),
                grant_types: c.grant_types.clone(),
                scopes: c.scopes.clone(),
                introspect: c.introspect,
                post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
                require_dpop: c.require_dpop,
            });
        }
        for (i, r) in self.mfa.required_roles.iter().enumerate() {
            if !roles.contains(r) {
                return Err(invalid(
                    &format!("mfa.required_roles[{i}]"),
                    r,
                    "the name of a configured role",
                ));
            }
        }
        for (i, k) in self.mfa.lock_kinds.iter().enumerate() {
            if k.is_empty()
                || !k
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(invalid(
                    &format!("mfa.lock_kinds[{i}]"),
                    k,
                    "letters, digits, - or _",
                ));
            }
        }
        let mut lock_grace = BTreeMap::new();
        for (kind, value) in &self.mfa.lock_grace {
            let key = format!("mfa.lock_grace.{kind}");
            if !self.mfa.lock_kinds.contains(kind) {
                return Err(invalid(
                    &key,
                    value,
                    "a grace for a kind listed in mfa.lock_kinds",
                ));
            }
            let d: Duration = humantime::parse_duration(value)
                .map_err(|_| invalid(&key, value, "a duration such as 0s, 90s or 10m"))?;
            let secs = i64::try_from(d.as_secs())
                .ok()
                .filter(|s| *s <= 86_400)
                .ok_or_else(|| invalid(&key, value, "a duration of at most 24h"))?;
            if secs > 0 {
                lock_grace.insert(kind.clone(), secs);
            }
        }
        let mfa = MfaConfig {
            required_roles: self.mfa.required_roles.clone(),
            lock_kinds: self.mfa.lock_kinds.clone(),
            ticket_ttl: duration("mfa.ticket_ttl", &self.mfa.ticket_ttl)?,
            // The authenticator app names the account by the product when the issuer is left
            // at its default.
            totp_issuer: match self.branding.product_name.as_deref() {
                Some(name) if self.mfa.totp_issuer == "ward" && !name.trim().is_empty() => {
                    name.trim().to_string()
                }
                _ => self.mfa.totp_issuer.clone(),
            },
            lock_grace,
        };
        let idps = validate_idps(&self.idp)?;
        let s = &self.sessions;
        let rl = &self.rate_limits;
        Ok(Config {
            store_cache_ttl: ward_store::DEFAULT_CACHE_TTL,
            listen,
            public_url,
            data_dir,
            database_url,
            token_prefix: self.token_prefix.clone(),
            bootstrap_admin,
            log_format,
            master_key: self.master_key.clone(),
            dev: self.dev,
            signup: self.signup.validate()?,
            device_flow: self.device_flow,
            terminal_sign_in: self.terminal_sign_in,
            default_role: self.default_role.clone(),
            resources: self.resources.clone(),
            allowed_origins: self.allowed_origins.items(),
            block_empty_origin: self.block_empty_origin,
            access_token_ttl: duration("tokens.access_token_ttl", &self.tokens.access_token_ttl)?,
            security: SecurityConfig {
                reauth_window: duration("security.reauth_window", &self.security.reauth_window)?,
            },
            smtp: self.smtp.validate()?,
            branding: std::sync::Arc::new(self.branding.validate()?),
            password: PasswordPolicy {
                min_score: match self.password.min_score {
                    s @ 0..=4 => s,
                    s => {
                        return Err(invalid(
                            "password.min_score",
                            s,
                            "a zxcvbn score from 0 to 4",
                        ))
                    }
                },
            },
            sessions: SessionLifetimes {
                cli: duration("sessions.cli_ttl", &s.cli_ttl)?,
                web: duration("sessions.web_ttl", &s.web_ttl)?,
                api: duration("sessions.api_ttl", &s.api_ttl)?,
                guest: duration("sessions.guest_ttl", &s.guest_ttl)?,
                idle_timeout: duration("sessions.idle_timeout", &s.idle_timeout)?,
                guests: s.guests,
                sweep_interval: duration("sessions.sweep_interval", &s.sweep_interval)?,
                retention: duration("sessions.retention", &s.retention)?,
            },
            rate_limits: RateLimits {
                window_secs: duration("rate_limits.window", &rl.window)?,
                signin_per_ip: rl.signin_per_ip,
                signin_failures_per_account: rl.signin_failures_per_account,
                user_code_per_ip: rl.user_code_per_ip,
                guests_per_ip: rl.guests_per_ip,
                signups_per_ip: rl.signups_per_ip,
                token_failures_per_client: rl.token_failures_per_client,
                mfa_failures_per_account: rl.mfa_failures_per_account,
                user_code_failures_per_account: rl.user_code_failures_per_account,
                device_codes_per_ip: rl.device_codes_per_ip,
                passkey_starts_per_ip: rl.passkey_starts_per_ip,
            },
            routes: crate::proxy::config::validate_routes(
                &self.routes,
                &self.resources,
                &mfa.lock_kinds,
            )?,
            proxy: self.proxy.validate()?,
            trusted_proxies: validate_trusted_proxies(&self.trusted_proxies.items())?,
            events: crate::events::config::validate(&self.webhooks, &self.events)?,
            dpop: self.dpop.validate()?,
            trust: crate::trust::config::validate(&self.trust)?,
            registration: self.registration.validate(&self.resources)?,
            ssh: crate::ssh::config::validate(
                &self.ssh,
                &self.roles.keys().cloned().collect::<Vec<_>>(),
                &self.mfa.lock_kinds,
            )?,
            mfa,
            roles,
            clients,
            idps,
        })
    }
}

/// `10.0.0.0/8`, `2001:db8::/32`, or a single address (`192.0.2.7`, taken as `/32` or `/128`).
fn validate_trusted_proxies(items: &[String]) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            item.parse::<ipnet::IpNet>()
                .or_else(|_| item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map(|net| net.trunc())
                .map_err(|_| {
                    invalid(
                        &format!("trusted_proxies[{i}]"),
                        item,
                        "a CIDR such as 10.0.0.0/8 or an IP address",
                    )
                })
        })
        .collect()
}

fn f_or(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error
mod tests {
    use super::*;

    #[test]
    fn guests_are_off_and_read_only_by_default() {
        let c = RawConfig::default().validate().unwrap();
        assert!(!c.sessions.guests);
        let guest = c.roles.get("guest").unwrap();
        assert_eq!(guest.permissions, vec!["containers:read".to_string()]);
    }

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

    fn load_validated(flags: &FlagOverrides) -> Result<(Config, Vec<String>), String> {
        let (raw, warnings) = load(None, flags).map_err(|e| e.to_string())?;
        raw.validate()
            .map(|c| (c, warnings))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn precedence_defaults_file_env_flags() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "ward.toml",
                "listen = \"127.0.0.1:7000\"\ntoken_prefix = \"file\"\n[sessions]\ncli_ttl = \"2h\"\n",
            )?;
            let (c, _) = load_validated(&FlagOverrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(c.listen.port(), 7000);
            assert_eq!(c.token_prefix, "file");
            assert_eq!(c.sessions.cli, 7200);
            jail.set_env("WARD_LISTEN", "127.0.0.1:7001");
            jail.set_env("WARD_TOKEN_PREFIX", "rexec");
            jail.set_env("WARD_SESSIONS__CLI_TTL", "1h");
            jail.set_env("WARD_BOOTSTRAP_ADMIN_EMAIL", "ops@example.com");
            jail.set_env("WARD_BOOTSTRAP_ADMIN_PASSWORD", "12345678");
            jail.set_env("ALLOWED_ORIGINS", "https://a.example,http://localhost:*");
            jail.set_env("BLOCK_EMPTY_ORIGIN", "true");
            let (c, _) = load_validated(&FlagOverrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(c.listen.port(), 7001);
            assert_eq!(c.token_prefix, "rexec");
            assert_eq!(c.sessions.cli, 3600);
            assert_eq!(
                c.bootstrap_admin,
                Some(("ops@example.com".to_string(), "12345678".to_string()))
            );
            assert_eq!(
                c.allowed_origins,
                vec!["https://a.example", "http://localhost:*"]
            );
            assert!(c.block_empty_origin);
            let flags = FlagOverrides {
                listen: Some("127.0.0.1:7002".into()),
                ..FlagOverrides::default()
            };
            let (c, _) = load_validated(&flags).map_err(|e| e.to_string())?;
            assert_eq!(c.listen.port(), 7002);
            Ok(())
        });
    }

    #[test]
    fn bad_environment_value_names_the_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("WARD_LISTEN", "nonsense");
            let err = load_validated(&FlagOverrides::default()).unwrap_err();
            assert_eq!(
                err,
                "invalid configuration: listen = \"nonsense\": expected an address such as 127.0.0.1:8080"
            );
            Ok(())
        });
    }

    #[test]
    fn unknown_variables_are_warned_about_cli_ones_are_not() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("WARD_LISTN", "127.0.0.1:1");
            jail.set_env("WARD_TOKEN", "ward_x");
            jail.set_env("WARD_LOG", "debug");
            let (_, warnings) =
                load_validated(&FlagOverrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(
                warnings,
                vec!["ignoring unknown environment variable WARD_LISTN"]
            );
            Ok(())
        });
    }

    fn idp(name: &str, kind: &str) -> RawIdp {
        RawIdp {
            name: name.into(),
            kind: kind.into(),
            issuer: (kind == "oidc").then(|| "https://idp.example.com".to_string()),
            client_id: "ward".into(),
            client_secret: Some("s3cret".into()),
            domains: vec!["Example.COM".into()],
            ..RawIdp::default()
        }
    }

    fn idp_error(idps: Vec<RawIdp>) -> String {
        RawConfig {
            idp: idps,
            ..RawConfig::default()
        }
        .validate()
        .unwrap_err()
        .to_string()
    }

    #[test]
    fn idp_defaults() {
        let c = RawConfig {
            idp: vec![idp("corp", "oidc"), {
                let mut g = idp("gh", "github");
                g.domains = vec!["gh.example".into()];
                g.allowed_domains = Some(vec!["*".into()]);
                g
            }],
            ..RawConfig::default()
        }
        .validate()
        .unwrap();
        let corp = &c.idps[0];
        assert_eq!(corp.domains, vec!["example.com"]);
        assert_eq!(
            corp.allowed_domains,
            vec!["example.com"],
            "defaults to domains"
        );
        assert_eq!(corp.scopes, vec!["openid", "email", "profile"]);
        assert!(!corp.link_existing_accounts);
        assert!(format!("{corp:?}").contains("[redacted]"));
        let gh = &c.idps[1];
        assert_eq!(
            gh.kind,
            IdpKind::Github {
                authorize_url: Url::parse("https://github.com/login/oauth/authorize").unwrap(),
                token_url: Url::parse("https://github.com/login/oauth/access_token").unwrap(),
                api_url: Url::parse("https://api.github.com").unwrap(),
            }
        );
        assert!(gh.allows_domain("anything.example"));
        assert_eq!(
            idp_for_email(&c.idps, "a@EXAMPLE.com").unwrap().name,
            "corp"
        );
        assert!(idp_for_email(&c.idps, "a@other.example").is_none());
    }

    #[test]
    fn idp_errors_name_key_value_and_expectation() {
        let mut bad_kind = idp("corp", "saml");
        bad_kind.issuer = None;
        assert_eq!(
            idp_error(vec![bad_kind]),
            "invalid configuration: idp.corp.kind = \"saml\": expected oidc or github"
        );
        let mut plain_http = idp("corp", "oidc");
        plain_http.issuer = Some("http://idp.example.com".into());
        assert!(idp_error(vec![plain_http])
            .starts_with("invalid configuration: idp.corp.issuer = \"http://idp.example.com\": expected an https issuer URL"));
        let mut no_issuer = idp("corp", "oidc");
        no_issuer.issuer = None;
        assert!(idp_error(vec![no_issuer]).contains("idp.corp.issuer"));
        let mut two_secrets = idp("corp", "oidc");
        two_secrets.client_secret_file = Some("/run/secret".into());
        assert!(idp_error(vec![two_secrets]).contains("idp.corp.client_secret_file"));
        let mut gh_issuer = idp("gh", "github");
        gh_issuer.issuer = Some("https://github.com".into());
        assert!(idp_error(vec![gh_issuer]).contains("GitHub is not an OIDC provider"));
        assert!(idp_error(vec![idp("Corp!", "oidc")]).contains("idp[0].name = \"Corp!\""));
        let msg = idp_error(vec![idp("a", "oidc"), idp("b", "oidc")]);
        assert!(
            msg.contains("idp.b.domains = \"example.com\"") && msg.contains("routed to a already"),
            "{msg}"
        );
        let mut bad_domain = idp("corp", "oidc");
        bad_domain.allowed_domains = Some(vec!["not a domain".into()]);
        assert!(idp_error(vec![bad_domain]).contains("idp.corp.allowed_domains"));
    }

    #[test]
    fn a_client_role_must_be_configured() {
        let client = |role: &str| RawClient {
            id: "ci".into(),
            secret: Some("a secret of some length".into()),
            grant_types: vec!["client_credentials".into()],
            role: Some(role.into()),
            ..RawClient::default()
        };
        let raw = RawConfig {
            clients: vec![client("deployer")],
            ..RawConfig::default()
        };
        let e = raw.validate().unwrap_err().to_string();
        assert!(
            e.contains("clients[0].role") && e.contains("deployer"),
            "{e}"
        );
        let raw = RawConfig {
            clients: vec![client("user")],
            ..RawConfig::default()
        };
        assert!(raw.validate().is_ok());
    }

    #[test]
    fn duplicate_client_ids_are_refused() {
        let client = RawClient {
            id: "app".into(),
            secret: None,
            secret_file: None,
            redirect_uris: vec![],
            grant_types: vec![],
            scopes: vec![],
            introspect: false,
            ..RawClient::default()
        };
        let raw = RawConfig {
            clients: vec![client.clone(), client],
            ..RawConfig::default()
        };
        assert!(raw
            .validate()
            .unwrap_err()
            .to_string()
            .contains("clients[1].id"));
    }
}
