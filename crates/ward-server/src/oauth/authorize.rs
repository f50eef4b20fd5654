//! The authorization endpoint (RFC 6749 §4.1, PKCE per RFC 7636) and `/cli-login`, its entry
//! point for `ward login`. Errors about the client or redirect URI are shown on a page, never
//! redirected (RFC 6749 §4.1.2.1); every other error goes back to the client.

use std::collections::HashMap;
use ward_core::audit::Outcome;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use url::Url;
use ward_core::model::{AuthCode, Session, User};
use ward_core::pkce;
use ward_core::scope::ScopeSet;
use ward_core::token::{new_opaque_secret, token_hash};
use ward_core::{OAuthError, OAuthErrorCode};

use crate::auth::web_session;
use crate::csrf;
use crate::csrf::CsrfForm;
use crate::error::ApiError;
use crate::extract::parse_params;
use crate::html::consent::{self, Consent};
use crate::html::login_url;
use crate::html::{message_page, no_store, page};
use crate::ops::client::Client;
use crate::state::AppState;

/// Authorization codes live 60 seconds (SPEC §2.2).
pub const CODE_LIFETIME_SECS: i64 = 60;

/// A request that passed every check.
#[derive(Debug, Clone)]
pub struct AuthorizeRequest {
    pub client: Client,
    pub redirect_uri: String,
    pub scope: ScopeSet,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub login_hint: Option<String>,
    pub device_id: Option<String>,
    pub device_name: Option<String>,
    /// RFC 8707: the audience the code's token gets (`None`: ward itself).
    pub resource: Option<String>,
}

enum Rejection {
    /// Shown to the user: the redirect URI cannot be trusted.
    Page(String),
    /// Sent back to the client's redirect URI.
    Redirect {
        redirect_uri: String,
        error: OAuthError,
        state: Option<String>,
    },
}

fn param<'a>(p: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    p.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

fn short(p: &HashMap<String, String>, name: &str, max: usize) -> Option<String> {
    param(p, name).map(|v| v.chars().take(max).collect())
}

/// The request checked, its client looked up (a registered client in the store).
async fn validate(
    state: &AppState,
    p: &HashMap<String, String>,
) -> Result<Result<AuthorizeRequest, Rejection>, ApiError> {
    let client = match param(p, "client_id") {
        Some(id) => Client::lookup(state, id).await?,
        None => None,
    };
    Ok(check(state, p, client))
}

fn check(
    state: &AppState,
    p: &HashMap<String, String>,
    client: Option<Client>,
) -> Result<AuthorizeRequest, Rejection> {
    let client_id = param(p, "client_id")
        .ok_or_else(|| Rejection::Page("The request has no client_id.".into()))?;
    let client = client.ok_or_else(|| Rejection::Page(format!("Unknown client {client_id:?}.")))?;
    let redirect_uri = param(p, "redirect_uri")
        .ok_or_else(|| Rejection::Page("The request has no redirect_uri.".into()))?;
    if !client.redirect_allowed(redirect_uri) {
        return Err(Rejection::Page(
            "The redirect URI is not registered for this client.".into(),
        ));
    }
    let back = |error: OAuthError| Rejection::Redirect {
        redirect_uri: redirect_uri.to_string(),
        error,
        state: param(p, "state").map(str::to_string),
    };
    if param(p, "response_type") != Some("code") {
        return Err(back(OAuthError::new(
            OAuthErrorCode::InvalidRequest,
            "response_type must be code",
        )));
    }
    if !client.allows_grant("authorization_code") {
        return Err(back(OAuthError::new(
            OAuthErrorCode::UnauthorizedClient,
            "this client may not use the authorization code flow",
        )));
    }
    let code_challenge = param(p, "code_challenge").map(str::to_string);
    match (&code_challenge, param(p, "code_challenge_method")) {
        (None, _) if client.is_public() => {
            return Err(back(OAuthError::invalid_request(
                "PKCE is required: send code_challenge with code_challenge_method=S256",
            )))
        }
        (Some(c), Some("S256")) if pkce::is_valid_challenge(c) => {}
        (Some(_), Some("S256")) => {
            return Err(back(OAuthError::invalid_request(
                "malformed code_challenge",
            )))
        }
        (Some(_), _) => {
            return Err(back(OAuthError::invalid_request(
                "code_challenge_method must be S256",
            )))
        }
        (None, _) => {}
    }
    // RFC 8707 §2: an unknown resource is refused here; a known one is stored with the code
    // and becomes the token's audience (decision 212, amended by 223).
    let resource = match param(p, "resource") {
        Some(r) => crate::ops::audience::audience(state, r)
            .map_err(back)?
            .or_else(|| Some(state.issuer.clone())),
        None => None,
    };
    let scope = ScopeSet::parse(param(p, "scope").unwrap_or("openid"));
    if let Some(bad) = scope.first_rejected(|s| client.allows_scope(state, s)) {
        return Err(back(OAuthError::new(
            OAuthErrorCode::InvalidScope,
            format!("scope {bad} is not allowed for this client"),
        )));
    }
    Ok(AuthorizeRequest {
        redirect_uri: redirect_uri.to_string(),
        scope,
        state: short(p, "state", 512),
        nonce: short(p, "nonce", 512),
        code_challenge,
        login_hint: short(p, "login_hint", 254),
        device_id: short(p, "device_id", 128),
        device_name: short(p, "device_name", 128),
        resource,
        client,
    })
}

fn redirect_with(redirect_uri: &str, pairs: &[(&str, &str)]) -> Response {
    match Url::parse(redirect_uri) {
        Ok(mut url) => {
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in pairs {
                    q.append_pair(k, v);
                }
            }
            Redirect::to(url.as_str()).into_response()
        }
        Err(_) => message_page(
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "The redirect URI is malformed.",
        ),
    }
}

fn reject(state: &AppState, r: Rejection) -> Response {
    match r {
        Rejection::Page(message) => {
            message_page(StatusCode::BAD_REQUEST, "Invalid sign-in request", &message)
        }
        Rejection::Redirect {
            redirect_uri,
            error,
            state: client_state,
        } => {
            let mut pairs = vec![
                ("error", error.code.as_str()),
                ("error_description", error.description.as_str()),
            ];
            if let Some(s) = client_state.as_deref() {
                pairs.push(("state", s));
            }
            // RFC 9207: error responses carry `iss` too.
            pairs.push(("iss", state.issuer.as_str()));
            redirect_with(&redirect_uri, &pairs)
        }
    }
}

/// The query of `GET /oauth/authorize` (documentation only: the handler parses the raw query,
/// refusing repeated parameters).
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuthorizeParams {
    /// `code`.
    pub response_type: String,
    pub client_id: String,
    /// Registered for the client; for `ward-cli`, a loopback URI on any port (RFC 8252).
    pub redirect_uri: String,
    /// Space-separated; `openid` when absent.
    pub scope: Option<String>,
    /// Returned unchanged with the code or error.
    pub state: Option<String>,
    /// Put in the ID token.
    pub nonce: Option<String>,
    /// PKCE (RFC 7636); required of public clients.
    pub code_challenge: Option<String>,
    /// `S256`.
    pub code_challenge_method: Option<String>,
    /// Pre-fills the sign-in page's email.
    pub login_hint: Option<String>,
    /// A stable id of the device, recorded on the session.
    pub device_id: Option<String>,
    /// A human name of the device, shown on the consent screen and in session lists.
    pub device_name: Option<String>,
}

/// The consent form of `POST /oauth/authorize/decision` (documentation only).
#[derive(Debug, utoipa::ToSchema)]
pub struct DecisionForm {
    /// The CSRF token of the consent page.
    pub csrf_token: String,
    /// The authorization request's query string, as the consent page sent it.
    pub request: String,
    /// `allow` or `deny`.
    pub decision: String,
}

/// `GET /oauth/authorize` and `GET /cli-login`.
///
/// The authorization endpoint (RFC 6749 §4.1, PKCE per RFC 7636). Without a ward session the
/// browser is sent to the sign-in page first; `ward-cli` gets a consent page, clients declared
/// in the configuration are first-party and get the code at once.
#[utoipa::path(
    get,
    path = "/oauth/authorize",
    operation_id = "oauth_authorize",
    tag = "oauth",
    security((), ("session_cookie" = [])),
    params(AuthorizeParams),
    responses(
        (status = 200, description = "The consent page (HTML), for `ward-cli`", content_type = "text/html"),
        (status = 303, description = "To the sign-in page; or to `redirect_uri` with `code`, `state` and `iss`, or with `error`, `error_description`, `state` and `iss` (RFC 9207)"),
        (status = 400, description = "An HTML page: unknown client, or an unregistered or missing redirect URI (never redirected)", content_type = "text/html"),
    )
)]
pub async fn authorize(
    State(state): State<AppState>,
    jar: CookieJar,
    uri: axum::http::Uri,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let query = query.unwrap_or_default();
    let params = match parse_params(query.as_bytes()) {
        Ok(p) => p,
        Err(e) => {
            return Ok(message_page(
                StatusCode::BAD_REQUEST,
                "Invalid sign-in request",
                &e.description,
            ))
        }
    };
    let request = match validate(&state, &params).await? {
        Ok(r) => r,
        Err(r) => return Ok(reject(&state, r)),
    };
    let Some((session, user)) = web_session(&state, &jar).await? else {
        let here = format!("{}?{query}", uri.path());
        return Ok(Redirect::to(&login_url(&here, request.login_hint.as_deref())).into_response());
    };
    if matches!(request.client, Client::Cli) {
        if let Some(refused) = consent::refuse_guest(&user) {
            return Ok(refused);
        }
    }
    // `ward-cli` always asks (it names the device), and so does a registered client (SPEC
    // §2.15: nobody vouched for it); a configured client asks once, and again whenever it
    // wants more than the user granted it (SPEC §2.11).
    if matches!(request.client, Client::Cli | Client::Registered(_))
        || !consented(&state, &user, &request).await?
    {
        let (jar, token) = csrf::token(&state, jar);
        let scopes = request.scope.iter().map(str::to_string).collect();
        let page = consent::render(Consent {
            user: &user,
            client_id: request.client.id(),
            unverified: matches!(request.client, Client::Registered(_))
                .then(|| request.client.registered_name()),
            device_name: request.device_name.as_deref(),
            scopes,
            action: "/oauth/authorize/decision",
            hidden: vec![("request", query.clone())],
            csrf: &token,
            device: None,
        });
        return Ok((jar, page).into_response());
    }
    issue_code(&state, &user, &session, &request).await
}

/// Whether `user` already granted the client everything `request` asks for.
async fn consented(
    state: &AppState,
    user: &User,
    request: &AuthorizeRequest,
) -> Result<bool, ApiError> {
    let granted = state
        .store
        .consented_scope(&user.id, request.client.id())
        .await?;
    Ok(granted.is_some_and(|g| {
        let g = ScopeSet::parse(&g);
        request.scope.iter().all(|s| g.contains(s))
    }))
}

/// Records that `user` granted the client `request`'s scopes, beside what was granted before.
async fn record_consent(
    state: &AppState,
    user: &User,
    request: &AuthorizeRequest,
) -> Result<(), ApiError> {
    if matches!(request.client, Client::Cli) {
        return Ok(());
    }
    let before = state
        .store
        .consented_scope(&user.id, request.client.id())
        .await?
        .unwrap_or_default();
    let all = ScopeSet::parse(&format!("{before} {}", request.scope));
    state
        .store
        .record_consent(
            &user.id,
            request.client.id(),
            &all.to_string(),
            state.clock.now(),
        )
        .await?;
    Ok(())
}

/// `POST /oauth/authorize/decision`: the consent form.
#[utoipa::path(
    post,
    path = "/oauth/authorize/decision",
    operation_id = "oauth_authorize_decision",
    tag = "oauth",
    security(("session_cookie" = [])),
    request_body(content = DecisionForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "To `redirect_uri` with a code (`allow`) or `error=access_denied` (`deny`); to the sign-in page without a session"),
        (status = 400, description = "A malformed request or decision", body = ward_proto::ErrorBody),
        (status = 403, description = "A missing or wrong CSRF token (JSON), or a guest approving the CLI (an HTML page saying why)", body = ward_proto::ErrorBody),
    )
)]
pub async fn decision(
    State(state): State<AppState>,
    jar: CookieJar,
    CsrfForm(form): CsrfForm,
) -> Result<Response, ApiError> {
    let query = form.require("request")?.to_string();
    let params = parse_params(query.as_bytes())?;
    let request = match validate(&state, &params).await? {
        Ok(r) => r,
        Err(r) => return Ok(reject(&state, r)),
    };
    let Some((session, user)) = web_session(&state, &jar).await? else {
        let here = format!("/oauth/authorize?{query}");
        return Ok(Redirect::to(&login_url(&here, None)).into_response());
    };
    match form.get("decision") {
        Some("allow") => {
            if let Some(refused) = consent::refuse_guest(&user) {
                if matches!(request.client, Client::Cli) {
                    return Ok(refused);
                }
            }
            record_consent(&state, &user, &request).await?;
            crate::audit::record(
                &state,
                crate::audit::Audit::new("consent.granted", Outcome::Ok)
                    .actor(user.id.as_str())
                    .target(request.client.id())
                    .detail(serde_json::json!({"scope": request.scope.to_string()})),
            )
            .await;
            issue_code(&state, &user, &session, &request).await
        }
        Some("deny") => {
            crate::audit::record(
                &state,
                crate::audit::Audit::new("consent.denied", Outcome::Ok)
                    .actor(user.id.as_str())
                    .target(request.client.id())
                    .detail(serde_json::json!({"scope": request.scope.to_string()})),
            )
            .await;
            let mut pairs = vec![
                ("error", "access_denied"),
                ("error_description", "the user denied the request"),
            ];
            if let Some(s) = request.state.as_deref() {
                pairs.push(("state", s));
            }
            pairs.push(("iss", state.issuer.as_str()));
            Ok(redirect_with(&request.redirect_uri, &pairs))
        }
        _ => Err(ApiError::bad_request("decision must be allow or deny")),
    }
}

async fn issue_code(
    state: &AppState,
    user: &User,
    signed_in: &Session,
    request: &AuthorizeRequest,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let code = new_opaque_secret(state.random.as_ref());
    let record = AuthCode {
        code_hash: token_hash(&code),
        client_id: request.client.id().to_string(),
        user_id: user.id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        scope: request.scope.to_string(),
        code_challenge: request.code_challenge.clone(),
        nonce: request.nonce.clone(),
        // When and how the user actually signed in (OIDC Core §2), not when the code was made.
        auth_time: signed_in.verified_at,
        amr: signed_in.amr.clone(),
        device_id: request.device_id.clone(),
        device_name: request.device_name.clone(),
        created_at: now,
        expires_at: now.plus_secs(CODE_LIFETIME_SECS),
        session_id: None,
        resource: request.resource.clone(),
    };
    state.store.insert_auth_code(&record).await?;
    let mut pairs = vec![("code", code.as_str())];
    if let Some(s) = request.state.as_deref() {
        pairs.push(("state", s));
    }
    pairs.push(("iss", state.issuer.as_str()));
    Ok(redirect_with(&request.redirect_uri, &pairs))
}

/// `GET /cli-login/success`: where the CLI's loopback server sends the browser at the end.
pub async fn cli_login_success() -> Response {
    no_store(page(
        "Login Successful!",
        maud::html! {
            p class="success" { "✓" }
            h1 { "Login Successful!" }
            p { "You can close this window and return to your terminal." }
        },
    ))
}
