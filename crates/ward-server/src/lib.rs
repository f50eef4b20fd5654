//! ward's HTTP server: the OAuth 2.0 / OIDC endpoints, the ward API, the pages and the
//! middleware. The only crate that knows HTTP.

pub mod accounts;
pub mod api;
pub mod audit;
pub mod auth;
pub mod authz;
pub mod branding;
pub mod config;
pub mod csrf;
pub mod dpop;
pub mod edge;
pub mod error;
pub mod events;
pub mod extract;
pub mod guest;
pub mod hashing;
pub mod html;
pub mod idp;
pub mod issue;
pub mod jwt;
pub mod keys;
pub mod mail;
pub mod metrics;
pub mod mfa;
pub mod middleware;
pub mod oauth;
pub mod openapi;
pub mod ops;
pub mod pages;
#[cfg(test)]
mod parser_props;
pub mod proxy;
pub mod ratelimit;
pub mod ssh;
pub mod state;
pub mod sweeper;
pub mod time;
pub mod trust;
pub mod webauthn;

mod bootstrap;
mod routes;

use axum::serve::ListenerExt;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::RwLock;
use url::Url;
use ward_core::store::Store;
use ward_core::{Clock, Random};

pub use bootstrap::Bootstrap;
pub use config::Config;
pub use routes::router;
pub use state::AppState;
pub use ward_core::clock::SystemClock;
pub use ward_core::random::OsRandom;

use crate::hashing::PasswordPool;
use crate::keys::{KeyRing, MasterKey};
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use crate::state::Inner;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Database(#[from] ward_store::ConnectError),
    #[error(transparent)]
    Keys(#[from] keys::KeyError),
    #[error("bootstrap: {0}")]
    Bootstrap(String),
    #[error("storage: {0}")]
    Store(#[from] ward_core::StoreError),
    #[error("cannot create the HTTP client for identity providers: {0}")]
    Http(String),
    #[error("SSH CA: {0}")]
    Ssh(String),
}

/// A bound, initialized server, ready to [`serve`](Prepared::serve).
pub struct Prepared {
    pub listener: TcpListener,
    pub state: AppState,
    pub bootstrap: Bootstrap,
}

impl Prepared {
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let reloader = tokio::spawn(reload_keys_forever(self.state.clone()));
        let sweeper = tokio::spawn(sweeper::sweep_forever(self.state.clone()));
        let poller = tokio::spawn(events::hub::poll_forever(self.state.clone()));
        let deliverer = tokio::spawn(events::deliver::deliver_forever(self.state.clone()));
        let closing = self.state.clone();
        let shutdown = async move {
            shutdown.await;
            closing.events.close();
        };
        let mailer = tokio::spawn(mail::deliver::deliver_forever(self.state.clone()));
        let app = router(self.state).into_make_service_with_connect_info::<SocketAddr>();
        // TCP_NODELAY on every accepted connection (axum 0.8 no longer sets it): a response
        // written in more than one segment, such as a proxied one whose body streams after
        // its headers, would otherwise wait on Nagle's algorithm for the client's delayed ACK.
        let listener = self.listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "TCP_NODELAY could not be set");
            }
        });
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
        reloader.abort();
        sweeper.abort();
        poller.abort();
        deliverer.abort();
        mailer.abort();
        served
    }
}

/// Opens the database, runs migrations, loads or creates the signing keys, creates the
/// bootstrap admin on first start, and binds the listener.
pub async fn prepare(
    config: Config,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
) -> Result<Prepared, StartError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::DataDir {
        path: config.data_dir.display().to_string(),
        source,
    })?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
    let bound = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.listen,
        source,
    })?;
    let public_url = match &config.public_url {
        Some(u) => u.clone(),
        None => default_public_url(bound),
    };
    let issuer = public_url.as_str().trim_end_matches('/').to_string();
    let sql = ward_store::connect_with(
        &config.database_url,
        ward_store::StoreOptions {
            cache_ttl: config.store_cache_ttl,
        },
    )
    .await?;
    // Other replicas' revocations and key rotations, by PostgreSQL LISTEN/NOTIFY.
    sql.spawn_listener();
    let changes = sql.changes();
    let limiter = RateLimiter::new(Arc::new(sql.clone()));
    let store: Arc<dyn Store> = Arc::new(sql);
    let master = MasterKey::load(
        config.master_key.as_deref(),
        &config.data_dir,
        random.as_ref(),
    )?;
    let max_token_lifetime = config.access_token_ttl;
    let keys = KeyRing::load_or_create(
        store.as_ref(),
        &master,
        random.as_ref(),
        clock.now(),
        max_token_lifetime,
    )
    .await?;
    let passwords = PasswordPool::new(PasswordPool::default_permits(), random.clone());
    let bootstrap = bootstrap::ensure_admin(
        &config,
        store.as_ref(),
        &passwords,
        clock.now(),
        random.as_ref(),
    )
    .await?;
    let webauthn = webauthn::relying_party(&public_url, &config.branding.product_name);
    let idp = idp::Registry::new().map_err(|e| StartError::Http(e.to_string()))?;
    let state = AppState(Arc::new(Inner {
        idp,
        secure_cookies: public_url.scheme() == "https",
        issuer,
        public_url,
        store,
        clock,
        random,
        keys: RwLock::new(Arc::new(keys)),
        changes,
        dpop: dpop::Verifier::new(&master),
        master_key: master,
        passwords,
        limiter,
        webauthn,
        metrics: Metrics::default(),
        events: events::Hub::new(config.events.stream_buffer),
        mail_wake: tokio::sync::Notify::new(),
        config,
    }));
    Ok(Prepared {
        listener,
        state,
        bootstrap,
    })
}

/// How often a server looks for keys rotated elsewhere when the change listener is up (it
/// hears of rotations at once; this only lets retired keys age out of the JWKS)…
const KEY_RELOAD_EVERY: std::time::Duration = std::time::Duration::from_secs(30);
/// …and while it is reconnecting, so that a rotation still arrives within about a second.
const KEY_RELOAD_FALLBACK: std::time::Duration = std::time::Duration::from_secs(1);

async fn reload_keys_forever(state: AppState) {
    loop {
        let every = if state.changes.live() {
            KEY_RELOAD_EVERY
        } else {
            KEY_RELOAD_FALLBACK
        };
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = state.changes.keys_changed() => {}
        }
        if let Err(e) = reload_keys(&state).await {
            tracing::warn!(error = %e, "cannot reload signing keys");
        }
    }
}

/// Picks up signing keys rotated elsewhere (another replica or `ward server rotate-keys`).
/// Returns whether anything changed.
pub async fn reload_keys(state: &AppState) -> Result<bool, keys::KeyError> {
    let current = state.keys().await;
    let fresh = current
        .reload(
            state.store.as_ref(),
            &state.master_key,
            state.clock.now(),
            state.config.access_token_ttl,
        )
        .await?;
    match fresh {
        Some(fresh) => {
            tracing::info!(kid = fresh.signing_kid(), "signing keys reloaded");
            *state.keys.write().await = Arc::new(fresh);
            Ok(true)
        }
        None => Ok(false),
    }
}

fn default_public_url(bound: SocketAddr) -> Url {
    let host = if bound.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else if bound.is_ipv6() {
        format!("[{}]", bound.ip())
    } else {
        bound.ip().to_string()
    };
    Url::parse(&format!("http://{host}:{}", bound.port())).unwrap_or_else(|_| {
        // Unreachable for a socket address; fall back to the SPEC default.
        Url::parse("http://127.0.0.1:8080").unwrap_or_else(|_| unreachable_url())
    })
}

#[allow(clippy::panic)]
fn unreachable_url() -> Url {
    panic!("a constant URL failed to parse")
}

/// `ward server rotate-ssh-ca`: a new SSH user CA key; the old one stays published for
/// `ssh.ttl` (SPEC §2.17).
pub async fn rotate_ssh_ca(
    config: &Config,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
) -> Result<String, StartError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::DataDir {
        path: config.data_dir.display().to_string(),
        source,
    })?;
    let store = ward_store::connect(&config.database_url).await?;
    let master = MasterKey::load(
        config.master_key.as_deref(),
        &config.data_dir,
        random.as_ref(),
    )?;
    ssh::rotate(&store, &master, random.as_ref(), clock.now())
        .await
        .map_err(StartError::Ssh)
}

/// `ward server rotate-keys`: a new signing key; old keys stay published until their tokens
/// have expired.
pub async fn rotate_keys(
    config: &Config,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
) -> Result<String, StartError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::DataDir {
        path: config.data_dir.display().to_string(),
        source,
    })?;
    let store = ward_store::connect(&config.database_url).await?;
    let master = MasterKey::load(
        config.master_key.as_deref(),
        &config.data_dir,
        random.as_ref(),
    )?;
    // Make sure a key exists and the master key opens it before adding another.
    KeyRing::load_or_create(
        &store,
        &master,
        random.as_ref(),
        clock.now(),
        config.access_token_ttl,
    )
    .await?;
    Ok(KeyRing::rotate(&store, &master, random.as_ref(), clock.now()).await?)
}
