//! The shared state every handler receives: configuration, store, clock, randomness, keys.

use std::sync::Arc;

use tokio::sync::RwLock;
use url::Url;
use ward_core::store::Store;
use ward_core::{Clock, Random};

use crate::config::Config;
use crate::hashing::PasswordPool;
use crate::keys::{KeyRing, MasterKey};
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;

#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

pub struct Inner {
    pub config: Config,
    /// The issuer: `public_url` without a trailing slash.
    pub issuer: String,
    pub public_url: Url,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn Random>,
    pub keys: RwLock<Arc<KeyRing>>,
    /// The store's change listener (PostgreSQL `LISTEN/NOTIFY`): key rotations elsewhere, and
    /// whether other replicas' changes reach this one at once.
    pub changes: ward_store::Changes,
    pub master_key: MasterKey,
    /// DPoP proofs' checked headers and the nonce secret (SPEC §2.16).
    pub dpop: crate::dpop::Verifier,
    pub passwords: PasswordPool,
    pub limiter: RateLimiter,
    /// The WebAuthn relying party; `None` when `public_url` cannot be one (an IP address).
    pub webauthn: Option<webauthn_rs::prelude::Webauthn>,
    pub metrics: Metrics,
    /// Upstream identity providers: HTTP client and discovery cache.
    pub idp: crate::idp::Registry,
    /// Whether cookies get the `Secure` attribute (public URL is https).
    pub secure_cookies: bool,
    /// The event bus (SPEC §2.18): the live stream's source and the delivery worker's doorbell.
    pub events: crate::events::Hub,
    /// Wakes the mail worker when a mail is queued.
    pub mail_wake: tokio::sync::Notify,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub async fn keys(&self) -> Arc<KeyRing> {
        self.keys.read().await.clone()
    }
    /// An absolute URL under the public URL, e.g. `url("/device")`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }
}
