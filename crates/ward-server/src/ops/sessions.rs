//! Sessions: listing the live ones (a user's or, for admins, everyone's) and revoking one,
//! shared by the API (`/api/sessions`, `/api/admin/sessions`) and the account and admin pages.

use serde_json::json;
use ward_core::audit::Outcome;
use ward_core::clock::Timestamp;
use ward_core::model::{normalize_email, Session};
use ward_core::SessionId;
use ward_core::UserId;
use ward_proto::SessionInfo;

use crate::audit::{self, Audit};
use crate::auth::Caller;
use crate::authz;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::time::rfc3339;

/// At most this many sessions in one listing.
pub const LIST_LIMIT: i64 = 500;

/// A session as the API shows it; `current` is the caller's session id.
pub fn session_info(s: &Session, current: Option<&str>) -> SessionInfo {
    SessionInfo {
        id: s.id.to_string(),
        user_id: s.user_id.to_string(),
        email: None,
        channel: s.channel.as_str().to_string(),
        client_id: s.client_id.clone(),
        device_id: s.device_id.clone(),
        device_name: s.device_name.clone(),
        ip: s.ip.clone(),
        user_agent: s.user_agent.clone(),
        created_at: rfc3339(s.created_at),
        last_seen_at: rfc3339(s.last_seen_at),
        expires_at: rfc3339(s.expires_at),
        idle_expires_at: rfc3339(Timestamp(
            s.last_seen_at
                .plus_secs(s.idle_timeout)
                .0
                .min(s.expires_at.0),
        )),
        mfa_verified: s.mfa_verified,
        current: current == Some(s.id.as_str()),
    }
}

/// The live sessions of `user_id` (or everyone's), usable right now.
pub async fn live_sessions(state: &AppState, user_id: Option<&UserId>) -> ApiResult<Vec<Session>> {
    let now = state.clock.now();
    let sessions = state.store.live_sessions(user_id, now, LIST_LIMIT).await?;
    Ok(sessions.into_iter().filter(|s| s.is_usable(now)).collect())
}

/// Who revoked a session, recorded as the audit event's `via`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The user revoked one of their own sessions.
    User,
    /// An admin revoked someone's session.
    Admin,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::User => "user",
            Via::Admin => "admin",
        }
    }
}

/// Revokes session `id`. With [`Via::User`] it must be one of the caller's own sessions;
/// another user's session is reported as not found, so ids cannot be probed.
pub async fn revoke_session(
    state: &AppState,
    caller: &Caller,
    ip: Option<&str>,
    id: &SessionId,
    via: Via,
) -> ApiResult<Session> {
    // Revoking another of one's own sessions is account security; ending the current one
    // (signing out) is not.
    if via == Via::User && current_id(caller) != Some(id.as_str()) {
        authz::require_account_security(state, caller)?;
    }
    let session = state
        .store
        .session_by_id(id)
        .await?
        .filter(|s| via == Via::Admin || s.user_id == caller.user.id)
        .filter(|s| s.is_usable(state.clock.now()))
        .ok_or_else(|| match via {
            Via::User => ApiError::not_found("no such live session of yours"),
            Via::Admin => ApiError::not_found("no such live session"),
        })?;
    if !state.store.revoke_session(id, state.clock.now()).await? {
        return Err(ApiError::not_found("no such live session"));
    }
    audit::record(
        state,
        Audit::new("session.revoked", Outcome::Ok)
            .actor(caller.user.id.as_str())
            .ip(ip)
            .target(id.as_str())
            .detail(json!({
                "via": via.as_str(),
                "user_id": session.user_id,
                "channel": session.channel.as_str(),
                "current": current_id(caller) == Some(id.as_str()),
            })),
    )
    .await;
    Ok(session)
}

/// Resolves `?user=` (an id, or an email when it has an `@`) to a user id.
pub async fn resolve_user(state: &AppState, user: &str) -> ApiResult<UserId> {
    let found = if user.contains('@') {
        state.store.user_by_email(&normalize_email(user)).await?
    } else {
        state.store.user_by_id(&UserId::from(user)).await?
    };
    found
        .map(|u| u.id)
        .ok_or_else(|| ApiError::not_found(format!("no user {user:?}")))
}

/// One page of the admin sessions list: the sessions, and the cursor of the next page.
pub struct AdminSessions {
    pub sessions: Vec<SessionInfo>,
    pub next: Option<String>,
}

/// Reads `<created_at>.<id>`, the cursor `GET /api/admin/sessions` answers as `next`.
pub fn parse_session_cursor(text: &str) -> ApiResult<(i64, String)> {
    text.split_once('.')
        .and_then(|(at, id)| Some((at.parse().ok()?, id.to_string())))
        .filter(|(_, id)| !id.is_empty())
        .ok_or_else(|| ApiError::bad_request("malformed cursor in before"))
}

/// A page of live sessions for the admin views, each with its user's email, newest first.
pub async fn admin_sessions(
    state: &AppState,
    user: Option<&str>,
    before: Option<&str>,
    limit: Option<i64>,
) -> ApiResult<AdminSessions> {
    let limit = limit.unwrap_or(LIST_LIMIT);
    if !(1..=LIST_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {LIST_LIMIT}"
        )));
    }
    let before = before.map(parse_session_cursor).transpose()?;
    let user_id = match user.map(str::trim).filter(|u| !u.is_empty()) {
        Some(u) => Some(resolve_user(state, u).await?),
        None => None,
    };
    let now = state.clock.now();
    let page = state
        .store
        .live_sessions_before(user_id.as_ref(), now, before, limit)
        .await?;
    // From the page as read, before the idle filter, so that no session is skipped.
    let next = (page.len() as i64 == limit)
        .then(|| page.last().map(|s| format!("{}.{}", s.created_at.0, s.id)))
        .flatten();
    let sessions: Vec<Session> = page.into_iter().filter(|s| s.is_usable(now)).collect();
    let ids: Vec<UserId> = sessions.iter().map(|s| s.user_id.clone()).collect();
    let emails: std::collections::HashMap<UserId, String> = state
        .store
        .users_by_ids(&ids)
        .await?
        .into_iter()
        .map(|u| (u.id, u.email))
        .collect();
    let sessions = sessions
        .iter()
        .map(|s| SessionInfo {
            email: emails.get(&s.user_id).cloned(),
            ..session_info(s, None)
        })
        .collect();
    Ok(AdminSessions { sessions, next })
}

/// The caller's own session id, if it has one.
pub fn current_id(caller: &Caller) -> Option<&str> {
    caller.session.as_ref().map(|s| s.id.as_str())
}
