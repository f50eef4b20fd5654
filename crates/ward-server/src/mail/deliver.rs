//! The delivery worker: claims due mail from the outbox, sends it over SMTP with lettre
//! (STARTTLS when offered for `smtp://`, TLS from the first byte for `smtps://`), and records
//! the outcome; a failure is retried after 30 s, doubling up to an hour.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use ward_core::account::{mail_retry_after_secs, OutboxMail};

use super::config::{SmtpConfig, SmtpTls};
use super::Bodies;
use crate::state::AppState;

/// How long a claimed mail is ours before another replica may try it.
const LEASE_SECS: i64 = 120;
/// Mails per round.
const BATCH: i64 = 20;
/// How often the worker looks for due mail besides being woken by a new one.
const POLL: Duration = Duration::from_secs(1);

/// Runs until the task is aborted.
pub async fn deliver_forever(state: AppState) {
    loop {
        if super::enabled(&state) {
            if let Err(e) = deliver_due(&state).await {
                tracing::warn!(error = %e, "mail delivery round failed");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = state.mail_wake.notified() => {}
        }
    }
}

/// One round: sends every due mail; returns how many were delivered.
///
/// # Errors
/// The store's.
pub async fn deliver_due(state: &AppState) -> Result<usize, ward_core::StoreError> {
    let Some(smtp) = state.config.smtp.as_ref() else {
        return Ok(0);
    };
    let now = state.clock.now();
    let due = state.store.claim_due_mail(now, LEASE_SECS, BATCH).await?;
    if due.is_empty() {
        return Ok(0);
    }
    let transport = transport(smtp);
    let mut sent = 0;
    for mail in due {
        let result = match &transport {
            Ok(t) => send(state, smtp, t, &mail).await,
            Err(e) => Err(e.clone()),
        };
        match result {
            Ok(()) => {
                state
                    .store
                    .mark_mail_sent(&mail.id, state.clock.now())
                    .await?;
                tracing::info!(kind = %mail.kind, "mail delivered");
                sent += 1;
            }
            Err(error) => {
                let next = state
                    .clock
                    .now()
                    .plus_secs(mail_retry_after_secs(mail.attempts + 1));
                tracing::warn!(kind = %mail.kind, %error, "mail not delivered; will retry");
                state.store.mark_mail_failed(&mail.id, &error, next).await?;
            }
        }
    }
    Ok(sent)
}

fn transport(smtp: &SmtpConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let mut tls = TlsParameters::builder(smtp.host.clone());
    if let Some(pem) = &smtp.ca_pem {
        let text = String::from_utf8_lossy(pem);
        for block in text.split_inclusive("-----END CERTIFICATE-----") {
            if !block.contains("-----BEGIN CERTIFICATE-----") {
                continue;
            }
            let cert = Certificate::from_pem(block.trim().as_bytes())
                .map_err(|e| format!("smtp.ca_file: {e}"))?;
            tls = tls.add_root_certificate(cert);
        }
    }
    let params = tls.build_rustls().map_err(|e| format!("TLS set-up: {e}"))?;
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.clone())
        .port(smtp.port)
        .timeout(Some(Duration::from_secs(15)))
        .tls(match smtp.tls {
            SmtpTls::Starttls => Tls::Opportunistic(params),
            SmtpTls::Wrapper => Tls::Wrapper(params),
        });
    if let Some((user, password)) = &smtp.credentials {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    Ok(builder.build())
}

async fn send(
    state: &AppState,
    smtp: &SmtpConfig,
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    mail: &OutboxMail,
) -> Result<(), String> {
    let plain = state
        .master_key
        .open(super::SEAL_KID, &mail.body_enc)
        .map_err(|e| e.to_string())?;
    let bodies: Bodies = serde_json::from_slice(&plain).map_err(|e| e.to_string())?;
    let to: Mailbox = mail
        .recipient
        .parse()
        .map_err(|e| format!("recipient: {e}"))?;
    let message = Message::builder()
        .from(smtp.from.clone())
        .to(to)
        .subject(mail.subject.clone())
        .multipart(MultiPart::alternative_plain_html(bodies.text, bodies.html))
        .map_err(|e| e.to_string())?;
    transport
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}
