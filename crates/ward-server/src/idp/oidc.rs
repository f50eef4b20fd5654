//! ward as an OpenID Connect relying party (OIDC Core 1.0 §3.1, the authorization code flow),
//! on the `openidconnect` crate: discovery, the authorization request (code, PKCE S256, state
//! and nonce), the code exchange, and ID token verification (signature against the IdP's JWKS,
//! `iss`, `aud`, `exp` against ward's clock, `nonce`).

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreIdTokenClaims, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, DiscoveryError,
    EmptyAdditionalClaims, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError,
    Scope, TokenResponse,
};
use url::Url;

use super::{cached_metadata, callback_url, IdpFailure, UpstreamIdentity};
use crate::config::IdpConfig;
use crate::state::AppState;

pub type Metadata = CoreProviderMetadata;

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The full chain of an error's causes, for the audit log (no secrets: these are transport and
/// parse errors).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cur = c.source();
    }
    out
}

/// Reads `<issuer>/.well-known/openid-configuration` and the JWKS it names.
pub async fn discover(state: &AppState, issuer: &str) -> Result<Metadata, IdpFailure> {
    let issuer_url = IssuerUrl::new(issuer.to_string())
        .map_err(|e| IdpFailure::BadResponse(format!("issuer: {e}")))?;
    CoreProviderMetadata::discover_async(issuer_url, &state.idp.http)
        .await
        .map_err(|e| match &e {
            DiscoveryError::Request(_) => {
                IdpFailure::Unreachable(format!("discovery: {}", chain(&e)))
            }
            _ => IdpFailure::BadResponse(format!("discovery: {}", chain(&e))),
        })
}

fn build_client(
    state: &AppState,
    idp: &IdpConfig,
    metadata: Metadata,
) -> Result<Client, IdpFailure> {
    let redirect = RedirectUrl::new(callback_url(state, idp))
        .map_err(|e| IdpFailure::BadResponse(format!("redirect URI: {e}")))?;
    Ok(CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(idp.client_id.clone()),
        Some(ClientSecret::new(idp.client_secret.expose().clone())),
    )
    .set_redirect_uri(redirect))
}

/// The authorization request to send the browser to.
pub async fn authorize_url(
    state: &AppState,
    idp: &IdpConfig,
    issuer: &str,
    state_value: &str,
    verifier: &str,
    nonce: &str,
    login_hint: Option<&str>,
) -> Result<Url, IdpFailure> {
    let metadata = cached_metadata(state, idp, issuer, false).await?;
    let client = build_client(state, idp, metadata)?;
    let (csrf, nonce) = (state_value.to_string(), nonce.to_string());
    let mut request = client.authorize_url(
        CoreAuthenticationFlow::AuthorizationCode,
        move || CsrfToken::new(csrf),
        move || Nonce::new(nonce),
    );
    // `openid` is always sent by the library.
    for s in idp.scopes.iter().filter(|s| *s != "openid") {
        request = request.add_scope(Scope::new(s.clone()));
    }
    request = request.set_pkce_challenge(PkceCodeChallenge::from_code_verifier_sha256(
        &PkceCodeVerifier::new(verifier.to_string()),
    ));
    if let Some(hint) = login_hint {
        request = request.add_extra_param("login_hint", hint.to_string());
    }
    let (url, _, _) = request.url();
    Ok(url)
}

fn verify_claims(
    state: &AppState,
    client: &Client,
    id_token: &openidconnect::IdToken<
        EmptyAdditionalClaims,
        CoreGenderClaim,
        openidconnect::core::CoreJweContentEncryptionAlgorithm,
        openidconnect::core::CoreJwsSigningAlgorithm,
    >,
    nonce: &str,
) -> Result<CoreIdTokenClaims, ClaimsVerificationError> {
    let now = state.clock.now().0;
    let verifier = client.id_token_verifier().set_time_fn(move || {
        chrono::DateTime::from_timestamp(now, 0).unwrap_or(chrono::DateTime::UNIX_EPOCH)
    });
    id_token
        .claims(&verifier, &Nonce::new(nonce.to_string()))
        .cloned()
}

/// Redeems the code (with the PKCE verifier) and verifies the ID token.
pub async fn identify(
    state: &AppState,
    idp: &IdpConfig,
    issuer: &str,
    code: &str,
    verifier: &str,
    nonce: &str,
) -> Result<UpstreamIdentity, IdpFailure> {
    let metadata = cached_metadata(state, idp, issuer, false).await?;
    let client = build_client(state, idp, metadata)?;
    let response = client
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .map_err(|e| IdpFailure::BadResponse(format!("no token endpoint: {e}")))?
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_string()))
        .request_async(&state.idp.http)
        .await
        .map_err(|e| match &e {
            RequestTokenError::ServerResponse(r) => {
                IdpFailure::TokenExchange(format!("token endpoint: {}", r.error()))
            }
            RequestTokenError::Request(_) => {
                IdpFailure::Unreachable(format!("token endpoint: {}", chain(&e)))
            }
            _ => IdpFailure::BadResponse(format!("token endpoint: {}", chain(&e))),
        })?;
    let id_token = response
        .id_token()
        .ok_or_else(|| IdpFailure::BadIdToken("the token response has no id_token".into()))?;
    let claims = match verify_claims(state, &client, id_token, nonce) {
        Ok(c) => c,
        // An unknown or rotated signing key: re-read the JWKS once and try again.
        Err(ClaimsVerificationError::SignatureVerification(_)) => {
            let metadata = cached_metadata(state, idp, issuer, true).await?;
            let client = build_client(state, idp, metadata)?;
            verify_claims(state, &client, id_token, nonce)
                .map_err(|e| IdpFailure::BadIdToken(chain(&e)))?
        }
        Err(e) => return Err(IdpFailure::BadIdToken(chain(&e))),
    };
    let mut who = UpstreamIdentity {
        subject: claims.subject().as_str().to_string(),
        email: claims.email().map(|e| e.as_str().to_string()),
        email_verified: claims.email_verified() == Some(true),
        name: claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_string()),
    };
    if who.email.is_none() {
        // OIDC Core §5.4: a provider may return the `email` scope's claims from UserInfo only
        // (oidc-provider does by default). The library checks that its `sub` is the ID token's
        // (§5.3.2), so these claims describe the same, verified subject.
        let info: openidconnect::core::CoreUserInfoClaims = client
            .user_info(
                response.access_token().clone(),
                Some(claims.subject().clone()),
            )
            .map_err(|e| IdpFailure::BadResponse(format!("no email and no userinfo: {e}")))?
            .request_async(&state.idp.http)
            .await
            .map_err(|e| IdpFailure::BadResponse(format!("userinfo: {}", chain(&e))))?;
        who.email = info.email().map(|e| e.as_str().to_string());
        who.email_verified = info.email_verified() == Some(true);
        if who.name.is_none() {
            who.name = info
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_string());
        }
    }
    Ok(who)
}
