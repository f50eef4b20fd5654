//! The first-hour messages of [`Client`]: which profile or token is at fault and why, the forced
//! keyring, and the credential's effective scopes. A child of `client` so it can read the
//! client's private fields.

use url::Url;

use super::Client;
use crate::credentials::StoreKind;
use crate::error::{Error, Kind, Result};
use crate::oauth::endpoint;

impl Client {
    /// Where the override token came from (`--api-token` or `<PREFIX>_TOKEN`), when one is in
    /// effect.
    pub fn token_override_source(&self) -> Option<&str> {
        self.token_override
            .as_ref()
            .map(|_| self.override_source.as_str())
    }

    /// The error for a token override the server refused: logging in cannot help while it wins.
    pub(crate) fn override_refused(&self, reason: &str) -> Error {
        let source = self.override_source.as_str();
        let what = if source.starts_with("--") {
            format!("drop {source}")
        } else {
            format!("unset {source}")
        };
        Error::new(
            Kind::InvalidToken,
            format!("the token from {source} was refused: {reason}"),
        )
        .with_hint(format!(
            "{source} takes precedence over stored credentials: give a valid token, or {what} to use the profile's"
        ))
    }

    /// The error for a profile that does not exist: a usage error naming the known ones.
    ///
    /// # Errors
    /// When the config is corrupt.
    pub fn unknown_profile(&self, alias: &str) -> Result<Error> {
        let config = self.load_config()?;
        let product = &self.params.product;
        let hint = if config.profiles.is_empty() {
            format!("There are no profiles yet; sign in with: {product} login {alias} <url>")
        } else {
            let names: Vec<&str> = config.profiles.keys().map(String::as_str).collect();
            format!(
                "Profiles: {}. Sign in to a new one with: {product} login {alias} <url>",
                names.join(", ")
            )
        };
        Ok(Error::usage(format!("no profile named {alias}")).with_hint(hint))
    }

    /// Fails with [`Client::unknown_profile`] unless `alias` is a stored profile.
    ///
    /// # Errors
    /// A usage error for an unknown profile, a config error when the file is corrupt.
    pub fn require_profile(&self, alias: &str) -> Result<()> {
        if self.load_config()?.profiles.contains_key(alias) {
            Ok(())
        } else {
            Err(self.unknown_profile(alias)?)
        }
    }

    /// Whether `<PREFIX>_CREDENTIAL_STORE` forces the keyring.
    pub(super) fn keyring_forced(&self) -> bool {
        self.params
            .env("CREDENTIAL_STORE")
            .and_then(|n| StoreKind::parse(&n))
            == Some(StoreKind::Keyring)
    }

    pub(super) fn keyring_forced_error(&self, reason: &str) -> Error {
        let var = format!("{}_CREDENTIAL_STORE", self.params.env_prefix);
        Error::new(
            Kind::Keyring,
            format!("{var}=keyring, but the keyring cannot be used: {reason}"),
        )
        .with_hint(format!(
            "Start a keyring (Secret Service, macOS Keychain, Windows Credential Manager), or set {var}=file to keep secrets in a 0600 file"
        ))
    }

    /// The credential's effective permissions from `GET /api/auth/validate` (best effort: an
    /// older server, or any failure, gives `None`).
    pub(super) async fn effective_scopes(
        &self,
        url: &Url,
        token: &super::AccessToken,
    ) -> Option<Vec<String>> {
        #[derive(serde::Deserialize)]
        struct Validated {
            permissions: Vec<String>,
        }
        let u = endpoint(url, "api/auth/validate").ok()?;
        let resp = self
            .send_authorized(self.http().ok()?.get(u.clone()), "GET", &u, token)
            .await
            .ok()?;
        if !resp.status().is_success() {
            return None;
        }
        resp.json::<Validated>().await.ok().map(|v| v.permissions)
    }
}
