//! Step-up from anywhere (SPEC §2.17): grace windows after a resource verification, and
//! approval of a verification from another device (request, approve, poll with `slow_down`).

use crate::clock::Timestamp;
use crate::device::SLOW_DOWN_STEP_SECS;
use crate::{OAuthError, OAuthErrorCode};

/// How long an approval request can wait for its approval (and its ticket be polled).
pub const REQUEST_LIFETIME_SECS: i64 = 300;
/// RFC 8628 §3.2's default polling interval, used for approval requests too.
pub const DEFAULT_INTERVAL_SECS: i64 = 5;

/// Whether a grace window that runs until `until` still admits a connection at `now`. The
/// window is half-open: a grace of 600 s granted at `t` admits up to `t + 599` and refuses at
/// `t + 600`, like every other expiry in ward (`expires_at > now`).
pub fn grace_admits(until: Timestamp, now: Timestamp) -> bool {
    now < until
}

/// Where an approval request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyRequestStatus {
    /// Waiting for the owner.
    Pending,
    /// Approved; the next poll by the requester gets the ticket.
    Approved,
    /// Refused by the owner.
    Denied,
    /// Approved and its ticket handed out: nothing more to give.
    Issued,
}

impl VerifyRequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VerifyRequestStatus::Pending => "pending",
            VerifyRequestStatus::Approved => "approved",
            VerifyRequestStatus::Denied => "denied",
            VerifyRequestStatus::Issued => "issued",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => VerifyRequestStatus::Pending,
            "approved" => VerifyRequestStatus::Approved,
            "denied" => VerifyRequestStatus::Denied,
            "issued" => VerifyRequestStatus::Issued,
            _ => return None,
        })
    }
}

/// A request to open a locked resource, approved on another device by the same user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyRequest {
    /// Public identifier (it is in the approve URL); the poller must also hold `holder`.
    pub id: String,
    pub user_id: String,
    /// The session id, or `token:<id>` for an API token: what the ticket will be bound to.
    pub holder: String,
    pub kind: String,
    pub resource_id: String,
    /// The requesting session's device name, shown on the approve page.
    pub device_name: Option<String>,
    /// The requester's address, shown on the approve page.
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub status: VerifyRequestStatus,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub interval: i64,
    pub last_polled_at: Option<Timestamp>,
    pub decided_at: Option<Timestamp>,
}

/// An SSH user CA key: the public half in OpenSSH format, the private half sealed under the
/// master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshCaKey {
    pub id: String,
    pub public_key: String,
    pub private_enc: String,
    pub created_at: Timestamp,
    pub retired_at: Option<Timestamp>,
}

/// What a poll of an approval request gets, given the request as it was before this poll.
#[derive(Debug, PartialEq, Eq)]
pub enum PollDecision {
    /// Approved: hand out the ticket (after taking it atomically; only one poll can).
    Issue,
    /// An error to return. `slow_down` also means the stored interval grows by 5 s.
    Refuse(OAuthError),
}

/// RFC 8628 §3.5 polling rules applied to an approval request. `slow_down` is only answered
/// while the request is pending: once it is approved, the atomic hand-out decides who gets
/// the ticket, so a requester that polled early is not made to wait another interval.
pub fn decide_poll(request: &VerifyRequest, now: Timestamp) -> PollDecision {
    if now >= request.expires_at {
        return PollDecision::Refuse(OAuthError::new(
            OAuthErrorCode::ExpiredToken,
            "the approval request has expired; start again with `ward verify`",
        ));
    }
    match request.status {
        VerifyRequestStatus::Denied => PollDecision::Refuse(OAuthError::new(
            OAuthErrorCode::AccessDenied,
            "the request was denied on the approving device",
        )),
        VerifyRequestStatus::Issued => PollDecision::Refuse(OAuthError::invalid_grant(
            "the ticket for this approval was already issued; one approval gives one ticket",
        )),
        VerifyRequestStatus::Approved => PollDecision::Issue,
        VerifyRequestStatus::Pending => {
            let too_fast = request
                .last_polled_at
                .is_some_and(|last| now < last.plus_secs(request.interval));
            if too_fast {
                PollDecision::Refuse(OAuthError::new(
                    OAuthErrorCode::SlowDown,
                    format!(
                        "polling too fast; wait {} s between requests",
                        request.interval + SLOW_DOWN_STEP_SECS
                    ),
                ))
            } else {
                PollDecision::Refuse(OAuthError::new(
                    OAuthErrorCode::AuthorizationPending,
                    "the request has not been approved yet",
                ))
            }
        }
    }
}

/// Why a request cannot be approved or denied at `now` by `user_id`, if it cannot.
pub fn approval_refusal(
    request: &VerifyRequest,
    user_id: &str,
    now: Timestamp,
) -> Option<&'static str> {
    if request.user_id != user_id {
        return Some(
            "this request was made by another account: sign in as the account that asked for it",
        );
    }
    if now >= request.expires_at {
        return Some("this request has expired: ask again on the requesting device");
    }
    match request.status {
        VerifyRequestStatus::Pending => None,
        VerifyRequestStatus::Denied => Some("this request was already denied"),
        VerifyRequestStatus::Approved | VerifyRequestStatus::Issued => {
            Some("this request was already approved")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(status: VerifyRequestStatus, last: Option<i64>) -> VerifyRequest {
        VerifyRequest {
            id: "vr".into(),
            user_id: "u1".into(),
            holder: "s1".into(),
            kind: "terminal".into(),
            resource_id: "t1".into(),
            device_name: None,
            ip: None,
            user_agent: None,
            status,
            created_at: Timestamp(1000),
            expires_at: Timestamp(1300),
            interval: 5,
            last_polled_at: last.map(Timestamp),
            decided_at: None,
        }
    }

    fn code(d: PollDecision) -> &'static str {
        match d {
            PollDecision::Issue => "issue",
            PollDecision::Refuse(e) => e.code.as_str(),
        }
    }

    #[test]
    fn polling() {
        use VerifyRequestStatus::*;
        let now = Timestamp(1010);
        assert_eq!(
            code(decide_poll(&request(Pending, None), now)),
            "authorization_pending"
        );
        assert_eq!(
            code(decide_poll(&request(Pending, Some(1006)), now)),
            "slow_down"
        );
        assert_eq!(
            code(decide_poll(&request(Pending, Some(1005)), now)),
            "authorization_pending"
        );
        assert_eq!(
            code(decide_poll(&request(Approved, Some(1009)), now)),
            "issue"
        );
        assert_eq!(
            code(decide_poll(&request(Issued, None), now)),
            "invalid_grant"
        );
        assert_eq!(
            code(decide_poll(&request(Denied, None), now)),
            "access_denied"
        );
        assert_eq!(
            code(decide_poll(&request(Approved, None), Timestamp(1300))),
            "expired_token"
        );
    }

    #[test]
    fn approval_rules() {
        use VerifyRequestStatus::*;
        let now = Timestamp(1010);
        assert_eq!(approval_refusal(&request(Pending, None), "u1", now), None);
        assert!(approval_refusal(&request(Pending, None), "u2", now)
            .is_some_and(|m| m.contains("another account")));
        assert!(
            approval_refusal(&request(Pending, None), "u1", Timestamp(1300))
                .is_some_and(|m| m.contains("expired"))
        );
        assert!(approval_refusal(&request(Issued, None), "u1", now).is_some());
    }

    #[test]
    fn grace_is_half_open() {
        assert!(grace_admits(Timestamp(1600), Timestamp(1599)));
        assert!(!grace_admits(Timestamp(1600), Timestamp(1600)));
    }
}
