//! The storage of ward: one implementation of ward-core's store traits over sqlx's `Any`
//! driver, running the same portable SQL on SQLite and PostgreSQL. There is no per-backend
//! branch at any call site; the only backend-specific code is the SQLite connection setup in
//! [`connect`] (WAL and durable commits).

mod accounts;
mod api_tokens;
mod audit;
mod cache;
mod changes;
mod codec;
mod dpop;
mod events;
mod grants;
mod idp;
mod keys;
mod locks;
mod mail;
mod mfa_challenges;
mod rate_limits;
mod registration;
mod service_accounts;
mod sessions;
mod signup;
mod stepup;
mod sweep;
mod totp;
mod users;
mod webauthn;
mod writer;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Executor};
use ward_core::error::Cause;
use ward_core::store::{Store, StoreResult};
use ward_core::StoreError;

pub use cache::DEFAULT_TTL as DEFAULT_CACHE_TTL;
pub use changes::{Change, Changes, CHANNEL};
pub use users::EMAIL_DOMAIN;

/// The SQL store. Cheap to clone (a pool handle).
#[derive(Clone, Debug)]
pub struct SqlStore {
    pool: AnyPool,
    /// The hot durable writes (refresh rotation, session activity), group-committed on SQLite.
    writer: writer::Writer,
    /// Short-lived cache of sessions, users and API tokens (see cache.rs), kept current
    /// across replicas by the change listener (changes.rs).
    cache: std::sync::Arc<cache::Cache>,
    is_sqlite: bool,
    /// For the change listener's own connection.
    url: String,
    changes: Changes,
    /// Dropped with the last handle to this store, which stops the change listener.
    stop: std::sync::Arc<tokio::sync::watch::Sender<()>>,
    /// Orders audit events written within the same second (monotonic per process, seeded from
    /// the wall clock in microseconds so that restarts keep increasing).
    seq: std::sync::Arc<std::sync::atomic::AtomicI64>,
    /// What the sweeper's batched deletes did (see sweep.rs).
    sweep_stats: std::sync::Arc<sweep::Stats>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("database_url must start with sqlite:// or postgres://, got {0:?}")]
    UnsupportedScheme(String),
    #[error("cannot open the database: {0}")]
    Open(#[from] sqlx::Error),
    #[error("cannot migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// How a store is set up beyond its URL.
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    /// How long cached sessions, users and API tokens are trusted without asking the database:
    /// the bound on staleness across replicas while the change listener is down.
    pub cache_ttl: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            cache_ttl: DEFAULT_CACHE_TTL,
        }
    }
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Opens the database at `url` (`sqlite://path` or `postgres://…`) and runs the migrations.
///
/// SQLite is opened in WAL mode with `synchronous = FULL`: a commit acknowledged to a client is
/// on disk and survives `kill -9` and power loss.
pub async fn connect(url: &str) -> Result<SqlStore, ConnectError> {
    connect_with(url, StoreOptions::default()).await
}

/// [`connect`] with options.
pub async fn connect_with(url: &str, options: StoreOptions) -> Result<SqlStore, ConnectError> {
    let cache_ttl = options.cache_ttl;
    sqlx::any::install_default_drivers();
    let is_sqlite = url.starts_with("sqlite:");
    if !is_sqlite && !url.starts_with("postgres:") && !url.starts_with("postgresql:") {
        return Err(ConnectError::UnsupportedScheme(
            url.split(':').next().unwrap_or_default().to_string(),
        ));
    }
    let url = if is_sqlite && !url.contains('?') {
        format!("{url}?mode=rwc")
    } else {
        url.to_string()
    };
    let connect_options = AnyConnectOptions::from_str(&url)?
        .log_statements(tracing::log::LevelFilter::Trace)
        .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1));
    let pool = AnyPoolOptions::new()
        .max_connections(if is_sqlite { 8 } else { 16 })
        // While PostgreSQL is down a request waits at most this long for a connection, then
        // gets 503 (SQLite's own lock wait is `busy_timeout`).
        .acquire_timeout(Duration::from_secs(if is_sqlite { 10 } else { 3 }))
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                if is_sqlite {
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                         PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                    )
                    .await?;
                }
                Ok(())
            })
        })
        .connect_with(connect_options)
        .await?;
    MIGRATOR.run(&pool).await?;
    let changes = Changes::default();
    // One process on SQLite: every change is this process's own, applied as it is written.
    changes.set_live(is_sqlite);
    Ok(SqlStore {
        writer: writer::Writer::new(pool.clone(), is_sqlite),
        cache: std::sync::Arc::new(cache::Cache::new(cache_ttl)),
        is_sqlite,
        url: url.clone(),
        changes,
        stop: std::sync::Arc::new(tokio::sync::watch::channel(()).0),
        pool,
        seq: std::sync::Arc::new(std::sync::atomic::AtomicI64::new(seq_seed())),
        sweep_stats: std::sync::Arc::default(),
    })
}

#[allow(clippy::disallowed_methods)] // a seed for ordering, not a domain time
fn seq_seed() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(0))
        .unwrap_or(0)
}

impl SqlStore {
    pub(crate) fn next_seq(&self) -> i64 {
        self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }
    /// Deletes the rows of `table` whose `expires_at` is at or before `cutoff` (the sweeper's
    /// statement for every short-lived table; `table` is one of ours, never input), in batches
    /// of at most `SweepStats::BATCH` rows (sweep.rs).
    pub(crate) async fn delete_expired(
        &self,
        table: &'static str,
        cutoff: ward_core::clock::Timestamp,
    ) -> StoreResult<u64> {
        let key = match table {
            "auth_codes" => "code_hash",
            "device_grants" => "device_code_hash",
            "mfa_challenges" | "account_links" => "token_hash",
            "lock_tickets" => "ticket_hash",
            "idp_pending" => "state_hash",
            "dpop_jtis" => "jti_hash",
            "lock_graces" => "holder, kind, resource_id",
            _ => "id",
        };
        self.delete_expired_keyed(table, key, cutoff).await
    }
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }
    pub fn is_sqlite(&self) -> bool {
        self.is_sqlite
    }
    pub async fn close(&self) {
        self.stop.send_replace(());
        self.pool.close().await;
    }
}

pub(crate) fn backend(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        if db.is_unique_violation() {
            return StoreError::Conflict(db.message().to_string());
        }
    }
    if is_unavailable(&e) {
        return StoreError::Unavailable(Cause::of(e));
    }
    StoreError::Backend(Cause::of(e))
}

/// Whether `e` says the database cannot serve now, rather than that a statement is wrong: no
/// connection (refused, reset, pool timed out or closed), PostgreSQL shutting down or starting up
/// (SQLSTATE classes 08 and 57P), or a full disk (SQLite's `SQLITE_FULL`, PostgreSQL's 53100).
fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
        sqlx::Error::Protocol(_) | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => {
            let code = db.code();
            let code = code.as_deref().unwrap_or_default();
            code.starts_with("08") || code.starts_with("57P") || code == "53100"
                // SQLite: SQLITE_FULL (13) and SQLITE_IOERR (10), with extended codes.
                || code == "13"
                || code == "10"
                || code.parse::<i32>().is_ok_and(|c| c & 0xff == 13 || c & 0xff == 10)
        }
        _ => false,
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(backend)
    }

    fn sweep_stats(&self) -> ward_core::store::SweepStats {
        self.sweep_stats.get()
    }

    fn pool_stats(&self) -> ward_core::store::PoolStats {
        ward_core::store::PoolStats {
            open: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
        }
    }
}
