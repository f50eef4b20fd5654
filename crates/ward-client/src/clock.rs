//! Time for the client: the clock is ward's one [`Clock`] (ward-proto), re-exported here; this
//! module adds how the CLI writes and reads times.

use std::time::{Duration, UNIX_EPOCH};

pub use ward_proto::clock::{Clock, ManualClock, SystemClock, Timestamp};

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
}
