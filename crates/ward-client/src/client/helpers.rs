//! What credential helpers (git, docker, kubectl) need beyond [`Client::access_token`]: asking
//! the server why a token was refused, and forgetting a cached access token a tool reported as
//! refused so the next request refreshes it. A child of `client` so it can read the client's
//! private fields.

use url::Url;

use super::{Client, LOCK_TIMEOUT};
use crate::credentials::Credential;
use crate::error::{network_error, Result};
use crate::fsutil;
use crate::oauth::{self, endpoint};

impl Client {
    /// Why the server refuses `token` (`Some("session revoked")`), or `None` when it accepts it.
    ///
    /// # Errors
    /// Network errors.
    pub async fn token_refusal(&self, url: &Url, token: &str) -> Result<Option<String>> {
        let u = endpoint(url, "api/auth/validate")?;
        let resp = self
            .http()?
            .get(u)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| network_error(url.as_str(), e))?;
        if resp.status() != reqwest::StatusCode::UNAUTHORIZED {
            return Ok(None);
        }
        let body: oauth::OAuthErrorBody = resp.json().await.unwrap_or_default();
        Ok(Some(
            body.error_description
                .filter(|d| !d.is_empty())
                .unwrap_or(body.error),
        ))
    }

    /// Forgets `alias`'s cached access token when it is `token` (a tool saw it refused), so the
    /// next [`Client::access_token`] refreshes instead of handing it out again; the refresh
    /// token is kept. Done under the refresh lock. Returns whether anything changed.
    ///
    /// # Errors
    /// Storage or lock errors.
    pub async fn discard_access_token(&self, alias: &str, token: &str) -> Result<bool> {
        let Some(profile) = self.load_config()?.profiles.remove(alias) else {
            return Ok(false);
        };
        let store = self.store_of(&profile);
        let lock_path = self
            .config
            .dir()
            .join("locks")
            .join(format!("{alias}.lock"));
        let _lock = fsutil::lock_exclusive(lock_path, LOCK_TIMEOUT).await?;
        match store.load(alias)? {
            Some(Credential::Session {
                access_token,
                refresh_token,
                dpop_key,
                ..
            }) if access_token.expose() == token => {
                store.save(
                    alias,
                    &Credential::Session {
                        access_token,
                        access_expires_at: 0,
                        refresh_token,
                        dpop_key,
                    },
                )?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}
