//! Short-lived bearers for the tools of a DPoP-bound `ward-cli` session (decision 153): the
//! git, kubectl and docker credential helpers and `ward env` hand a token to programs that
//! cannot make proofs. A token copied out of the CLI's credential file cannot get one: the
//! request must prove the session's key.

use axum::http::{header, HeaderMap, StatusCode};
use ward_core::audit::Outcome;
use ward_core::authority::CredentialKind;
use ward_proto::{TokenResponse, CLI_CLIENT_ID};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The longest life of such a bearer: long enough for one `git push` or `kubectl` call (each
/// asks its helper again when it expires), short enough that a leaked one is soon useless.
pub const TOOL_TOKEN_TTL_SECS: u64 = 300;

/// Issues the bearer: same user, session and scope, no `cnf`, no refresh token; audited as
/// `token.exchanged`.
///
/// # Errors
/// 403 unless the caller is a `ward-cli` session that presented a bound token with a proof.
pub async fn issue(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    ip: Option<String>,
) -> ApiResult<TokenResponse> {
    // `authenticate_presented` accepts the `DPoP` scheme only for a bound token with a valid,
    // unused proof of its key: the scheme is the proof that this caller holds the key.
    let proved = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("dpop"));
    let session = caller.session.as_ref().filter(|_| {
        proved
            && caller.credential == CredentialKind::FirstPartyToken
            && caller.client_id == CLI_CLIENT_ID
    });
    let Some(session) = session else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "tool tokens are for DPoP-bound ward-cli sessions: send Authorization: DPoP with a proof",
        ));
    };
    let expires_in = TOOL_TOKEN_TTL_SECS.min(crate::issue::access_ttl(state, Some(session)));
    let access_token = crate::issue::access_token(
        state,
        &caller.user,
        Some(session),
        crate::issue::AccessGrant {
            ttl: Some(expires_in),
            ..crate::issue::AccessGrant::new(CLI_CLIENT_ID, &caller.scope, None)
        },
    )
    .await?;
    crate::audit::record(
        state,
        crate::audit::Audit::new("token.exchanged", Outcome::Ok)
            .actor(caller.user.id.as_str())
            .ip(ip.as_deref())
            .target(session.id.as_str())
            .detail(serde_json::json!({"scope": caller.scope, "expires_in": expires_in})),
    )
    .await;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in,
        refresh_token: None,
        scope: Some(caller.scope.clone()),
        id_token: None,
        issued_token_type: None,
    })
}
