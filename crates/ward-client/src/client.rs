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
use crate::secret::Secret;

mod alias;
mod bound;
mod events;
mod helpers;
mod messages;
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

    async fn discover(&self, url: &Url) -> Result<Discovery> {
        oauth::discover(self.http()?, url).await
    }

    /// Signs in with the chosen flow and stores the session.
    ///
    /// # Errors
    /// Network, timeout, denial, or storage errors.
    ///
    /// # Cancel safety
    /// Nothing is written before the token exchange succeeded; the config and secret writes are
    /// each atomic.
    pub async fn login(&self, mut opts: LoginOptions) -> Result<LoginOutcome> {
        validate_alias(&opts.alias)?;
        let discovery = self.discover(&opts.url).await?;
        let device_available = discovery.device_authorization_endpoint.is_some();
        if opts.flow == AuthFlow::DeviceCode && !device_available {
            return Err(Error::new(
                Kind::DeviceFlowDisabled,
                "the server has switched the device flow off",
            )
            .with_hint(format!(
                "Use --auth-flow pkce, or sign in with an API token: {} login --token …",
                self.params.product
            )));
        }
        let existing = self.load_config()?.profiles.remove(&opts.alias);
        let device_id = existing
            .as_ref()
            .and_then(|p| p.device_id.clone())
            .unwrap_or_else(|| random::hex_id(16));
        let device_name = existing
            .as_ref()
            .and_then(|p| p.device_name.clone())
            .unwrap_or_else(device_hostname);
        let login_hint = opts
            .email
            .clone()
            .or_else(|| existing.as_ref().and_then(|p| p.email.clone()));
        let env = BrowserEnv::detect(opts.no_browser);
        let mut flow = initial_flow(opts.flow, &env, device_available);
        if opts.flow == AuthFlow::Auto && flow == AuthFlow::DeviceCode {
            self.progress.report(&Event::FlowChosen {
                flow: "device_code".into(),
                reason: format!(
                    "no browser can be opened here: {}{}",
                    env.why_not().unwrap_or("unknown"),
                    if discovery.ward_terminal_sign_in_endpoint.is_some() {
                        " (or type your password here instead: --auth-flow password)"
                    } else {
                        ""
                    }
                ),
            });
        }
        // SPEC §2.16: a new key per sign-in, when the server binds tokens to keys; Ed25519
        // when it verifies EdDSA (cheaper for it), else P-256 (decision 181).
        let key = crate::dpop::DpopKey::for_server(&discovery.dpop_signing_alg_values_supported);
        let tokens = loop {
            let attempt = match flow {
                AuthFlow::Password => {
                    self.password_flow(
                        &discovery,
                        &opts,
                        login_hint.as_deref(),
                        &device_id,
                        &device_name,
                        key.as_ref(),
                    )
                    .await
                }
                AuthFlow::DeviceCode => {
                    self.device_flow(
                        &discovery,
                        &opts,
                        &device_id,
                        &device_name,
                        &env,
                        key.as_ref(),
                    )
                    .await
                }
                _ => {
                    self.pkce_flow(
                        &discovery,
                        &mut opts,
                        login_hint.as_deref(),
                        &device_id,
                        &device_name,
                        &env,
                        key.as_ref(),
                    )
                    .await
                }
            };
            match attempt {
                Ok(t) => break t,
                Err(e) if flow == AuthFlow::Pkce => {
                    let reason = fallback_from_pkce(opts.flow, e, device_available)?;
                    self.progress.report(&Event::Fallback {
                        from: "pkce".into(),
                        to: "device_code".into(),
                        reason,
                    });
                    flow = AuthFlow::DeviceCode;
                }
                Err(e) => return Err(e),
            }
        };
        self.progress.report(&Event::Done);
        let now = self.clock.unix();
        // A server that answered with a bearer did not bind: the key is not kept.
        let bound = tokens
            .token_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("dpop"));
        let credential = Credential::Session {
            access_expires_at: now + tokens.expires_in.unwrap_or(3600),
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            dpop_key: key.filter(|_| bound).map(|k| Secret::new(k.to_secret())),
        };
        let first = usable(&credential, 0).ok_or_else(|| {
            Error::new(
                Kind::Protocol,
                "the server answered without a usable access token",
            )
        })?;
        let user = self.fetch_profile(&opts.url, &first).await?;
        let profile = Profile {
            url: opts.url.to_string(),
            email: Some(user.email.clone()).filter(|e| !e.is_empty()),
            user_id: Some(user.id.clone()).filter(|e| !e.is_empty()),
            session_id: user.session.as_ref().map(|s| s.id.clone()),
            expires_at: user.session.as_ref().and_then(|s| s.expires_at.clone()),
            device_id: Some(device_id),
            device_name: Some(device_name),
            mfa_verified: user.session.as_ref().and_then(|s| s.mfa_verified),
            credential_store: None,
        };
        let previous = existing
            .as_ref()
            .filter(|p| p.credential_store.is_some())
            .and_then(|p| self.store_of(p).load(&opts.alias).ok().flatten());
        let store = self
            .save_profile(&opts.alias, existing.as_ref(), profile, &credential)
            .await?;
        // Signing in again replaces the profile's session: revoke the old one (best effort) so
        // it does not linger on the server.
        if let Some(Credential::Session {
            refresh_token: Some(old),
            ..
        }) = previous
        {
            if let Some(rev) = discovery.revocation_endpoint.as_deref() {
                if let Ok(http) = self.http() {
                    let _ = http
                        .post(rev)
                        .form(&[
                            ("token", old.expose()),
                            ("token_type_hint", "refresh_token"),
                            ("client_id", &self.params.client_id),
                        ])
                        .send()
                        .await;
                }
            }
        }
        Ok(LoginOutcome {
            alias: opts.alias,
            profile: store.0,
            user,
            flow,
            store: store.1,
        })
    }

    /// Checks an API token with `/api/tokens/validate` and stores it.
    ///
    /// # Errors
    /// An invalid-token error when the server rejects it.
    pub async fn login_with_api_token(
        &self,
        alias: &str,
        url: &Url,
        token: &str,
    ) -> Result<LoginOutcome> {
        validate_alias(alias)?;
        let token = token.trim();
        let v = self.validate_api_token(url, token).await?;
        let existing = self.load_config()?.profiles.remove(alias);
        let credential = Credential::ApiToken {
            token: Secret::new(token),
        };
        let profile = Profile {
            url: url.to_string(),
            email: Some(v.email.clone()).filter(|e| !e.is_empty()),
            user_id: Some(v.user_id.clone()).filter(|e| !e.is_empty()),
            session_id: None,
            expires_at: v.expires_at.clone(),
            device_id: existing.as_ref().and_then(|p| p.device_id.clone()),
            device_name: existing.as_ref().and_then(|p| p.device_name.clone()),
            mfa_verified: None,
            credential_store: None,
        };
        let (profile, store) = self
            .save_profile(alias, existing.as_ref(), profile, &credential)
            .await?;
        let user = UserProfile {
            id: v.user_id,
            email: v.email,
            ..UserProfile::default()
        };
        Ok(LoginOutcome {
            alias: alias.to_owned(),
            profile,
            user,
            flow: AuthFlow::Auto,
            store,
        })
    }

    /// `GET /api/tokens/validate` with `token`.
    ///
    /// # Errors
    /// An invalid-token error on 401/403, network or server errors otherwise.
    pub async fn validate_api_token(&self, url: &Url, token: &str) -> Result<TokenValidation> {
        let u = endpoint(url, "api/tokens/validate")?;
        let resp = self
            .http()?
            .get(u.clone())
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| network_error(url.as_str(), e))?;
        let status = resp.status();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            let body: oauth::OAuthErrorBody = resp.json().await.unwrap_or_default();
            return Err(Error::new(
                Kind::InvalidToken,
                format!("the server rejected the API token: {}", body.text()),
            )
            .with_hint("Check the token, or create a new one in the account page"));
        }
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(Error::new(
                Kind::Server,
                format!("the server at {url} does not support API tokens ({u} answered 404)"),
            ));
        }
        if !status.is_success() {
            return Err(Error::new(Kind::Server, format!("{u} answered {status}")));
        }
        resp.json()
            .await
            .map_err(|e| Error::new(Kind::Protocol, format!("malformed answer from {u}: {e}")))
    }

    async fn save_profile(
        &self,
        alias: &str,
        existing: Option<&Profile>,
        mut profile: Profile,
        credential: &Credential,
    ) -> Result<(Profile, String)> {
        let store = self.choose_store()?;
        let store = match store.save(alias, credential) {
            Ok(()) => store,
            Err(e) if e.is_keyring() && self.keyring_forced() => {
                return Err(self.keyring_forced_error(&e.to_string()));
            }
            Err(e) if e.is_keyring() => {
                let file = self.store(StoreKind::File);
                self.progress.report(&Event::PlaintextStore {
                    path: self.config.dir().join("credentials.json"),
                    reason: e.to_string(),
                });
                file.save(alias, credential)?;
                file
            }
            Err(e) => return Err(e),
        };
        if let Some(old) = existing {
            let old_store = self.store_of(old);
            if old.credential_store.is_some() && old_store.kind() != store.kind() {
                let _ = old_store.delete(alias);
            }
        }
        profile.credential_store = Some(store.kind().as_str().to_owned());
        let saved = profile.clone();
        self.config.update(|c| {
            c.profiles.insert(alias.to_owned(), profile);
            c.current = Some(alias.to_owned());
        })?;
        Ok((saved, store.describe()))
    }

    // One private step of `login`; a struct of its locals would only rename them.
    #[allow(clippy::too_many_arguments)]
    async fn pkce_flow(
        &self,
        discovery: &Discovery,
        opts: &mut LoginOptions,
        login_hint: Option<&str>,
        device_id: &str,
        device_name: &str,
        env: &BrowserEnv,
        key: Option<&crate::dpop::DpopKey>,
    ) -> Result<TokenResponse> {
        let loopback = Loopback::bind(opts.port, self.progress.as_ref()).await?;
        let pkce = Pkce::generate();
        let state = random::token(24);
        let redirect_uri = loopback.redirect_uri();
        let cli_login = endpoint(&opts.url, "cli-login")?;
        let url = AuthorizeRequest {
            cli_login: &cli_login,
            client_id: &self.params.client_id,
            redirect_uri: &redirect_uri,
            code_challenge: &pkce.challenge,
            state: &state,
            scope: opts.scope.as_deref().unwrap_or(&self.params.scope),
            login_hint,
            device_id,
            device_name,
        }
        .url();
        self.progress.report(&Event::OpenUrl {
            url: url.to_string(),
            paste_accepted: opts.paste.is_some(),
        });
        if env.can_open() {
            self.launch_browser(url.as_str());
        }
        self.progress.report(&Event::Waiting {
            what: "browser sign-in".into(),
        });
        let success = endpoint(&opts.url, "cli-login/success")?;
        let code = loopback
            .wait_for_code(
                &CallbackCheck {
                    state: state.clone(),
                    issuer: discovery.issuer.clone(),
                    issuer_required: discovery.authorization_response_iss_parameter_supported,
                },
                success.as_str(),
                opts.paste.as_mut(),
                opts.timeout,
                self.progress.as_ref(),
            )
            .await?;
        oauth::post_form_signed::<TokenResponse>(
            self.http()?,
            &discovery.token_endpoint,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &redirect_uri),
                ("client_id", &self.params.client_id),
                ("code_verifier", pkce.verifier.expose()),
            ],
            key.map(|k| (k, self.clock.unix())),
        )
        .await
        .map_err(|e| token_error(e, "the authorization code"))
    }

    fn launch_browser(&self, url: &str) {
        match browser::open_browser(url) {
            Ok(()) => self.progress.report(&Event::BrowserOpened),
            Err(reason) => self.progress.report(&Event::BrowserFailed { reason }),
        }
    }

    /// `POST /oauth/device/code` for this client (RFC 8628 §3.1).
    async fn start_device_authorization(
        &self,
        discovery: &Discovery,
        opts: &LoginOptions,
        device_id: &str,
        device_name: &str,
    ) -> Result<DeviceAuthorization> {
        let Some(device_endpoint) = discovery.device_authorization_endpoint.as_deref() else {
            return Err(Error::new(
                Kind::DeviceFlowDisabled,
                "the server has switched the device flow off",
            ));
        };
        post_form(
            self.http()?,
            device_endpoint,
            &[
                ("client_id", &self.params.client_id),
                ("scope", opts.scope.as_deref().unwrap_or(&self.params.scope)),
                ("device_id", device_id),
                ("device_name", device_name),
            ],
        )
        .await
        .map_err(|e| token_error(e, "device authorization"))
    }

    async fn device_flow(
        &self,
        discovery: &Discovery,
        opts: &LoginOptions,
        device_id: &str,
        device_name: &str,
        env: &BrowserEnv,
        key: Option<&crate::dpop::DpopKey>,
    ) -> Result<TokenResponse> {
        let auth = self
            .start_device_authorization(discovery, opts, device_id, device_name)
            .await?;
        let http = self.http()?;
        if oauth::is_loopback_url(&opts.url) {
            self.progress.report(&Event::LoopbackServer {
                url: opts.url.as_str().trim_end_matches('/').to_owned(),
                host: opts.url.host_str().unwrap_or("127.0.0.1").to_owned(),
                port: opts.url.port_or_known_default().unwrap_or(80),
            });
        }
        self.progress.report(&Event::DeviceCode {
            user_code: auth.user_code.clone(),
            verification_uri: auth.verification_uri.clone(),
            verification_uri_complete: auth.verification_uri_complete.clone(),
            expires_in: Duration::from_secs(auth.expires_in),
        });
        if env.can_open() {
            let target = auth
                .verification_uri_complete
                .as_deref()
                .unwrap_or(&auth.verification_uri);
            self.launch_browser(target);
        }
        self.progress.report(&Event::Waiting {
            what: "device approval".into(),
        });
        let mut poller = DevicePoller::new(&auth, self.clock.unix(), opts.timeout);
        let mut step = poller.first(self.clock.unix())?;
        loop {
            let delay = match step {
                Step::Wait(d) => d,
                Step::SlowedDown(d) => {
                    self.progress.report(&Event::SlowDown { interval: d });
                    d
                }
            };
            tokio::time::sleep(delay).await;
            let polled = oauth::post_form_signed::<TokenResponse>(
                http,
                &discovery.token_endpoint,
                &[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                    ("device_code", auth.device_code.expose()),
                    ("client_id", &self.params.client_id),
                ],
                key.map(|k| (k, self.clock.unix())),
            )
            .await;
            match polled {
                Ok(t) => return Ok(t),
                Err(TokenError::OAuth(body)) => {
                    step = poller.on_error(&body, self.clock.unix())?;
                }
                Err(TokenError::Other(e)) => return Err(e),
            }
        }
    }

    async fn fetch_profile(&self, url: &Url, token: &AccessToken) -> Result<UserProfile> {
        let u = endpoint(url, "api/profile")?;
        let resp = self
            .send_authorized(self.http()?.get(u.clone()), "GET", &u, token)
            .await?;
        let status = resp.status();
        if status == reqwest::StatusCode::UNAUTHORIZED {
            let body: oauth::OAuthErrorBody = resp.json().await.unwrap_or_default();
            return Err(
                Error::new(Kind::SessionExpired, "session expired or invalid")
                    .with_source(body.error_description.unwrap_or(body.error)),
            );
        }
        if !status.is_success() {
            let body: oauth::OAuthErrorBody = resp.json().await.unwrap_or_default();
            return Err(Error::new(
                Kind::Server,
                format!("{u} answered {status}: {}", body.text()),
            ));
        }
        resp.json()
            .await
            .map_err(|e| Error::new(Kind::Protocol, format!("malformed answer from {u}: {e}")))
    }

    fn relogin_hint(&self, alias: &str, url: &str) -> String {
        format!(
            "Please run: {} login {alias} {}",
            self.params.product,
            url.trim_end_matches('/')
        )
    }

    fn not_signed_in(&self, alias: &str, url: Option<&str>) -> Error {
        Error::new(Kind::NotSignedIn, "session expired or invalid")
            .with_hint(self.relogin_hint(alias, url.unwrap_or("<url>")))
    }

    /// A valid access token for `alias`: the override, a stored API token, the cached access
    /// token while it has more than [`REFRESH_MARGIN`] left, or a refreshed one. Refreshing
    /// happens under a cross-process lock and re-reads the store after taking it, so concurrent
    /// processes rotate the refresh token exactly once.
    ///
    /// # Errors
    /// Not signed in, session expired (refresh rejected), lock timeout, network errors.
    pub async fn access_token(&self, alias: &str) -> Result<AccessToken> {
        if let Some(t) = &self.token_override {
            return Ok(AccessToken {
                token: t.clone(),
                expires_at: None,
                source: TokenOrigin::Override,
                dpop: None,
            });
        }
        let profile = self
            .load_config()?
            .profiles
            .remove(alias)
            .ok_or_else(|| self.not_signed_in(alias, None))?;
        let store = self.store_of(&profile);
        let now = self.clock.unix();
        match store.load(alias)? {
            None if profile.credential_store.is_none() => {
                return Err(
                    Error::new(Kind::NotSignedIn, format!("signed out of profile {alias}"))
                        .with_hint(self.relogin_hint(alias, &profile.url)),
                )
            }
            None => return Err(self.not_signed_in(alias, Some(&profile.url))),
            Some(c) => {
                if let Some(t) = usable(&c, now) {
                    return Ok(t);
                }
            }
        }
        let lock_path = self
            .config
            .dir()
            .join("locks")
            .join(format!("{alias}.lock"));
        let _lock = fsutil::lock_exclusive(lock_path, LOCK_TIMEOUT).await?;
        // Another process may have refreshed while we waited: re-read under the lock.
        let now = self.clock.unix();
        let Some(Credential::Session {
            refresh_token: Some(refresh),
            dpop_key,
            ..
        }) = (match store.load(alias)? {
            Some(c) => match usable(&c, now) {
                Some(t) => return Ok(t),
                None => Some(c),
            },
            None => None,
        })
        else {
            return Err(self.not_signed_in(alias, Some(&profile.url)));
        };
        let url = oauth::parse_server_url(&profile.url)?;
        let discovery = self.discover(&url).await?;
        let key = dpop_key
            .as_ref()
            .map(|k| crate::dpop::DpopKey::from_secret(k.expose()))
            .transpose()
            .map_err(|e| {
                Error::new(Kind::SessionExpired, e.to_string())
                    .with_hint(self.relogin_hint(alias, &profile.url))
            })?;
        let tokens = oauth::post_form_signed::<TokenResponse>(
            self.http()?,
            &discovery.token_endpoint,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.expose()),
                ("client_id", &self.params.client_id),
            ],
            key.as_ref().map(|k| (k, self.clock.unix())),
        )
        .await
        .map_err(|e| {
            let e = token_error(e, "the stored session");
            if e.is_session_expired() {
                Error::new(Kind::SessionExpired, "session expired or invalid")
                    .with_hint(self.relogin_hint(alias, &profile.url))
            } else {
                e
            }
        })?;
        let now = self.clock.unix();
        let expires_at = now + tokens.expires_in.unwrap_or(3600);
        let credential = Credential::Session {
            access_token: tokens.access_token.clone(),
            access_expires_at: expires_at,
            refresh_token: tokens.refresh_token.or(Some(refresh)),
            dpop_key,
        };
        store.save(alias, &credential)?;
        Ok(AccessToken {
            token: tokens.access_token,
            expires_at: Some(expires_at),
            source: TokenOrigin::Refreshed,
            dpop: key,
        })
    }

    /// Who the stored (or override) credential belongs to, checked with the server.
    ///
    /// # Errors
    /// Not signed in / session expired (with a hint to log in again), network errors.
    pub async fn status(&self, alias: &str, url_flag: Option<&str>) -> Result<Status> {
        let url = self.resolve_url(alias, url_flag).map_err(|e| {
            if !e.is_not_signed_in() {
                e
            } else if self.token_override.is_some() {
                Error::usage("a token was given but no server URL")
                    .with_hint(format!("Pass --url or set {}_URL", self.params.env_prefix))
            } else {
                self.not_signed_in(alias, None)
            }
        })?;
        let token = self.access_token(alias).await?;
        let user = self.fetch_profile(&url, &token).await.map_err(|e| {
            if !e.is_session_expired() {
                e
            } else if token.source == TokenOrigin::Override {
                let reason = std::error::Error::source(&e)
                    .map(ToString::to_string)
                    .filter(|r| !r.is_empty())
                    .unwrap_or_else(|| "invalid token".to_owned());
                self.override_refused(&reason)
            } else {
                Error::new(Kind::SessionExpired, "session expired or invalid")
                    .with_hint(self.relogin_hint(alias, url.as_str()))
            }
        })?;
        let store = if token.source == TokenOrigin::Override {
            format!("{}_TOKEN / --api-token", self.params.env_prefix)
        } else {
            let cfg = self.load_config()?;
            cfg.profiles
                .get(alias)
                .map(|p| self.store_of(p).describe())
                .unwrap_or_default()
        };
        let session_expiry = user
            .session
            .as_ref()
            .and_then(|s| s.expires_at.as_deref())
            .and_then(parse_rfc3339);
        // An override is not the profile's credential: its expiry is its own (an API token's
        // from /api/tokens/validate, an access token's session's), never the profile's.
        let expires_at = if token.source == TokenOrigin::Override {
            match self.validate_api_token(&url, token.token.expose()).await {
                Ok(v) => v.expires_at.as_deref().and_then(parse_rfc3339),
                Err(_) => session_expiry,
            }
        } else {
            session_expiry.or_else(|| {
                self.load_config().ok().and_then(|c| {
                    c.profiles
                        .get(alias)
                        .and_then(|p| p.expires_at.as_deref().and_then(parse_rfc3339))
                })
            })
        };
        let scopes = self.effective_scopes(&url, &token).await;
        Ok(Status {
            alias: alias.to_owned(),
            url,
            user,
            expires_at,
            store,
            origin: token.source,
            scopes,
        })
    }

    /// Revokes the session on the server (best effort, reported as a warning when it fails),
    /// removes the secret locally and keeps the profile's URL and alias. Returns whether a
    /// credential was there to remove (`false`: the profile was already signed out).
    ///
    /// # Errors
    /// When the profile does not exist or local storage fails.
    pub async fn logout(&self, alias: &str) -> Result<bool> {
        let Some(profile) = self.load_config()?.profiles.remove(alias) else {
            return Err(self.unknown_profile(alias)?);
        };
        let store = self.store_of(&profile);
        let credential = store.load(alias)?;
        let had_credential = credential.is_some();
        if let Some(credential) = credential {
            if let Credential::Session { refresh_token, .. } = &credential {
                if let Err(e) = self
                    .revoke_remote(alias, &profile, refresh_token.as_ref())
                    .await
                {
                    self.progress.report(&Event::Warning {
                        message: format!("could not revoke the session on the server: {e}"),
                    });
                }
            }
            store.delete(alias)?;
        }
        self.config.update(|c| {
            if let Some(p) = c.profiles.get_mut(alias) {
                p.session_id = None;
                p.expires_at = None;
                p.mfa_verified = None;
                p.credential_store = None;
            }
        })?;
        Ok(had_credential)
    }

    async fn revoke_remote(
        &self,
        alias: &str,
        profile: &Profile,
        refresh: Option<&Secret>,
    ) -> Result<()> {
        let url = oauth::parse_server_url(&profile.url)?;
        // The session: /api/auth/logout with a valid access token (refreshed if needed).
        let first_err = match self.access_token(alias).await {
            Ok(t) => {
                let u = endpoint(&url, "api/auth/logout")?;
                match self
                    .send_authorized(self.http()?.post(u.clone()), "POST", &u, &t)
                    .await
                {
                    Ok(r) if r.status().is_success() => return Ok(()),
                    Ok(r) => Error::new(Kind::Server, format!("logout answered {}", r.status())),
                    Err(e) => e,
                }
            }
            Err(e) if e.is_session_expired() || e.is_not_signed_in() => return Ok(()),
            Err(e) => e,
        };
        // RFC 7009 revocation of the refresh token as the fallback.
        if let Some(refresh) = refresh {
            let discovery = self.discover(&url).await?;
            if let Some(rev) = discovery.revocation_endpoint {
                let r = self
                    .http()?
                    .post(&rev)
                    .form(&[
                        ("token", refresh.expose()),
                        ("token_type_hint", "refresh_token"),
                        ("client_id", &self.params.client_id),
                    ])
                    .send()
                    .await
                    .map_err(|e| network_error(&rev, e))?;
                if r.status().is_success() {
                    return Ok(());
                }
            }
        }
        Err(first_err)
    }

    /// Makes `alias` the current profile.
    ///
    /// # Errors
    /// When there is no such profile.
    pub fn use_profile(&self, alias: &str) -> Result<()> {
        let found = self.config.update(|c| {
            if c.profiles.contains_key(alias) {
                c.current = Some(alias.to_owned());
                true
            } else {
                false
            }
        })?;
        if found {
            Ok(())
        } else {
            Err(self.unknown_profile(alias)?)
        }
    }

    /// Forgets `alias`: its secret and its profile (the server session is revoked first, best
    /// effort).
    ///
    /// # Errors
    /// When there is no such profile or storage fails.
    pub async fn remove_profile(&self, alias: &str) -> Result<()> {
        self.require_profile(alias)?;
        self.logout(alias).await?;
        self.config.update(|c| {
            c.profiles.remove(alias);
            if c.current.as_deref() == Some(alias) {
                c.current = None;
            }
        })?;
        Ok(())
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
    use crate::clock::FixedClock;

    #[test]
    fn cached_token_is_used_until_the_margin() {
        let clock = FixedClock::at_unix(10_000);
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
        clock.advance(Duration::from_secs(3600 - 61));
        assert!(usable(&c, clock.unix()).is_some());
        clock.advance(Duration::from_secs(1));
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
