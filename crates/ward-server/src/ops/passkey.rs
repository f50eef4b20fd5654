//! WebAuthn authentication ceremonies (webauthn-rs), the one place they are started and
//! finished: sign-in's second factor and step-up (`api::webauthn`), locks (`ops::locks`) and the
//! approve page (`ops::stepup`). A ceremony's state is stored server-side (table
//! `webauthn_ceremonies`, single use, 5 minutes), so any replica can finish what another
//! started, and it is bound to the user it was started for and to what it is for (`bound`): an
//! assertion made for one purpose, one user or one ceremony is refused for any other.

use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use ward_core::UserId;
use webauthn_rs::prelude::{
    AuthenticationResult, Passkey, PasskeyAuthentication, PublicKeyCredential, Webauthn,
};

use ward_core::model::{CeremonyKind, WebauthnCeremony};
use ward_core::random::random_id;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::webauthn::passkey_key;

/// How long a started ceremony may be finished.
pub const CEREMONY_SECS: i64 = 300;

/// A started ceremony: `options` for the browser's WebAuthn API (`{"publicKey": …}`), and the
/// id to finish it with.
#[derive(Debug)]
pub struct Started {
    pub ceremony: String,
    pub options: Value,
}

/// The relying party, or 501 when WebAuthn is off (`public_url` is an IP address).
pub fn relying_party(state: &AppState) -> ApiResult<&Webauthn> {
    state.webauthn.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "webauthn_unavailable",
            "WebAuthn is off on this server: public_url must use a host name, not an IP address",
        )
    })
}

/// The authenticator's answer was refused (400 `webauthn_failed`).
pub fn failed(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "webauthn_failed",
        format!("the authenticator response was not accepted: {e}"),
    )
}

fn gone() -> ApiError {
    ApiError::bad_request("unknown, used or expired ceremony: start again")
}

/// Stores a ceremony's state; returns its id.
pub async fn save(
    state: &AppState,
    user_id: Option<&str>,
    kind: CeremonyKind,
    data: &impl Serialize,
) -> ApiResult<String> {
    let now = state.clock.now();
    let id = random_id(state.random.as_ref());
    state
        .store
        .insert_webauthn_ceremony(&WebauthnCeremony {
            id: id.clone(),
            user_id: user_id.map(UserId::from),
            kind: kind.as_str().to_string(),
            state: serde_json::to_string(data).map_err(ApiError::internal)?,
            created_at: now,
            expires_at: now.plus_secs(CEREMONY_SECS),
        })
        .await?;
    Ok(id)
}

/// Takes (uses up) a ceremony; `kind`, when given, must match.
pub async fn take(
    state: &AppState,
    id: &str,
    kind: Option<CeremonyKind>,
) -> ApiResult<WebauthnCeremony> {
    state
        .store
        .take_webauthn_ceremony(id, state.clock.now())
        .await?
        .filter(|c| kind.is_none_or(|k| c.kind == k.as_str()))
        .ok_or_else(gone)
}

/// The user's registered credentials.
pub async fn passkeys_of(state: &AppState, user_id: &UserId) -> ApiResult<Vec<Passkey>> {
    state
        .store
        .webauthn_credentials_of_user(user_id)
        .await?
        .iter()
        .map(|c| serde_json::from_str(&c.passkey).map_err(ApiError::internal))
        .collect()
}

/// Records the use (signature counter) of the credential that signed.
pub async fn record_use(
    state: &AppState,
    mut passkey: Passkey,
    result: &AuthenticationResult,
) -> ApiResult<()> {
    passkey.update_credential(result);
    let json = serde_json::to_string(&passkey).map_err(ApiError::internal)?;
    state
        .store
        .update_webauthn_credential(&passkey_key(&passkey), &json, state.clock.now())
        .await?;
    Ok(())
}

/// Starts an authentication ceremony with `user_id`'s registered credentials, of `kind`,
/// bound to `bound` (what it is for). 400 when the user has no security key.
pub async fn start_for_user(
    state: &AppState,
    user_id: &UserId,
    kind: CeremonyKind,
    bound: &impl Serialize,
) -> ApiResult<Started> {
    let rp = relying_party(state)?;
    let passkeys = passkeys_of(state, user_id).await?;
    if passkeys.is_empty() {
        return Err(ApiError::bad_request(
            "no security key or passkey is registered for this account",
        ));
    }
    let (options, auth) = rp
        .start_passkey_authentication(&passkeys)
        .map_err(ApiError::internal)?;
    let ceremony = save(state, Some(user_id.as_str()), kind, &(auth, bound)).await?;
    Ok(Started {
        ceremony,
        options: serde_json::to_value(options).map_err(ApiError::internal)?,
    })
}

/// Finishes a ceremony of `kind` started by [`start_for_user`] for `user_id`: uses it up, checks
/// the assertion against the credentials offered at the start (challenge, origin, signature,
/// counter) and that the credential is still registered, and records its use. Returns what the
/// ceremony was bound to; the caller compares it with what is being done.
pub async fn finish_for_user<B: DeserializeOwned>(
    state: &AppState,
    user_id: &UserId,
    kind: CeremonyKind,
    ceremony: &str,
    credential: &PublicKeyCredential,
) -> ApiResult<B> {
    let ceremony = take(state, ceremony, Some(kind)).await?;
    finish_taken(state, user_id, &ceremony, credential).await
}

/// [`finish_for_user`] for a ceremony already taken (by a caller that dispatches on its kind).
pub async fn finish_taken<B: DeserializeOwned>(
    state: &AppState,
    user_id: &UserId,
    ceremony: &WebauthnCeremony,
    credential: &PublicKeyCredential,
) -> ApiResult<B> {
    let rp = relying_party(state)?;
    if ceremony.user_id.as_ref() != Some(user_id) {
        return Err(ApiError::bad_request(
            "this ceremony belongs to someone else",
        ));
    }
    // A state that does not parse is one started before an upgrade: start again.
    let (auth, bound): (PasskeyAuthentication, B) =
        serde_json::from_str(&ceremony.state).map_err(|_| gone())?;
    let result = rp
        .finish_passkey_authentication(credential, &auth)
        .map_err(failed)?;
    let passkey = passkeys_of(state, user_id)
        .await?
        .into_iter()
        .find(|p| p.cred_id() == result.cred_id())
        .ok_or_else(|| failed("this security key was removed from the account"))?;
    record_use(state, passkey, &result).await?;
    Ok(bound)
}
