//! Fixed-window rate limits keyed by (bucket, key), on ward's clock.
//!
//! Hand-written rather than `governor`: limits must follow ward's injectable clock (tests step
//! time instead of sleeping), and the same small interface will get a PostgreSQL-backed
//! implementation for multi-replica deployments (SPEC §2.10).

use std::collections::HashMap;
use std::sync::Mutex;

use ward_core::clock::Timestamp;

/// (bucket, key) → (window start, hits in that window).
type Windows = HashMap<(&'static str, String), (i64, u32)>;

#[derive(Default)]
pub struct RateLimiter {
    windows: Mutex<Windows>,
}

/// Over the limit: retry after this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after: i64,
}

impl RateLimiter {
    /// Counts one hit; `Err` when this hit is over `limit` for the current window.
    pub fn hit(
        &self,
        bucket: &'static str,
        key: &str,
        limit: u32,
        window: i64,
        now: Timestamp,
    ) -> Result<(), Limited> {
        self.update(bucket, key, limit, window, now, 1)
    }

    /// Checks without counting (e.g. failures are counted only once known).
    pub fn check(
        &self,
        bucket: &'static str,
        key: &str,
        limit: u32,
        window: i64,
        now: Timestamp,
    ) -> Result<(), Limited> {
        self.update(bucket, key, limit, window, now, 0)
    }

    fn update(
        &self,
        bucket: &'static str,
        key: &str,
        limit: u32,
        window: i64,
        now: Timestamp,
        add: u32,
    ) -> Result<(), Limited> {
        let window = window.max(1);
        let start = now.0 - now.0.rem_euclid(window);
        let mut map = match self.windows.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        if map.len() > 100_000 {
            map.retain(|_, (s, _)| *s == start);
        }
        let entry = map.entry((bucket, key.to_string())).or_insert((start, 0));
        if entry.0 != start {
            *entry = (start, 0);
        }
        let over = if add == 0 {
            entry.1 >= limit
        } else {
            entry.1 + add > limit
        };
        if over {
            return Err(Limited {
                retry_after: (start + window - now.0).max(1),
            });
        }
        entry.1 += add;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_limits_and_resets() {
        let l = RateLimiter::default();
        for _ in 0..3 {
            assert!(l.hit("b", "k", 3, 60, Timestamp(120)).is_ok());
        }
        assert_eq!(
            l.hit("b", "k", 3, 60, Timestamp(130)),
            Err(Limited { retry_after: 50 })
        );
        assert!(l.hit("b", "other", 3, 60, Timestamp(130)).is_ok());
        assert!(l.hit("b", "k", 3, 60, Timestamp(180)).is_ok());
    }
}
