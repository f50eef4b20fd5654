//! Federation (SPEC §2.5): sign-in through upstream identity providers, routed by email domain.
//! ward is an OpenID Connect relying party ([`oidc`]) and a GitHub OAuth client ([`github`]).
//!
//! A sign-in sent upstream is a single-use [`IdpPending`] row keyed by the hash of its `state`.
//! The PKCE verifier and the nonce are not stored: they are derived from `state` and a random
//! browser-binding cookie (`ward_idp`), so the callback works only in the browser that started
//! the sign-in (no login CSRF), and someone who sees the callback URL (code and state) still
//! cannot redeem the code (RFC 7636) or replay the ID token (OIDC Core §3.1.2.1 nonce).

pub mod github;
pub mod oidc;

use std::collections::HashMap;
use std::time::Duration;
use ward_core::UserId;

use axum::http::StatusCode;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use url::Url;
use ward_core::model::{normalize_email, IdpPending, User};
use ward_core::token::{new_opaque_secret, token_hash};
use ward_core::StoreError;

use crate::config::{IdpConfig, IdpKind};
use crate::state::AppState;

/// The browser-binding cookie, sent back only to `/idp/…`.
pub const BINDING_COOKIE: &str = "ward_idp";
/// A sign-in waits at most this long for the IdP to send the browser back.
pub const PENDING_SECS: i64 = 600;
/// Discovery documents and JWKS are re-read after this long (and at once when an ID token's
/// signature does not verify, which is how a rotated key shows up).
const METADATA_TTL_SECS: i64 = 600;
/// Every call to an IdP gives up after this long: a hung IdP ends on a page, not a hung request.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(10);

/// What ward keeps per process about its IdPs: an HTTP client that never follows redirects, and
/// the OIDC discovery documents (with their JWKS) it has read.
pub struct Registry {
    pub http: reqwest::Client,
    metadata: tokio::sync::Mutex<HashMap<String, (oidc::Metadata, i64)>>,
    /// `[[trust]]` issuers' discovery documents and JWKS, by issuer (see [`crate::trust`]).
    pub(crate) trust: tokio::sync::Mutex<HashMap<String, (oidc::Metadata, i64)>>,
}

impl Registry {
    /// # Errors
    /// When the TLS backend cannot be initialized.
    pub fn new() -> Result<Registry, reqwest::Error> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(UPSTREAM_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("ward/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Registry {
            http,
            metadata: tokio::sync::Mutex::new(HashMap::new()),
            trust: tokio::sync::Mutex::new(HashMap::new()),
        })
    }
}

/// Why a federated sign-in failed. Each ends on a page (never a 500) and in the audit log
/// (`signin` / `failed`, `reason` in the detail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdpFailure {
    /// The IdP could not be reached (down, timeout, TLS).
    Unreachable(String),
    /// The IdP answered something ward cannot use.
    BadResponse(String),
    /// The user (or the IdP) refused: `error=access_denied`, or another `error` code.
    Denied {
        error: String,
    },
    /// No pending sign-in has this `state` (forged, already used, or from another server).
    StateMismatch,
    /// The pending sign-in is older than [`PENDING_SECS`].
    StateExpired,
    /// The callback came in another browser than the one that started the sign-in.
    WrongBrowser,
    /// The token endpoint refused the code.
    TokenExchange(String),
    /// The ID token failed verification (signature, `iss`, `aud`, `exp`, `nonce`).
    BadIdToken(String),
    /// The IdP did not return an email, or not a verified one.
    EmailNotVerified,
    /// The returned email's domain is not in the IdP's `allowed_domains`.
    DomainNotAllowed {
        email: String,
    },
    /// The returned email's domain is routed to another IdP, which alone may vouch for it.
    DomainOfAnotherIdp {
        email: String,
        other: String,
    },
    /// A first sign-in whose address is a look-alike of an existing account's (SPEC §2.13).
    LookAlike {
        email: String,
        why: ward_core::email::LookAlike,
    },
    /// A local account has this email and is not linked to this IdP.
    AccountExists {
        email: String,
    },
    AccountDisabled,
}

impl IdpFailure {
    /// The `reason` recorded in the audit event.
    pub fn reason(&self) -> &'static str {
        match self {
            IdpFailure::Unreachable(_) => "idp_unreachable",
            IdpFailure::BadResponse(_) => "idp_bad_response",
            IdpFailure::Denied { .. } => "access_denied",
            IdpFailure::StateMismatch => "state_mismatch",
            IdpFailure::StateExpired => "state_expired",
            IdpFailure::WrongBrowser => "state_wrong_browser",
            IdpFailure::TokenExchange(_) => "token_exchange_failed",
            IdpFailure::BadIdToken(_) => "id_token_invalid",
            IdpFailure::EmailNotVerified => "email_not_verified",
            IdpFailure::DomainNotAllowed { .. } => "email_domain_not_allowed",
            IdpFailure::DomainOfAnotherIdp { .. } => "email_domain_routed_elsewhere",
            IdpFailure::LookAlike { .. } => "email_look_alike",
            IdpFailure::AccountExists { .. } => "account_not_linked",
            IdpFailure::AccountDisabled => "account_disabled",
        }
    }

    /// Internal detail for the audit log and the server log (never a secret; not shown to the
    /// browser beyond what [`Self::page`] says).
    pub fn detail(&self) -> String {
        match self {
            IdpFailure::Unreachable(d)
            | IdpFailure::BadResponse(d)
            | IdpFailure::TokenExchange(d)
            | IdpFailure::BadIdToken(d) => d.clone(),
            IdpFailure::Denied { error } => error.clone(),
            IdpFailure::DomainNotAllowed { email } | IdpFailure::AccountExists { email } => {
                email.clone()
            }
            IdpFailure::DomainOfAnotherIdp { email, other } => {
                format!("{email} (routed to {other})")
            }
            IdpFailure::LookAlike { email, why } => format!("{email}: {why}"),
            _ => String::new(),
        }
    }

    /// Status, title and message of the page the browser ends on.
    pub fn page(&self, idp: &str) -> (StatusCode, &'static str, String) {
        match self {
            IdpFailure::Unreachable(_) => (
                StatusCode::BAD_GATEWAY,
                "Identity provider unavailable",
                format!("{} could not reach the identity provider {idp}. Try again in a moment.", crate::branding::product()),
            ),
            IdpFailure::BadResponse(_) => (
                StatusCode::BAD_GATEWAY,
                "Identity provider error",
                format!("The identity provider {idp} sent a response {} cannot use. Try again, or ask an administrator.", crate::branding::product()),
            ),
            IdpFailure::Denied { error } if error == "access_denied" => (
                StatusCode::FORBIDDEN,
                "Sign-in cancelled",
                format!("Access was denied at the identity provider {idp}, so you are not signed in."),
            ),
            IdpFailure::Denied { .. } => (
                StatusCode::BAD_GATEWAY,
                "Identity provider error",
                format!("The identity provider {idp} returned an error, so you are not signed in. Try again, or ask an administrator."),
            ),
            IdpFailure::StateMismatch => (
                StatusCode::BAD_REQUEST,
                "Sign-in could not be completed",
                format!("This sign-in does not match one {} started (state mismatch), or it was already used. Start again from the sign-in page.", crate::branding::product()),
            ),
            IdpFailure::StateExpired => (
                StatusCode::BAD_REQUEST,
                "Sign-in expired",
                "This sign-in took too long and has expired. Start again from the sign-in page.".into(),
            ),
            IdpFailure::WrongBrowser => (
                StatusCode::BAD_REQUEST,
                "Sign-in could not be completed",
                "This sign-in was started in another browser (state mismatch). Start again from the sign-in page in this browser.".into(),
            ),
            IdpFailure::TokenExchange(_) => (
                StatusCode::BAD_GATEWAY,
                "Sign-in could not be completed",
                format!("The identity provider {idp} did not accept the token request. Start again from the sign-in page."),
            ),
            IdpFailure::BadIdToken(_) => (
                StatusCode::BAD_GATEWAY,
                "Sign-in could not be verified",
                format!("The identity token from {idp} failed verification, so you are not signed in. Ask an administrator if this persists."),
            ),
            IdpFailure::EmailNotVerified => (
                StatusCode::FORBIDDEN,
                "Email not verified",
                format!("The identity provider {idp} did not confirm a verified email address for your account."),
            ),
            IdpFailure::DomainNotAllowed { email } => (
                StatusCode::FORBIDDEN,
                "Email domain not allowed",
                format!("The email domain of {email} is not allowed to sign in here (email domain not allowed)."),
            ),
            IdpFailure::DomainOfAnotherIdp { email, other } => (
                StatusCode::FORBIDDEN,
                "Email domain belongs to another sign-in",
                format!("{idp} vouched for {email}, but addresses at that domain sign in only through {other}. Sign in with {other} instead."),
            ),
            IdpFailure::LookAlike { email, why } => (
                StatusCode::FORBIDDEN,
                "Address not accepted",
                format!("{idp} vouched for {email}, but {} does not create this account: {why}. Ask an administrator.", crate::branding::product()),
            ),
            IdpFailure::AccountExists { email } => (
                StatusCode::CONFLICT,
                "Account not linked",
                format!("An account for {email} already exists at {} and is not linked to {idp}. Sign in with your password, or ask an administrator to link the accounts.", crate::branding::product()),
            ),
            IdpFailure::AccountDisabled => (
                StatusCode::FORBIDDEN,
                "Account disabled",
                "Your account is disabled. Ask an administrator.".into(),
            ),
        }
    }
}

/// The IdP an account must sign in through (SPEC §2.13): the one its email's domain is routed
/// to, unless an admin marked the account `local_login` (break-glass). `user_id` is the
/// account's, when there is one; an address without an account is routed like any other.
pub async fn required_idp<'a>(
    state: &'a AppState,
    email: &str,
    user_id: Option<&UserId>,
) -> Result<Option<&'a IdpConfig>, StoreError> {
    let Some(idp) = crate::config::idp_for_email(&state.config.idps, email) else {
        return Ok(None);
    };
    match user_id {
        Some(id) if state.store.user_local_login(id).await? => Ok(None),
        _ => Ok(Some(idp)),
    }
}

/// ward's redirect URI at an IdP: `<public_url>/idp/<name>/callback`.
pub fn callback_url(state: &AppState, idp: &IdpConfig) -> String {
    state.url(&format!("/idp/{}/callback", idp.name))
}

pub fn find<'a>(state: &'a AppState, name: &str) -> Option<&'a IdpConfig> {
    state.config.idps.iter().find(|i| i.name == name)
}

fn derive(label: &str, binding: &str, state_value: &str) -> String {
    let mut h = Sha256::new();
    h.update(label.as_bytes());
    h.update([0]);
    h.update(binding.as_bytes());
    h.update([0]);
    h.update(state_value.as_bytes());
    URL_SAFE_NO_PAD.encode(h.finalize())
}

/// The PKCE verifier of a sign-in: 43 characters of base64url (RFC 7636 §4.1).
pub fn pkce_verifier(binding: &str, state_value: &str) -> String {
    derive("ward-idp-pkce", binding, state_value)
}

pub fn nonce(binding: &str, state_value: &str) -> String {
    derive("ward-idp-nonce", binding, state_value)
}

/// What an IdP says about the person who signed in there, after verification.
#[derive(Debug, Clone)]
pub struct UpstreamIdentity {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
}

/// Starts a sign-in at `idp`: records the pending sign-in and returns where to send the browser.
pub async fn start(
    state: &AppState,
    jar: CookieJar,
    idp: &IdpConfig,
    login_hint: Option<&str>,
    return_to: &str,
) -> Result<(CookieJar, Url), IdpFailure> {
    let (jar, binding) = match jar.get(BINDING_COOKIE) {
        Some(c) if c.value().len() >= 32 => {
            let v = c.value().to_string();
            (jar, v)
        }
        _ => {
            let v = new_opaque_secret(state.random.as_ref());
            let cookie = Cookie::build((BINDING_COOKIE, v.clone()))
                .path("/idp")
                .http_only(true)
                .same_site(SameSite::Lax)
                .secure(state.secure_cookies)
                .build();
            (jar.add(cookie), v)
        }
    };
    let state_value = new_opaque_secret(state.random.as_ref());
    let verifier = pkce_verifier(&binding, &state_value);
    let url = match &idp.kind {
        IdpKind::Oidc { issuer } => {
            oidc::authorize_url(
                state,
                idp,
                issuer,
                &state_value,
                &verifier,
                &nonce(&binding, &state_value),
                login_hint,
            )
            .await?
        }
        IdpKind::Github { authorize_url, .. } => github::authorize_url(
            state,
            idp,
            authorize_url,
            &state_value,
            &verifier,
            login_hint,
        ),
    };
    let now = state.clock.now();
    state
        .store
        .insert_idp_pending(&IdpPending {
            state_hash: token_hash(&state_value),
            idp: idp.name.clone(),
            binding_hash: token_hash(&binding),
            return_to: return_to.to_string(),
            login_hint: login_hint.map(str::to_string),
            created_at: now,
            expires_at: now.plus_secs(PENDING_SECS),
        })
        .await
        .map_err(|e| IdpFailure::Unreachable(format!("storage: {e}")))?;
    Ok((jar, url))
}

/// Takes the pending sign-in named by `state_value` (exactly once) and checks it belongs to
/// `idp`, to this browser, and is not expired. Returns it with the binding cookie's value.
pub async fn take_pending(
    state: &AppState,
    jar: &CookieJar,
    idp: &IdpConfig,
    state_value: Option<&str>,
) -> Result<(IdpPending, String), IdpFailure> {
    let state_value = state_value
        .filter(|s| !s.is_empty())
        .ok_or(IdpFailure::StateMismatch)?;
    let now = state.clock.now();
    let pending = state
        .store
        .consume_idp_pending(&token_hash(state_value), now)
        .await
        .map_err(|e| IdpFailure::Unreachable(format!("storage: {e}")))?
        .ok_or(IdpFailure::StateMismatch)?;
    if pending.idp != idp.name {
        return Err(IdpFailure::StateMismatch);
    }
    if now >= pending.expires_at {
        return Err(IdpFailure::StateExpired);
    }
    let binding = jar
        .get(BINDING_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|b| {
            ward_core::token::constant_time_eq(
                token_hash(b).as_bytes(),
                pending.binding_hash.as_bytes(),
            )
        })
        .ok_or(IdpFailure::WrongBrowser)?;
    Ok((pending, binding))
}

/// Exchanges the code and verifies what comes back, per kind.
pub async fn identify(
    state: &AppState,
    idp: &IdpConfig,
    code: &str,
    binding: &str,
    state_value: &str,
) -> Result<UpstreamIdentity, IdpFailure> {
    let verifier = pkce_verifier(binding, state_value);
    match &idp.kind {
        IdpKind::Oidc { issuer } => {
            oidc::identify(
                state,
                idp,
                issuer,
                code,
                &verifier,
                &nonce(binding, state_value),
            )
            .await
        }
        IdpKind::Github {
            token_url, api_url, ..
        } => github::identify(state, idp, token_url, api_url, code, &verifier).await,
    }
}

/// The ward user for a verified upstream identity: the linked one (matched on (IdP, subject),
/// never on email alone), or a new one with the default role on first sign-in. Returns the user
/// and whether it was created now.
pub async fn resolve_account(
    state: &AppState,
    idp: &IdpConfig,
    who: &UpstreamIdentity,
) -> Result<(User, bool), IdpFailure> {
    let storage = |e: StoreError| IdpFailure::Unreachable(format!("storage: {e}"));
    let email = match &who.email {
        Some(e) if who.email_verified && ward_core::model::is_plausible_email(e.trim()) => {
            normalize_email(e)
        }
        _ => return Err(IdpFailure::EmailNotVerified),
    };
    let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
    // The guests' domain is reserved (the admin API refuses it too): an upstream vouching for
    // `guest-…@guest.invalid` must neither sign in to a guest nor create an account that the
    // sweeper would take for a guest, even under `allowed_domains = ["*"]`.
    if domain == crate::guest::GUEST_EMAIL_DOMAIN || !idp.allows_domain(domain) {
        return Err(IdpFailure::DomainNotAllowed { email });
    }
    // A domain routed to another IdP is that IdP's alone, whatever `allowed_domains` says
    // (SPEC §2.13): otherwise `["*"]` at one IdP could squat or link another's accounts.
    if let Some(other) = crate::config::idp_for_email(&state.config.idps, &email) {
        if other.name != idp.name {
            return Err(IdpFailure::DomainOfAnotherIdp {
                email,
                other: other.name.clone(),
            });
        }
    }
    for _attempt in 0..2 {
        if let Some(user_id) = state
            .store
            .idp_link(&idp.name, &who.subject)
            .await
            .map_err(storage)?
        {
            return match state.store.user_by_id(&user_id).await.map_err(storage)? {
                Some(u) if !u.disabled => Ok((u, false)),
                _ => Err(IdpFailure::AccountDisabled),
            };
        }
        let now = state.clock.now();
        if let Some(existing) = state.store.user_by_email(&email).await.map_err(storage)? {
            if !idp.link_existing_accounts {
                return Err(IdpFailure::AccountExists { email });
            }
            if existing.disabled {
                return Err(IdpFailure::AccountDisabled);
            }
            match state
                .store
                .insert_idp_link(&idp.name, &who.subject, &existing.id, now)
                .await
            {
                Ok(()) => return Ok((existing, false)),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(storage(e)),
            }
        }
        if let Some(why) = crate::accounts::refuse_look_alike(state, &email)
            .await
            .map_err(storage)?
        {
            return Err(IdpFailure::LookAlike { email, why });
        }
        let user = User {
            id: UserId::random(state.random.as_ref()),
            email: email.clone(),
            name: who.name.clone().unwrap_or_default(),
            password_hash: None,
            role: state.config.default_role.clone(),
            disabled: false,
            created_at: now,
            // Only verified upstream emails reach this point (`EmailNotVerified` otherwise).
            email_verified: who.email_verified,
        };
        match state
            .store
            .insert_idp_user(&user, &idp.name, &who.subject)
            .await
        {
            Ok(()) => return Ok((user, true)),
            // A concurrent first sign-in of the same identity won: use its link.
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(storage(e)),
        }
    }
    Err(IdpFailure::AccountExists { email })
}

/// A discovery document younger than the TTL, unless `fresh` asks to re-read it.
pub(crate) async fn cached_metadata(
    state: &AppState,
    idp: &IdpConfig,
    issuer: &str,
    fresh: bool,
) -> Result<oidc::Metadata, IdpFailure> {
    let now = state.clock.now().0;
    if !fresh {
        let cache = state.idp.metadata.lock().await;
        if let Some((m, at)) = cache.get(&idp.name) {
            if now - at < METADATA_TTL_SECS && *at <= now {
                return Ok(m.clone());
            }
        }
    }
    let m = oidc::discover(state, issuer).await?;
    state
        .idp
        .metadata
        .lock()
        .await
        .insert(idp.name.clone(), (m.clone(), now));
    Ok(m)
}
