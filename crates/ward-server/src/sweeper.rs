//! The sweeper: deletes sessions that stopped working (expired, idle or revoked) more than
//! `sessions.retention` ago, guest sessions as soon as they stop working, and then the guest
//! users left without a session. Sessions never depend on it: every use checks
//! [`Session::unusable_reason`](ward_core::model::Session::unusable_reason), so a session is
//! dead at its deadline whether or not a sweep has run.

use std::time::Duration;

use ward_core::StoreError;

use crate::guest::{GUEST_EMAIL_DOMAIN, GUEST_ROLE};
use crate::state::AppState;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub sessions: u64,
    pub guests: u64,
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
    Ok(SweepReport { sessions, guests })
}

/// Sweeps every `sessions.sweep_interval` until the task is aborted.
pub(crate) async fn sweep_forever(state: AppState) {
    let every = u64::try_from(state.config.sessions.sweep_interval).unwrap_or(600);
    let mut tick = tokio::time::interval(Duration::from_secs(every.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match sweep(&state).await {
            Ok(r) if r.sessions > 0 || r.guests > 0 => {
                tracing::info!(
                    target: "ward::sweeper",
                    sessions = r.sessions,
                    guests = r.guests,
                    "deleted dead sessions and expired guests"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(target: "ward::sweeper", error = %e, "sweep failed"),
        }
    }
}
