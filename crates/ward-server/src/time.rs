//! Times in JSON: RFC 3339 in UTC.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use ward_core::clock::Timestamp;

/// RFC 3339 in UTC, e.g. `2026-11-25T09:39:47Z`.
pub fn rfc3339(t: Timestamp) -> String {
    OffsetDateTime::from_unix_timestamp(t.0)
        .ok()
        .and_then(|d| d.format(&Rfc3339).ok())
        .unwrap_or_else(|| t.0.to_string())
}

/// Parses an RFC 3339 time (any offset).
pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(|d| Timestamp(d.unix_timestamp()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(rfc3339(Timestamp(0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(Timestamp(1_795_000_000)), "2026-11-18T11:06:40Z");
        assert_eq!(rfc3339(Timestamp(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(
            parse_rfc3339("2026-11-18T11:06:40Z"),
            Some(Timestamp(1_795_000_000))
        );
        assert_eq!(
            parse_rfc3339("2026-11-18T12:06:40+01:00"),
            Some(Timestamp(1_795_000_000))
        );
        assert_eq!(parse_rfc3339("tomorrow"), None);
    }
}
