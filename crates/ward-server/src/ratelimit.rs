//! Fixed-window rate limits keyed by (bucket, key), on ward's clock, counted in the database so
//! that every replica spends the same budget (SPEC §2.10).
//!
//! Hand-written rather than `governor`: limits must follow ward's injectable clock (tests step
//! time instead of sleeping), and the counters must be shared. A window is named by its start,
//! computed from ward's [`Clock`](ward_core::Clock) (never the database's `now()`), so replicas
//! agree on windows as far as their clocks agree. One hit is one atomic upsert; a check is one
//! read. Windows older than the previous one are deleted once per window per process, in the
//! background.
//!
//! Guessable inputs (passwords, MFA codes, device user codes) use [`RateLimiter::reserve`]: the
//! attempt is counted *before* it is evaluated, in the same atomic upsert that reads the count,
//! so no number of concurrent requests on any number of replicas gets more than `limit`
//! evaluations per window. A success gives its reservation back ([`RateLimiter::release`]); a
//! failure keeps it (SPEC §2.13).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use ward_core::clock::Timestamp;
use ward_core::store::RateLimitStore;
use ward_core::StoreError;

use crate::config::RateLimits;
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

/// A budget for one kind of guess: `limit` attempts per `window` seconds per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub bucket: &'static str,
    pub limit: u32,
    pub window: i64,
}

/// One attempt, counted in the shared store before the guess is evaluated.
///
/// Dropping it keeps it counted (a failure); [`RateLimiter::release`] gives it back (a success).
#[derive(Debug)]
#[must_use = "a reservation is evaluated, then released on success or kept on failure"]
pub struct Attempt {
    key: String,
    window_start: i64,
    /// Attempts left in this window after this one, if it fails.
    pub remaining: u32,
}

/// The budget of each guessable input (the table in docs/security.md).
impl RateLimits {
    /// Password submissions per account (email).
    pub fn signin_account(&self) -> Budget {
        Budget {
            bucket: "signin_account",
            limit: self.signin_failures_per_account,
            window: self.window_secs,
        }
    }
    /// TOTP and backup codes per account, shared by every place a code is accepted.
    pub fn mfa_account(&self) -> Budget {
        Budget {
            bucket: "mfa_account",
            limit: self.mfa_failures_per_account,
            window: self.window_secs,
        }
    }
    /// Device user codes (entry and decision) per signed-in account.
    pub fn user_code_account(&self) -> Budget {
        Budget {
            bucket: "user_code_account",
            limit: self.user_code_failures_per_account,
            window: self.window_secs,
        }
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

    /// Reserves one attempt of `budget` for `key` before the guess is evaluated;
    /// [`LimitError::Limited`] when the window's budget is spent (the refused attempt is not
    /// evaluated, and stays counted: the window is fixed, so that delays nothing).
    pub async fn reserve(
        &self,
        budget: Budget,
        key: &str,
        now: Timestamp,
    ) -> Result<Attempt, LimitError> {
        let window = budget.window.max(1);
        let start = now.0 - now.0.rem_euclid(window);
        self.sweep(start, window);
        let key = counter_key(budget.bucket, key);
        let count = self.store.add_rate_limit_hits(&key, start, 1).await?;
        let limit = i64::from(budget.limit);
        if count > limit {
            return Err(LimitError::Limited {
                retry_after: (start + window - now.0).max(1),
            });
        }
        Ok(Attempt {
            key,
            window_start: start,
            remaining: u32::try_from(limit - count).unwrap_or(0),
        })
    }

    /// Gives a reservation back after the guess turned out right. Best effort: a failure to
    /// write only leaves the attempt counted.
    pub async fn release(&self, attempt: Attempt) {
        if let Err(e) = self
            .store
            .add_rate_limit_hits(&attempt.key, attempt.window_start, -1)
            .await
        {
            tracing::warn!(error = %e, "cannot release a rate-limit reservation");
        }
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

    const B: Budget = Budget {
        bucket: "guess",
        limit: 5,
        window: 60,
    };

    #[tokio::test]
    async fn reservations_are_counted_before_evaluation_and_released_on_success() {
        let (l, _dir) = limiter().await;
        let l = Arc::new(l);
        // 200 concurrent reservations: exactly the limit get through.
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let l = l.clone();
                tokio::spawn(async move { l.reserve(B, "u", Timestamp(120)).await })
            })
            .collect();
        let mut granted = Vec::new();
        for t in tasks {
            if let Ok(a) = t.await.unwrap() {
                granted.push(a);
            }
        }
        assert_eq!(granted.len(), 5);
        let mut left: Vec<u32> = granted.iter().map(|a| a.remaining).collect();
        left.sort_unstable();
        assert_eq!(left, vec![0, 1, 2, 3, 4]);
        assert_eq!(
            retry_after(l.reserve(B, "u", Timestamp(150)).await.map(|_| ())),
            Some(30)
        );
        // The next window starts afresh; a success gives its attempt back.
        for _ in 0..10 {
            let a = l.reserve(B, "u", Timestamp(180)).await.unwrap();
            assert_eq!(a.remaining, 4);
            l.release(a).await;
        }
        assert!(l.reserve(B, "other", Timestamp(150)).await.is_ok());
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
