//! Events (SPEC §2.18): the rules of webhook delivery that need no IO — the Standard Webhooks
//! signature, the `whsec_…` secret format, which webhook wants which event type, and when a
//! failed delivery is tried again.
//!
//! Standard Webhooks (<https://www.standardwebhooks.com/>, "Signature scheme"): the signed
//! content is `{webhook-id}.{webhook-timestamp}.{body}`, the MAC is HMAC-SHA256 under the secret's
//! bytes, and the header carries `v1,{base64(mac)}` (several, space-separated, during a secret
//! rotation). The secret is written `whsec_{base64(bytes)}`.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::clock::Timestamp;
use crate::secret::Secret;

/// The prefix of a Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// Why a webhook secret was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("a Standard Webhooks secret starting with whsec_")]
    Prefix,
    #[error("whsec_ followed by base64")]
    Base64,
    #[error("a secret of 24 to 64 random bytes (whsec_ and 32 to 88 base64 characters)")]
    Length,
}

/// A webhook signing secret: the bytes behind `whsec_…`.
#[derive(Clone)]
pub struct WebhookSecret(Secret<Vec<u8>>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret([redacted])")
    }
}

impl WebhookSecret {
    /// Parses `whsec_{base64}`. The specification asks for 24 to 64 bytes of randomness.
    ///
    /// # Errors
    /// What is wrong with the text.
    pub fn parse(text: &str) -> Result<WebhookSecret, SecretError> {
        let b64 = text
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SecretError::Prefix)?;
        let bytes = B64.decode(b64).map_err(|_| SecretError::Base64)?;
        if !(24..=64).contains(&bytes.len()) {
            return Err(SecretError::Length);
        }
        Ok(WebhookSecret(Secret::new(bytes)))
    }

    /// The `webhook-signature` header value for one attempt.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        format!("v1,{}", B64.encode(self.mac(id, timestamp, body)))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
        // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(self.0.expose()) else {
            return Vec::new();
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().to_vec()
    }

    /// Checks a `webhook-signature` header (any of its space-separated `v1,…` entries), in
    /// constant time. For tests and receivers written in Rust.
    pub fn verify(&self, id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
        let expected = self.mac(id, timestamp, body);
        header.split(' ').any(|entry| {
            entry
                .strip_prefix("v1,")
                .and_then(|b64| B64.decode(b64).ok())
                .is_some_and(|got| {
                    subtle::ConstantTimeEq::ct_eq(got.as_slice(), expected.as_slice()).into()
                })
        })
    }
}

/// Whether a webhook subscribed to `filter` (`["*"]` for all) wants `event_type`. An entry
/// ending in `.*` takes a family (`session.*`).
pub fn wants(filter: &[String], event_type: &str) -> bool {
    filter.iter().any(|f| {
        f == "*"
            || f == event_type
            || f.strip_suffix(".*").is_some_and(|family| {
                event_type
                    .strip_prefix(family)
                    .is_some_and(|rest| rest.starts_with('.'))
            })
    })
}

/// How long to wait after the `attempt`-th failed attempt (1-based): exponential from `first`,
/// doubling, at most `max`, with "equal jitter" (half fixed, half random from `jitter`, a number
/// in `0.0..1.0`) so that replicas retrying after an outage do not all knock at once.
pub fn retry_delay(attempt: u32, first: i64, max: i64, jitter: f64) -> i64 {
    let exp = attempt.saturating_sub(1).min(40);
    let base = first.max(1).saturating_mul(1_i64 << exp).min(max.max(1));
    let half = base / 2;
    let random = (half as f64 * jitter.clamp(0.0, 1.0)).round() as i64;
    (base - half + random).max(1)
}

/// A message in the webhook outbox: one audit event for one webhook. Its `id` is the
/// `webhook-id` of every attempt, so receivers can drop duplicates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookMessage {
    pub id: String,
    /// The webhook's URL (the key of its `[[webhooks]]` entry).
    pub webhook: String,
    /// The audit event's id.
    pub event_id: String,
    pub event_type: String,
    /// The JSON body, fixed when the event happened: every attempt sends the same bytes.
    pub payload: String,
    pub created_at: Timestamp,
    pub status: DeliveryStatus,
    /// Attempts started so far (a claim counts as one).
    pub attempts: i64,
    pub next_attempt_at: Timestamp,
    /// After this, a failed attempt is the last one.
    pub give_up_at: Timestamp,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<Timestamp>,
}

/// Where a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its next attempt (or being attempted).
    Pending,
    /// A 2xx answer was received.
    Delivered,
    /// Retried until `give_up_at` without a 2xx; only "send again" revives it.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        Some(match s {
            "pending" => DeliveryStatus::Pending,
            "delivered" => DeliveryStatus::Delivered,
            "failed" => DeliveryStatus::Failed,
            _ => return None,
        })
    }
}

/// One attempt to deliver a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookAttempt {
    pub message_id: String,
    /// 1 for the first attempt.
    pub attempt: i64,
    pub at: Timestamp,
    /// The receiver's HTTP status; `None` when no answer came (refused, timed out).
    pub status_code: Option<i64>,
    /// Why it failed, for the admin list (never the body, which may be large).
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// What an attempt leaves the message as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered,
    RetryAt(Timestamp),
    GaveUp,
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of the Standard Webhooks reference libraries (their test vectors).
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1614265330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn signs_the_reference_vector() {
        let secret = WebhookSecret::parse(SECRET).unwrap();
        assert_eq!(secret.sign(ID, TS, BODY), SIG);
        assert!(secret.verify(ID, TS, BODY, &format!("v1,bm9wZQ== {SIG}")));
        assert!(!secret.verify(ID, TS + 1, BODY, SIG));
    }

    #[test]
    fn secrets_are_checked() {
        assert_eq!(
            WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").err(),
            Some(SecretError::Prefix)
        );
        assert_eq!(
            WebhookSecret::parse("whsec_!!!").err(),
            Some(SecretError::Base64)
        );
        assert_eq!(
            WebhookSecret::parse("whsec_c2hvcnQ=").err(),
            Some(SecretError::Length)
        );
    }

    #[test]
    fn filters() {
        let f = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(wants(&f(&["*"]), "signin"));
        assert!(wants(&f(&["session.revoked"]), "session.revoked"));
        assert!(!wants(&f(&["session.revoked"]), "signin"));
        assert!(wants(&f(&["mfa.*"]), "mfa.verify"));
        assert!(!wants(&f(&["mfa.*"]), "mfaverify"));
        assert!(!wants(&f(&[]), "signin"));
    }

    #[test]
    fn backoff_doubles_to_the_cap_with_jitter() {
        assert_eq!(retry_delay(1, 10, 3600, 1.0), 10);
        assert_eq!(retry_delay(1, 10, 3600, 0.0), 5);
        assert_eq!(retry_delay(3, 10, 3600, 1.0), 40);
        assert_eq!(retry_delay(30, 10, 3600, 1.0), 3600);
        assert_eq!(retry_delay(200, 10, 3600, 0.5), 2700);
        assert!(retry_delay(1, 1, 1, 0.0) >= 1);
    }
}
