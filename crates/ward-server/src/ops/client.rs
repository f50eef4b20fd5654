//! OAuth clients: the built-in public `ward-cli`, the confidential or public clients declared
//! under `[[clients]]`, the clients registered at `POST /oauth/register` (RFC 7591, kept in the
//! store), and client authentication (RFC 6749 §2.3.1: `client_secret_basic` or
//! `client_secret_post`).

use axum::http::{header, HeaderMap};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ward_core::redirect::redirect_allowed;
use ward_core::registration::{RegisteredClient, REGISTERED_CLIENT_PREFIX};
use ward_core::scope::{Permission, OIDC_SCOPES};
use ward_core::token::{constant_time_eq, token_hash};
use ward_core::OAuthError;
use ward_proto::CLI_CLIENT_ID;

use crate::config::ClientConfig;
use crate::error::ApiError;
use crate::extract::FormParams;
use crate::ratelimit::LimitError;
use crate::state::AppState;

#[derive(Debug, Clone)]
pub enum Client {
    Cli,
    Configured(ClientConfig),
    /// Registered by itself (RFC 7591): untrusted, always asks for consent, named on the consent
    /// page as unverified.
    Registered(RegisteredClient),
}

/// Whether `id` has the shape of a registered client's id.
pub fn is_registered_id(id: &str) -> bool {
    id.starts_with(REGISTERED_CLIENT_PREFIX)
}

impl Client {
    /// `ward-cli` or a configured client; registered clients need [`Client::lookup`].
    pub fn find(state: &AppState, id: &str) -> Option<Client> {
        if id == CLI_CLIENT_ID {
            return Some(Client::Cli);
        }
        state
            .config
            .clients
            .iter()
            .find(|c| c.id == id)
            .cloned()
            .map(Client::Configured)
    }

    /// Any client by id: `ward-cli` and the configuration first (unchanged, no store read),
    /// then, for an id with the registered prefix, the store.
    ///
    /// # Errors
    /// The store failed.
    pub async fn lookup(state: &AppState, id: &str) -> Result<Option<Client>, ApiError> {
        if let Some(found) = Client::find(state, id) {
            return Ok(Some(found));
        }
        if !is_registered_id(id) {
            return Ok(None);
        }
        Ok(state
            .store
            .registered_client(id)
            .await?
            .map(Client::Registered))
    }

    pub fn id(&self) -> &str {
        match self {
            Client::Cli => CLI_CLIENT_ID,
            Client::Configured(c) => &c.id,
            Client::Registered(c) => &c.client_id,
        }
    }

    /// The name a registered client gave itself, if any.
    pub fn registered_name(&self) -> Option<&str> {
        match self {
            Client::Registered(c) => c.client_name.as_deref(),
            _ => None,
        }
    }

    pub fn is_public(&self) -> bool {
        match self {
            Client::Cli => true,
            Client::Configured(c) => c.secret.is_none(),
            Client::Registered(c) => c.secret_hash.is_none(),
        }
    }

    /// Whether `given` is this confidential client's secret (constant time); `None` for a
    /// public client.
    fn secret_matches(&self, given: &str) -> Option<bool> {
        match self {
            Client::Cli => None,
            Client::Configured(c) => c
                .secret
                .as_ref()
                .map(|expected| constant_time_eq(expected.as_bytes(), given.as_bytes())),
            Client::Registered(c) => c.secret_hash.as_ref().map(|expected| {
                constant_time_eq(expected.as_bytes(), token_hash(given).as_bytes())
            }),
        }
    }

    /// Whether every grant must come with a DPoP proof (`[[clients]] require_dpop`).
    pub fn requires_dpop(&self) -> bool {
        match self {
            Client::Cli | Client::Registered(_) => false,
            Client::Configured(c) => c.require_dpop,
        }
    }

    pub fn allows_grant(&self, grant: &str) -> bool {
        match self {
            Client::Cli => matches!(
                grant,
                "authorization_code" | "refresh_token" | ward_proto::DEVICE_CODE_GRANT_TYPE
            ),
            Client::Configured(c) => c.grant_types.iter().any(|g| g == grant),
            Client::Registered(c) => c.grant_types.iter().any(|g| g == grant),
        }
    }

    pub fn redirect_allowed(&self, uri: &str) -> bool {
        match self {
            Client::Cli => redirect_allowed(uri, &[], true),
            Client::Configured(c) => redirect_allowed(uri, &c.redirect_uris, false),
            Client::Registered(c) => {
                ward_core::registration::redirect_allowed(uri, &c.redirect_uris)
            }
        }
    }

    /// Whether the client is declared with the resource permission `scope` (the CLI: any).
    pub fn declares_scope(&self, scope: &str) -> bool {
        match self {
            Client::Cli => true,
            Client::Configured(c) => c.scopes.iter().any(|s| s == scope),
            Client::Registered(c) => c.scopes.iter().any(|s| s == scope),
        }
    }

    /// Whether this client may ask for `scope`. The CLI may ask for any configured permission
    /// (what it gets is still bounded by the user's role); other clients for what they list.
    /// A registered client only for what it registered, OIDC scopes included
    /// (`[registration] max_scopes` caps those too).
    pub fn allows_scope(&self, state: &AppState, scope: &str) -> bool {
        if let Client::Registered(c) = self {
            return c.scopes.iter().any(|s| s == scope);
        }
        if OIDC_SCOPES.contains(&scope) {
            return true;
        }
        match self {
            Client::Cli => Permission::parse(scope, &state.config.resources).is_some(),
            Client::Configured(c) => c.scopes.iter().any(|s| s == scope),
            Client::Registered(_) => false,
        }
    }
}

/// Authenticates the client of a token, revocation or introspection request. Public clients
/// identify themselves with `client_id` alone. A client secret is a guessable input: after
/// `rate_limits.token_failures_per_client` wrong secrets in a window from one client address,
/// that (client, address) pair is refused with 429 until the window ends, even with the right
/// secret. Other addresses are not affected: a stranger cannot lock out a confidential client
/// (SPEC §2.13).
pub async fn authenticate(
    state: &AppState,
    ip: Option<&str>,
    headers: &HeaderMap,
    form: &FormParams,
) -> Result<Client, ApiError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .map(|b| parse_basic(b.trim()))
        .transpose()
        .map_err(ApiError::from)?;
    let (id, secret) = match basic {
        Some((id, secret)) => {
            if form.get("client_secret").is_some() {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method, not two",
                )
                .into());
            }
            (id, Some(secret))
        }
        None => (
            form.get("client_id")
                .ok_or_else(|| OAuthError::invalid_client("client authentication required"))
                .map_err(ApiError::from)?
                .to_string(),
            form.get("client_secret").map(str::to_string),
        ),
    };
    let client = Client::lookup(state, &id)
        .await?
        .ok_or_else(|| ApiError::from(OAuthError::invalid_client("unknown client")))?;
    match secret {
        Some(given) => {
            if client.is_public() {
                return Err(OAuthError::invalid_client("public clients have no secret").into());
            }
            let limits = state.config.rate_limits;
            let now = state.clock.now();
            let (bucket, limit) = ("client_auth_failures", limits.token_failures_per_client);
            let key = format!("{id}@{}", ip.unwrap_or_default());
            state
                .limiter
                .check(bucket, &key, limit, limits.window_secs, now)
                .await?;
            if client.secret_matches(&given) == Some(true) {
                Ok(client)
            } else {
                // Counted; this attempt answers invalid_client whatever the count says.
                if let Err(LimitError::Store(e)) = state
                    .limiter
                    .hit(bucket, &key, limit, limits.window_secs, now)
                    .await
                {
                    tracing::warn!(error = %e, "could not count a failed client authentication");
                }
                Err(OAuthError::invalid_client("client authentication failed").into())
            }
        }
        None if !client.is_public() => {
            Err(OAuthError::invalid_client("client authentication required").into())
        }
        None => Ok(client),
    }
}

/// RFC 6749 §2.3.1: `base64(urlencode(id) ":" urlencode(secret))`.
pub(crate) fn parse_basic(b64: &str) -> Result<(String, String), OAuthError> {
    let bad = || OAuthError::invalid_client("malformed Basic credentials");
    let raw = STANDARD.decode(b64).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    Ok((form_decode(id), form_decode(secret)))
}

fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("v={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}
