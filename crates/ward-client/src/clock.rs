//! The one place that reads the wall clock; everything else takes a `Clock`, so flows can be
//! tested at a fixed time and stepped forward without sleeping.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of the current time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current wall-clock time.
    fn now(&self) -> SystemTime;

    /// Seconds since the Unix epoch (0 for a clock set before 1970).
    fn unix(&self) -> u64 {
        self.now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the single sanctioned wall-clock read
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that stands still until told to move; for tests.
#[derive(Debug)]
pub struct FixedClock(Mutex<SystemTime>);

impl FixedClock {
    /// A clock fixed at `unix` seconds since the epoch.
    pub fn at_unix(unix: u64) -> Self {
        Self(Mutex::new(UNIX_EPOCH + Duration::from_secs(unix)))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        if let Ok(mut t) = self.0.lock() {
            *t += by;
        }
    }
}

impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        self.0.lock().map(|t| *t).unwrap_or(UNIX_EPOCH)
    }
}

/// Formats Unix seconds as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn format_utc(unix: u64) -> String {
    let ts = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(unix)).to_string();
    // "2026-01-02T03:04:05Z" -> "2026-01-02 03:04:05 UTC"
    format!("{} UTC", ts.trim_end_matches('Z').replacen('T', " ", 1))
}

/// Formats Unix seconds as RFC 3339 UTC (`2026-01-02T03:04:05Z`).
pub fn format_rfc3339(unix: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(unix)).to_string()
}

/// Parses an RFC 3339 timestamp in UTC (`Z` or `+00:00`, fractional seconds allowed) to Unix
/// seconds.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let s = s.trim();
    let normalized = match s.strip_suffix("+00:00") {
        Some(head) => format!("{head}Z"),
        None => s.to_owned(),
    };
    let t = humantime::parse_rfc3339_weak(normalized.trim_end_matches('Z')).ok()?;
    t.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses() {
        assert_eq!(format_utc(1_767_225_600), "2026-01-01 00:00:00 UTC");
        assert_eq!(parse_rfc3339("2026-01-01T00:00:00Z"), Some(1_767_225_600));
        assert_eq!(
            parse_rfc3339("2026-01-01T00:00:00.123456Z"),
            Some(1_767_225_600)
        );
        assert_eq!(
            parse_rfc3339("2026-01-01T00:00:00+00:00"),
            Some(1_767_225_600)
        );
        assert_eq!(parse_rfc3339("nonsense"), None);
        assert_eq!(format_rfc3339(1_767_225_600), "2026-01-01T00:00:00Z");
    }

    #[test]
    fn fixed_clock_steps() {
        let c = FixedClock::at_unix(100);
        c.advance(Duration::from_secs(5));
        assert_eq!(c.unix(), 105);
    }
}
