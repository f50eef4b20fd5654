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
        }
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
