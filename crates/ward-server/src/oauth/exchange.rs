//! Token exchange (RFC 8693) for `ward-cli` only: a DPoP-bound session trades a proof of its
//! key for a short-lived *unbound* access token, for the tools that cannot make proofs — git,
//! kubectl and docker credential helpers and `ward env` (decision 153). A token copied out of
//! the CLI's credential file cannot do this: the exchange needs the key.

use ward_core::dpop::{check_binding, VerifiedProof};
use ward_core::scope::ScopeSet;
use ward_core::{OAuthError, OAuthErrorCode};
use ward_proto::{TokenResponse, ACCESS_TOKEN_TYPE, CLI_CLIENT_ID};

use crate::error::{ApiError, ApiResult};
use crate::extract::FormParams;
use crate::state::AppState;

/// The longest life of an exchanged bearer: long enough for one `git push` or `kubectl` call
/// (kubectl and git ask again when it expires), short enough that a leaked one is soon useless.
pub const EXCHANGED_TTL_SECS: u64 = 300;

/// `grant_type=urn:ietf:params:oauth:grant-type:token-exchange`.
///
/// # Errors
/// `invalid_request` for a malformed request, `invalid_dpop_proof` without a proof of the
/// subject token's key, `invalid_grant` for a subject token that is not a live, bound `ward-cli`
/// token, `invalid_scope` for a scope beyond the subject token's.
pub async fn exchange(
    state: &AppState,
    form: &FormParams,
    proof: Option<&VerifiedProof>,
    ip: Option<String>,
) -> ApiResult<TokenResponse> {
    let subject = form.require("subject_token")?;
    if form.require("subject_token_type")? != ACCESS_TOKEN_TYPE {
        return Err(OAuthError::invalid_request(format!(
            "subject_token_type must be {ACCESS_TOKEN_TYPE}"
        ))
        .into());
    }
    if form
        .get("requested_token_type")
        .is_some_and(|t| t != ACCESS_TOKEN_TYPE)
    {
        return Err(OAuthError::invalid_request(format!(
            "requested_token_type must be {ACCESS_TOKEN_TYPE}"
        ))
        .into());
    }
    let proof = proof.ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid_dpop_proof",
            "token exchange needs a DPoP proof made with the subject token's key",
        )
    })?;
    let now = state.clock.now();
    let claims = {
        let keys = state.keys().await;
        crate::jwt::verify_access_token(&keys, subject, &state.issuer, now)
            .map_err(|_| OAuthError::invalid_grant("subject_token is not a valid access token"))?
    };
    if claims.client_id != CLI_CLIENT_ID {
        return Err(OAuthError::invalid_grant("subject_token was not issued to ward-cli").into());
    }
    let Some(cnf) = &claims.cnf else {
        return Err(OAuthError::invalid_grant(
            "subject_token is not DPoP-bound: it can be used as it is",
        )
        .into());
    };
    if check_binding(&cnf.jkt, proof).is_err() {
        return Err(OAuthError::invalid_grant(
            "subject_token is bound to another key than the DPoP proof's",
        )
        .into());
    }
    let sid = claims
        .sid
        .as_deref()
        .ok_or_else(|| OAuthError::invalid_grant("subject_token has no session"))?;
    let (session, user) = crate::auth::live_session(state, sid).await.map_err(|e| {
        if e.status.is_server_error() {
            e
        } else {
            OAuthError::invalid_grant(e.description).into()
        }
    })?;
    let granted = ScopeSet::parse(&claims.scope);
    let scope = match form.get("scope") {
        Some(requested) => {
            let requested = ScopeSet::parse(requested);
            if let Some(bad) = requested.first_rejected(|s| granted.contains(s)) {
                return Err(OAuthError::new(
                    OAuthErrorCode::InvalidScope,
                    format!("scope {bad} is not in the subject token"),
                )
                .into());
            }
            requested.to_string()
        }
        None => granted.to_string(),
    };
    let expires_in = EXCHANGED_TTL_SECS.min(crate::issue::access_ttl(state, Some(&session)));
    let access_token = crate::issue::access_token_for(
        state,
        &user,
        Some(&session),
        CLI_CLIENT_ID,
        &scope,
        None,
        expires_in,
    )
    .await?;
    crate::audit::record(
        state,
        crate::audit::Audit::new("token.exchanged", "ok")
            .actor(&user.id)
            .ip(ip.as_deref())
            .target(&session.id)
            .detail(serde_json::json!({"scope": scope, "expires_in": expires_in})),
    )
    .await;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in,
        refresh_token: None,
        scope: Some(scope),
        id_token: None,
        issued_token_type: Some(ACCESS_TOKEN_TYPE.into()),
    })
}
