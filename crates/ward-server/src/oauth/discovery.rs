//! OIDC Discovery and RFC 8414 metadata, and the JWKS (RFC 7517).

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::state::AppState;

pub async fn metadata(State(state): State<AppState>) -> Response {
    let url = |p: &str| state.url(p);
    let mut doc = json!({
        "issuer": state.issuer,
        "authorization_endpoint": url("/oauth/authorize"),
        "token_endpoint": url("/oauth/token"),
        "revocation_endpoint": url("/oauth/revoke"),
        "introspection_endpoint": url("/oauth/introspect"),
        "userinfo_endpoint": url("/oauth/userinfo"),
        "end_session_endpoint": url("/oauth/logout"),
        "jwks_uri": url("/.well-known/jwks.json"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials", ward_proto::DEVICE_CODE_GRANT_TYPE],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "email", "email_verified", "name", "sid", "amr"],
        "authorization_response_iss_parameter_supported": true,
        // RFC 9449 §5.1.
        "dpop_signing_alg_values_supported": ward_core::dpop::SIGNING_ALGS,
        // ward: whether `ward token` may print a bearer of a bound `ward-cli` session.
        "ward_cli_bearer": state.config.dpop.cli_bearer,
    });
    if state.config.device_flow {
        doc["device_authorization_endpoint"] = json!(url("/oauth/device/code"));
    }
    if state.config.terminal_sign_in {
        // ward: `ward login --auth-flow password` (decision 164).
        doc["ward_terminal_sign_in_endpoint"] = json!(url("/api/auth/terminal-sign-in"));
    }
    ([(header::CACHE_CONTROL, "public, max-age=300")], Json(doc)).into_response()
}

pub async fn jwks(State(state): State<AppState>) -> Response {
    let keys = state.keys().await;
    // Short: a key rotated on another replica must reach relying parties quickly.
    (
        [(header::CACHE_CONTROL, "public, max-age=60")],
        Json(keys.jwks().clone()),
    )
        .into_response()
}
