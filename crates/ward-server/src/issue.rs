//! Starting sessions and minting the tokens that belong to them.

use ward_core::audit::Outcome;
use ward_core::clock::Timestamp;
use ward_core::model::{Channel, Session, User};
use ward_core::random::random_id;
use ward_core::scope::ScopeSet;
use ward_core::token::{new_refresh_token, token_hash};
use ward_core::SessionId;
use ward_proto::TokenResponse;

use crate::error::{ApiError, ApiResult};
use crate::jwt::{self, AccessClaims, IdClaims};
use crate::state::AppState;

/// Everything known about a sign-in when a session starts.
#[derive(Debug, Clone)]
pub struct SessionRequest {
    pub client_id: String,
    pub channel: Channel,
    pub scope: String,
    pub device_id: Option<String>,
    pub device_name: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub amr: Vec<String>,
    pub auth_time: Timestamp,
    pub nonce: Option<String>,
}

/// The DPoP key (RFC 9449) a new session's tokens are bound to: its access tokens always, its
/// refresh token for a public client (a confidential client's is bound to its authentication).
#[derive(Debug, Clone)]
pub struct Binding {
    pub jkt: String,
    pub refresh: bool,
}

/// `token_type` of a response: `DPoP` for a bound access token (RFC 9449 §5).
pub fn token_type(jkt: Option<&str>) -> String {
    if jkt.is_some() { "DPoP" } else { "Bearer" }.into()
}

pub struct Issued {
    pub session: Session,
    pub response: TokenResponse,
}

pub fn session_lifetime(state: &AppState, channel: Channel) -> i64 {
    let s = state.config.sessions;
    match channel {
        Channel::Cli => s.cli,
        Channel::Web => s.web,
        Channel::Api => s.api,
        Channel::Guest => s.guest,
    }
}

fn new_session(state: &AppState, user: &User, req: &SessionRequest) -> Session {
    let now = state.clock.now();
    Session {
        id: SessionId::random(state.random.as_ref()),
        user_id: user.id.clone(),
        client_id: req.client_id.clone(),
        channel: req.channel,
        scope: req.scope.clone(),
        device_id: req.device_id.clone(),
        device_name: req.device_name.clone(),
        ip: req.ip.clone(),
        user_agent: req.user_agent.clone(),
        created_at: now,
        last_seen_at: now,
        expires_at: now.plus_secs(session_lifetime(state, req.channel)),
        idle_timeout: state.config.sessions.idle_timeout,
        mfa_verified: ward_core::model::amr_is_multi_factor(&req.amr),
        amr: req.amr.clone(),
        revoked_at: None,
        // Signing in proved the password (and the second factor, when enrolled) at auth_time.
        verified_at: req.auth_time,
        dpop_jkt: None,
        resource: None,
    }
}

/// Starts a session for a browser at ward's own pages; returns it and the cookie value.
pub async fn start_web_session(
    state: &AppState,
    user: &User,
    req: &SessionRequest,
) -> ApiResult<(Session, String)> {
    let session = new_session(state, user, req);
    let cookie = ward_core::token::new_opaque_secret(state.random.as_ref());
    state
        .store
        .insert_session(&session, None, Some(&token_hash(&cookie)))
        .await?;
    Ok((session, cookie))
}

/// Starts a token session (CLI, app) and returns its first tokens. With a `resource` (RFC 8707:
/// a route's URL; `None` for ward itself) the session remembers it, so its access tokens, the
/// first and every refreshed one, have that audience.
pub async fn start_token_session(
    state: &AppState,
    user: &User,
    req: &SessionRequest,
    with_refresh: bool,
    dpop: Option<&Binding>,
    resource: Option<&str>,
) -> ApiResult<Issued> {
    let req = &SessionRequest {
        scope: bound_scope(state, user, &req.scope),
        ..req.clone()
    };
    let mut session = new_session(state, user, req);
    session.dpop_jkt = dpop.filter(|b| b.refresh).map(|b| b.jkt.clone());
    session.resource = resource.map(str::to_string);
    let jkt = dpop.map(|b| b.jkt.as_str());
    let refresh =
        with_refresh.then(|| new_refresh_token(&state.config.token_prefix, state.random.as_ref()));
    state
        .store
        .insert_session(
            &session,
            refresh.as_deref().map(token_hash).as_deref(),
            None,
        )
        .await?;
    // Every session of every channel is a sign-in in the audit log (the CLI's code and device
    // flows, third-party clients, guests), not only the pages' password step.
    crate::audit::record(
        state,
        crate::audit::Audit::new("signin", Outcome::Ok)
            .actor(user.id.as_str())
            .ip(req.ip.as_deref())
            .target(session.id.as_str())
            .detail(serde_json::json!({
                "channel": req.channel.as_str(),
                "client_id": req.client_id,
                "amr": req.amr,
                "device_name": req.device_name,
            })),
    )
    .await;
    let access_token = access_token(
        state,
        user,
        Some(&session),
        AccessGrant::new(&req.client_id, &req.scope, jkt),
    )
    .await?;
    let id_token = if ScopeSet::parse(&req.scope).contains("openid") {
        Some(
            id_token(
                state,
                user,
                &session,
                &req.client_id,
                req.nonce.clone(),
                req.auth_time,
            )
            .await?,
        )
    } else {
        None
    };
    Ok(Issued {
        response: TokenResponse {
            access_token,
            token_type: token_type(jkt),
            expires_in: access_ttl(state, Some(&session)),
            refresh_token: refresh,
            scope: Some(req.scope.clone()),
            id_token,
            issued_token_type: None,
        },
        session,
    })
}

/// Drops requested `resource:action` scopes that the user's role does not grant, so a token
/// never claims more than its user may do (OIDC scopes pass through).
pub fn bound_scope(state: &AppState, user: &User, scope: &str) -> String {
    let role = state.config.roles.get(&user.role);
    ScopeSet::parse(scope)
        .filter(
            |s| match ward_core::scope::Permission::parse(s, &state.config.resources) {
                Some(p) => role.is_some_and(|r| r.grants(&p)),
                None => true,
            },
        )
        .to_string()
}

/// An access token never outlives its session.
pub fn access_ttl(state: &AppState, session: Option<&Session>) -> u64 {
    let ttl = state.config.access_token_ttl;
    let ttl = match session {
        Some(s) => ttl.min(s.expires_at.0 - state.clock.now().0),
        None => ttl,
    };
    u64::try_from(ttl.max(1)).unwrap_or(1)
}

/// What an access token says beyond its user and session: the fields of one grant.
#[derive(Debug, Clone, Copy)]
pub struct AccessGrant<'a> {
    pub client_id: &'a str,
    pub scope: &'a str,
    /// RFC 9449: the thumbprint of the DPoP key the token is bound to (`cnf.jkt`).
    pub jkt: Option<&'a str>,
    /// At most this many seconds (never past the session); `None`: the configured lifetime.
    pub ttl: Option<u64>,
    /// RFC 8693 `act`: the client acting for the user (a delegated token).
    pub actor: Option<&'a str>,
    /// RFC 8707: the token's audience, a route's URL; `None`: the session's resource, else ward
    /// (the issuer). Minted in, never re-signed afterwards (decision 231).
    pub audience: Option<&'a str>,
}

impl<'a> AccessGrant<'a> {
    /// A grant for `client_id` with `scope`, bound to `jkt` when there is one; the default
    /// lifetime, no actor, the session's audience.
    pub fn new(client_id: &'a str, scope: &'a str, jkt: Option<&'a str>) -> Self {
        AccessGrant {
            client_id,
            scope,
            jkt,
            ttl: None,
            actor: None,
            audience: None,
        }
    }
}

/// A user's access token: on `session` (its `sid`, `amr`, lifetime and resource) or, for a
/// principal without one (a workload's service account), alone. A principal without an email
/// (a service account) gets no `email`.
pub async fn access_token(
    state: &AppState,
    user: &User,
    session: Option<&Session>,
    grant: AccessGrant<'_>,
) -> ApiResult<String> {
    let now = state.clock.now();
    let longest = access_ttl(state, session);
    let ttl = grant.ttl.map_or(longest, |t| t.min(longest));
    let claims = AccessClaims {
        iss: state.issuer.clone(),
        sub: user.id.to_string(),
        aud: grant
            .audience
            .map(str::to_string)
            .or_else(|| session.and_then(|s| s.resource.clone()))
            .unwrap_or_else(|| state.issuer.clone()),
        exp: now.0 + i64::try_from(ttl).unwrap_or(0),
        iat: now.0,
        jti: random_id(state.random.as_ref()),
        client_id: grant.client_id.to_string(),
        sid: session.map(|s| s.id.clone()),
        scope: grant.scope.to_string(),
        roles: vec![user.role.clone()],
        email: (!user.email.is_empty()).then(|| user.email.clone()),
        amr: session.map(|s| s.amr.clone()).unwrap_or_default(),
        cnf: grant
            .jkt
            .map(|jkt| crate::jwt::Confirmation { jkt: jkt.into() }),
        act: grant
            .actor
            .map(|a| crate::jwt::Actor { sub: a.to_string() }),
    };
    let keys = state.keys().await;
    jwt::sign_access_token(&keys, &claims).map_err(ApiError::internal)
}

/// An access token for a client acting on its own behalf (client_credentials): no user, no
/// session, no refresh token. Its audience is `audience` (RFC 8707: a route's URL), else ward.
pub async fn client_access_token(
    state: &AppState,
    client_id: &str,
    scope: &str,
    jkt: Option<&str>,
    audience: Option<&str>,
) -> ApiResult<String> {
    let now = state.clock.now();
    let claims = AccessClaims {
        iss: state.issuer.clone(),
        sub: client_id.to_string(),
        aud: audience.map_or_else(|| state.issuer.clone(), str::to_string),
        exp: now.0 + state.config.access_token_ttl,
        iat: now.0,
        jti: random_id(state.random.as_ref()),
        client_id: client_id.to_string(),
        sid: None,
        scope: scope.to_string(),
        roles: Vec::new(),
        email: None,
        amr: Vec::new(),
        cnf: jkt.map(|jkt| crate::jwt::Confirmation { jkt: jkt.into() }),
        act: None,
    };
    let keys = state.keys().await;
    jwt::sign_access_token(&keys, &claims).map_err(ApiError::internal)
}

async fn id_token(
    state: &AppState,
    user: &User,
    session: &Session,
    client_id: &str,
    nonce: Option<String>,
    auth_time: Timestamp,
) -> ApiResult<String> {
    let now = state.clock.now();
    let claims = IdClaims {
        iss: state.issuer.clone(),
        sub: user.id.to_string(),
        aud: client_id.to_string(),
        exp: now.0 + state.config.access_token_ttl,
        iat: now.0,
        auth_time: auth_time.0,
        nonce,
        email: user.email.clone(),
        email_verified: user.email_verified,
        name: user.name.clone(),
        sid: session.id.to_string(),
        amr: session.amr.clone(),
    };
    let keys = state.keys().await;
    jwt::sign_id_token(&keys, &claims).map_err(ApiError::internal)
}
