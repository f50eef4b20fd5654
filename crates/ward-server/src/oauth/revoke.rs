//! Token revocation (RFC 7009). Revoking a refresh token or an access token revokes the session
//! behind it: an access token is a JWT and can only be cut off through its session.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use ward_core::audit::Outcome;
use ward_core::token::{is_refresh_token_shape, token_hash};
use ward_proto::ErrorBody;

use crate::audit::{self, Audit};
use crate::error::ApiResult;
use crate::extract::{ClientIp, FormParams};
use crate::jwt;
use crate::ops::client;
use crate::state::AppState;

/// The form of `POST /oauth/revoke` (documentation only).
#[derive(Debug, utoipa::ToSchema)]
pub struct RevokeForm {
    /// A refresh token or an access token.
    pub token: String,
    /// Accepted and ignored: the token's shape tells.
    pub token_type_hint: Option<String>,
    /// Client authentication by `client_secret_post` or, for a public client, its id alone;
    /// alternatively HTTP Basic (`client_secret_basic`).
    pub client_id: Option<String>,
    /// `client_secret_post`; never together with HTTP Basic.
    pub client_secret: Option<String>,
}

/// Token revocation (RFC 7009): revokes the session behind a refresh or access token issued to
/// this client.
#[utoipa::path(
    post,
    path = "/oauth/revoke",
    operation_id = "oauth_revoke",
    tag = "oauth",
    security(("client_basic" = []), ()),
    request_body(content = RevokeForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or unknown: RFC 7009 §2.2 answers 200 either way"),
        (status = 400, description = "Malformed request (`invalid_request`)", body = ErrorBody),
        (status = 401, description = "Client authentication failed (`invalid_client`)", body = ErrorBody),
    )
)]
pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    form: FormParams,
) -> ApiResult<StatusCode> {
    let client = client::authenticate(&state, ip.as_deref(), &headers, &form).await?;
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
        match jwt::verify_access_token_for(&keys, token, &state.issuer, now, |aud| {
            crate::ops::audience::is_route_resource(&state, aud)
        }) {
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
                Audit::new("session.revoked", Outcome::Ok)
                    .actor(session.user_id.as_str())
                    .target(session.id.as_str())
                    .detail(serde_json::json!({"via": "oauth_revoke"})),
            )
            .await;
        }
    }
    Ok(StatusCode::OK)
}
