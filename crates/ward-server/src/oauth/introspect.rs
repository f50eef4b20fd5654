//! Token introspection (RFC 7662), for confidential clients: each sees the tokens issued to it;
//! a client declared with `introspect = true` (a resource server) sees any (SPEC §2.11).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use ward_core::token::{is_refresh_token_shape, token_hash};
use ward_core::OAuthError;
use ward_proto::{ErrorBody, IntrospectionResponse};

use crate::error::ApiResult;
use crate::extract::{ClientIp, FormParams};
use crate::jwt;
use crate::ops::client;
use crate::state::AppState;

/// The form of `POST /oauth/introspect` (documentation only).
#[derive(Debug, utoipa::ToSchema)]
pub struct IntrospectForm {
    /// A refresh token or an access token.
    pub token: String,
    /// Accepted and ignored.
    pub token_type_hint: Option<String>,
    /// Client authentication by `client_secret_post` or, for a public client, its id alone;
    /// alternatively HTTP Basic (`client_secret_basic`).
    pub client_id: Option<String>,
    /// `client_secret_post`; never together with HTTP Basic.
    pub client_secret: Option<String>,
}

/// Token introspection (RFC 7662), for confidential clients.
#[utoipa::path(
    post,
    path = "/oauth/introspect",
    operation_id = "oauth_introspect",
    tag = "oauth",
    security(("client_basic" = []), ()),
    request_body(content = IntrospectForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "`{\"active\": false}` for an unknown, expired or revoked token", body = IntrospectionResponse),
        (status = 400, description = "Malformed request (`invalid_request`)", body = ErrorBody),
        (status = 401, description = "Client authentication failed, or a public client (`invalid_client`)", body = ErrorBody),
    )
)]
pub async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    form: FormParams,
) -> ApiResult<Json<IntrospectionResponse>> {
    let client = client::authenticate(&state, ip.as_deref(), &headers, &form).await?;
    if client.is_public() {
        return Err(OAuthError::invalid_client("introspection needs a confidential client").into());
    }
    let token = form.require("token")?;
    let now = state.clock.now();
    let inactive = Json(IntrospectionResponse::default());
    // SPEC §2.11: a client sees its own tokens; a resource server (`introspect = true`) any.
    let may_see = |issued_to: &str| match &client {
        client::Client::Configured(c) => c.introspect || c.id == issued_to,
        // A confidential registered client sees its own tokens, never others'.
        client::Client::Registered(c) => c.client_id == issued_to,
        client::Client::Cli => false,
    };
    if is_refresh_token_shape(token, &state.config.token_prefix) {
        let Some((session, current)) = state
            .store
            .session_by_refresh_token_hash(&token_hash(token))
            .await?
        else {
            return Ok(inactive);
        };
        // A rotated refresh token is no longer active even though its session is.
        if !current || !session.is_usable(now) || !may_see(&session.client_id) {
            return Ok(inactive);
        }
        return Ok(Json(IntrospectionResponse {
            active: true,
            scope: Some(session.scope.clone()),
            client_id: Some(session.client_id.clone()),
            sub: Some(session.user_id.to_string()),
            exp: Some(session.expires_at.0),
            iat: Some(session.created_at.0),
            token_type: Some("refresh_token".into()),
            sid: Some(session.id.into()),
            iss: Some(state.issuer.clone()),
            ..IntrospectionResponse::default()
        }));
    }
    let keys = state.keys().await;
    let Ok(claims) = jwt::verify_access_token_for(&keys, token, &state.issuer, now, |aud| {
        crate::ops::audience::is_route_resource(&state, aud)
    }) else {
        return Ok(inactive);
    };
    if !may_see(&claims.client_id) {
        return Ok(inactive);
    }
    if let Some(sid) = &claims.sid {
        match state.store.session_by_id(sid).await? {
            Some(s) if s.is_usable(now) => {}
            _ => return Ok(inactive),
        }
    }
    Ok(Json(IntrospectionResponse {
        active: true,
        scope: Some(claims.scope),
        client_id: Some(claims.client_id),
        username: claims.email,
        token_type: Some("Bearer".into()),
        exp: Some(claims.exp),
        iat: Some(claims.iat),
        sub: Some(claims.sub),
        aud: Some(claims.aud),
        iss: Some(claims.iss),
        jti: Some(claims.jti),
        sid: claims.sid.map(ward_core::SessionId::into_string),
    }))
}
