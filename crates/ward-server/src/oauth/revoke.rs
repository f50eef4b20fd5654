//! Token revocation (RFC 7009). Revoking a refresh token or an access token revokes the session
//! behind it: an access token is a JWT and can only be cut off through its session.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use ward_core::token::{is_refresh_token_shape, token_hash};

use crate::audit::{self, Audit};
use crate::error::ApiResult;
use crate::extract::FormParams;
use crate::jwt;
use crate::oauth::client;
use crate::state::AppState;

pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: FormParams,
) -> ApiResult<StatusCode> {
    let client = client::authenticate(&state, &headers, &form)?;
    let token = form.require("token")?;
    let now = state.clock.now();
    let session = if is_refresh_token_shape(token, &state.config.token_prefix) {
        state
            .store
            .session_by_refresh_token_hash(&token_hash(token))
            .await?
            .map(|(s, _)| s)
    } else {
        let keys = state.keys().await;
        match jwt::verify_access_token(&keys, token, &state.issuer, now) {
            Ok(claims) => match claims.sid {
                Some(sid) => state.store.session_by_id(&sid).await?,
                None => None,
            },
            Err(_) => None,
        }
    };
    // RFC 7009 §2.2: unknown or foreign tokens still get 200, so nothing leaks.
    if let Some(session) = session.filter(|s| s.client_id == client.id()) {
        if state.store.revoke_session(&session.id, now).await? {
            audit::record(
                &state,
                Audit::new("session.revoked", "ok")
                    .actor(&session.user_id)
                    .target(&session.id)
                    .detail(serde_json::json!({"via": "oauth_revoke"})),
            )
            .await;
        }
    }
    Ok(StatusCode::OK)
}
