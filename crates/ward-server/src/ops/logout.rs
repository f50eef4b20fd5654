//! Ending a browser session: the sign-out button and OpenID Connect RP-Initiated Logout
//! (`/oauth/logout`) both come here, so both revoke the session and record it the same way.

use ward_core::audit::Outcome;
use ward_core::model::Session;
use ward_core::SessionId;

use crate::audit::{self, Audit};
use crate::error::ApiError;
use crate::state::AppState;

/// How the sign-out was asked for, recorded in the audit event's `via`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The sign-out button of ward's pages.
    Logout,
    /// A relying party's end-session request (`/oauth/logout`), on behalf of `client_id`.
    EndSession,
}

impl Via {
    fn as_str(self) -> &'static str {
        match self {
            Via::Logout => "logout",
            Via::EndSession => "end_session",
        }
    }
}

/// Revokes `session` of user `user_id` and records `session.revoked`. Revoking a session that
/// is already gone is not an error and records nothing.
///
/// # Errors
/// Only the store's.
pub async fn end_session(
    state: &AppState,
    session: &Session,
    user_id: &str,
    ip: Option<&str>,
    via: Via,
    client_id: Option<&str>,
) -> Result<(), ApiError> {
    if state
        .store
        .revoke_session(&session.id, state.clock.now())
        .await?
    {
        let mut detail = serde_json::json!({
            "via": via.as_str(),
            "channel": session.channel.as_str(),
        });
        if let Some(client) = client_id {
            detail["client_id"] = serde_json::json!(client);
        }
        audit::record(
            state,
            Audit::new("session.revoked", Outcome::Ok)
                .actor(user_id)
                .ip(ip)
                .target(session.id.as_str())
                .detail(detail),
        )
        .await;
    }
    Ok(())
}

/// An RP-Initiated Logout request (OpenID Connect RP-Initiated Logout 1.0 §2), as given.
#[derive(Debug, Default, Clone)]
pub struct EndSessionRequest {
    pub id_token_hint: Option<String>,
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
}

/// What an end-session request was checked to mean.
#[derive(Debug, Clone)]
pub struct EndSession {
    /// The relying party, from `client_id` or the hint's audience.
    pub client_id: Option<String>,
    /// The hint's `sub` and `sid`: the user and the relying party's own session.
    pub hinted: Option<(String, SessionId)>,
    /// Where to send the browser afterwards, `state` already appended.
    pub redirect: Option<String>,
}

impl EndSession {
    /// Whether the request proves the relying party knew who is signed in: its ID token names
    /// `user_id`. Then signing out needs no confirmation (as Keycloak does with a valid hint).
    pub fn names_user(&self, user_id: &str) -> bool {
        self.hinted.as_ref().is_some_and(|(sub, _)| sub == user_id)
    }
}

/// Ends the relying party's own session, the one its ID token names, when it is the hinted
/// user's: its refresh token must not outlive the sign-out.
///
/// # Errors
/// Only the store's.
pub async fn end_hinted_session(
    state: &AppState,
    plan: &EndSession,
    ip: Option<&str>,
) -> Result<(), ApiError> {
    let Some((sub, sid)) = &plan.hinted else {
        return Ok(());
    };
    let Some(session) = state.store.session_by_id(sid).await? else {
        return Ok(());
    };
    if &session.user_id != sub || session.revoked_at.is_some() {
        return Ok(());
    }
    end_session(
        state,
        &session,
        sub,
        ip,
        Via::EndSession,
        plan.client_id.as_deref(),
    )
    .await
}

/// Checks an end-session request: a hint must be an ID token of this server (expired is
/// fine), `client_id` and the hint's audience must agree, and a `post_logout_redirect_uri`
/// must be registered for that client exactly.
///
/// # Errors
/// 400 naming the parameter that is wrong.
pub async fn check_end_session(
    state: &AppState,
    request: &EndSessionRequest,
) -> Result<EndSession, ApiError> {
    let keys = state.keys().await;
    let hint = match request.id_token_hint.as_deref().filter(|h| !h.is_empty()) {
        Some(token) => Some(
            crate::jwt::verify_id_token_hint(&keys, token, &state.issuer).map_err(|_| {
                ApiError::bad_request("id_token_hint is not an ID token issued by this server")
            })?,
        ),
        None => None,
    };
    let client_id = match (request.client_id.as_deref(), hint.as_ref()) {
        (Some(id), Some(h)) if id != h.aud => {
            return Err(ApiError::bad_request(
                "client_id does not match the audience of id_token_hint",
            ))
        }
        (Some(id), _) => Some(id.to_string()),
        (None, Some(h)) => Some(h.aud.clone()),
        (None, None) => None,
    };
    let redirect = match request.post_logout_redirect_uri.as_deref() {
        None | Some("") => None,
        Some(uri) => {
            let Some(client) = client_id.as_deref() else {
                return Err(ApiError::bad_request(
                    "post_logout_redirect_uri needs client_id or id_token_hint to say which client registered it",
                ));
            };
            let registered = state
                .config
                .clients
                .iter()
                .find(|c| c.id == client)
                .is_some_and(|c| c.post_logout_redirect_uris.iter().any(|u| u == uri));
            if !registered {
                return Err(ApiError::bad_request(format!(
                    "post_logout_redirect_uri is not registered for client {client}"
                )));
            }
            let mut url = url::Url::parse(uri)
                .map_err(|_| ApiError::bad_request("post_logout_redirect_uri is not a URL"))?;
            if let Some(s) = request.state.as_deref().filter(|s| !s.is_empty()) {
                url.query_pairs_mut().append_pair("state", s);
            }
            Some(url.to_string())
        }
    };
    Ok(EndSession {
        client_id,
        hinted: hint.map(|h| (h.sub, SessionId::from(h.sid))),
        redirect,
    })
}
