//! Who is calling: a bearer access token (JWT), an API token, or the pages' session cookie.
//! Every path ends in the same checks: the session is live (not revoked, expired or idle) and
//! the user exists and is enabled, so a revocation takes effect on the very next request.
//!
//! A DPoP-bound access token (RFC 9449) is accepted only as `Authorization: DPoP <token>` with
//! a proof of its key for this very request: [`authenticate_presented`] is the one function
//! that decides, for ward's API, the proxy (HTTP and WebSocket upgrade or auth message) and
//! forward-auth.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use axum_extra::extract::cookie::CookieJar;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ward_core::authority::{is_first_party_client, Authority, Grant};
use ward_core::clock::Timestamp;
use ward_core::model::{ApiToken, Session, User};
use ward_core::token::{api_token_checksum_ok, token_hash};
use ward_core::SessionId;
use ward_core::UserId;

use crate::dpop::{self, Target};
use crate::error::ApiError;
use crate::jwt::{self, JwtError};
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "ward_session";
pub const MFA_POLICY_MESSAGE: &str =
    "multi-factor authentication is required for your role: sign in again";
/// Activity is written back at most this often per session.
const TOUCH_EVERY_SECS: i64 = 60;

pub use ward_core::authority::CredentialKind as Credential;

#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    pub session: Option<Session>,
    pub client_id: String,
    pub scope: String,
    pub credential: Credential,
    /// The API token used, when `credential` is [`Credential::ApiToken`].
    pub api_token: Option<ApiToken>,
    /// What this credential may do (SPEC §2.11), computed once for the request.
    pub authority: Authority,
    /// The token's audience when it is not ward itself: a proxied route's URL (RFC 8707). Such
    /// a token works only at that route ([`crate::ops::audience::check`]).
    pub audience: Option<String>,
}

impl Caller {
    /// A caller and its [`Authority`]: the grant follows from the credential kind, its client
    /// and its scopes; the owner's role is read from the configuration now.
    pub fn new(
        state: &AppState,
        user: User,
        session: Option<Session>,
        client_id: String,
        scope: String,
        credential: Credential,
        api_token: Option<ApiToken>,
    ) -> Caller {
        let resources = &state.config.resources;
        let grant = match credential {
            // ward's pages and `ward-cli` hold the whole role, narrowed only when the CLI asked
            // for particular permissions.
            Credential::SessionCookie | Credential::FirstPartyToken => {
                match Grant::from_scope(&scope, resources) {
                    Grant::Permissions(p) if p.is_empty() => Grant::WholeRole,
                    narrowed => narrowed,
                }
            }
            Credential::ApiToken | Credential::ServiceAccount => {
                Grant::from_scope(&scope, resources)
            }
            // A configured client: what the user consented to (or, acting on its own behalf,
            // what it asked for), within the scopes the client is declared with today.
            Credential::ClientToken | Credential::ClientCredentials | Credential::Delegated => {
                let client = crate::ops::client::Client::find(state, &client_id);
                // A registered client's token holds only scopes it registered (checked when
                // the code was issued; a registered client never changes), and removing the
                // client revokes the token's session: no store read per request (decision 221).
                let registered = crate::ops::client::is_registered_id(&client_id);
                match Grant::from_scope(&scope, resources) {
                    Grant::Permissions(p) => Grant::Permissions(
                        p.into_iter()
                            .filter(|s| client.as_ref().map_or(registered, |c| c.declares_scope(s)))
                            .collect(),
                    ),
                    whole => whole,
                }
            }
        };
        let authority = Authority {
            kind: credential,
            client_id: client_id.clone(),
            role: state.config.roles.get(&user.role).cloned(),
            grant,
            verified_at: session.as_ref().map(|s| s.verified_at),
        };
        Caller {
            user,
            session,
            client_id,
            scope,
            credential,
            api_token,
            authority,
            audience: None,
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let target = Target::of_request(state, &parts.method, parts.uri.path(), &parts.headers);
        let caller = caller_from_headers(state, &parts.headers, &target)
            .await
            .map_err(|e| challenge_for(&parts.headers, e))?;
        if caller.audience.is_some() {
            // RFC 8707: a token for a route works at that route only. The proxy's fallback has
            // no matched path; forward-auth asks for the route of `X-Forwarded-Uri`.
            let route = if parts
                .extensions
                .get::<axum::extract::MatchedPath>()
                .is_none()
            {
                crate::proxy::config::find_route(&state.config.routes, parts.uri.path())
            } else if parts.uri.path() == "/api/auth/validate" {
                crate::proxy::forward_auth::route_of(state, &parts.headers)
            } else {
                None
            };
            crate::ops::audience::check(
                state,
                caller.audience.as_deref(),
                route.map(|r| r.prefix.as_str()),
            )?;
        }
        Ok(caller)
    }
}

/// How a token reached ward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `Authorization: Bearer`, or anywhere a bare token is carried (a WebSocket subprotocol,
    /// `?token=`, the auth message without a proof).
    Bearer,
    /// HTTP Basic with the token as the password (decision 130).
    Basic,
    /// `Authorization: DPoP` (RFC 9449 §7.1), or the auth message with a `dpop` proof.
    Dpop,
}

/// A token as presented, and the proof that came with it.
#[derive(Debug, Clone)]
pub struct Presented<'a> {
    pub token: &'a str,
    pub scheme: Scheme,
    pub proof: Option<&'a str>,
}

/// A refused non-browser request is also offered HTTP Basic, so git and docker send their
/// credential helper's token (decision 130). A browser (it sends `Sec-Fetch-Mode`) is not: it
/// would show a password dialog and then attach what was typed to every request, cross-site
/// ones included, as it does a cookie.
pub fn challenge_for(headers: &axum::http::HeaderMap, e: ApiError) -> ApiError {
    if headers.contains_key("sec-fetch-mode") {
        e
    } else {
        e.with_basic_challenge()
    }
}

/// Authenticates a request from its headers: `Authorization: Bearer …` (or Basic with the token
/// as the password), else the session cookie.
pub async fn caller_from_headers(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    target: &Target,
) -> Result<Caller, ApiError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let (scheme, token) = presented_authorization(value)?;
        let proof = dpop::proof_header(headers).map_err(|e| dpop::resource_error(state, &e))?;
        let presented = Presented {
            token: &token,
            scheme,
            proof,
        };
        return authenticate_presented(state, &presented, target).await;
    }
    let jar = CookieJar::from_headers(headers);
    if let Some((session, user)) = web_session(state, &jar).await? {
        return Ok(cookie_caller(state, session, user));
    }
    Err(ApiError::unauthorized("authentication required"))
}

/// The token in an `Authorization` header: `Bearer <token>`, or HTTP Basic whose password is
/// the token, whatever the username (SPEC §3.1: what git and docker send from a credential
/// helper, as GitHub accepts). Both then meet exactly the same checks. Schemes are
/// case-insensitive (RFC 9110 §11.1).
pub fn token_from_authorization(value: &axum::http::HeaderValue) -> Result<String, ApiError> {
    presented_authorization(value).map(|(_, token)| token)
}

/// The scheme and token of an `Authorization` header: `Bearer`, `DPoP` (RFC 9449 §7.1) or
/// HTTP Basic with the token as the password.
pub fn presented_authorization(
    value: &axum::http::HeaderValue,
) -> Result<(Scheme, String), ApiError> {
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
    let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
        return Ok((Scheme::Bearer, rest.to_owned()));
    }
    if scheme.eq_ignore_ascii_case("dpop") && !rest.is_empty() {
        return Ok((Scheme::Dpop, rest.to_owned()));
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let bad = || ApiError::unauthorized("malformed HTTP Basic credentials");
        let raw = STANDARD.decode(rest).map_err(|_| bad())?;
        let text = String::from_utf8(raw).map_err(|_| bad())?;
        let (_username, password) = text.split_once(':').ok_or_else(bad)?;
        if password.is_empty() {
            return Err(ApiError::unauthorized(
                "HTTP Basic credentials need a token as the password",
            ));
        }
        return Ok((Scheme::Basic, password.to_owned()));
    }
    Err(ApiError::unauthorized(
        "expected Authorization: Bearer <token>, DPoP <token> (with a DPoP proof), or Basic with the token as the password",
    ))
}

/// The one decision for a presented token (SPEC §2.16): the token is valid, and a DPoP-bound
/// one came as `DPoP` with a valid, unused proof of its key for `target` (`htm`, `htu`, `iat`,
/// `ath`, `jti`). A bound token as `Bearer` or Basic is refused: a copied token alone is
/// useless. An unbound token keeps working as `Bearer` and Basic (decision 130).
pub async fn authenticate_presented(
    state: &AppState,
    presented: &Presented<'_>,
    target: &Target,
) -> Result<Caller, ApiError> {
    let (caller, jkt) = authenticate_token(state, presented.token).await?;
    match (jkt, presented.scheme) {
        (Some(jkt), Scheme::Dpop) => {
            let proof = presented
                .proof
                .ok_or_else(|| dpop::resource_error(state, &ward_core::dpop::DpopError::Missing))?;
            // RFC 9449 §9: with nonces required, resources ask for one too.
            let nonce = state.config.dpop.require_nonce;
            let verified = dpop::verify(state, proof, target, Some(presented.token), nonce)
                .await
                .map_err(|e| e.at_resource(state))?;
            ward_core::dpop::check_binding(&jkt, &verified)
                .map_err(|e| dpop::resource_error(state, &e))?;
            Ok(caller)
        }
        (Some(_), _) => {
            let mut e = ApiError::unauthorized(
                "this token is bound to a DPoP key: send it as Authorization: DPoP with a DPoP proof",
            );
            e.dpop_challenge = true;
            Err(e)
        }
        (None, Scheme::Dpop) => {
            let mut e = ApiError::unauthorized(
                "this token is not DPoP-bound: send it as Authorization: Bearer",
            );
            e.dpop_challenge = true;
            Err(e)
        }
        (None, _) => Ok(caller),
    }
}

/// Validates a token presented without a proof (bearer, Basic, query, subprotocol): a bound
/// token is refused.
pub async fn authenticate_bearer(state: &AppState, token: &str) -> Result<Caller, ApiError> {
    let presented = Presented {
        token,
        scheme: Scheme::Bearer,
        proof: None,
    };
    // The target is never read: a proof-less presentation checks no proof.
    let target = Target {
        method: String::new(),
        path: String::new(),
        origins: Vec::new(),
    };
    authenticate_presented(state, &presented, &target).await
}

/// Validates any token ward understands, and says which DPoP key it is bound to. The proof is
/// the caller's check ([`authenticate_presented`]); an open WebSocket's re-check uses this
/// alone, its proof having been checked when it opened.
pub async fn authenticate_token(
    state: &AppState,
    token: &str,
) -> Result<(Caller, Option<String>), ApiError> {
    if is_api_token_candidate(state, token) {
        return Ok((authenticate_api_token(state, token).await?, None));
    }
    let now = state.clock.now();
    let keys = state.keys().await;
    let claims = jwt::verify_access_token_for(&keys, token, &state.issuer, now, |aud| {
        crate::ops::audience::is_route_resource(state, aud)
    })
    .map_err(|e| match e {
        JwtError::Expired => ApiError::unauthorized("access token expired"),
        _ => ApiError::unauthorized("invalid access token"),
    })?;
    // RFC 6749 §4.4: a client acting on its own behalf is its token's subject. It acts at ward
    // only with the role its `[[clients]]` entry gives it (SPEC §2.15), read now, so removing
    // the role stops its tokens at once.
    let audience = (claims.aud != state.issuer).then(|| claims.aud.clone());
    if claims.sid.is_none() && claims.sub == claims.client_id {
        let jkt = claims.cnf.as_ref().map(|c| c.jkt.clone());
        let mut caller = client_credentials_caller(state, claims)?;
        caller.audience = audience;
        return Ok((caller, jkt));
    }
    // A service account's token from a token exchange (SPEC §2.15): user ids are hex, so the
    // `sa_` prefix is unambiguous. The account is read now: deleting it stops the token.
    if claims
        .sub
        .starts_with(ward_core::machine::SERVICE_ACCOUNT_ID_PREFIX)
    {
        let account = state
            .store
            .service_account_by_id(&claims.sub)
            .await?
            .ok_or_else(|| ApiError::unauthorized("the service account no longer exists"))?;
        let jkt = claims.cnf.map(|c| c.jkt);
        let mut caller = Caller::new(
            state,
            account.principal(),
            None,
            claims.client_id,
            claims.scope,
            Credential::ServiceAccount,
            None,
        );
        caller.audience = audience;
        return Ok((caller, jkt));
    }
    let (session, user) = match &claims.sid {
        Some(sid) => {
            let (session, user) = live_session(state, sid).await?;
            if user.id != claims.sub {
                return Err(ApiError::unauthorized("invalid access token"));
            }
            (Some(session), user)
        }
        None => match state
            .store
            .user_by_id(&UserId::from(claims.sub.as_str()))
            .await?
        {
            Some(u) if !u.disabled => (None, u),
            // client_credentials tokens have the client as subject and no user.
            _ => return Err(ApiError::unauthorized("no such user, or user disabled")),
        },
    };
    let credential = if claims.act.is_some() {
        Credential::Delegated
    } else if is_first_party_client(&claims.client_id) {
        Credential::FirstPartyToken
    } else {
        Credential::ClientToken
    };
    let mut caller = Caller::new(
        state,
        user,
        session,
        claims.client_id,
        claims.scope,
        credential,
        None,
    );
    caller.audience = audience;
    Ok((caller, claims.cnf.map(|c| c.jkt)))
}

/// A `client_credentials` token's caller: the client, with its configured role.
fn client_credentials_caller(
    state: &AppState,
    claims: jwt::AccessClaims,
) -> Result<Caller, ApiError> {
    let role = state
        .config
        .clients
        .iter()
        .find(|c| c.id == claims.client_id)
        .and_then(|c| c.role.clone());
    let Some(role) = role else {
        return Err(ApiError::unauthorized(format!(
            "client_credentials tokens of client {} act at ward only when its [[clients]] entry has a role",
            claims.client_id
        )));
    };
    let principal = ward_core::machine::machine_principal(
        &claims.client_id,
        &claims.client_id,
        &role,
        Timestamp(claims.iat),
    );
    Ok(Caller::new(
        state,
        principal,
        None,
        claims.client_id,
        claims.scope,
        Credential::ClientCredentials,
        None,
    ))
}

/// The caller of ward's own pages, from a live browser session.
pub fn cookie_caller(state: &AppState, session: Session, user: User) -> Caller {
    Caller::new(
        state,
        user,
        Some(session.clone()),
        session.client_id,
        session.scope,
        Credential::SessionCookie,
        None,
    )
}

/// `<prefix>_…` and not a refresh token (`<prefix>_rt_…`).
fn is_api_token_candidate(state: &AppState, token: &str) -> bool {
    let prefix = &state.config.token_prefix;
    token
        .strip_prefix(prefix.as_str())
        .is_some_and(|rest| rest.starts_with('_') && !rest.starts_with("_rt_"))
}

/// API tokens: the checksum is checked first, so a mistyped or made-up token is refused without
/// a database lookup; then the stored hash, revocation, expiry and the owner's status.
pub async fn authenticate_api_token(state: &AppState, token: &str) -> Result<Caller, ApiError> {
    if !api_token_checksum_ok(token, &state.config.token_prefix) {
        return Err(ApiError::unauthorized("malformed API token (bad checksum)"));
    }
    let now = state.clock.now();
    let hash = token_hash(token);
    let Some(record) = state.store.api_token_by_hash(&hash).await? else {
        return service_account_token(state, &hash).await;
    };
    if let Some(reason) = record.unusable_reason(now) {
        return Err(ApiError::unauthorized(reason));
    }
    let user = match state
        .store
        .user_by_id(&UserId::from(record.user_id.as_str()))
        .await?
    {
        Some(u) if !u.disabled => u,
        _ => return Err(ApiError::unauthorized("the token's owner is disabled")),
    };
    // The MFA policy covers every credential (SPEC §2.11): a token whose owner must enrol and
    // has not stops working until they do.
    if crate::mfa::required_for(state, &user.role)
        && !crate::mfa::is_enabled(state, &user.id).await?
    {
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "mfa_enrollment_required",
            "multi-factor authentication is required for your role: enrol at /account/mfa before using API tokens",
        ));
    }
    if record
        .last_used_at
        .is_none_or(|t| now.0 - t.0 >= TOUCH_EVERY_SECS)
    {
        state.store.touch_api_token(&record.id, now).await?;
    }
    let scope = record.scopes.join(" ");
    Ok(Caller::new(
        state,
        user,
        None,
        "api-token".into(),
        scope,
        Credential::ApiToken,
        Some(record),
    ))
}

/// A service account's token (SPEC §2.15): same format as an API token, its owner the service
/// account, which acts with its own role. No MFA policy applies: a service account has no
/// second factor to enrol, and never signs in (decision 201).
async fn service_account_token(state: &AppState, hash: &str) -> Result<Caller, ApiError> {
    let now = state.clock.now();
    let (record, account) = state
        .store
        .service_account_token_by_hash(hash)
        .await?
        .ok_or_else(|| ApiError::unauthorized("unknown API token"))?;
    if let Some(reason) = record.unusable_reason(now) {
        return Err(ApiError::unauthorized(reason));
    }
    if record
        .last_used_at
        .is_none_or(|t| now.0 - t.0 >= TOUCH_EVERY_SECS)
    {
        state
            .store
            .touch_service_account_token(&record.id, now)
            .await?;
    }
    let scope = record.scopes.join(" ");
    Ok(Caller::new(
        state,
        account.principal(),
        None,
        "service-account".into(),
        scope,
        Credential::ServiceAccount,
        Some(record),
    ))
}

/// The one live-session check (SPEC §2.11), used by bearer tokens, the pages' cookie and the
/// proxy's re-check of open WebSockets: the session is usable now (not revoked, expired or
/// idle), its user exists and is enabled, and the MFA policy is met. Records activity now and
/// then.
pub async fn live_session(
    state: &AppState,
    session_id: &SessionId,
) -> Result<(Session, User), ApiError> {
    let session = state
        .store
        .session_by_id(session_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("session not found"))?;
    checked_session(state, session).await
}

async fn checked_session(state: &AppState, session: Session) -> Result<(Session, User), ApiError> {
    let now = state.clock.now();
    if let Some(reason) = session.unusable_reason(now) {
        return Err(ApiError::unauthorized(reason));
    }
    let user = match state.store.user_by_id(&session.user_id).await? {
        Some(u) if !u.disabled => u,
        _ => return Err(ApiError::unauthorized("no such user, or user disabled")),
    };
    if !crate::mfa::policy_allows(state, &user, &session) {
        return Err(ApiError::unauthorized(MFA_POLICY_MESSAGE));
    }
    if now.0 - session.last_seen_at.0 >= TOUCH_EVERY_SECS {
        state.store.touch_session(&session.id, now).await?;
    }
    Ok((session, user))
}

/// The browser's ward session, when its cookie names a live one.
pub async fn web_session(
    state: &AppState,
    jar: &CookieJar,
) -> Result<Option<(Session, User)>, ApiError> {
    let Some(cookie) = jar.get(SESSION_COOKIE) else {
        return Ok(None);
    };
    let Some(session) = state
        .store
        .session_by_cookie_hash(&token_hash(cookie.value()))
        .await?
    else {
        return Ok(None);
    };
    match checked_session(state, session).await {
        Ok(found) => Ok(Some(found)),
        Err(e) if e.status.is_server_error() => Err(e),
        Err(_) => Ok(None),
    }
}
