//! `[[webhooks]]` and `[events]` (SPEC §2.18): raw serde form and the validated
//! [`EventsConfig`].

use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;
use ward_core::events::WebhookSecret;

use crate::config::ConfigError;

/// Every audit event type ward writes (docs/operations.md describes each). A webhook's
/// `events` may name these, a family (`session.*`) or `*`.
pub const EVENT_TYPES: &[&str] = &[
    "signin",
    "reauth",
    "consent.granted",
    "consent.denied",
    "device.approved",
    "device.denied",
    "guest.created",
    "idp.authenticated",
    "mfa.verify",
    "mfa.enabled",
    "mfa.disabled",
    "mfa.backup_codes",
    "mfa.challenge_voided",
    "mfa.webauthn_registered",
    "mfa.webauthn_removed",
    "lock",
    "unlock",
    "lock.approved",
    "lock.denied",
    "lock.ticket",
    "ssh.certificate",
    "token.created",
    "token.revoked",
    "token.exchanged",
    "session.revoked",
    "role.changed",
    "user.created",
    "user.disabled",
    "user.enabled",
    "user.local_login",
    "policy.denied",
    "webhook.resent",
    "password.changed",
    "password.reset_requested",
    "password.reset",
    "email.verified",
    "user.recovery_link",
    "user.recovered",
    "user.deleted",
    "mfa.reset",
    "invitation.created",
    "user.requested",
    "user.approved",
    "user.denied",
    "email.changed",
    "service_account.created",
    "service_account.deleted",
    "service_account.token_created",
    "service_account.token_revoked",
    "client.registered",
    "client.removed",
    "registration_token.created",
];

/// `[[webhooks]]`: where to POST which events.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawWebhook {
    pub url: String,
    /// `whsec_…` (Standard Webhooks); or `secret_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<String>,
    /// Event types, families (`session.*`) or `"*"`.
    #[serde(default)]
    pub events: Vec<String>,
}

/// `[events]`: delivery and stream settings shared by every webhook.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RawEvents {
    /// How long one delivery attempt may take.
    pub webhook_timeout: String,
    /// The wait after the first failed attempt; it doubles after each one…
    pub retry_first: String,
    /// …up to this…
    pub retry_max: String,
    /// …and attempts stop this long after the event.
    pub retry_for: String,
    /// Delivered and failed messages are listed (then deleted) for this long.
    pub keep_deliveries: String,
    /// How many events a stream subscriber may fall behind before it is dropped.
    pub stream_buffer: usize,
    /// A comment line is sent on an idle stream this often.
    pub stream_keep_alive: String,
}

impl Default for RawEvents {
    fn default() -> Self {
        RawEvents {
            webhook_timeout: "10s".into(),
            retry_first: "5s".into(),
            retry_max: "1h".into(),
            retry_for: "24h".into(),
            keep_deliveries: "7d".into(),
            stream_buffer: 1024,
            stream_keep_alive: "15s".into(),
        }
    }
}

/// A validated webhook.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub url: Url,
    pub secret: WebhookSecret,
    pub events: Vec<String>,
}

/// The validated `[[webhooks]]` and `[events]`. Durations in seconds.
#[derive(Debug, Clone)]
pub struct EventsConfig {
    pub webhooks: Vec<WebhookConfig>,
    pub timeout: Duration,
    pub retry_first: i64,
    pub retry_max: i64,
    pub retry_for: i64,
    pub keep_deliveries: i64,
    pub stream_buffer: usize,
    pub keep_alive: Duration,
}

impl EventsConfig {
    /// The webhook whose URL is `url` (the key an outbox message names it by).
    pub fn webhook(&self, url: &str) -> Option<&WebhookConfig> {
        self.webhooks.iter().find(|w| w.url.as_str() == url)
    }
}

fn invalid(key: &str, value: impl ToString, expected: &str) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        value: value.to_string(),
        expected: expected.to_string(),
    }
}

fn secs(key: &str, value: &str) -> Result<i64, ConfigError> {
    let d = humantime::parse_duration(value)
        .map_err(|_| invalid(key, value, "a duration such as 5s, 1h or 24h"))?;
    match i64::try_from(d.as_secs()) {
        Ok(s) if s > 0 => Ok(s),
        _ => Err(invalid(key, value, "a whole number of seconds above 0")),
    }
}

pub(crate) fn event_filter(key: &str, item: &str) -> Result<String, ConfigError> {
    let known = item == "*"
        || EVENT_TYPES.contains(&item)
        || item.strip_suffix(".*").is_some_and(|family| {
            EVENT_TYPES
                .iter()
                .any(|t| t.strip_prefix(family).is_some_and(|r| r.starts_with('.')))
        });
    if known {
        Ok(item.to_string())
    } else {
        Err(invalid(
            key,
            item,
            &format!(
                "\"*\", a family such as \"session.*\", or one of {}",
                EVENT_TYPES.join(", ")
            ),
        ))
    }
}

/// Validates `[[webhooks]]` with `[events]`.
///
/// # Errors
/// The first bad key, named as `webhooks[i].field` or `events.field`.
pub fn validate(hooks: &[RawWebhook], raw: &RawEvents) -> Result<EventsConfig, ConfigError> {
    let mut webhooks: Vec<WebhookConfig> = Vec::new();
    for (i, h) in hooks.iter().enumerate() {
        let key = format!("webhooks[{i}]");
        let url = Url::parse(&h.url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| invalid(&format!("{key}.url"), &h.url, "an http(s) URL"))?;
        if webhooks.iter().any(|w| w.url == url) {
            return Err(invalid(
                &format!("{key}.url"),
                &h.url,
                "a URL no other webhook has (merge their events instead)",
            ));
        }
        let text = crate::config::inline_or_file(
            &key,
            "secret",
            &h.secret,
            &h.secret_file,
            "a Standard Webhooks secret (whsec_…), or secret_file",
        )?;
        let secret = WebhookSecret::parse(&text)
            .map_err(|e| invalid(&format!("{key}.secret"), "[redacted]", &e.to_string()))?;
        if h.events.is_empty() {
            return Err(invalid(
                &format!("{key}.events"),
                "[]",
                "the event types to send, or [\"*\"] for all",
            ));
        }
        let events = h
            .events
            .iter()
            .map(|e| event_filter(&format!("{key}.events"), e.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        webhooks.push(WebhookConfig {
            url,
            secret,
            events,
        });
    }
    let retry_first = secs("events.retry_first", &raw.retry_first)?;
    let retry_max = secs("events.retry_max", &raw.retry_max)?;
    if retry_max < retry_first {
        return Err(invalid(
            "events.retry_max",
            &raw.retry_max,
            "at least events.retry_first",
        ));
    }
    if !(16..=65536).contains(&raw.stream_buffer) {
        return Err(invalid(
            "events.stream_buffer",
            raw.stream_buffer,
            "a number of events from 16 to 65536",
        ));
    }
    Ok(EventsConfig {
        webhooks,
        timeout: Duration::from_secs(
            secs("events.webhook_timeout", &raw.webhook_timeout)?.unsigned_abs(),
        ),
        retry_first,
        retry_max,
        retry_for: secs("events.retry_for", &raw.retry_for)?,
        keep_deliveries: secs("events.keep_deliveries", &raw.keep_deliveries)?,
        stream_buffer: raw.stream_buffer,
        keep_alive: Duration::from_secs(
            secs("events.stream_keep_alive", &raw.stream_keep_alive)?.unsigned_abs(),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn hook(url: &str, events: &[&str]) -> RawWebhook {
        RawWebhook {
            url: url.into(),
            secret: Some(SECRET.into()),
            secret_file: None,
            events: events.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn error(hooks: &[RawWebhook]) -> String {
        match validate(hooks, &RawEvents::default()) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn webhooks_are_validated_naming_the_key() {
        assert_eq!(error(&[hook("https://h.example/in", &["*"])]), "");
        assert_eq!(error(&[hook("https://h.example/in", &["session.*"])]), "");
        assert!(error(&[hook("ftp://h.example", &["*"])]).contains("webhooks[0].url"));
        assert!(error(&[hook("https://h.example/in", &["session.revoke"])])
            .contains("webhooks[0].events"));
        assert!(error(&[hook("https://h.example/in", &[])]).contains("webhooks[0].events"));
        let mut bad = hook("https://h.example/in", &["*"]);
        bad.secret = Some("not-a-whsec".into());
        let e = error(&[bad]);
        assert!(
            e.contains("webhooks[0].secret") && !e.contains("not-a-whsec"),
            "{e}"
        );
        assert!(error(&[
            hook("https://h.example/in", &["*"]),
            hook("https://h.example/in", &["signin"])
        ])
        .contains("webhooks[1].url"));
    }

    /// Every event type written anywhere in the server is listed (so that it can be
    /// subscribed to by name, and is documented).
    #[test]
    fn every_audit_event_type_is_listed() {
        // Built at run time, so that this file does not match itself.
        let needle = ["Audit", "::new("].concat();
        let mut missing = Vec::new();
        let mut stack = vec![std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src"
        ))];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                for part in text.split(needle.as_str()).skip(1) {
                    let part = part.trim_start();
                    let Some(rest) = part.strip_prefix('"') else {
                        continue;
                    };
                    let name = &rest[..rest.find('"').unwrap()];
                    if !EVENT_TYPES.contains(&name) {
                        missing.push(format!("{name} ({})", path.display()));
                    }
                }
            }
        }
        assert!(missing.is_empty(), "not in EVENT_TYPES: {missing:?}");
    }
}
