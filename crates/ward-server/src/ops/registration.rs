//! Dynamic client registration (RFC 7591, SPEC §2.15) and the admin's clients: who may
//! register (`[registration] mode`), what a registered client may be (`ward_core::registration`),
//! initial access tokens, listing every client and removing registered ones (which revokes what
//! they were issued). Audited: `client.registered`, `client.removed`,
//! `registration_token.created`.

use axum::http::StatusCode;
use serde_json::json;
use ward_core::audit::Outcome;
use ward_core::random::random_id;
use ward_core::registration::{
    validate, RegisteredClient, RegistrationToken, REGISTERED_CLIENT_PREFIX,
};
use ward_core::token::{new_opaque_secret, token_hash};
use ward_proto::registration::{
    ClientInfo, ClientMetadata, ClientRegistration, RegistrationTokenCreated,
    RegistrationTokenRequest,
};
use ward_proto::CLI_CLIENT_ID;

use crate::audit::{self, Audit};
use crate::auth::Caller;
use crate::authz;
use crate::config::RegistrationMode;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::time::rfc3339;

/// An initial access token lives a day unless the admin says otherwise (decision 218).
pub const DEFAULT_TOKEN_TTL_SECS: i64 = 24 * 3600;
const MIN_TOKEN_TTL_SECS: i64 = 60;
const MAX_TOKEN_TTL_SECS: i64 = 30 * 24 * 3600;

/// The 404 of `POST /oauth/register` with `mode = "off"` (decision 215).
pub fn registration_off() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "dynamic client registration is off on this server ([registration] mode = \"off\")",
    )
}

/// Registers a client from its metadata. `bearer` is the initial access token
/// (`Authorization: Bearer`), needed with `mode = "token"`.
///
/// # Errors
/// 404 with registration off; 429 past `[registration] per_ip` registrations from this address
/// in a window; 401 `invalid_token` without a valid initial access token in token mode; 400
/// `invalid_redirect_uri` or `invalid_client_metadata` (RFC 7591 §3.2.2) naming the problem.
pub async fn register(
    state: &AppState,
    ip: Option<&str>,
    bearer: Option<&str>,
    meta: &ClientMetadata,
) -> ApiResult<ClientRegistration> {
    let config = &state.config.registration;
    if config.mode == RegistrationMode::Off {
        return Err(registration_off());
    }
    let now = state.clock.now();
    // SPEC §2.13: counted in the shared store before anything else, in every mode.
    state
        .limiter
        .hit(
            "registration_ip",
            ip.unwrap_or_default(),
            config.per_ip,
            state.config.rate_limits.window_secs,
            now,
        )
        .await?;
    let valid = validate(meta, &config.max_scopes)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.code(), e.description()))?;
    let registration_token_id = match config.mode {
        RegistrationMode::Token => Some(spend_token(state, ip, bearer).await?),
        _ => None,
    };
    let client_id = format!(
        "{REGISTERED_CLIENT_PREFIX}{}",
        random_id(state.random.as_ref())
    );
    let secret = (!valid.is_public()).then(|| new_opaque_secret(state.random.as_ref()));
    let client = RegisteredClient {
        client_id: client_id.clone(),
        secret_hash: secret.as_deref().map(token_hash),
        client_name: valid.client_name.clone(),
        redirect_uris: valid.redirect_uris.clone(),
        grant_types: valid.grant_types.clone(),
        scopes: valid.scopes.clone(),
        token_endpoint_auth_method: valid.token_endpoint_auth_method.clone(),
        created_at: now,
        registered_ip: ip.map(str::to_string),
        registration_token_id: registration_token_id.clone(),
    };
    state.store.insert_registered_client(&client).await?;
    audit::record(
        state,
        Audit::new("client.registered", Outcome::Ok)
            .ip(ip)
            .target(&client_id)
            .detail(json!({
                "client_name": client.client_name,
                "redirect_uris": client.redirect_uris,
                "scope": client.scopes.join(" "),
                "token_endpoint_auth_method": client.token_endpoint_auth_method,
                "registration_token_id": registration_token_id,
            })),
    )
    .await;
    Ok(ClientRegistration {
        client_secret_expires_at: secret.as_ref().map(|_| 0),
        client_secret: secret,
        client_id,
        client_id_issued_at: now.0,
        client_name: client.client_name,
        redirect_uris: client.redirect_uris,
        grant_types: client.grant_types,
        response_types: vec!["code".into()],
        token_endpoint_auth_method: client.token_endpoint_auth_method,
        scope: client.scopes.join(" "),
    })
}

/// Spends the initial access token `bearer` for one registration; its id.
async fn spend_token(
    state: &AppState,
    ip: Option<&str>,
    bearer: Option<&str>,
) -> ApiResult<String> {
    let refused = |why: &str| ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", why);
    let Some(token) = bearer else {
        return Err(refused(
            "registration needs an initial access token (Authorization: Bearer …) from an admin",
        ));
    };
    match state
        .store
        .use_registration_token(&token_hash(token), state.clock.now())
        .await?
    {
        Some(id) => Ok(id),
        None => {
            audit::record(
                state,
                Audit::new("client.registered", Outcome::Failed)
                    .ip(ip)
                    .detail(json!({"reason": "invalid initial access token"})),
            )
            .await;
            Err(refused(
                "the initial access token is unknown, expired or already used",
            ))
        }
    }
}

/// Makes an initial access token, returned once.
///
/// # Errors
/// 403 without `admin:write`; 400 for a lifetime outside 60 s to 30 days.
pub async fn create_token(
    state: &AppState,
    caller: &Caller,
    ip: Option<&str>,
    req: &RegistrationTokenRequest,
) -> ApiResult<RegistrationTokenCreated> {
    authz::require_admin(state, caller, true)?;
    let ttl = req.expires_in.unwrap_or(DEFAULT_TOKEN_TTL_SECS);
    if !(MIN_TOKEN_TTL_SECS..=MAX_TOKEN_TTL_SECS).contains(&ttl) {
        return Err(ApiError::bad_request(format!(
            "expires_in must be {MIN_TOKEN_TTL_SECS} to {MAX_TOKEN_TTL_SECS} seconds, not {ttl}"
        )));
    }
    let now = state.clock.now();
    let token = format!(
        "{}_reg_{}",
        state.config.token_prefix,
        new_opaque_secret(state.random.as_ref())
    );
    let record = RegistrationToken {
        id: random_id(state.random.as_ref()),
        token_hash: token_hash(&token),
        created_at: now,
        expires_at: now.plus_secs(ttl),
        created_by: Some(caller.user.id.to_string()),
        single_use: req.single_use.unwrap_or(true),
    };
    state.store.insert_registration_token(&record).await?;
    audit::record(
        state,
        Audit::new("registration_token.created", Outcome::Ok)
            .actor(caller.user.id.as_str())
            .ip(ip)
            .target(&record.id)
            .detail(json!({"expires_at": record.expires_at.0, "single_use": record.single_use})),
    )
    .await;
    Ok(RegistrationTokenCreated {
        id: record.id,
        token,
        expires_at: rfc3339(record.expires_at),
        single_use: record.single_use,
    })
}

/// Every client: `ward-cli`, the configured ones, then the registered ones (newest first).
///
/// # Errors
/// 403 without `admin:read`.
pub async fn list(state: &AppState, caller: &Caller) -> ApiResult<Vec<ClientInfo>> {
    authz::require_admin(state, caller, false)?;
    let mut out = vec![ClientInfo {
        client_id: CLI_CLIENT_ID.into(),
        kind: "configured".into(),
        client_name: Some("ward command-line client (built in)".into()),
        public: true,
        redirect_uris: vec!["http://127.0.0.1:<any port>/callback".into()],
        grant_types: vec![
            "authorization_code".into(),
            "refresh_token".into(),
            ward_proto::DEVICE_CODE_GRANT_TYPE.into(),
        ],
        scopes: Vec::new(),
        created_at: None,
    }];
    out.extend(state.config.clients.iter().map(|c| ClientInfo {
        client_id: c.id.clone(),
        kind: "configured".into(),
        client_name: None,
        public: c.secret.is_none(),
        redirect_uris: c.redirect_uris.clone(),
        grant_types: c.grant_types.clone(),
        scopes: c.scopes.clone(),
        created_at: None,
    }));
    out.extend(
        state
            .store
            .registered_clients()
            .await?
            .into_iter()
            .map(|c| ClientInfo {
                public: c.secret_hash.is_none(),
                client_id: c.client_id,
                kind: "registered".into(),
                client_name: c.client_name,
                redirect_uris: c.redirect_uris,
                grant_types: c.grant_types,
                scopes: c.scopes,
                created_at: Some(rfc3339(c.created_at)),
            }),
    );
    Ok(out)
}

/// Removes a registered client: its sessions are revoked (refresh and access tokens stop at
/// once), its consents forgotten, and it can neither authorize nor redeem anything again.
///
/// # Errors
/// 403 without `admin:write`; 409 for a configured client (it lives in the configuration
/// file); 404 for an unknown one.
pub async fn remove(
    state: &AppState,
    caller: &Caller,
    ip: Option<&str>,
    id: &str,
) -> ApiResult<()> {
    authz::require_admin(state, caller, true)?;
    if id == CLI_CLIENT_ID || state.config.clients.iter().any(|c| c.id == id) {
        return Err(ApiError::conflict(format!(
            "{id} is a configured client: remove it from [[clients]] in the configuration file \
             (only registered clients are removed here)"
        )));
    }
    if !state
        .store
        .delete_registered_client(id, state.clock.now())
        .await?
    {
        return Err(ApiError::not_found(format!("no registered client {id}")));
    }
    audit::record(
        state,
        Audit::new("client.removed", Outcome::Ok)
            .actor(caller.user.id.as_str())
            .ip(ip)
            .target(id),
    )
    .await;
    Ok(())
}
