//! Mail (SPEC §2.14): messages are rendered (plain text and HTML, [`templates`]), sealed and
//! written to the outbox table in the request, and delivered by a background worker
//! ([`deliver`]) with retries, so a mail server that is down never blocks a sign-in and nothing
//! is lost across restarts. Without `[smtp] url` nothing is written.

pub mod config;
pub mod deliver;
pub mod templates;

use serde::{Deserialize, Serialize};
use ward_core::account::OutboxMail;
use ward_core::model::User;
use ward_core::random::random_id;

use crate::error::ApiError;
use crate::state::AppState;

pub use templates::Rendered;

/// The two bodies of a mail, sealed together under the master key in `mail_outbox.body_enc`.
#[derive(Serialize, Deserialize)]
pub struct Bodies {
    pub text: String,
    pub html: String,
}

/// The `kid` named in errors when a sealed body does not open.
pub const SEAL_KID: &str = "mail_outbox";

/// Whether this server sends mail.
pub fn enabled(state: &AppState) -> bool {
    state.config.smtp.is_some()
}

/// Writes a mail to the outbox and wakes the worker; nothing without `[smtp]`.
///
/// # Errors
/// The store's, or sealing's.
pub async fn enqueue(
    state: &AppState,
    to: &str,
    kind: &str,
    rendered: Rendered,
) -> Result<(), ApiError> {
    if !enabled(state) {
        return Ok(());
    }
    let bodies = Bodies {
        text: rendered.text,
        html: rendered.html,
    };
    let plain = serde_json::to_vec(&bodies).map_err(ApiError::internal)?;
    let body_enc = state
        .master_key
        .seal(&plain, state.random.as_ref())
        .map_err(ApiError::internal)?;
    let now = state.clock.now();
    let mail = OutboxMail {
        id: random_id(state.random.as_ref()),
        recipient: to.to_string(),
        subject: rendered.subject,
        kind: kind.to_string(),
        body_enc,
        created_at: now,
        attempts: 0,
        next_attempt_at: now,
        last_error: None,
        sent_at: None,
    };
    state.store.insert_mail(&mail).await?;
    state.mail_wake.notify_one();
    Ok(())
}

/// A security notice to the account's owner (SPEC §2.14).
pub enum Notice {
    /// A sign-in from a device (browser or program) not seen on this account before.
    NewSignIn {
        device: String,
        ip: Option<String>,
    },
    PasswordChanged,
    MfaDisabled,
    /// An admin removed every second factor.
    MfaReset,
    TokenCreated {
        name: String,
    },
}

impl Notice {
    fn kind(&self) -> &'static str {
        match self {
            Notice::NewSignIn { .. } => "notice.signin",
            Notice::PasswordChanged => "notice.password",
            Notice::MfaDisabled => "notice.mfa_disabled",
            Notice::MfaReset => "notice.mfa_reset",
            Notice::TokenCreated { .. } => "notice.token",
        }
    }
}

/// Queues a security notice for `user`; a failure is logged, never the caller's failure (the
/// action it reports already happened).
pub async fn notice(state: &AppState, user: &User, notice: Notice) {
    if !enabled(state) || user.role == crate::guest::GUEST_ROLE {
        return;
    }
    let rendered = templates::notice(state, user, &notice);
    if let Err(e) = enqueue(state, &user.email, notice.kind(), rendered).await {
        tracing::warn!(error = %e.description, kind = notice.kind(), "cannot queue a security notice");
    }
}
