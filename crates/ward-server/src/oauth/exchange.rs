//! Token exchange at `/oauth/token` (RFC 8693, SPEC §2.15), two kinds:
//!
//! - **Workload identity**: an external ID token (`subject_token_type` `…:id_token` or `…:jwt`)
//!   that a `[[trust]]` entry accepts ([`crate::trust`]) becomes an access token of the entry's
//!   service account, living at most an hour, with no refresh token. The trust entry is the
//!   policy: no client authentication is needed (`client_id=ward-cli` may be named).
//! - **Delegation**: a user's access token (`…:access_token`) and an authenticated client whose
//!   `grant_types` lists the token-exchange grant (the actor) give a token with
//!   `act: {sub: <client>}`, scoped to at most what the user's token held (and the client
//!   declares), on the user's session: it never outlives it and dies with it.
//!
//! Every refusal is `invalid_grant` (or `invalid_scope`, `invalid_request`) with a description
//! naming what failed, and an audit event `token.exchanged` with outcome `failed`.

use axum::http::HeaderMap;
use serde_json::json;
use ward_core::audit::Outcome;
use ward_core::dpop::VerifiedProof;
use ward_core::exchange::{
    delegated_scope, ACCESS_TOKEN_TYPE, ID_TOKEN_TYPE, JWT_TOKEN_TYPE, MAX_WORKLOAD_TTL,
    TOKEN_EXCHANGE_GRANT,
};
use ward_core::scope::ScopeSet;
use ward_core::{OAuthError, OAuthErrorCode};
use ward_proto::TokenResponse;

use crate::audit::{self, Audit};
use crate::auth::Credential;
use crate::error::{ApiError, ApiResult};
use crate::extract::FormParams;
use crate::issue::{self, AccessGrant};
use crate::ops::audience;
use crate::ops::client::{self, Client};
use crate::state::AppState;

/// Whether this request is a workload's exchange (no client authentication needed).
pub fn is_workload(form: &FormParams) -> bool {
    form.get("grant_type") == Some(TOKEN_EXCHANGE_GRANT)
        && matches!(
            form.get("subject_token_type"),
            Some(ID_TOKEN_TYPE | JWT_TOKEN_TYPE)
        )
}

fn refused(state: &AppState, ip: Option<&str>, kind: &str, reason: &str, issuer: Option<&str>) {
    audit::record_soon(
        state,
        Audit::new("token.exchanged", Outcome::Failed)
            .ip(ip)
            .detail(json!({"kind": kind, "reason": reason, "issuer": issuer})),
    );
}

fn grant_error(description: impl std::fmt::Display) -> ApiError {
    OAuthError::invalid_grant(description).into()
}

/// The workload's exchange: `[[trust]]` → a service account's access token, for `audience`
/// (RFC 8707: a route's URL; `None` for ward).
///
/// # Errors
/// `invalid_grant` naming what failed (audited); `invalid_scope` for a scope the service
/// account's role does not grant; `unauthorized_client` for a named client that may not use
/// the grant.
pub async fn workload(
    state: &AppState,
    ip: Option<&str>,
    headers: &HeaderMap,
    form: &FormParams,
    proof: Option<&VerifiedProof>,
    audience: Option<&str>,
) -> ApiResult<TokenResponse> {
    // A client may be named (ward-cli, or a configured client that lists the grant); none is
    // needed.
    let client_id = if form.get("client_id").is_some() || headers.contains_key("authorization") {
        let client = client::authenticate(state, ip, headers, form).await?;
        if !matches!(client, Client::Cli) && !client.allows_grant(TOKEN_EXCHANGE_GRANT) {
            return Err(OAuthError::new(
                OAuthErrorCode::UnauthorizedClient,
                format!("this client may not use the {TOKEN_EXCHANGE_GRANT} grant"),
            )
            .into());
        }
        client.id().to_string()
    } else {
        ward_proto::CLI_CLIENT_ID.to_string()
    };
    let token = form.require("subject_token")?;
    let accepted = match crate::trust::accept(state, token).await {
        Ok(a) => a,
        Err(reason) => {
            let issuer = crate::trust::claimed_issuer(token);
            refused(state, ip, "workload", &reason, issuer.as_deref());
            return Err(grant_error(reason));
        }
    };
    let entry = accepted.entry;
    let account = state
        .store
        .service_accounts()
        .await?
        .into_iter()
        .find(|a| a.name == entry.service_account);
    let Some(account) = account else {
        let reason = format!(
            "the trust entry for {} names service account {}, which does not exist",
            entry.issuer, entry.service_account
        );
        refused(state, ip, "workload", &reason, Some(&entry.issuer));
        return Err(grant_error(reason));
    };
    let holds = state
        .config
        .roles
        .permissions_of(&account.role, &state.config.resources);
    let scope = match form.get("scope") {
        None => holds.join(" "),
        Some(asked) => {
            let asked = ScopeSet::parse(asked);
            if let Some(bad) = asked.first_rejected(|s| holds.iter().any(|h| h == s)) {
                return Err(OAuthError::new(
                    OAuthErrorCode::InvalidScope,
                    format!(
                        "scope {bad} is not granted by service account {}'s role {}",
                        account.name, account.role
                    ),
                )
                .into());
            }
            asked.to_string()
        }
    };
    let ttl = state.config.access_token_ttl.min(MAX_WORKLOAD_TTL);
    let ttl = u64::try_from(ttl).unwrap_or(3600);
    let jkt = proof.map(|p| p.jkt.as_str());
    let principal = account.principal();
    let access_token = issue::access_token(
        state,
        &principal,
        None,
        AccessGrant {
            ttl: Some(ttl),
            audience,
            ..AccessGrant::new(&client_id, &scope, jkt)
        },
    )
    .await?;
    let subject = accepted
        .claims
        .get("sub")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    audit::record(
        state,
        Audit::new("token.exchanged", Outcome::Ok)
            .actor(&account.id)
            .ip(ip)
            .target(&account.id)
            .detail(json!({
                "kind": "workload",
                "issuer": entry.issuer,
                "subject": subject,
                "service_account": account.name,
                "scope": scope,
            })),
    )
    .await;
    Ok(TokenResponse {
        access_token,
        token_type: issue::token_type(jkt),
        expires_in: ttl,
        refresh_token: None,
        scope: Some(scope),
        id_token: None,
        issued_token_type: Some(ACCESS_TOKEN_TYPE.to_string()),
    })
}

/// Delegation: the actor `client` gets a token for the user of `subject_token`.
///
/// # Errors
/// `unauthorized_client` when the client may not use the grant; `invalid_grant` for a subject
/// token that is not a live user's access token with a session (audited); `invalid_scope` for
/// a scope the subject does not hold or the client does not declare.
pub async fn delegation(
    state: &AppState,
    ip: Option<&str>,
    client: &Client,
    form: &FormParams,
    proof: Option<&VerifiedProof>,
) -> ApiResult<TokenResponse> {
    let Client::Configured(actor) = client else {
        return Err(OAuthError::new(
            OAuthErrorCode::UnauthorizedClient,
            "only a configured client may act for another user (delegation)",
        )
        .into());
    };
    match form.require("subject_token_type")? {
        ACCESS_TOKEN_TYPE => {}
        other => {
            return Err(OAuthError::invalid_request(format!(
                "unsupported subject_token_type {other}: use {ACCESS_TOKEN_TYPE}, {ID_TOKEN_TYPE} or {JWT_TOKEN_TYPE}"
            ))
            .into())
        }
    }
    let token = form.require("subject_token")?;
    let subject = match crate::auth::authenticate_bearer(state, token).await {
        Ok(c) => c,
        Err(e) => {
            let reason = format!(
                "subject_token is not a live access token: {}",
                e.description
            );
            refused(state, ip, "delegation", &reason, None);
            return Err(grant_error(reason));
        }
    };
    let session = match (&subject.session, subject.credential) {
        (
            Some(s),
            Credential::SessionCookie | Credential::FirstPartyToken | Credential::ClientToken,
        ) => s.clone(),
        _ => {
            let reason = format!(
                "subject_token must be a user's access token with a session, not a {}",
                subject.credential.as_str()
            );
            refused(state, ip, "delegation", &reason, None);
            return Err(grant_error(reason));
        }
    };
    let holds = subject
        .authority
        .effective_permissions(&state.config.resources);
    let scope = delegated_scope(form.get("scope"), &holds).map_err(|bad| {
        ApiError::from(OAuthError::new(
            OAuthErrorCode::InvalidScope,
            format!("scope {bad} is not held by the subject token"),
        ))
    })?;
    let scope = match form.get("scope") {
        Some(_) => {
            if let Some(bad) =
                ScopeSet::parse(&scope).first_rejected(|s| actor.scopes.iter().any(|c| c == s))
            {
                return Err(OAuthError::new(
                    OAuthErrorCode::InvalidScope,
                    format!("scope {bad} is not allowed for this client"),
                )
                .into());
            }
            scope
        }
        // Asked for nothing: what the subject holds that the client declares.
        None => ScopeSet::parse(&scope)
            .iter()
            .filter(|s| actor.scopes.iter().any(|c| c == *s))
            .collect::<Vec<_>>()
            .join(" "),
    };
    // RFC 8707: a token for a route may not be exchanged for one that works elsewhere.
    let audience =
        audience::delegated_audience(state, subject.audience.as_deref(), form.get("resource"))
            .map_err(ApiError::from)?;
    let jkt = proof.map(|p| p.jkt.as_str());
    let ttl = issue::access_ttl(state, Some(&session));
    // The subject's audience, or the one a ward token narrows this to; without either, the
    // session's.
    let access_token = issue::access_token(
        state,
        &subject.user,
        Some(&session),
        AccessGrant {
            ttl: Some(ttl),
            actor: Some(&actor.id),
            audience: audience.as_deref(),
            ..AccessGrant::new(&actor.id, &scope, jkt)
        },
    )
    .await?;
    audit::record(
        state,
        Audit::new("token.exchanged", Outcome::Ok)
            .actor(subject.user.id.as_str())
            .ip(ip)
            .target(session.id.as_str())
            .detail(json!({"kind": "delegation", "actor": actor.id, "scope": scope})),
    )
    .await;
    Ok(TokenResponse {
        access_token,
        token_type: issue::token_type(jkt),
        expires_in: ttl,
        refresh_token: None,
        scope: Some(scope),
        id_token: None,
        issued_token_type: Some(ACCESS_TOKEN_TYPE.to_string()),
    })
}
