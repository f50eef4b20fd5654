//! GitHub sign-in (an OAuth app; GitHub is not an OpenID provider), on the `oauth2` crate:
//! `GET /login/oauth/authorize` (with PKCE S256 and state), `POST /login/oauth/access_token`,
//! then `GET /user` for the stable numeric id (the subject) and `GET /user/emails` for the
//! verified primary email, as GitHub documents for OAuth apps.

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, TokenResponse, TokenUrl,
};
use serde::Deserialize;
use url::Url;

use super::{callback_url, IdpFailure, UpstreamIdentity};
use crate::config::IdpConfig;
use crate::state::AppState;

pub fn authorize_url(
    state: &AppState,
    idp: &IdpConfig,
    authorize: &Url,
    state_value: &str,
    verifier: &str,
    login_hint: Option<&str>,
) -> Url {
    let mut url = authorize.clone();
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("client_id", &idp.client_id)
            .append_pair("redirect_uri", &callback_url(state, idp))
            .append_pair("response_type", "code")
            .append_pair("scope", &idp.scopes.join(" "))
            .append_pair("state", state_value)
            .append_pair(
                "code_challenge",
                PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(
                    verifier.to_string(),
                ))
                .as_str(),
            )
            .append_pair("code_challenge_method", "S256")
            .append_pair("allow_signup", "false");
        // GitHub's name for a login hint.
        if let Some(hint) = login_hint {
            q.append_pair("login", hint);
        }
    }
    url
}

#[derive(Deserialize)]
struct GithubUser {
    id: serde_json::Value,
    login: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize)]
struct GithubEmail {
    email: String,
    #[serde(default)]
    primary: bool,
    #[serde(default)]
    verified: bool,
}

#[derive(Deserialize)]
struct GithubError {
    error: String,
}

async fn api_get<T: serde::de::DeserializeOwned>(
    state: &AppState,
    url: Url,
    token: &str,
) -> Result<T, IdpFailure> {
    let what = url.path().to_string();
    let r = state
        .idp
        .http
        .get(url)
        .bearer_auth(token)
        .header("Accept", "application/vnd.github+json")
        .header("X-GitHub-Api-Version", "2022-11-28")
        .send()
        .await
        .map_err(|e| IdpFailure::Unreachable(format!("{what}: {e}")))?;
    if !r.status().is_success() {
        return Err(IdpFailure::BadResponse(format!(
            "{what}: status {}",
            r.status()
        )));
    }
    r.json()
        .await
        .map_err(|e| IdpFailure::BadResponse(format!("{what}: {e}")))
}

fn api(base: &Url, path: &str) -> Result<Url, IdpFailure> {
    let mut url = base.clone();
    let joined = format!("{}{path}", url.path().trim_end_matches('/'));
    url.set_path(&joined);
    Ok(url)
}

pub async fn identify(
    state: &AppState,
    idp: &IdpConfig,
    token_url: &Url,
    api_url: &Url,
    code: &str,
    verifier: &str,
) -> Result<UpstreamIdentity, IdpFailure> {
    let redirect = RedirectUrl::new(callback_url(state, idp))
        .map_err(|e| IdpFailure::BadResponse(format!("redirect URI: {e}")))?;
    let client = BasicClient::new(ClientId::new(idp.client_id.clone()))
        .set_client_secret(ClientSecret::new(idp.client_secret.expose().clone()))
        // Only used to satisfy the type; ward builds the authorization URL itself.
        .set_auth_uri(AuthUrl::from_url(token_url.clone()))
        .set_token_uri(TokenUrl::from_url(token_url.clone()))
        .set_redirect_uri(redirect)
        // GitHub documents client_id and client_secret as body parameters.
        .set_auth_type(AuthType::RequestBody);
    let response = client
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_string()))
        .request_async(&state.idp.http)
        .await
        .map_err(|e| match e {
            RequestTokenError::ServerResponse(r) => {
                IdpFailure::TokenExchange(format!("token endpoint: {}", r.error()))
            }
            RequestTokenError::Request(e) => {
                IdpFailure::Unreachable(format!("token endpoint: {e}"))
            }
            // GitHub reports a refused code as `200 {"error": "bad_verification_code", …}`.
            RequestTokenError::Parse(e, body) => match serde_json::from_slice::<GithubError>(&body)
            {
                Ok(g) => IdpFailure::TokenExchange(format!("token endpoint: {}", g.error)),
                Err(_) => IdpFailure::BadResponse(format!("token endpoint: {e}")),
            },
            RequestTokenError::Other(e) => IdpFailure::BadResponse(format!("token endpoint: {e}")),
        })?;
    let token = response.access_token().secret().clone();
    let user: GithubUser = api_get(state, api(api_url, "/user")?, &token).await?;
    let subject = match &user.id {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) if !s.is_empty() => s.clone(),
        _ => return Err(IdpFailure::BadResponse("/user: no id".into())),
    };
    let emails: Vec<GithubEmail> = api_get(state, api(api_url, "/user/emails")?, &token).await?;
    let primary = emails.into_iter().find(|e| e.primary);
    Ok(UpstreamIdentity {
        subject,
        email_verified: primary.as_ref().is_some_and(|e| e.verified),
        email: primary.map(|e| e.email),
        name: user.name.filter(|n| !n.is_empty()).or(user.login),
    })
}
