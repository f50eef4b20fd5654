//! The delivery worker, one per replica: claims due outbox messages (a lease, so replicas never
//! attempt one message at once), POSTs each signed per Standard Webhooks, and records the
//! attempt: delivered on a 2xx, otherwise tried again after an exponential, jittered delay
//! (`events.retry_first` doubling to `events.retry_max`) until `events.retry_for` after the
//! event. The `webhook-id` is the message id, the same on every attempt; the timestamp and
//! signature are those of the attempt (receivers reject old timestamps).
//!
//! A worker killed mid-attempt leaves its lease to run out (twice the attempt timeout); the
//! message is then claimed again: delivery is at least once.

use std::time::{Duration, Instant};

use axum::http::header;
use ward_core::events::{retry_delay, AttemptOutcome, WebhookAttempt, WebhookMessage};
use ward_core::random::random_id;

use crate::state::AppState;

/// Messages claimed at once.
const BATCH: i64 = 16;
/// How often the outbox is looked at without a ring (messages due for a retry, other
/// replicas' messages).
const IDLE: Duration = Duration::from_secs(1);
/// At most this much of a receiver's answer is kept as the attempt's error.
const ERROR_BYTES: usize = 200;

/// The HTTP client for webhooks: no redirects (a receiver answers, it does not send ward
/// elsewhere), the attempt timeout from `events.webhook_timeout`.
fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .user_agent(concat!("ward-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// Delivers until the task is aborted.
pub(crate) async fn deliver_forever(state: AppState) {
    if state.config.events.webhooks.is_empty() {
        // Messages of webhooks removed from the configuration stay as they are: a
        // configuration that has webhooks again delivers or fails them.
        return;
    }
    let http = client(state.config.events.timeout);
    loop {
        let claimed = match deliver_batch(&state, &http).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(target: "ward::events", error = %e, "cannot claim webhook messages");
                0
            }
        };
        if claimed < BATCH as usize {
            tokio::select! {
                _ = tokio::time::sleep(IDLE) => {}
                _ = state.events.outbox_rung() => {}
            }
        }
    }
}

/// Claims and attempts one batch; returns how many messages it claimed.
///
/// # Errors
/// The store's, when claiming.
pub async fn deliver_batch(
    state: &AppState,
    http: &reqwest::Client,
) -> Result<usize, ward_core::StoreError> {
    let now = state.clock.now();
    let lease = i64::try_from(state.config.events.timeout.as_secs())
        .unwrap_or(60)
        .saturating_mul(2)
        .max(2);
    let claim = random_id(state.random.as_ref());
    let batch = state
        .store
        .claim_webhook_messages(now, now.plus_secs(lease), &claim, BATCH)
        .await?;
    let n = batch.len();
    futures::future::join_all(batch.into_iter().map(|m| attempt(state, http, &claim, m))).await;
    Ok(n)
}

async fn attempt(state: &AppState, http: &reqwest::Client, claim: &str, m: WebhookMessage) {
    let cfg = &state.config.events;
    let at = state.clock.now();
    let started = Instant::now();
    let result = match cfg.webhook(&m.webhook) {
        None => Err((None, "the webhook is no longer configured".to_string())),
        Some(hook) => {
            let signature = hook.secret.sign(&m.id, at.0, m.payload.as_bytes());
            let sent = http
                .post(hook.url.clone())
                .header(header::CONTENT_TYPE, "application/json")
                .header("webhook-id", &m.id)
                .header("webhook-timestamp", at.0.to_string())
                .header("webhook-signature", signature)
                .body(m.payload.clone())
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => Ok(r.status().as_u16()),
                Ok(r) => {
                    let status = r.status().as_u16();
                    let text = r.text().await.unwrap_or_default();
                    let mut cut = text.trim().chars().take(ERROR_BYTES).collect::<String>();
                    if cut.is_empty() {
                        cut = "no body".into();
                    }
                    Err((Some(status), format!("HTTP {status}: {cut}")))
                }
                Err(e) if e.is_timeout() => Err((None, "timed out".to_string())),
                Err(e) if e.is_connect() => Err((None, "cannot connect".to_string())),
                Err(e) => Err((None, format!("request failed: {e}"))),
            }
        }
    };
    let elapsed = started.elapsed();
    let duration_ms = i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX);
    let (status_code, error, outcome) = match result {
        Ok(status) => (Some(i64::from(status)), None, AttemptOutcome::Delivered),
        Err((status, error)) => {
            let mut jitter = [0u8; 2];
            state.random.fill(&mut jitter);
            let jitter = f64::from(u16::from_le_bytes(jitter)) / f64::from(u16::MAX);
            let tries = u32::try_from(m.attempts).unwrap_or(u32::MAX);
            let next = at.plus_secs(retry_delay(tries, cfg.retry_first, cfg.retry_max, jitter));
            let outcome = if next > m.give_up_at || cfg.webhook(&m.webhook).is_none() {
                AttemptOutcome::GaveUp
            } else {
                AttemptOutcome::RetryAt(next)
            };
            (status.map(i64::from), Some(error), outcome)
        }
    };
    let label = match outcome {
        AttemptOutcome::Delivered => "delivered",
        AttemptOutcome::RetryAt(_) => "retry",
        AttemptOutcome::GaveUp => "failed",
    };
    state.metrics.delivery(label, elapsed.as_secs_f64());
    tracing::info!(
        target: "ward::events",
        webhook = %m.webhook,
        webhook_id = %m.id,
        event = %m.event_type,
        attempt = m.attempts,
        status = status_code.unwrap_or(0),
        outcome = label,
        ms = duration_ms,
        "webhook attempt"
    );
    let record = WebhookAttempt {
        message_id: m.id.clone(),
        attempt: m.attempts,
        at,
        status_code,
        error,
        duration_ms,
    };
    match state
        .store
        .finish_webhook_attempt(claim, &record, outcome)
        .await
    {
        Ok(true) => {}
        Ok(false) => tracing::warn!(
            target: "ward::events",
            webhook_id = %m.id,
            "a webhook attempt outlived its lease; another worker has the message"
        ),
        Err(e) => tracing::warn!(
            target: "ward::events",
            webhook_id = %m.id,
            error = %e,
            "cannot record a webhook attempt; it will be made again when the lease runs out"
        ),
    }
}
