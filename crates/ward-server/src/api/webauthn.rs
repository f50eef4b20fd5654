//! `/api/mfa/webauthn/{register,authenticate}/{start,finish}` and credential management.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use axum_extra::extract::cookie::CookieJar;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use ward_core::audit::Outcome;
use ward_core::model::{amr_with, Amr, CeremonyKind, User, WebauthnCredential};
use ward_core::UserId;
use ward_proto::ErrorBody;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, DiscoverableKey, Passkey, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential,
};

use crate::audit::{self, Audit};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ClientIp, UserAgent};
use crate::ops::passkey::{
    failed as webauthn_failed, finish_taken, passkeys_of, record_use, relying_party,
    save as save_ceremony, start_for_user, take as take_ceremony, Started,
};
use crate::ops::web_sign_in::{clear_challenge, finish_sign_in, pending, SignedIn};
use crate::state::AppState;
use crate::webauthn::{credential_key, passkey_key, prefer_resident_key, user_handle, user_id_of};
use ward_core::redirect::after_sign_in as safe_return_to;

/// Where the step-up ceremony runs: what a DPoP proof for it names.
const PATH_START: &str = "/api/mfa/webauthn/authenticate/start";
const PATH_FINISH: &str = "/api/mfa/webauthn/authenticate/finish";

/// A started ceremony: pass `options` to the browser's WebAuthn API and send its result to
/// the matching `…/finish` with this `ceremony` id within 5 minutes.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Ceremony {
    pub ceremony: String,
    /// `PublicKeyCredentialCreationOptions` or `…RequestOptions` (W3C WebAuthn), wrapped as
    /// `{"publicKey": …}`.
    pub options: Value,
}

/// A registered security key.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Registered {
    pub id: String,
    pub name: String,
}

/// The end of an authentication ceremony: `redirect` for `signin` and `mfa` (the session
/// cookie is set), `verified` and `method` for `step-up`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Authenticated {
    /// Where the browser goes next.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
    /// `webauthn`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<&'static str>,
}

impl Authenticated {
    fn redirect(to: String) -> Self {
        Authenticated {
            redirect: Some(to),
            verified: None,
            method: None,
        }
    }
}

/// A security key of the caller's. Times are RFC 3339, UTC.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CredentialInfo {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

/// `GET /api/mfa/webauthn/credentials`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CredentialList {
    pub credentials: Vec<CredentialInfo>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RegisterStart {
    #[serde(default)]
    pub name: Option<String>,
}

/// `POST /api/mfa/webauthn/register/start`: starts registering a security key or passkey.
#[utoipa::path(
    post,
    path = "/api/mfa/webauthn/register/start",
    operation_id = "webauthn_register_start",
    tag = "webauthn",
    security(("bearer" = []), ("session_cookie" = [])),
    request_body = RegisterStart,
    responses(
        (status = 200, description = "The creation options", body = Ceremony),
        (status = 400, description = "The body is not the JSON described (`invalid_request`)", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "Guests cannot enrol; or not a first-party session (an API token, a third-party client's token)", body = ErrorBody),
        (status = 501, description = "WebAuthn is off: public_url is an IP address (`webauthn_unavailable`)", body = ErrorBody),
    )
)]
pub async fn register_start(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(_body): ApiJson<RegisterStart>,
) -> ApiResult<Json<Ceremony>> {
    crate::api::mfa::refuse_guests(&caller)?;
    crate::authz::require_account_security(&state, &caller)?;
    let rp = relying_party(&state)?;
    let handle = user_handle(caller.user.id.as_str())
        .ok_or_else(|| ApiError::internal("user id is not 128-bit hex"))?;
    let existing: Vec<_> = passkeys_of(&state, &caller.user.id)
        .await?
        .iter()
        .map(|p| p.cred_id().clone())
        .collect();
    let (options, registration) = rp
        .start_passkey_registration(
            handle,
            &caller.user.email,
            &caller.user.name,
            Some(existing),
        )
        .map_err(ApiError::internal)?;
    let ceremony = save_ceremony(
        &state,
        Some(caller.user.id.as_str()),
        CeremonyKind::Register,
        &registration,
    )
    .await?;
    let options = prefer_resident_key(serde_json::to_value(options).map_err(ApiError::internal)?);
    Ok(Json(Ceremony { ceremony, options }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RegisterFinish {
    pub ceremony: String,
    /// A label for the key; "Security key" when absent.
    #[serde(default)]
    pub name: Option<String>,
    /// The browser's `PublicKeyCredential` from `navigator.credentials.create`, as JSON.
    #[schema(value_type = Object)]
    pub credential: RegisterPublicKeyCredential,
}

/// `POST /api/mfa/webauthn/register/finish`: checks the authenticator's answer and stores the
/// new key.
#[utoipa::path(
    post,
    path = "/api/mfa/webauthn/register/finish",
    operation_id = "webauthn_register_finish",
    tag = "webauthn",
    security(("bearer" = []), ("session_cookie" = [])),
    request_body = RegisterFinish,
    responses(
        (status = 201, description = "Registered", body = Registered),
        (status = 400, description = "Unknown or expired ceremony, or the authenticator's answer was refused (`webauthn_failed`)", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "Not a first-party session (an API token, a third-party client's token)", body = ErrorBody),
        (status = 501, description = "WebAuthn is off", body = ErrorBody),
    )
)]
pub async fn register_finish(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    ApiJson(body): ApiJson<RegisterFinish>,
) -> ApiResult<(StatusCode, Json<Registered>)> {
    crate::api::mfa::refuse_guests(&caller)?;
    crate::authz::require_account_security(&state, &caller)?;
    let rp = relying_party(&state)?;
    let ceremony = take_ceremony(&state, &body.ceremony, Some(CeremonyKind::Register)).await?;
    if ceremony.user_id.as_ref() != Some(&caller.user.id) {
        return Err(ApiError::bad_request(
            "this ceremony belongs to someone else",
        ));
    }
    let registration: PasskeyRegistration =
        serde_json::from_str(&ceremony.state).map_err(ApiError::internal)?;
    let passkey = rp
        .finish_passkey_registration(&body.credential, &registration)
        .map_err(webauthn_failed)?;
    let name = body
        .name
        .map(|n| n.trim().chars().take(64).collect::<String>())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "Security key".into());
    let record = WebauthnCredential {
        credential_id: passkey_key(&passkey),
        user_id: caller.user.id.clone(),
        name: name.clone(),
        passkey: serde_json::to_string(&passkey).map_err(ApiError::internal)?,
        created_at: state.clock.now(),
        last_used_at: None,
    };
    state.store.insert_webauthn_credential(&record).await?;
    audit::record(
        &state,
        Audit::new("mfa.webauthn_registered", Outcome::Ok)
            .actor(caller.user.id.as_str())
            .ip(ip.as_deref())
            .target(&record.credential_id)
            .detail(json!({"name": name})),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(Registered {
            id: record.credential_id,
            name,
        }),
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AuthenticateStart {
    /// `signin` (passwordless, discoverable), `mfa` (second factor of a pending sign-in) or
    /// `step-up` (the current session).
    pub mode: String,
}

/// `POST /api/mfa/webauthn/authenticate/start`: starts a passwordless sign-in (`signin`), the
/// second factor of a pending sign-in (`mfa`, with the pages' MFA challenge cookie) or a
/// step-up of the current session (`step-up`, with a bearer or session cookie).
#[utoipa::path(
    post,
    path = "/api/mfa/webauthn/authenticate/start",
    operation_id = "webauthn_authenticate_start",
    tag = "webauthn",
    security((), ("bearer" = []), ("session_cookie" = [])),
    request_body = AuthenticateStart,
    responses(
        (status = 200, description = "The request options", body = Ceremony),
        (status = 400, description = "Unknown mode, or no key registered", body = ErrorBody),
        (status = 401, description = "No pending sign-in (`mfa`) or no valid credential (`step-up`)", body = ErrorBody),
        (status = 429, description = "Too many passkey sign-ins started from this address (`rate_limits.passkey_starts_per_ip`)", body = ErrorBody),
        (status = 501, description = "WebAuthn is off", body = ErrorBody),
    )
)]
pub async fn authenticate_start(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientIp(ip): ClientIp,
    headers: axum::http::HeaderMap,
    ApiJson(body): ApiJson<AuthenticateStart>,
) -> ApiResult<Json<Ceremony>> {
    let rp = relying_party(&state)?;
    let started = match CeremonyKind::parse(&body.mode) {
        Some(CeremonyKind::Signin) => {
            // Anyone may start one, and each writes a ceremony row: limited per address.
            let limits = state.config.rate_limits;
            state
                .limiter
                .hit(
                    "passkey_start_ip",
                    ip.as_deref().unwrap_or_default(),
                    limits.passkey_starts_per_ip,
                    limits.window_secs,
                    state.clock.now(),
                )
                .await?;
            let (options, auth) = rp
                .start_discoverable_authentication()
                .map_err(ApiError::internal)?;
            Started {
                ceremony: save_ceremony(&state, None, CeremonyKind::Signin, &auth).await?,
                options: serde_json::to_value(options).map_err(ApiError::internal)?,
            }
        }
        Some(CeremonyKind::Mfa) => {
            let (challenge, user) = pending(&state, &jar).await?.ok_or_else(|| {
                ApiError::unauthorized("no sign-in is waiting for a second factor")
            })?;
            start_for_user(&state, &user.id, CeremonyKind::Mfa, &challenge.token_hash).await?
        }
        Some(CeremonyKind::StepUp) => {
            let target = crate::dpop::Target::own(&state, &axum::http::Method::POST, PATH_START);
            let caller = crate::auth::caller_from_headers(&state, &headers, &target).await?;
            start_for_user(&state, &caller.user.id, CeremonyKind::StepUp, &()).await?
        }
        _ => {
            return Err(ApiError::bad_request(format!(
                "mode {:?}: expected signin, mfa or step-up",
                body.mode
            )))
        }
    };
    Ok(Json(Ceremony {
        ceremony: started.ceremony,
        options: started.options,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AuthenticateFinish {
    pub ceremony: String,
    /// The browser's `PublicKeyCredential` from `navigator.credentials.get`, as JSON.
    #[schema(value_type = Object)]
    pub credential: PublicKeyCredential,
    /// `signin`: a local path to go to afterwards.
    #[serde(default)]
    pub return_to: Option<String>,
}

/// `POST /api/mfa/webauthn/authenticate/finish`: checks the authenticator's answer; `signin`
/// and `mfa` set the session cookie.
#[utoipa::path(
    post,
    path = "/api/mfa/webauthn/authenticate/finish",
    operation_id = "webauthn_authenticate_finish",
    tag = "webauthn",
    security((), ("bearer" = []), ("session_cookie" = [])),
    request_body = AuthenticateFinish,
    responses(
        (status = 200, description = "Signed in (`redirect`) or verified (`step-up`)", body = Authenticated),
        (status = 400, description = "Unknown or expired ceremony, or the answer was refused (`webauthn_failed`)", body = ErrorBody),
        (status = 401, description = "The user is gone or disabled, or no valid credential (`step-up`)", body = ErrorBody),
        (status = 409, description = "The pending sign-in expired or was completed", body = ErrorBody),
        (status = 501, description = "WebAuthn is off", body = ErrorBody),
    )
)]
pub async fn authenticate_finish(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: axum::http::HeaderMap,
    ClientIp(ip): ClientIp,
    UserAgent(user_agent): UserAgent,
    ApiJson(body): ApiJson<AuthenticateFinish>,
) -> ApiResult<Response> {
    let rp = relying_party(&state)?;
    let now = state.clock.now();
    let ceremony = take_ceremony(&state, &body.ceremony, None).await?;
    match CeremonyKind::parse(&ceremony.kind) {
        Some(CeremonyKind::Signin) => {
            let auth: DiscoverableAuthentication =
                serde_json::from_str(&ceremony.state).map_err(ApiError::internal)?;
            let (handle, cred_id) = rp
                .identify_discoverable_authentication(&body.credential)
                .map_err(webauthn_failed)?;
            let stored = state
                .store
                .webauthn_credential(&credential_key(cred_id))
                .await?
                .filter(|c| c.user_id == user_id_of(handle))
                .ok_or_else(|| webauthn_failed("unknown credential"))?;
            let passkey: Passkey =
                serde_json::from_str(&stored.passkey).map_err(ApiError::internal)?;
            let result = rp
                .finish_discoverable_authentication(
                    &body.credential,
                    auth,
                    &[DiscoverableKey::from(&passkey)],
                )
                .map_err(webauthn_failed)?;
            record_use(&state, passkey, &result).await?;
            let user = enabled_user(&state, &stored.user_id).await?;
            // A domain routed to an IdP signs in there, passkey or not (SPEC §2.13).
            if let Some(idp) = crate::idp::required_idp(&state, &user.email, Some(&user.id)).await?
            {
                audit::record(
                    &state,
                    Audit::new("signin", Outcome::Denied)
                        .ip(ip.as_deref())
                        .target(user.id.as_str())
                        .detail(serde_json::json!({
                            "email": user.email, "method": "passkey",
                            "reason": "routed_to_idp", "idp": idp.name,
                        })),
                )
                .await;
                return Err(ApiError::forbidden(format!(
                    "accounts at this email domain sign in with {}, not with a passkey here",
                    idp.name
                )));
            }
            let jar = finish_sign_in(
                &state,
                jar,
                &user,
                SignedIn {
                    amr: vec![Amr::Hwk.into(), Amr::Mfa.into()],
                    ip,
                    user_agent,
                    method: "passkey",
                },
            )
            .await?;
            let to = safe_return_to(body.return_to.as_deref());
            Ok((jar, Json(Authenticated::redirect(to))).into_response())
        }
        Some(CeremonyKind::Mfa) => {
            let user_id = ceremony
                .user_id
                .clone()
                .unwrap_or_else(|| UserId::from(String::new()));
            let challenge_hash: String =
                finish_taken(&state, &user_id, &ceremony, &body.credential).await?;
            let challenge = state
                .store
                .consume_mfa_challenge(&challenge_hash, now)
                .await?
                .ok_or_else(|| {
                    ApiError::conflict(
                        "this sign-in expired or was already completed; sign in again",
                    )
                })?;
            let user = enabled_user(&state, &user_id).await?;
            audit::record(
                &state,
                Audit::new("mfa.verify", Outcome::Ok)
                    .actor(user.id.as_str())
                    .ip(ip.as_deref())
                    .detail(json!({"purpose": "signin", "method": "webauthn"})),
            )
            .await;
            let jar = clear_challenge(jar);
            let jar = finish_sign_in(
                &state,
                jar,
                &user,
                SignedIn {
                    amr: amr_with(&challenge.amr, Amr::Hwk),
                    ip,
                    user_agent,
                    method: "password+webauthn",
                },
            )
            .await?;
            Ok((jar, Json(Authenticated::redirect(challenge.return_to))).into_response())
        }
        Some(CeremonyKind::StepUp) => {
            let target = crate::dpop::Target::own(&state, &axum::http::Method::POST, PATH_FINISH);
            let caller = crate::auth::caller_from_headers(&state, &headers, &target).await?;
            finish_taken::<()>(&state, &caller.user.id, &ceremony, &body.credential).await?;
            if let Some(session) = &caller.session {
                state
                    .store
                    .mark_session_mfa(
                        &session.id,
                        &amr_with(&session.amr, Amr::Hwk),
                        state.clock.now(),
                    )
                    .await?;
            }
            Ok(Json(Authenticated {
                redirect: None,
                verified: Some(true),
                method: Some("webauthn"),
            })
            .into_response())
        }
        _ => Err(ApiError::bad_request("unknown ceremony")),
    }
}

async fn enabled_user(state: &AppState, user_id: &UserId) -> ApiResult<User> {
    match state.store.user_by_id(user_id).await? {
        Some(u) if !u.disabled => Ok(u),
        _ => Err(ApiError::unauthorized("no such user, or user disabled")),
    }
}

/// `GET /api/mfa/webauthn/credentials`: the caller's security keys.
#[utoipa::path(
    get,
    path = "/api/mfa/webauthn/credentials",
    operation_id = "webauthn_list",
    tag = "webauthn",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The caller's security keys", body = CredentialList),
        (status = 401, description = "No valid credential", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<CredentialList>> {
    let creds = state
        .store
        .webauthn_credentials_of_user(&caller.user.id)
        .await?;
    let credentials = creds
        .iter()
        .map(|c| CredentialInfo {
            id: c.credential_id.clone(),
            name: c.name.clone(),
            created_at: crate::time::rfc3339(c.created_at),
            last_used_at: c.last_used_at.map(crate::time::rfc3339),
        })
        .collect();
    Ok(Json(CredentialList { credentials }))
}

/// `DELETE /api/mfa/webauthn/credentials/{id}`: removes one of the caller's security keys.
#[utoipa::path(
    delete,
    path = "/api/mfa/webauthn/credentials/{id}",
    operation_id = "webauthn_remove",
    tag = "webauthn",
    security(("bearer" = []), ("session_cookie" = [])),
    params(("id" = String, Path, description = "Credential id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "Not a first-party session (an API token, a third-party client's token)", body = ErrorBody),
        (status = 404, description = "No such security key of the caller's", body = ErrorBody),
    )
)]
pub async fn remove(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    crate::ops::mfa::remove_security_key(&state, &caller, ip.as_deref(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
