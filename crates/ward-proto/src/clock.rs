//! The one seam through which ward — the server and `ward-client` alike — reads the time.
//! Times are Unix seconds ([`Timestamp`]), the unit every ward API answer uses; code takes an
//! `Arc<dyn Clock>`, and tests use [`ManualClock`] to step time without sleeping.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Seconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn plus_secs(self, secs: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(secs))
    }
    pub fn secs(self) -> i64 {
        self.0
    }
}

/// A source of the current time.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    fn now(&self) -> Timestamp;

    /// Seconds since the Unix epoch as an unsigned count (0 for a clock set before 1970).
    fn unix(&self) -> u64 {
        u64::try_from(self.now().0).unwrap_or(0)
    }
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place ward reads the wall clock
    fn now(&self) -> Timestamp {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Timestamp(i64::try_from(secs).unwrap_or(i64::MAX))
    }
}

/// A clock that only moves when told to; shared between a test and the code it drives.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        ManualClock(Arc::new(AtomicI64::new(start.0)))
    }
    /// A clock at `unix` seconds since the epoch.
    pub fn at_unix(unix: i64) -> Self {
        Self::new(Timestamp(unix))
    }
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
    pub fn set(&self, t: Timestamp) {
        self.0.store(t.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_steps_and_is_shared() {
        let clock = ManualClock::at_unix(100);
        let seen_by_other = clock.clone();
        clock.advance(5);
        assert_eq!(seen_by_other.now(), Timestamp(105));
        assert_eq!(seen_by_other.unix(), 105);
        clock.set(Timestamp(-1));
        assert_eq!(clock.unix(), 0);
    }
}
