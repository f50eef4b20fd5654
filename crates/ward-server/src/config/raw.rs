//! What serde reads: the `Raw*` sections with their built-in defaults.

use super::*;

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
    pub(super) fn validate(&self) -> Result<ward_core::account::SignupMode, ConfigError> {
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
