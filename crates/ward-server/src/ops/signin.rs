//! The password step of signing in, whoever asks: the sign-in page (`POST /login/password`) and
//! the terminal (`POST /api/auth/terminal-sign-in`). One place counts the guesses, routes a
//! company domain to its identity provider, keeps a sign-up that waits for approval quiet, and
//! audits the outcome; the adapters only turn [`PasswordCheck`] into a page or a JSON answer.

use ward_core::audit::Outcome;
use ward_core::model::User;

use crate::audit::{self, Audit};
use crate::config::IdpConfig;
use crate::error::ApiError;
use crate::state::AppState;

/// What a password told about an account.
pub enum PasswordCheck<'a> {
    /// The password is right and the account may sign in (its second factor still to come).
    Passed(User),
    /// The address belongs to a domain that signs in at this identity provider (SPEC §2.13),
    /// decided before the password is read.
    RoutedToIdp(&'a IdpConfig),
    /// The password is right, and the account waits for an admin's approval (`signup =
    /// "approval"`): only whoever knows the password learns that.
    PendingApproval(User),
    /// A wrong address or password, or a disabled account: one answer for all, with the guesses
    /// left for this account.
    Refused { remaining: u32 },
}

/// Checks `password` for `email` (already normalised), counting the attempt per client address
/// (every attempt) and per account (reserved before the password is read, so concurrent
/// guesses never exceed the budget; given back when it was right). `method` names the channel
/// in the audit log and metrics (`password`, `terminal_password`).
///
/// # Errors
/// 429 when a limit is spent, or a store failure.
pub async fn check_password<'a>(
    state: &'a AppState,
    email: &str,
    password: String,
    ip: Option<&str>,
    method: &'static str,
) -> Result<PasswordCheck<'a>, ApiError> {
    let now = state.clock.now();
    let limits = state.config.rate_limits;
    let ip_key = ip.unwrap_or_default();
    let allowed = async {
        state
            .limiter
            .hit(
                "signin_ip",
                ip_key,
                limits.signin_per_ip,
                limits.window_secs,
                now,
            )
            .await?;
        state
            .limiter
            .reserve(limits.signin_account(), email, now)
            .await
    }
    .await;
    let attempt = match allowed {
        Ok(attempt) => attempt,
        Err(e) => {
            if e.is_limited() {
                state.metrics.auth_event(method, "rate_limited");
            }
            return Err(e.into());
        }
    };

    let user = state.store.user_by_email(email).await?;
    let user_id = user.as_ref().map(|u| &u.id);
    if let Some(idp) = crate::idp::required_idp(state, email, user_id).await? {
        state.limiter.release(attempt).await;
        state.metrics.auth_event(method, "routed_to_idp");
        let mut event = Audit::new("signin", Outcome::Denied)
            .ip(ip)
            .detail(serde_json::json!({
                "email": email, "method": method, "reason": "routed_to_idp", "idp": idp.name,
            }));
        if let Some(id) = user_id {
            event = event.target(id.as_str());
        }
        audit::record(state, event).await;
        return Ok(PasswordCheck::RoutedToIdp(idp));
    }
    let phc = user.as_ref().and_then(|u| u.password_hash.clone());
    let verified = state.passwords.verify(password, phc).await;
    if let Some(u) = user.as_ref().filter(|u| verified && u.disabled) {
        if state.store.pending_approval(&u.id).await? {
            state.limiter.release(attempt).await;
            state.metrics.auth_event(method, "pending_approval");
            audit::record(
                state,
                Audit::new("signin", Outcome::Denied).ip(ip).target(u.id.as_str()).detail(
                    serde_json::json!({"email": email, "method": method, "reason": "pending_approval"}),
                ),
            )
            .await;
            return Ok(PasswordCheck::PendingApproval(u.clone()));
        }
    }
    match user {
        Some(u) if verified && !u.disabled => {
            state.limiter.release(attempt).await;
            state.metrics.auth_event(method, "ok");
            Ok(PasswordCheck::Passed(u))
        }
        user => {
            // The reservation stays counted.
            state.metrics.auth_event(method, "failed");
            let mut event = Audit::new("signin", Outcome::Failed)
                .ip(ip)
                .detail(serde_json::json!({"email": email, "method": method}));
            if let Some(u) = user.as_ref() {
                event = event.target(u.id.as_str());
            }
            audit::record(state, event).await;
            Ok(PasswordCheck::Refused {
                remaining: attempt.remaining,
            })
        }
    }
}
