//! The device authorization grant (RFC 8628) as a small state machine driven by the clock, so its
//! rules (interval, `slow_down` adds 5 s, expiry, denial) are tested at a fixed time.

use std::time::Duration;

use crate::error::{Error, Kind, Result};
use crate::oauth::{DeviceAuthorization, OAuthErrorBody};

/// RFC 8628 §3.5: the default and the `slow_down` increment.
const DEFAULT_INTERVAL: u64 = 5;
const SLOW_DOWN_STEP: u64 = 5;

/// What to do after a poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Poll again after this long.
    Wait(Duration),
    /// Poll again after this long; the server asked to slow down.
    SlowedDown(Duration),
}

/// Polling state for one device code.
#[derive(Debug, Clone)]
pub struct DevicePoller {
    interval: u64,
    deadline: u64,
    /// The caller's timeout, when it (not the code's expiry) sets the deadline.
    by_timeout: Option<Duration>,
}

impl DevicePoller {
    /// Starts polling at `now` (Unix seconds); gives up at the code's expiry or after `timeout`,
    /// whichever is first.
    pub fn new(auth: &DeviceAuthorization, now: u64, timeout: Duration) -> Self {
        let by_code = now.saturating_add(auth.expires_in);
        let by_timeout = now.saturating_add(timeout.as_secs());
        Self {
            interval: auth.interval.unwrap_or(DEFAULT_INTERVAL).max(1),
            deadline: by_code.min(by_timeout),
            by_timeout: (by_timeout < by_code).then_some(timeout),
        }
    }

    /// The current interval.
    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.interval)
    }

    /// The delay before the first poll, or a timeout when even that is past the deadline.
    ///
    /// # Errors
    /// Timeout when the deadline has passed.
    pub fn first(&self, now: u64) -> Result<Step> {
        self.wait(now, false)
    }

    fn wait(&self, now: u64, slowed: bool) -> Result<Step> {
        if now >= self.deadline {
            let message = match self.by_timeout {
                Some(t) => format!(
                    "timed out after {} waiting for the device approval",
                    humantime::format_duration(t)
                ),
                None => "the device code expired before it was approved".to_owned(),
            };
            return Err(Error::new(Kind::Timeout, message));
        }
        let d = Duration::from_secs(self.interval.min(self.deadline - now).max(1));
        Ok(if slowed {
            Step::SlowedDown(d)
        } else {
            Step::Wait(d)
        })
    }

    /// Handles an RFC 8628 §3.5 error answer to a poll at `now`.
    ///
    /// # Errors
    /// Access denied, expiry, or any other OAuth error, which end the flow.
    pub fn on_error(&mut self, body: &OAuthErrorBody, now: u64) -> Result<Step> {
        match body.error.as_str() {
            "authorization_pending" => self.wait(now, false),
            "slow_down" => {
                self.interval = self.interval.saturating_add(SLOW_DOWN_STEP);
                self.wait(now, true)
            }
            "access_denied" => Err(Error::new(
                Kind::AccessDenied,
                "the sign-in request was denied in the browser",
            )),
            "expired_token" => Err(Error::new(
                Kind::Timeout,
                "the device code expired before it was approved",
            )
            .with_hint("Run the login again to get a new code")),
            _ => Err(Error::new(
                Kind::Server,
                format!("device sign-in failed: {}", body.text()),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::Secret;

    fn auth(interval: Option<u64>, expires_in: u64) -> DeviceAuthorization {
        DeviceAuthorization {
            device_code: Secret::new("dc"),
            user_code: "BCDF-GHJK".into(),
            verification_uri: "http://x/device".into(),
            verification_uri_complete: None,
            expires_in,
            interval,
        }
    }

    fn err(code: &str) -> OAuthErrorBody {
        OAuthErrorBody {
            error: code.into(),
            error_description: None,
        }
    }

    #[test]
    fn pending_keeps_interval_and_slow_down_adds_five() {
        let clock = ManualClock::at_unix(1_000);
        let mut p = DevicePoller::new(&auth(None, 600), clock.unix(), Duration::from_secs(300));
        assert_eq!(
            p.first(clock.unix()).unwrap(),
            Step::Wait(Duration::from_secs(5))
        );
        clock.advance(5);
        assert_eq!(
            p.on_error(&err("authorization_pending"), clock.unix())
                .unwrap(),
            Step::Wait(Duration::from_secs(5))
        );
        clock.advance(5);
        assert_eq!(
            p.on_error(&err("slow_down"), clock.unix()).unwrap(),
            Step::SlowedDown(Duration::from_secs(10))
        );
        clock.advance(10);
        assert_eq!(
            p.on_error(&err("authorization_pending"), clock.unix())
                .unwrap(),
            Step::Wait(Duration::from_secs(10))
        );
    }

    #[test]
    fn deadline_is_min_of_code_expiry_and_timeout() {
        let clock = ManualClock::at_unix(0);
        let mut p = DevicePoller::new(&auth(Some(5), 600), clock.unix(), Duration::from_secs(12));
        clock.advance(10);
        // Never waits past the deadline.
        assert_eq!(
            p.on_error(&err("authorization_pending"), clock.unix())
                .unwrap(),
            Step::Wait(Duration::from_secs(2))
        );
        clock.advance(2);
        let e = p
            .on_error(&err("authorization_pending"), clock.unix())
            .unwrap_err();
        assert!(e.is_timeout());
        assert_eq!(
            e.to_string(),
            "timed out after 12s waiting for the device approval"
        );

        let p = DevicePoller::new(&auth(Some(5), 3), 0, Duration::from_secs(300));
        assert!(p.first(3).unwrap_err().is_timeout());
    }

    #[test]
    fn terminal_errors() {
        let mut p = DevicePoller::new(&auth(None, 600), 0, Duration::from_secs(300));
        assert!(p
            .on_error(&err("access_denied"), 1)
            .unwrap_err()
            .is_access_denied());
        assert!(p
            .on_error(&err("expired_token"), 1)
            .unwrap_err()
            .is_timeout());
        assert!(p
            .on_error(&err("invalid_client"), 1)
            .unwrap_err()
            .is_server());
    }
}
