//! Fixed-window rate limits keyed by (bucket, key), on ward's clock, counted in the database so
//! that every replica spends the same budget (SPEC §2.10).
//!
//! Hand-written rather than `governor`: limits must follow ward's injectable clock (tests step
//! time instead of sleeping), and the counters must be shared. A window is named by its start,
//! computed from ward's [`Clock`](ward_core::Clock) (never the database's `now()`), so replicas
//! agree on windows as far as their clocks agree. One hit is one atomic upsert; a check is one
//! read. Windows older than the previous one are deleted once per window per process, in the
//! background.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use ward_core::clock::Timestamp;
use ward_core::store::RateLimitStore;
use ward_core::StoreError;

use crate::error::ApiError;

/// Keys longer than this (an email is user input) are stored as their SHA-256.
const MAX_KEY_LEN: usize = 200;

pub struct RateLimiter {
    store: Arc<dyn RateLimitStore>,
    /// The latest window start for which this process has deleted older windows.
    swept: AtomicI64,
}

/// Why a hit was refused.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// Over the limit: retry after this many seconds.
    #[error("rate limited; retry after {retry_after} s")]
    Limited { retry_after: i64 },
    /// The counters could not be read or written.
    #[error("rate-limit counters: {0}")]
    Store(#[from] StoreError),
}

impl From<LimitError> for ApiError {
    fn from(e: LimitError) -> Self {
        match e {
            LimitError::Limited { retry_after } => ApiError::too_many_requests(retry_after),
            LimitError::Store(e) => e.into(),
        }
    }
}

impl LimitError {
    pub fn is_limited(&self) -> bool {
        matches!(self, LimitError::Limited { .. })
    }
}

impl RateLimiter {
    pub fn new(store: Arc<dyn RateLimitStore>) -> Self {
        RateLimiter {
            store,
            swept: AtomicI64::new(i64::MIN),
        }
    }

    /// Counts one hit; [`LimitError::Limited`] when this hit is over `limit` for the current
    /// window.
    pub async fn hit(
        &self,
        bucket: &'static str,
        key: &str,
        limit: u32,
        window: i64,
        now: Timestamp,
    ) -> Result<(), LimitError> {
        self.update(bucket, key, limit, window, now, 1).await
    }

    /// Checks without counting (e.g. failures are counted only once known).
    pub async fn check(
        &self,
        bucket: &'static str,
        key: &str,
        limit: u32,
        window: i64,
        now: Timestamp,
    ) -> Result<(), LimitError> {
        self.update(bucket, key, limit, window, now, 0).await
    }

    async fn update(
        &self,
        bucket: &'static str,
        key: &str,
        limit: u32,
        window: i64,
        now: Timestamp,
        add: i64,
    ) -> Result<(), LimitError> {
        let window = window.max(1);
        let start = now.0 - now.0.rem_euclid(window);
        self.sweep(start, window);
        let key = counter_key(bucket, key);
        let over = if add == 0 {
            self.store.rate_limit_hits(&key, start).await? >= i64::from(limit)
        } else {
            // Hits over the limit are counted too: the window is fixed, so that only delays
            // nothing, and it keeps one statement per hit.
            self.store.add_rate_limit_hits(&key, start, add).await? > i64::from(limit)
        };
        if over {
            return Err(LimitError::Limited {
                retry_after: (start + window - now.0).max(1),
            });
        }
        Ok(())
    }

    /// At the first hit of a window, deletes the windows before the previous one (in the
    /// background: not on the caller's time).
    fn sweep(&self, start: i64, window: i64) {
        if self.swept.fetch_max(start, Ordering::AcqRel) >= start {
            return;
        }
        let store = self.store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.delete_rate_limits_before(start - window).await {
                tracing::warn!(error = %e, "cannot delete old rate-limit windows");
            }
        });
    }
}

fn counter_key(bucket: &str, key: &str) -> String {
    if key.len() <= MAX_KEY_LEN {
        format!("{bucket}:{key}")
    } else {
        format!(
            "{bucket}:sha256:{}",
            hex::encode(Sha256::digest(key.as_bytes()))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn limiter() -> (RateLimiter, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("ward.db").display());
        let store = ward_store::connect(&url).await.unwrap();
        (RateLimiter::new(Arc::new(store)), dir)
    }

    fn retry_after(r: Result<(), LimitError>) -> Option<i64> {
        match r {
            Err(LimitError::Limited { retry_after }) => Some(retry_after),
            _ => None,
        }
    }

    #[tokio::test]
    async fn window_limits_and_resets() {
        let (l, _dir) = limiter().await;
        for _ in 0..3 {
            assert!(l.hit("b", "k", 3, 60, Timestamp(120)).await.is_ok());
        }
        assert_eq!(
            retry_after(l.hit("b", "k", 3, 60, Timestamp(130)).await),
            Some(50)
        );
        assert_eq!(
            retry_after(l.check("b", "k", 3, 60, Timestamp(130)).await),
            Some(50)
        );
        assert!(l.hit("b", "other", 3, 60, Timestamp(130)).await.is_ok());
        assert!(l.hit("other", "k", 3, 60, Timestamp(130)).await.is_ok());
        assert!(l.hit("b", "k", 3, 60, Timestamp(180)).await.is_ok());
        assert!(l.check("b", "k", 3, 60, Timestamp(180)).await.is_ok());
    }

    #[tokio::test]
    async fn old_windows_are_deleted_and_long_keys_hashed() {
        let (l, _dir) = limiter().await;
        let long = "x".repeat(10_000);
        assert!(l.hit("b", &long, 1, 60, Timestamp(0)).await.is_ok());
        assert!(l.hit("b", &long, 1, 60, Timestamp(10)).await.is_err());
        assert!(l.hit("b", "k", 1, 60, Timestamp(60)).await.is_ok());
        // Two windows later, the first is deleted (in the background).
        assert!(l.hit("b", "k", 1, 60, Timestamp(120)).await.is_ok());
        for _ in 0..100 {
            if l.store
                .rate_limit_hits(&counter_key("b", &long), 0)
                .await
                .unwrap()
                == 0
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(
            l.store
                .rate_limit_hits(&counter_key("b", &long), 0)
                .await
                .unwrap(),
            0
        );
        assert_eq!(l.store.rate_limit_hits("b:k", 60).await.unwrap(), 1);
    }
}
