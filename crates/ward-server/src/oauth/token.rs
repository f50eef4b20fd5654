//! The token endpoint (RFC 6749 §3.2): authorization code (+ PKCE), refresh token with
//! rotation and reuse detection, device code (RFC 8628 §3.4), client credentials.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ward_core::audit::Outcome;
use ward_core::device::{decide_poll, PollDecision, SLOW_DOWN_STEP_SECS};
use ward_core::dpop::VerifiedProof;
use ward_core::model::Channel;
use ward_core::pkce;
use ward_core::scope::ScopeSet;
use ward_core::store::CodeRedemption;
use ward_core::token::token_hash;
use ward_core::{OAuthError, OAuthErrorCode};
use ward_proto::{ErrorBody, TokenResponse, DEVICE_CODE_GRANT_TYPE};

use crate::dpop::{self, token_request_proof};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ClientIp, FormParams, UserAgent};
use crate::issue::{self, Binding, SessionRequest};
use crate::oauth::exchange;
use crate::ops::audience;
use crate::ops::client::{self, Client};
use crate::ops::refresh::{self, load_user};
use crate::state::AppState;
use ward_core::exchange::TOKEN_EXCHANGE_GRANT;

fn token_json(body: TokenResponse) -> Response {
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(body),
    )
        .into_response()
}

/// The form of `POST /oauth/token` (documentation only: the handler reads [`FormParams`]).
#[derive(Debug, utoipa::ToSchema)]
pub struct TokenForm {
    /// `authorization_code`, `refresh_token`, `client_credentials`,
    /// `urn:ietf:params:oauth:grant-type:device_code` or
    /// `urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693).
    pub grant_type: String,
    /// Token exchange: the external ID token (workload identity) or the user's access token
    /// (delegation).
    pub subject_token: Option<String>,
    /// Token exchange: `urn:ietf:params:oauth:token-type:id_token` (or `…:jwt`) for workload
    /// identity, `urn:ietf:params:oauth:token-type:access_token` for delegation.
    pub subject_token_type: Option<String>,
    /// `authorization_code`.
    pub code: Option<String>,
    /// `authorization_code`: the same as in the authorization request.
    pub redirect_uri: Option<String>,
    /// `authorization_code` with PKCE.
    pub code_verifier: Option<String>,
    /// `refresh_token`.
    pub refresh_token: Option<String>,
    /// The device code grant.
    pub device_code: Option<String>,
    /// `client_credentials`: a subset of the client's scopes (all of them when absent); token
    /// exchange: at most what the service account's role or the subject token holds.
    pub scope: Option<String>,
    /// RFC 8707: ward's URL or a proxied route's (`<public_url><prefix>`); the access token's
    /// `aud` becomes it, and it works only there.
    pub resource: Option<String>,
    /// Client authentication by `client_secret_post` or, for a public client, its id alone;
    /// alternatively HTTP Basic (`client_secret_basic`).
    pub client_id: Option<String>,
    /// `client_secret_post`; never together with HTTP Basic.
    pub client_secret: Option<String>,
}

/// The token endpoint (RFC 6749 §3.2).
///
/// Grants: authorization code with PKCE, refresh token (rotated; a reused one revokes its
/// session), client credentials, and the device code (RFC 8628 §3.4). A `DPoP` proof header (RFC 9449 §5) binds the tokens to its key:
/// `token_type: DPoP` and `cnf.jkt`; a public client's refresh token too. Token exchange
/// (RFC 8693): a `[[trust]]`ed workload's ID token for a service account's token (no client
/// authentication), or a user's access token for a delegated one (`act`) by a client that lists
/// the grant.
#[utoipa::path(
    post,
    path = "/oauth/token",
    operation_id = "oauth_token",
    tag = "oauth",
    security(("client_basic" = []), ()),
    params(("DPoP" = Option<String>, Header, description = "A DPoP proof (RFC 9449) for this request")),
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Tokens (`Cache-Control: no-store`)", body = TokenResponse),
        (status = 400, description = "RFC 6749 §5.2 error: `invalid_request`, `invalid_grant`, `unauthorized_client`, `unsupported_grant_type`, `invalid_scope`, the device flow's `authorization_pending`, `slow_down`, `access_denied`, `expired_token`, or RFC 9449's `invalid_dpop_proof`, `use_dpop_nonce` (with `DPoP-Nonce`)", body = ErrorBody),
        (status = 401, description = "Client authentication failed (`invalid_client`)", body = ErrorBody),
    )
)]
pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    UserAgent(user_agent): UserAgent,
    form: FormParams,
) -> ApiResult<Response> {
    let result = grant(&state, &headers, ip, user_agent, &form).await;
    // RFC 9449 §8: with nonces required, every answer carries the one to use next.
    let nonce = state
        .config
        .dpop
        .require_nonce
        .then(|| dpop::nonce_key(&state).current(state.clock.now()));
    match result {
        Ok(body) => {
            let mut response = token_json(body);
            if let Some(n) = nonce.and_then(|n| HeaderValue::from_str(&n).ok()) {
                response.headers_mut().insert(dpop::NONCE_HEADER, n);
            }
            Ok(response)
        }
        Err(mut e) => {
            if e.dpop_nonce.is_none() {
                e.dpop_nonce = nonce;
            }
            Err(e)
        }
    }
}

async fn grant(
    state: &AppState,
    headers: &HeaderMap,
    ip: Option<String>,
    user_agent: Option<String>,
    form: &FormParams,
) -> ApiResult<TokenResponse> {
    // RFC 8707: a named resource becomes the access token's audience; unknown ones are refused
    // before anything else happens.
    let audience = audience::requested(state, form)?;
    // RFC 8693 workload identity: the `[[trust]]` entry is the policy, no client need sign in.
    if exchange::is_workload(form) {
        let proof = token_request_proof(state, headers, "/oauth/token", false).await?;
        let result = exchange::workload(
            state,
            ip.as_deref(),
            headers,
            form,
            proof.as_ref(),
            audience.as_deref(),
        )
        .await;
        match &result {
            Ok(_) => state.metrics.auth_event("token_exchange", "ok"),
            Err(e) => state.metrics.auth_event("token_exchange", e.code),
        }
        return result;
    }
    let client = client::authenticate(state, ip.as_deref(), headers, form).await?;
    let grant = form.require("grant_type")?;
    if !matches!(
        grant,
        "authorization_code"
            | "refresh_token"
            | "client_credentials"
            | DEVICE_CODE_GRANT_TYPE
            | TOKEN_EXCHANGE_GRANT
    ) {
        return Err(OAuthError::new(
            OAuthErrorCode::UnsupportedGrantType,
            format!("unsupported grant_type {grant}"),
        )
        .into());
    }
    if grant == DEVICE_CODE_GRANT_TYPE && !state.config.device_flow {
        return Err(OAuthError::new(
            OAuthErrorCode::UnauthorizedClient,
            "the device flow is switched off on this server",
        )
        .into());
    }
    if !client.allows_grant(grant) {
        return Err(OAuthError::new(
            OAuthErrorCode::UnauthorizedClient,
            format!("this client may not use the {grant} grant"),
        )
        .into());
    }
    let proof = token_request_proof(state, headers, "/oauth/token", client.requires_dpop()).await?;
    let proof = proof.as_ref();
    // Grants that start or continue a session give its tokens the session's audience
    // (RFC 8707 §2.2: the code's, or the refresh token's, resource); a delegation keeps its
    // subject token's; client credentials have the one asked, minted in.
    let result = match grant {
        "authorization_code" => {
            authorization_code(state, &client, form, ip, user_agent, proof, audience).await
        }
        "refresh_token" => {
            let token = form.require("refresh_token")?;
            refresh::refresh(state, Some(&client), token, proof, form.get("resource")).await
        }
        DEVICE_CODE_GRANT_TYPE => {
            device_code(state, &client, form, ip, user_agent, proof, audience).await
        }
        "client_credentials" => {
            client_credentials(state, &client, form, proof, audience.as_deref()).await
        }
        _ => exchange::delegation(state, ip.as_deref(), &client, form, proof).await,
    };
    let kind = match grant {
        DEVICE_CODE_GRANT_TYPE => "device_code",
        TOKEN_EXCHANGE_GRANT => "token_exchange",
        g => g,
    };
    record(state, kind, result)
}

/// Counts the grant's outcome in the metrics.
fn record(
    state: &AppState,
    kind: &str,
    result: ApiResult<TokenResponse>,
) -> ApiResult<TokenResponse> {
    match &result {
        Ok(_) => state.metrics.auth_event(kind, "ok"),
        Err(e) => state.metrics.auth_event(kind, e.code),
    }
    result
}

/// A new session's binding: the proof's key, for the refresh token too when the client is
/// public (RFC 9449 §5).
fn binding(client: &Client, proof: Option<&VerifiedProof>) -> Option<Binding> {
    proof.map(|p| Binding {
        jkt: p.jkt.clone(),
        refresh: client.is_public(),
    })
}

fn channel_for(client: &Client) -> Channel {
    match client {
        Client::Cli => Channel::Cli,
        Client::Configured(_) | Client::Registered(_) => Channel::Web,
    }
}

fn wants_refresh(client: &Client) -> bool {
    client.allows_grant("refresh_token")
}

async fn authorization_code(
    state: &AppState,
    client: &Client,
    form: &FormParams,
    ip: Option<String>,
    user_agent: Option<String>,
    proof: Option<&VerifiedProof>,
    asked_audience: Option<String>,
) -> ApiResult<TokenResponse> {
    let code = form.require("code")?;
    let redirect_uri = form.require("redirect_uri")?;
    let now = state.clock.now();
    let hash = token_hash(code);
    let record = match state.store.redeem_auth_code(&hash, now).await? {
        CodeRedemption::Redeemed(c) => c,
        CodeRedemption::AlreadyUsed(c) => {
            // RFC 6749 §4.1.2: a code used twice revokes what the first use issued.
            if let Some(sid) = &c.session_id {
                if state.store.revoke_session(sid, now).await? {
                    // Announced like any revocation (SPEC §2.18: webhooks and the stream).
                    crate::audit::record(
                        state,
                        crate::audit::Audit::new("session.revoked", Outcome::Ok)
                            .target(sid.as_str())
                            .detail(
                                serde_json::json!({"via": "code_reuse", "client_id": c.client_id}),
                            ),
                    )
                    .await;
                }
            }
            tracing::warn!(target: "ward::auth", event = "code.reused", client_id = %c.client_id, "authorization code presented twice; its session is revoked");
            return Err(OAuthError::invalid_grant("authorization code already used").into());
        }
        CodeRedemption::Unknown => {
            return Err(OAuthError::invalid_grant("unknown authorization code").into())
        }
    };
    if record.client_id != client.id() {
        return Err(OAuthError::invalid_grant("the code was issued to another client").into());
    }
    if now >= record.expires_at {
        return Err(OAuthError::invalid_grant("authorization code expired").into());
    }
    if record.redirect_uri != redirect_uri {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        )
        .into());
    }
    match (&record.code_challenge, form.get("code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            if !pkce::verify_s256(verifier, challenge) {
                return Err(OAuthError::invalid_grant("PKCE verification failed").into());
            }
        }
        (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier required").into()),
        (None, Some(_)) => {
            return Err(
                OAuthError::invalid_grant("no code_challenge was sent for this code").into(),
            )
        }
        (None, None) => {}
    }
    let audience = bound_audience(state, record.resource.as_deref(), form, asked_audience)?;
    let user = load_user(state, &record.user_id).await?;
    let request = SessionRequest {
        client_id: client.id().to_string(),
        channel: channel_for(client),
        scope: record.scope.clone(),
        device_id: record.device_id.clone(),
        device_name: record.device_name.clone(),
        ip,
        user_agent,
        amr: record.amr.clone(),
        auth_time: record.auth_time,
        nonce: record.nonce.clone(),
    };
    let issued = issue::start_token_session(
        state,
        &user,
        &request,
        wants_refresh(client),
        binding(client, proof).as_ref(),
        audience.as_deref(),
    )
    .await?;
    state
        .store
        .set_auth_code_session(&hash, &issued.session.id)
        .await?;
    Ok(issued.response)
}

/// RFC 8707 §2.2: the audience of a code's token. A `resource` named at the authorization
/// request is bound to the code: the token request may repeat it or leave it out, and naming
/// another is `invalid_target`. Without one, the token request's `resource` decides.
fn bound_audience(
    state: &AppState,
    bound: Option<&str>,
    form: &FormParams,
    asked: Option<String>,
) -> ApiResult<Option<String>> {
    let Some(bound) = bound else {
        return Ok(asked);
    };
    let bound_audience = audience::audience(state, bound).map_err(ApiError::from)?;
    if form.get("resource").is_some() && asked != bound_audience {
        return Err(OAuthError::new(
            OAuthErrorCode::InvalidTarget,
            format!(
                "the authorization request named the resource {bound}: the token request may not name another"
            ),
        )
        .into());
    }
    Ok(bound_audience)
}

async fn client_credentials(
    state: &AppState,
    client: &Client,
    form: &FormParams,
    proof: Option<&VerifiedProof>,
    audience: Option<&str>,
) -> ApiResult<TokenResponse> {
    let Client::Configured(config) = client else {
        return Err(OAuthError::new(
            OAuthErrorCode::UnauthorizedClient,
            "public clients cannot use client_credentials",
        )
        .into());
    };
    let requested = match form.get("scope") {
        Some(s) => ScopeSet::parse(s),
        None => ScopeSet::parse(&config.scopes.join(" ")),
    };
    if let Some(bad) = requested.first_rejected(|s| config.scopes.iter().any(|c| c == s)) {
        return Err(OAuthError::new(
            OAuthErrorCode::InvalidScope,
            format!("scope {bad} is not allowed for this client"),
        )
        .into());
    }
    let scope = requested.to_string();
    let jkt = proof.map(|p| p.jkt.as_str());
    let access_token = issue::client_access_token(state, &config.id, &scope, jkt, audience).await?;
    Ok(TokenResponse {
        access_token,
        token_type: issue::token_type(jkt),
        expires_in: u64::try_from(state.config.access_token_ttl).unwrap_or(3600),
        refresh_token: None,
        scope: Some(scope),
        id_token: None,
        issued_token_type: None,
    })
}

async fn device_code(
    state: &AppState,
    client: &Client,
    form: &FormParams,
    ip: Option<String>,
    user_agent: Option<String>,
    proof: Option<&VerifiedProof>,
    audience: Option<String>,
) -> ApiResult<TokenResponse> {
    let device_code = form.require("device_code")?;
    let hash = token_hash(device_code);
    let now = state.clock.now();
    let grant = state
        .store
        .poll_device_grant(&hash, now)
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("unknown device code"))?;
    if grant.client_id != client.id() {
        return Err(
            OAuthError::invalid_grant("the device code was issued to another client").into(),
        );
    }
    match decide_poll(&grant, now) {
        PollDecision::Refuse(e) => {
            if e.code == OAuthErrorCode::SlowDown {
                state
                    .store
                    .slow_down_device_grant(&hash, SLOW_DOWN_STEP_SECS)
                    .await?;
            }
            Err(e.into())
        }
        PollDecision::Issue => {
            if !state.store.consume_device_grant(&hash).await? {
                return Err(
                    OAuthError::invalid_grant("the device code has already been used").into(),
                );
            }
            let user_id = grant
                .user_id
                .as_ref()
                .ok_or_else(|| ApiError::internal("approved device grant without a user"))?;
            let user = load_user(state, user_id).await?;
            let request = SessionRequest {
                client_id: client.id().to_string(),
                channel: channel_for(client),
                scope: grant.scope.clone(),
                device_id: grant.device_id.clone(),
                device_name: grant.device_name.clone(),
                ip,
                user_agent,
                amr: grant.amr.clone(),
                auth_time: grant.auth_time.unwrap_or(now),
                nonce: None,
            };
            Ok(issue::start_token_session(
                state,
                &user,
                &request,
                wants_refresh(client),
                binding(client, proof).as_ref(),
                audience.as_deref(),
            )
            .await?
            .response)
        }
    }
}
