//! `/api/mfa/webauthn/{register,authenticate}/{start,finish}` and credential management.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use serde_json::{json, Value};
use ward_core::model::{User, WebauthnCeremony, WebauthnCredential};
use ward_core::random::random_id;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, DiscoverableKey, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Webauthn,
};

use crate::audit::{self, Audit};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ClientIp, UserAgent};
use crate::mfa::amr_with;
use crate::pages::login::{finish_sign_in, safe_return_to, SignedIn};
use crate::state::AppState;
use crate::webauthn::{credential_key, passkey_key, prefer_resident_key, user_handle, user_id_of};

const CEREMONY_SECS: i64 = 300;

fn relying_party(state: &AppState) -> ApiResult<&Webauthn> {
    state.webauthn.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "webauthn_unavailable",
            "WebAuthn is off on this server: public_url must use a host name, not an IP address",
        )
    })
}

fn webauthn_failed(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "webauthn_failed",
        format!("the authenticator response was not accepted: {e}"),
    )
}

async fn save_ceremony(
    state: &AppState,
    user_id: Option<&str>,
    kind: &str,
    data: &impl serde::Serialize,
) -> ApiResult<String> {
    let now = state.clock.now();
    let id = random_id(state.random.as_ref());
    state
        .store
        .insert_webauthn_ceremony(&WebauthnCeremony {
            id: id.clone(),
            user_id: user_id.map(str::to_string),
            kind: kind.to_string(),
            state: serde_json::to_string(data).map_err(ApiError::internal)?,
            created_at: now,
            expires_at: now.plus_secs(CEREMONY_SECS),
        })
        .await?;
    Ok(id)
}

async fn take_ceremony(state: &AppState, id: &str, kind: &str) -> ApiResult<WebauthnCeremony> {
    state
        .store
        .take_webauthn_ceremony(id, state.clock.now())
        .await?
        .filter(|c| c.kind == kind)
        .ok_or_else(|| ApiError::bad_request("unknown, used or expired ceremony: start again"))
}

async fn passkeys_of(state: &AppState, user_id: &str) -> ApiResult<Vec<Passkey>> {
    state
        .store
        .webauthn_credentials_of_user(user_id)
        .await?
        .iter()
        .map(|c| serde_json::from_str(&c.passkey).map_err(ApiError::internal))
        .collect()
}

#[derive(Debug, Deserialize)]
pub struct RegisterStart {
    #[serde(default)]
    pub name: Option<String>,
}

pub async fn register_start(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(_body): ApiJson<RegisterStart>,
) -> ApiResult<Json<Value>> {
    crate::api::mfa::refuse_guests(&caller)?;
    let rp = relying_party(&state)?;
    let handle = user_handle(&caller.user.id)
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
    let ceremony = save_ceremony(&state, Some(&caller.user.id), "register", &registration).await?;
    let options = prefer_resident_key(serde_json::to_value(options).map_err(ApiError::internal)?);
    Ok(Json(json!({ "ceremony": ceremony, "options": options })))
}

#[derive(Debug, Deserialize)]
pub struct RegisterFinish {
    pub ceremony: String,
    #[serde(default)]
    pub name: Option<String>,
    pub credential: RegisterPublicKeyCredential,
}

pub async fn register_finish(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    ApiJson(body): ApiJson<RegisterFinish>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let rp = relying_party(&state)?;
    let ceremony = take_ceremony(&state, &body.ceremony, "register").await?;
    if ceremony.user_id.as_deref() != Some(caller.user.id.as_str()) {
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
        Audit::new("mfa.webauthn_registered", "ok")
            .actor(&caller.user.id)
            .ip(ip.as_deref())
            .target(&record.credential_id)
            .detail(json!({"name": name})),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": record.credential_id, "name": name })),
    ))
}

#[derive(Debug, Deserialize)]
pub struct AuthenticateStart {
    /// `signin` (passwordless, discoverable), `mfa` (second factor of a pending sign-in) or
    /// `step-up` (the current session).
    pub mode: String,
}

pub async fn authenticate_start(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: axum::http::HeaderMap,
    ApiJson(body): ApiJson<AuthenticateStart>,
) -> ApiResult<Json<Value>> {
    let rp = relying_party(&state)?;
    let (ceremony, options) = match body.mode.as_str() {
        "signin" => {
            let (options, auth) = rp
                .start_discoverable_authentication()
                .map_err(ApiError::internal)?;
            (
                save_ceremony(&state, None, "signin", &auth).await?,
                serde_json::to_value(options),
            )
        }
        "mfa" => {
            let (challenge, user) = crate::pages::mfa_login::pending(&state, &jar)
                .await?
                .ok_or_else(|| {
                    ApiError::unauthorized("no sign-in is waiting for a second factor")
                })?;
            let passkeys = passkeys_of(&state, &user.id).await?;
            if passkeys.is_empty() {
                return Err(ApiError::bad_request(
                    "no security key is registered for this account",
                ));
            }
            let (options, auth) = rp
                .start_passkey_authentication(&passkeys)
                .map_err(ApiError::internal)?;
            let id =
                save_ceremony(&state, Some(&user.id), "mfa", &(auth, challenge.token_hash)).await?;
            (id, serde_json::to_value(options))
        }
        "step-up" => {
            let caller = crate::auth::caller_from_headers(&state, &headers).await?;
            let passkeys = passkeys_of(&state, &caller.user.id).await?;
            if passkeys.is_empty() {
                return Err(ApiError::bad_request(
                    "no security key is registered for this account",
                ));
            }
            let (options, auth) = rp
                .start_passkey_authentication(&passkeys)
                .map_err(ApiError::internal)?;
            (
                save_ceremony(&state, Some(&caller.user.id), "step-up", &auth).await?,
                serde_json::to_value(options),
            )
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "mode {other:?}: expected signin, mfa or step-up"
            )))
        }
    };
    Ok(Json(
        json!({ "ceremony": ceremony, "options": options.map_err(ApiError::internal)? }),
    ))
}

#[derive(Debug, Deserialize)]
pub struct AuthenticateFinish {
    pub ceremony: String,
    pub credential: PublicKeyCredential,
    #[serde(default)]
    pub return_to: Option<String>,
}

/// Records the use (signature counter) of the credential that signed.
async fn record_use(
    state: &AppState,
    mut passkey: Passkey,
    result: &webauthn_rs::prelude::AuthenticationResult,
) -> ApiResult<()> {
    passkey.update_credential(result);
    let json = serde_json::to_string(&passkey).map_err(ApiError::internal)?;
    state
        .store
        .update_webauthn_credential(&passkey_key(&passkey), &json, state.clock.now())
        .await?;
    Ok(())
}

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
    let ceremony = state
        .store
        .take_webauthn_ceremony(&body.ceremony, now)
        .await?
        .ok_or_else(|| ApiError::bad_request("unknown, used or expired ceremony: start again"))?;
    match ceremony.kind.as_str() {
        "signin" => {
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
            let jar = finish_sign_in(
                &state,
                jar,
                &user,
                SignedIn {
                    amr: vec!["hwk".into(), "mfa".into()],
                    ip,
                    user_agent,
                    method: "passkey",
                },
            )
            .await?;
            let to = safe_return_to(body.return_to.as_deref());
            Ok((jar, Json(json!({ "redirect": to }))).into_response())
        }
        "mfa" => {
            let (auth, challenge_hash): (PasskeyAuthentication, String) =
                serde_json::from_str(&ceremony.state).map_err(ApiError::internal)?;
            let user_id = ceremony.user_id.clone().unwrap_or_default();
            let passkeys = passkeys_of(&state, &user_id).await?;
            let result = rp
                .finish_passkey_authentication(&body.credential, &auth)
                .map_err(|e| {
                    state.mfa_guard.failed(&user_id, now);
                    webauthn_failed(e)
                })?;
            if let Some(pk) = passkeys
                .into_iter()
                .find(|p| p.cred_id() == result.cred_id())
            {
                record_use(&state, pk, &result).await?;
            }
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
                Audit::new("mfa.verify", "ok")
                    .actor(&user.id)
                    .ip(ip.as_deref())
                    .detail(json!({"purpose": "signin", "method": "webauthn"})),
            )
            .await;
            let jar = crate::pages::mfa_login::clear_challenge(jar);
            let jar = finish_sign_in(
                &state,
                jar,
                &user,
                SignedIn {
                    amr: amr_with(&challenge.amr, "hwk"),
                    ip,
                    user_agent,
                    method: "password+webauthn",
                },
            )
            .await?;
            Ok((jar, Json(json!({ "redirect": challenge.return_to }))).into_response())
        }
        "step-up" => {
            let caller = crate::auth::caller_from_headers(&state, &headers).await?;
            if ceremony.user_id.as_deref() != Some(caller.user.id.as_str()) {
                return Err(ApiError::bad_request(
                    "this ceremony belongs to someone else",
                ));
            }
            let auth: PasskeyAuthentication =
                serde_json::from_str(&ceremony.state).map_err(ApiError::internal)?;
            let result = rp
                .finish_passkey_authentication(&body.credential, &auth)
                .map_err(webauthn_failed)?;
            if let Some(pk) = passkeys_of(&state, &caller.user.id)
                .await?
                .into_iter()
                .find(|p| p.cred_id() == result.cred_id())
            {
                record_use(&state, pk, &result).await?;
            }
            if let Some(session) = &caller.session {
                state
                    .store
                    .mark_session_mfa(&session.id, &amr_with(&session.amr, "hwk"))
                    .await?;
            }
            Ok(Json(json!({ "verified": true, "method": "webauthn" })).into_response())
        }
        _ => Err(ApiError::bad_request("unknown ceremony")),
    }
}

async fn enabled_user(state: &AppState, user_id: &str) -> ApiResult<User> {
    match state.store.user_by_id(user_id).await? {
        Some(u) if !u.disabled => Ok(u),
        _ => Err(ApiError::unauthorized("no such user, or user disabled")),
    }
}

pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let creds = state
        .store
        .webauthn_credentials_of_user(&caller.user.id)
        .await?;
    let creds: Vec<Value> = creds
        .iter()
        .map(|c| {
            json!({
                "id": c.credential_id,
                "name": c.name,
                "created_at": crate::time::rfc3339(c.created_at),
                "last_used_at": c.last_used_at.map(crate::time::rfc3339),
            })
        })
        .collect();
    Ok(Json(json!({ "credentials": creds })))
}

pub async fn remove(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if !state
        .store
        .delete_webauthn_credential(&caller.user.id, &id)
        .await?
    {
        return Err(ApiError::not_found("no such security key of yours"));
    }
    audit::record(
        &state,
        Audit::new("mfa.webauthn_removed", "ok")
            .actor(&caller.user.id)
            .ip(ip.as_deref())
            .target(&id),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
