//! Device authorization (RFC 8628) rules: user codes and polling.

use crate::clock::Timestamp;
use crate::model::{DeviceGrant, DeviceGrantStatus};
use crate::random::{random_string, Random};
use crate::{OAuthError, OAuthErrorCode};

/// RFC 8628 §6.1: 20 consonants, no vowels (no accidental words) and none easily confused.
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
pub const DEVICE_CODE_LIFETIME_SECS: i64 = 600;
pub const DEFAULT_INTERVAL_SECS: i64 = 5;
/// RFC 8628 §3.5: on `slow_down` the interval grows by 5 seconds.
pub const SLOW_DOWN_STEP_SECS: i64 = 5;

/// A new user code, normalized (8 letters, no dash).
pub fn new_user_code(random: &dyn Random) -> String {
    random_string(random, USER_CODE_ALPHABET, 8)
}

/// `XXXX-XXXX`, as shown to people.
pub fn display_user_code(normalized: &str) -> String {
    match (normalized.get(..4), normalized.get(4..)) {
        (Some(a), Some(b)) => format!("{a}-{b}"),
        _ => normalized.to_string(),
    }
}

/// A device sign-in requested this long ago or more, from another network than the browser
/// approving it, needs a second confirmation (docs/design/decisions.md).
pub const FRESH_REQUEST_SECS: i64 = 120;

/// Whether two client addresses are on one network: the same IPv4 /24 or IPv6 /64. Unknown or
/// unparsable addresses are not.
pub fn same_network(a: Option<&str>, b: Option<&str>) -> bool {
    use std::net::IpAddr;
    let parse = |s: Option<&str>| s.and_then(|s| s.parse::<IpAddr>().ok());
    match (parse(a), parse(b)) {
        (Some(IpAddr::V4(a)), Some(IpAddr::V4(b))) => a.octets()[..3] == b.octets()[..3],
        (Some(IpAddr::V6(a)), Some(IpAddr::V6(b))) => a.segments()[..4] == b.segments()[..4],
        _ => false,
    }
}

/// Whether approving `grant` from `approver_ip` at `now` needs the second confirmation: the
/// request is not fresh and came from another network (the shape of device-code phishing: an
/// attacker starts a sign-in and sends the link to a victim, who approves it later, elsewhere).
pub fn needs_second_confirmation(
    grant: &DeviceGrant,
    approver_ip: Option<&str>,
    now: Timestamp,
) -> bool {
    now.0 - grant.created_at.0 >= FRESH_REQUEST_SECS
        && !same_network(grant.requested_ip.as_deref(), approver_ip)
}

/// What a person typed → the stored form: case-folded, dashes and spaces dropped. `None` when it
/// cannot be a user code at all (wrong length or letters outside the alphabet).
pub fn normalize_user_code(input: &str) -> Option<String> {
    let code: String = input
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let ok = code.len() == 8 && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b));
    ok.then_some(code)
}

/// What a poll of the token endpoint gets, given the grant as it was before this poll.
#[derive(Debug, PartialEq, Eq)]
pub enum PollDecision {
    /// Approved: issue tokens (after consuming the grant atomically).
    Issue,
    /// An error to return; `slow_down` also means the stored interval must grow.
    Refuse(OAuthError),
}

pub fn decide_poll(grant: &DeviceGrant, now: Timestamp) -> PollDecision {
    if now >= grant.expires_at {
        return PollDecision::Refuse(OAuthError::new(
            OAuthErrorCode::ExpiredToken,
            "the device code has expired; start again",
        ));
    }
    match grant.status {
        DeviceGrantStatus::Denied => PollDecision::Refuse(OAuthError::new(
            OAuthErrorCode::AccessDenied,
            "the user denied the request",
        )),
        DeviceGrantStatus::Consumed => PollDecision::Refuse(OAuthError::invalid_grant(
            "the device code has already been used",
        )),
        DeviceGrantStatus::Approved => PollDecision::Issue,
        DeviceGrantStatus::Pending => {
            let too_fast = grant
                .last_polled_at
                .is_some_and(|last| now < last.plus_secs(grant.interval));
            if too_fast {
                PollDecision::Refuse(OAuthError::new(
                    OAuthErrorCode::SlowDown,
                    "polling too fast; wait the interval between requests",
                ))
            } else {
                PollDecision::Refuse(OAuthError::new(
                    OAuthErrorCode::AuthorizationPending,
                    "the user has not yet approved the request",
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::OsRandom;

    fn grant(status: DeviceGrantStatus, last: Option<i64>) -> DeviceGrant {
        DeviceGrant {
            device_code_hash: "h".into(),
            user_code: "BCDFGHJK".into(),
            client_id: "ward-cli".into(),
            scope: String::new(),
            device_id: None,
            device_name: None,
            created_at: Timestamp(1000),
            expires_at: Timestamp(1600),
            interval: 5,
            last_polled_at: last.map(Timestamp),
            status,
            user_id: None,
            auth_time: None,
            amr: vec![],
            requested_ip: None,
        }
    }

    #[test]
    fn second_confirmation_for_old_requests_from_elsewhere() {
        assert!(same_network(Some("192.0.2.7"), Some("192.0.2.200")));
        assert!(!same_network(Some("192.0.2.7"), Some("198.51.100.7")));
        assert!(same_network(
            Some("2001:db8:1:2::1"),
            Some("2001:db8:1:2:ffff::9")
        ));
        assert!(!same_network(
            Some("2001:db8:1:2::1"),
            Some("2001:db8:1:3::1")
        ));
        assert!(!same_network(None, Some("192.0.2.7")));
        assert!(!same_network(Some("192.0.2.7"), Some("::ffff:192.0.2.7")));
        let mut g = grant(DeviceGrantStatus::Pending, None);
        g.requested_ip = Some("192.0.2.7".into());
        let at = |secs: i64| Timestamp(1000 + secs);
        assert!(!needs_second_confirmation(
            &g,
            Some("198.51.100.7"),
            at(119)
        ));
        assert!(needs_second_confirmation(&g, Some("198.51.100.7"), at(120)));
        assert!(!needs_second_confirmation(&g, Some("192.0.2.8"), at(500)));
        g.requested_ip = None;
        assert!(needs_second_confirmation(&g, Some("192.0.2.8"), at(500)));
    }

    #[test]
    fn user_codes() {
        let c = new_user_code(&OsRandom);
        assert_eq!(c.len(), 8);
        assert_eq!(normalize_user_code(&display_user_code(&c)), Some(c.clone()));
        assert_eq!(normalize_user_code(&c.to_lowercase()), Some(c));
        assert_eq!(normalize_user_code("ABCD-EFGH"), None); // vowels
        assert_eq!(normalize_user_code("BCDF"), None);
    }

    #[test]
    fn polling() {
        use OAuthErrorCode::*;
        let code = |d: PollDecision| match d {
            PollDecision::Refuse(e) => Some(e.code),
            PollDecision::Issue => None,
        };
        let g = grant(DeviceGrantStatus::Pending, None);
        assert_eq!(
            code(decide_poll(&g, Timestamp(1001))),
            Some(AuthorizationPending)
        );
        let g = grant(DeviceGrantStatus::Pending, Some(1001));
        assert_eq!(code(decide_poll(&g, Timestamp(1003))), Some(SlowDown));
        assert_eq!(
            code(decide_poll(&g, Timestamp(1006))),
            Some(AuthorizationPending)
        );
        assert_eq!(code(decide_poll(&g, Timestamp(1600))), Some(ExpiredToken));
        let g = grant(DeviceGrantStatus::Approved, Some(1001));
        assert_eq!(decide_poll(&g, Timestamp(1002)), PollDecision::Issue);
        let g = grant(DeviceGrantStatus::Denied, None);
        assert_eq!(code(decide_poll(&g, Timestamp(1002))), Some(AccessDenied));
    }
}
