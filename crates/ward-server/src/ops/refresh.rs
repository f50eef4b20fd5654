//! Refreshing a token session (RFC 6749 §6): rotation with reuse detection (RFC 9700
//! §4.14.2), the DPoP binding of a public client's refresh token (RFC 9449 §5), and the
//! session's audience (RFC 8707 §2.2). Both `/oauth/token` and `/api/auth/refresh` call this.

use axum::http::StatusCode;
use ward_core::audit::Outcome;
use ward_core::dpop::{check_binding, VerifiedProof};
use ward_core::model::User;
use ward_core::store::RefreshRotation;
use ward_core::token::{is_refresh_token_shape, new_refresh_token, token_hash};
use ward_core::OAuthError;
use ward_core::UserId;
use ward_proto::TokenResponse;

use crate::error::{ApiError, ApiResult};
use crate::issue::{self, AccessGrant};
use crate::ops::audience;
use crate::ops::client::Client;
use crate::state::AppState;

/// The live user a grant is for.
///
/// # Errors
/// `invalid_grant` when the user is gone or disabled.
pub async fn load_user(state: &AppState, user_id: &UserId) -> ApiResult<User> {
    match state.store.user_by_id(user_id).await? {
        Some(u) if !u.disabled => Ok(u),
        _ => Err(OAuthError::invalid_grant("the user no longer exists or is disabled").into()),
    }
}

/// Refresh with rotation (RFC 9700 §4.14.2). `client` is the authenticated client at
/// `/oauth/token`, `None` at `/api/auth/refresh`, where the session's own client is implied and
/// must be public. `named` is the token request's `resource` (RFC 8707 §2.2,
/// [`audience::refreshed_audience`]): checked before the refresh token rotates, so a refused
/// request does not use it up. The token keeps the session's audience, or narrows a ward one.
///
/// # Errors
/// `invalid_grant` (unknown, reused, expired or another client's token; a disabled user; the
/// MFA policy), `invalid_client`, `invalid_dpop_proof`, `invalid_target`, or the store's.
pub async fn refresh(
    state: &AppState,
    client: Option<&Client>,
    token: &str,
    proof: Option<&VerifiedProof>,
    named: Option<&str>,
) -> ApiResult<TokenResponse> {
    if !is_refresh_token_shape(token, &state.config.token_prefix) {
        return Err(OAuthError::invalid_grant("malformed refresh token").into());
    }
    let hash = token_hash(token);
    let now = state.clock.now();
    let (session, _current) = state
        .store
        .session_by_refresh_token_hash(&hash)
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("unknown refresh token"))?;
    match client {
        Some(c) if c.id() != session.client_id => {
            return Err(OAuthError::invalid_grant(
                "the refresh token was issued to another client",
            )
            .into());
        }
        // RFC 6749 §6: a confidential client must authenticate to refresh, so its tokens are
        // refreshed at /oauth/token only.
        None if Client::lookup(state, &session.client_id)
            .await?
            .is_some_and(|c| !c.is_public()) =>
        {
            return Err(OAuthError::invalid_client(
                "this refresh token belongs to a confidential client: use /oauth/token with client authentication",
            )
            .into());
        }
        _ => {}
    }
    if let Some(reason) = session.unusable_reason(now) {
        return Err(OAuthError::invalid_grant(reason).into());
    }
    // RFC 9449 §5: a bound refresh token is used only with a proof of its key; checked before
    // rotation, so a thief's attempt does not use the token up.
    if let Some(bound) = &session.dpop_jkt {
        let refused = |why: &str| ApiError::new(StatusCode::BAD_REQUEST, "invalid_dpop_proof", why);
        match proof {
            None => {
                return Err(refused(
                    "this refresh token is bound to a DPoP key: send a DPoP proof made with it",
                ))
            }
            Some(p) if check_binding(bound, p).is_err() => {
                return Err(refused("this refresh token is bound to another DPoP key"))
            }
            Some(_) => {}
        }
    }
    let audience = audience::refreshed_audience(state, session.resource.as_deref(), named)
        .map_err(ApiError::from)?;
    let new_token = new_refresh_token(&state.config.token_prefix, state.random.as_ref());
    match state
        .store
        .rotate_refresh_token(&hash, &token_hash(&new_token), now)
        .await?
    {
        RefreshRotation::Rotated { .. } => {}
        RefreshRotation::Reused { session_id } => {
            tracing::warn!(target: "ward::auth", event = "refresh.reused", session_id = %session_id, "rotated refresh token presented again; session revoked");
            // The session was live a moment ago (checked above): this is its revocation,
            // announced like any other (SPEC §2.18).
            crate::audit::record(
                state,
                crate::audit::Audit::new("session.revoked", Outcome::Ok)
                    .actor(session.user_id.as_str())
                    .target(session_id.as_str())
                    .detail(
                        serde_json::json!({"via": "refresh_reuse", "user_id": session.user_id}),
                    ),
            )
            .await;
            return Err(OAuthError::invalid_grant(
                "refresh token already used; the session is revoked",
            )
            .into());
        }
        RefreshRotation::Unknown => {
            return Err(OAuthError::invalid_grant("unknown refresh token").into())
        }
    }
    let user = load_user(state, &session.user_id).await?;
    if !crate::mfa::policy_allows(state, &user, &session) {
        return Err(OAuthError::invalid_grant(crate::auth::MFA_POLICY_MESSAGE).into());
    }
    state.store.touch_session(&session.id, now).await?;
    let jkt = proof.map(|p| p.jkt.as_str());
    // The session's audience (RFC 8707 §2.2), or the one a session for ward narrows this to.
    let access_token = issue::access_token(
        state,
        &user,
        Some(&session),
        AccessGrant {
            audience: audience.as_deref(),
            ..AccessGrant::new(&session.client_id, &session.scope, jkt)
        },
    )
    .await?;
    Ok(TokenResponse {
        access_token,
        token_type: issue::token_type(jkt),
        expires_in: issue::access_ttl(state, Some(&session)),
        refresh_token: Some(new_token),
        scope: Some(session.scope.clone()),
        id_token: None,
        issued_token_type: None,
    })
}
