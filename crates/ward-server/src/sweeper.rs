//! The sweeper: deletes what can no longer be used, so the database does not grow without
//! bound.
//!
//! - Sessions that stopped working (expired, idle or revoked) more than `sessions.retention`
//!   ago, guest sessions as soon as they stop working, and then the guest users left without a
//!   session (with their MFA rows and links).
//! - Every short-lived single-use row ([`GRACE_SECS`] after it expired, used or not):
//!   authorization codes, device grants, MFA sign-in challenges, resource-lock tickets, pending
//!   upstream (IdP) sign-ins and WebAuthn ceremonies.
//! - Webhook messages delivered or given up more than `events.keep_deliveries` after their
//!   event, with their attempts (pending ones stay until delivered or given up).
//! - Account links (recovery) `sessions.retention` after they expired: until then, a late
//!   click is told "expired" or "used" rather than "not valid".
//!
//! Nothing depends on it: every use checks its own deadline (a session's
//! [`Session::unusable_reason`](ward_core::model::Session::unusable_reason), a code's
//! `expires_at`), so a row is dead at its deadline whether or not a sweep has run.

use std::time::Duration;

use ward_core::StoreError;

use crate::guest::{GUEST_EMAIL_DOMAIN, GUEST_ROLE};
use crate::state::AppState;

/// How long a short-lived row is kept after it expired. Long enough that a late presentation
/// still gets its precise answer rather than "unknown": a CLI polling an expired device code
/// gets `expired_token` (RFC 8628 §3.5), not `invalid_grant`; a replayed authorization code is
/// still recognized as reused and revokes its session (RFC 6749 §4.1.2); a user coming back from
/// the IdP late is told the sign-in expired. Every such row lives at most 10 minutes, so an hour
/// bounds these tables to about an hour and ten minutes of traffic.
pub const GRACE_SECS: i64 = 3600;

/// What one sweep deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub sessions: u64,
    pub guests: u64,
    pub auth_codes: u64,
    pub device_grants: u64,
    pub mfa_challenges: u64,
    pub lock_tickets: u64,
    pub idp_pending: u64,
    pub webauthn_ceremonies: u64,
    pub webhook_messages: u64,
    pub account_links: u64,
    pub sent_mail: u64,
    pub dpop_jtis: u64,
    /// Grace windows and approval requests (SPEC §2.17).
    pub stepup: u64,
}

impl SweepReport {
    /// Rows deleted, all kinds together.
    pub fn total(&self) -> u64 {
        [
            self.sessions,
            self.guests,
            self.auth_codes,
            self.device_grants,
            self.mfa_challenges,
            self.lock_tickets,
            self.idp_pending,
            self.webauthn_ceremonies,
            self.webhook_messages,
            self.account_links,
            self.sent_mail,
            self.dpop_jtis,
            self.stepup,
        ]
        .into_iter()
        .fold(0, u64::saturating_add)
    }
}

/// One sweep at the state's current time.
///
/// # Errors
/// The store's.
pub async fn sweep(state: &AppState) -> Result<SweepReport, StoreError> {
    let now = state.clock.now();
    let cutoff = now.plus_secs(-state.config.sessions.retention);
    let sessions = state.store.delete_dead_sessions(cutoff, now).await?;
    // A guest user outlives its session only by the time a sweep takes; the `created_at`
    // bound keeps a guest whose session is being created right now.
    let guests = state
        .store
        .delete_users_without_sessions(
            GUEST_ROLE,
            &format!("@{GUEST_EMAIL_DOMAIN}"),
            now.plus_secs(-60),
        )
        .await?;
    let expired = now.plus_secs(-GRACE_SECS);
    let store = &state.store;
    Ok(SweepReport {
        sessions,
        guests,
        auth_codes: store.delete_expired_auth_codes(expired).await?,
        device_grants: store.delete_expired_device_grants(expired).await?,
        mfa_challenges: store.delete_expired_mfa_challenges(expired).await?,
        lock_tickets: store.delete_expired_lock_tickets(expired).await?,
        idp_pending: store.delete_expired_idp_pending(expired).await?,
        webauthn_ceremonies: store.delete_expired_webauthn_ceremonies(expired).await?,
        webhook_messages: store
            .delete_old_webhook_messages(now.plus_secs(-state.config.events.keep_deliveries))
            .await?,
        account_links: store.delete_expired_account_links(cutoff).await?,
        sent_mail: store.delete_sent_mail(cutoff).await?,
        // Expired proof ids need no grace: a proof that old is refused by its `iat`.
        dpop_jtis: store.delete_expired_dpop_jtis(now).await?,
        stepup: store
            .delete_expired_lock_graces(expired)
            .await?
            .saturating_add(store.delete_expired_verify_requests(expired).await?),
    })
}

/// Sweeps every `sessions.sweep_interval` until the task is aborted.
pub(crate) async fn sweep_forever(state: AppState) {
    let every = u64::try_from(state.config.sessions.sweep_interval).unwrap_or(600);
    let mut tick = tokio::time::interval(Duration::from_secs(every.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match sweep(&state).await {
            Ok(r) if r.total() > 0 => {
                tracing::info!(
                    target: "ward::sweeper",
                    sessions = r.sessions,
                    guests = r.guests,
                    auth_codes = r.auth_codes,
                    device_grants = r.device_grants,
                    mfa_challenges = r.mfa_challenges,
                    lock_tickets = r.lock_tickets,
                    idp_pending = r.idp_pending,
                    webauthn_ceremonies = r.webauthn_ceremonies,
                    webhook_messages = r.webhook_messages,
                    account_links = r.account_links,
                    sent_mail = r.sent_mail,
                    dpop_jtis = r.dpop_jtis,
                    stepup = r.stepup,
                    "deleted rows that can no longer be used"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(target: "ward::sweeper", error = %e, "sweep failed"),
        }
    }
}
