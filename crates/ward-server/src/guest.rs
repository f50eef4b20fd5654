//! Guest mode (SPEC §2.5): "Try without signing in" and `POST /api/auth/guest` create a user
//! with role `guest` on the fly and start its one session, which ends for good after
//! `sessions.guest_ttl` (50 h): refreshing never moves that deadline. The sweeper deletes the
//! session and the user at its first run after the end, so nothing is kept but audit events.
//!
//! A guest is named `guest-<12 hex>@guest.invalid`: `.invalid` is reserved (RFC 2606 §2), so
//! the address can never belong to anyone or collide with a real account.

use ward_core::audit::Outcome;
use ward_core::model::{Channel, Session, User};
use ward_core::UserId;
use ward_proto::TokenResponse;

use crate::audit::{self, Audit};
use crate::error::{ApiError, ApiResult};
use crate::issue::{start_token_session, start_web_session, SessionRequest};
use crate::state::AppState;

/// The role every guest has.
pub const GUEST_ROLE: &str = "guest";
/// Guests' email domain, reserved by RFC 2606: no real account can have it (the admin API
/// refuses it), so the sweeper never deletes anyone but a guest.
pub const GUEST_EMAIL_DOMAIN: &str = "guest.invalid";
/// The client id of guest sessions started through the API.
pub const GUEST_CLIENT: &str = "ward-guest";

/// Where the guest is going to use ward.
pub enum GuestChannel {
    /// The pages: a session cookie.
    Web,
    /// `POST /api/auth/guest`: an access token and a refresh token.
    Api,
}

pub enum GuestStart {
    Web { session: Session, cookie: String },
    Api { response: TokenResponse },
}

/// Creates a guest user and starts its session. Rate-limited per client IP.
pub async fn start_guest(
    state: &AppState,
    channel: GuestChannel,
    ip: Option<String>,
    user_agent: Option<String>,
) -> ApiResult<(User, GuestStart)> {
    if !state.config.sessions.guests || !state.config.roles.contains(GUEST_ROLE) {
        return Err(ApiError::forbidden(
            "guest mode is switched off on this server",
        ));
    }
    let now = state.clock.now();
    let limits = state.config.rate_limits;
    state
        .limiter
        .hit(
            "guest_ip",
            ip.as_deref().unwrap_or_default(),
            limits.guests_per_ip,
            limits.window_secs,
            now,
        )
        .await?;
    let id = UserId::random(state.random.as_ref());
    let short: String = id.as_str().chars().take(12).collect();
    let user = User {
        email: format!("guest-{short}@{GUEST_EMAIL_DOMAIN}"),
        name: format!("Guest {}", short.chars().take(4).collect::<String>()),
        id,
        password_hash: None,
        role: GUEST_ROLE.to_string(),
        disabled: false,
        created_at: now,
        email_verified: false,
    };
    state.store.insert_user(&user).await?;
    let request = SessionRequest {
        client_id: match channel {
            GuestChannel::Web => "ward-web".into(),
            GuestChannel::Api => GUEST_CLIENT.into(),
        },
        channel: Channel::Guest,
        scope: String::new(),
        device_id: None,
        device_name: None,
        ip,
        user_agent,
        amr: Vec::new(),
        auth_time: now,
        nonce: None,
    };
    let (session, start) = match channel {
        GuestChannel::Web => {
            let (session, cookie) = start_web_session(state, &user, &request).await?;
            (session.clone(), GuestStart::Web { session, cookie })
        }
        GuestChannel::Api => {
            let issued = start_token_session(state, &user, &request, true, None, None).await?;
            (
                issued.session,
                GuestStart::Api {
                    response: issued.response,
                },
            )
        }
    };
    state.metrics.auth_event("guest", "ok");
    audit::record(
        state,
        Audit::new("guest.created", Outcome::Ok)
            .actor(user.id.as_str())
            .ip(session.ip.as_deref())
            .target(session.id.as_str())
            .detail(serde_json::json!({
                "channel": match start { GuestStart::Web { .. } => "web", GuestStart::Api { .. } => "api" },
                "expires_at": crate::time::rfc3339(session.expires_at),
            })),
    )
    .await;
    Ok((user, start))
}
