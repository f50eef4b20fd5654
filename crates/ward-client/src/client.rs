//! `Client`: the whole login story behind one handle — sign-in flows, profiles, credential
//! stores, the refreshing token source, status and logout.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::mpsc;
use url::Url;

use crate::browser;
use crate::clock::{parse_rfc3339, Clock, SystemClock};
use crate::config::{Config, ConfigFile, Profile};
use crate::credentials::{
    Credential, CredentialStore, FileStore, KeyringStore, MemoryStore, StoreKind,
};
use crate::device::{DevicePoller, Step};
use crate::error::{io_error, network_error, Error, Kind, Result};
use crate::flow::{fallback_from_pkce, initial_flow, AuthFlow, BrowserEnv};
use crate::fsutil;
use crate::oauth::{
    self, endpoint, post_form, token_error, DeviceAuthorization, Discovery, TokenError,
    TokenResponse, TokenValidation, UserProfile,
};
use crate::params::Params;
use crate::pkce::{AuthorizeRequest, CallbackCheck, Loopback, Pkce};
use crate::progress::{Event, Progress, Silent};
use crate::random;
use crate::Secret;

mod alias;
mod bound;
mod events;
mod flows;
mod helpers;
mod login;
mod messages;
mod profiles;
mod session;
mod terminal;

pub use alias::AliasSource;
pub use events::{EventStream, ServerEvent};
pub use terminal::TerminalPrompt;

/// Refresh an access token this long before it expires.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);
const KEYRING_TIMEOUT: Duration = Duration::from_secs(3);
const LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// What `login` should do.
#[derive(Debug)]
pub struct LoginOptions {
    /// Profile alias.
    pub alias: String,
    /// Server base URL.
    pub url: Url,
    /// Flow to use.
    pub flow: AuthFlow,
    /// `login_hint`.
    pub email: Option<String>,
    /// Never launch a browser (still prints the URL).
    pub no_browser: bool,
    /// Preferred loopback port (0: any).
    pub port: u16,
    /// How long each flow waits for the user.
    pub timeout: Duration,
    /// Lines typed by the user: a pasted redirect URL is accepted while PKCE waits.
    pub paste: Option<mpsc::UnboundedReceiver<String>>,
    /// The scopes to ask for, space-separated; `None`: the parameters' default
    /// (`openid offline_access`). The server decides what is granted.
    pub scope: Option<String>,
    /// Asks for the password and code of [`AuthFlow::Password`]; `None` where nobody can type
    /// (that flow then fails with a usage error).
    pub prompt: Option<Arc<dyn TerminalPrompt>>,
}

/// The result of a successful sign-in.
#[derive(Debug, Clone)]
pub struct LoginOutcome {
    /// Profile alias.
    pub alias: String,
    /// The stored profile.
    pub profile: Profile,
    /// Who signed in.
    pub user: UserProfile,
    /// The flow that succeeded.
    pub flow: AuthFlow,
    /// The credential store in use.
    pub store: String,
}

/// A usable access token.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The bearer value.
    pub token: Secret,
    /// Expiry (Unix seconds, local clock), `None` for API tokens without one.
    pub expires_at: Option<u64>,
    /// Where it came from.
    pub source: TokenOrigin,
    /// The key the token is bound to (RFC 9449): every request that carries it must be signed
    /// with it ([`Client::authorize`]). `None` for a bearer.
    pub dpop: Option<crate::dpop::DpopKey>,
}

/// Where an [`AccessToken`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenOrigin {
    /// `<PREFIX>_TOKEN` or an explicit override.
    Override,
    /// A stored API token.
    ApiToken,
    /// A stored session, still fresh.
    Cached,
    /// A stored session, just refreshed.
    Refreshed,
    /// A short-lived bearer exchanged for a DPoP-bound session's token ([`Client::tool_token`]).
    Exchanged,
}

/// What `status` found.
#[derive(Debug, Clone)]
pub struct Status {
    /// Profile alias (`None` when an override token was used without a profile).
    pub alias: String,
    /// Server URL.
    pub url: Url,
    /// The caller as the server sees it.
    pub user: UserProfile,
    /// Session or token expiry (Unix seconds).
    pub expires_at: Option<u64>,
    /// Credential store description, or the override's source.
    pub store: String,
    /// How the token was obtained.
    pub origin: TokenOrigin,
    /// What this credential may do (its effective permissions, from `/api/auth/validate`):
    /// an API token's scopes, or the role's permissions for a session. `None` when the server
    /// did not say.
    pub scopes: Option<Vec<String>>,
}

/// The embeddable client. Cheap to create; the HTTP client is built on first use.
pub struct Client {
    params: Params,
    config: ConfigFile,
    clock: Arc<dyn Clock>,
    progress: Arc<dyn Progress>,
    http: OnceLock<reqwest::Client>,
    memory: MemoryStore,
    token_override: Option<Secret>,
    /// Where the override came from (`--api-token`, `WARD_TOKEN`), for messages.
    override_source: String,
    /// The last `DPoP-Nonce` each origin sent (RFC 9449 §9), put in the next proofs there.
    dpop_nonces: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("params", &self.params)
            .field("config", &self.config.path())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client with `params`, the system clock and no progress reporting.
    pub fn new(params: Params) -> Self {
        let dir = params.resolved_config_dir();
        let config = ConfigFile::new(dir, params.product.clone());
        Self {
            params,
            config,
            clock: Arc::new(SystemClock),
            progress: Arc::new(Silent),
            http: OnceLock::new(),
            memory: MemoryStore::default(),
            token_override: None,
            override_source: String::new(),
            dpop_nonces: Default::default(),
        }
    }

    /// Reports events to `progress`.
    #[must_use]
    pub fn with_progress(mut self, progress: Arc<dyn Progress>) -> Self {
        self.progress = progress;
        self
    }

    /// Uses `clock` instead of the system clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Uses this token (an API token or access token) instead of stored credentials;
    /// by default `<PREFIX>_TOKEN` is used when set.
    #[must_use]
    pub fn with_token_override(mut self, token: Option<String>) -> Self {
        self.token_override = token.map(Secret::new);
        self.override_source = "--api-token".to_owned();
        self
    }

    /// Takes `<PREFIX>_TOKEN` as the override unless one was given.
    #[must_use]
    pub fn with_env_token(mut self) -> Self {
        if self.token_override.is_none() {
            self.token_override = self.params.env("TOKEN").map(Secret::new);
            self.override_source = format!("{}_TOKEN", self.params.env_prefix);
        }
        self
    }

    /// Login options with the defaults: `auto` flow, the configured port, a 5 minute timeout,
    /// a browser when one can open, no pasted input.
    pub fn login_options(&self, alias: impl Into<String>, url: Url) -> LoginOptions {
        LoginOptions {
            alias: alias.into(),
            url,
            flow: AuthFlow::Auto,
            email: None,
            no_browser: false,
            port: self.params.callback_port,
            timeout: Duration::from_secs(300),
            paste: None,
            scope: None,
            prompt: None,
        }
    }

    /// The parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The clock.
    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// The config file.
    pub fn config_file(&self) -> &ConfigFile {
        &self.config
    }

    /// Whether an override token is in effect.
    pub fn has_token_override(&self) -> bool {
        self.token_override.is_some()
    }

    /// Loads the config, reporting permission repairs.
    ///
    /// # Errors
    /// A config error naming the file when it is corrupt.
    pub fn load_config(&self) -> Result<Config> {
        let (config, mut repairs) = self.config.load()?;
        // The credentials file holds secrets: a loose mode is repaired and told, as the
        // config's is.
        let credentials = self.config.dir().join("credentials.json");
        if let Some(old_mode) = fsutil::repair_mode(&credentials, 0o600)? {
            repairs.push(crate::config::PermissionRepair {
                path: credentials,
                old_mode,
                new_mode: 0o600,
            });
        }
        for r in repairs {
            self.progress.report(&Event::PermissionsRepaired {
                path: r.path,
                old_mode: r.old_mode,
                new_mode: r.new_mode,
            });
        }
        Ok(config)
    }

    /// The server URL for `alias`: `flag` > `<PREFIX>_URL` > the profile's.
    ///
    /// # Errors
    /// A usage error when none is known, or the URL is malformed.
    pub fn resolve_url(&self, alias: &str, flag: Option<&str>) -> Result<Url> {
        if let Some(u) = flag.map(str::to_owned).or_else(|| self.params.env("URL")) {
            return oauth::parse_server_url(&u);
        }
        match self.load_config()?.profiles.get(alias) {
            Some(p) => oauth::parse_server_url(&p.url),
            None => Err(Error::new(
                Kind::NotSignedIn,
                format!("no server URL for profile {alias}"),
            )
            .with_hint(format!(
                "Please run: {} login {alias} <url>",
                self.params.product
            ))),
        }
    }

    fn http(&self) -> Result<&reqwest::Client> {
        if let Some(c) = self.http.get() {
            return Ok(c);
        }
        let mut b = reqwest::Client::builder()
            .user_agent(format!(
                "{}-cli/{}",
                self.params.product,
                env!("CARGO_PKG_VERSION")
            ))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30));
        if let Some(ca) = self.params.env("CA_FILE") {
            let pem =
                std::fs::read(&ca).map_err(|e| io_error(format!("cannot read CA file {ca}"), e))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                Error::new(
                    Kind::Config,
                    format!("CA file {ca} is not a PEM bundle: {e}"),
                )
            })?;
            if certs.is_empty() {
                return Err(Error::new(
                    Kind::Config,
                    format!("CA file {ca} contains no PEM certificate"),
                ));
            }
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        let c = b
            .build()
            .map_err(|e| Error::new(Kind::Config, format!("cannot set up HTTP: {e}")))?;
        Ok(self.http.get_or_init(|| c))
    }

    fn store(&self, kind: StoreKind) -> Arc<dyn CredentialStore> {
        match kind {
            StoreKind::Keyring => Arc::new(KeyringStore::new(
                self.params.keyring_service.clone(),
                KEYRING_TIMEOUT,
            )),
            StoreKind::File => Arc::new(FileStore::new(self.config.dir())),
            StoreKind::Memory => Arc::new(self.memory.clone()),
        }
    }

    fn store_of(&self, profile: &Profile) -> Arc<dyn CredentialStore> {
        let kind = profile
            .credential_store
            .as_deref()
            .and_then(StoreKind::parse)
            .unwrap_or(StoreKind::File);
        self.store(kind)
    }

    /// The store new secrets go to: `<PREFIX>_CREDENTIAL_STORE`, else the keyring when one
    /// answers quickly, else the 0600 file (reported once, at sign-in).
    ///
    /// # Errors
    /// A usage error for an unknown store name.
    pub fn choose_store(&self) -> Result<Arc<dyn CredentialStore>> {
        if let Some(name) = self.params.env("CREDENTIAL_STORE") {
            let kind = StoreKind::parse(&name).ok_or_else(|| {
                Error::usage(format!(
                    "{}_CREDENTIAL_STORE={name:?} is not one of keyring, file, memory",
                    self.params.env_prefix
                ))
            })?;
            // Forcing the keyring means secrets never land in a plaintext file: no keyring is
            // an error, not a fallback.
            if kind == StoreKind::Keyring {
                let keyring =
                    KeyringStore::new(self.params.keyring_service.clone(), KEYRING_TIMEOUT);
                if !keyring.available() {
                    return Err(self.keyring_forced_error("no OS keyring is available"));
                }
            }
            return Ok(self.store(kind));
        }
        let keyring = KeyringStore::new(self.params.keyring_service.clone(), KEYRING_TIMEOUT);
        if keyring.available() {
            return Ok(Arc::new(keyring));
        }
        let file = FileStore::new(self.config.dir());
        // Told once per config directory; `status` always names the store.
        let marker = self.config.dir().join(".plaintext-notice-shown");
        if !marker.exists() {
            self.progress.report(&Event::PlaintextStore {
                path: file.path().to_owned(),
                reason: "no OS keyring is available".into(),
            });
            let _ = fsutil::ensure_private_dir(self.config.dir())
                .and_then(|()| fsutil::write_private_atomic(&marker, b""));
        }
        Ok(Arc::new(file))
    }

    /// Sends an authenticated request to the gateway; returns the status and body.
    ///
    /// # Errors
    /// Not signed in, network errors.
    pub async fn api(
        &self,
        alias: &str,
        url_flag: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Vec<u8>)> {
        let url = self.resolve_url(alias, url_flag)?;
        let token = self.access_token(alias).await?;
        let target = endpoint(&url, path)?;
        let method = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
            .map_err(|_| Error::usage(format!("invalid HTTP method {method:?}")))?;
        let name = method.as_str().to_owned();
        let mut req = self.http()?.request(method, target.clone());
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let resp = self.send_authorized(req, &name, &target, &token).await?;
        let status = resp.status().as_u16();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| network_error(url.as_str(), e))?;
        Ok((status, bytes.to_vec()))
    }
}

/// The token in `c` when it can be used at `now` without refreshing.
pub(crate) fn usable(c: &Credential, now: u64) -> Option<AccessToken> {
    match c {
        Credential::ApiToken { token } => Some(AccessToken {
            token: token.clone(),
            expires_at: None,
            source: TokenOrigin::ApiToken,
            dpop: None,
        }),
        Credential::Session {
            access_token,
            access_expires_at,
            dpop_key,
            ..
        } if *access_expires_at > now + REFRESH_MARGIN.as_secs() => Some(AccessToken {
            token: access_token.clone(),
            expires_at: Some(*access_expires_at),
            source: TokenOrigin::Cached,
            // An unreadable key makes the token unusable: refreshing reports it.
            dpop: match dpop_key {
                Some(k) => Some(crate::dpop::DpopKey::from_secret(k.expose()).ok()?),
                None => None,
            },
        }),
        Credential::Session { .. } => None,
    }
}

/// Profile aliases are file-name safe: letters, digits, `.`, `_`, `-`.
///
/// # Errors
/// A usage error otherwise.
pub fn validate_alias(alias: &str) -> Result<()> {
    let ok = !alias.is_empty()
        && alias.len() <= 64
        && !alias.starts_with('.')
        && alias
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "invalid profile name {alias:?}: use letters, digits, '.', '_' or '-'"
        )))
    }
}

fn device_hostname() -> String {
    hostname::get()
        .ok()
        .map(|h| h.to_string_lossy().into_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};

    #[test]
    fn cached_token_is_used_until_the_margin() {
        let clock = ManualClock::at_unix(10_000);
        let c = Credential::Session {
            access_token: Secret::new("at"),
            access_expires_at: 10_000 + 3600,
            refresh_token: Some(Secret::new("rt")),
            dpop_key: None,
        };
        assert_eq!(
            usable(&c, clock.unix()).unwrap().source,
            TokenOrigin::Cached
        );
        clock.advance(3600 - 61);
        assert!(usable(&c, clock.unix()).is_some());
        clock.advance(1);
        assert!(usable(&c, clock.unix()).is_none());
        let api = Credential::ApiToken {
            token: Secret::new("ward_x"),
        };
        assert_eq!(
            usable(&api, u64::MAX / 2).unwrap().source,
            TokenOrigin::ApiToken
        );
    }

    #[test]
    fn aliases() {
        assert!(validate_alias("default").is_ok());
        assert!(validate_alias("prod-eu.1").is_ok());
        assert!(validate_alias("../x").unwrap_err().is_usage());
        assert!(validate_alias("").is_err());
        assert!(validate_alias("a b").is_err());
    }

    #[tokio::test]
    async fn a_bad_ca_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        // A prefix of its own, so no other test sees the variable.
        let params = Params {
            config_dir: Some(dir.path().to_owned()),
            env_prefix: "WARDCATEST".into(),
            ..Params::default()
        };
        let url = Url::parse("http://127.0.0.1:9").unwrap();
        let missing = dir.path().join("missing.pem");
        std::env::set_var("WARDCATEST_CA_FILE", &missing);
        let err = Client::new(params.clone())
            .validate_api_token(&url, "ward_x")
            .await
            .unwrap_err();
        assert!(err.is_io(), "{err:?}");
        assert!(err.to_string().contains("missing.pem"));
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        std::env::set_var("WARDCATEST_CA_FILE", &junk);
        let err = Client::new(params)
            .validate_api_token(&url, "ward_x")
            .await
            .unwrap_err();
        assert!(err.is_config(), "{err:?}");
        std::env::remove_var("WARDCATEST_CA_FILE");
    }

    #[tokio::test]
    async fn not_signed_in_without_profile() {
        let dir = tempfile::tempdir().unwrap();
        let client = Client::new(Params {
            config_dir: Some(dir.path().to_owned()),
            ..Params::default()
        });
        let err = client.access_token("default").await.unwrap_err();
        assert!(err.is_not_signed_in());
        assert!(err
            .hint()
            .unwrap()
            .starts_with("Please run: ward login default"));
    }
}
