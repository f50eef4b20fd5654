//! The route table.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;

use crate::error::ApiError;
use crate::state::AppState;
use crate::{api, middleware, oauth, pages};

/// Form and JSON bodies are small; anything bigger is refused with 413.
const MAX_BODY_BYTES: usize = 64 * 1024;

pub fn router(state: AppState) -> Router {
    Router::new()
        // Pages
        .route("/", get(pages::login::home))
        .route(
            "/login",
            get(pages::login::login_page).post(pages::login::submit_email),
        )
        .route("/login/password", post(pages::login::submit_password))
        .route("/logout", post(pages::login::logout))
        .route(
            "/device",
            get(pages::device::device_page).post(pages::device::submit_code),
        )
        .route("/device/decision", post(pages::device::decision))
        .route("/static/ward.css", get(pages::stylesheet))
        // OAuth 2.0 / OIDC
        .route(
            "/.well-known/openid-configuration",
            get(oauth::discovery::metadata),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(oauth::discovery::metadata),
        )
        .route("/.well-known/jwks.json", get(oauth::discovery::jwks))
        .route("/oauth/authorize", get(oauth::authorize::authorize))
        .route(
            "/oauth/authorize/decision",
            post(oauth::authorize::decision),
        )
        .route("/cli-login", get(oauth::authorize::authorize))
        .route(
            "/cli-login/success",
            get(oauth::authorize::cli_login_success),
        )
        .route("/oauth/token", post(oauth::token::token))
        .route(
            "/oauth/device/code",
            post(oauth::device::device_authorization),
        )
        .route("/oauth/revoke", post(oauth::revoke::revoke))
        .route("/oauth/introspect", post(oauth::introspect::introspect))
        .route(
            "/oauth/userinfo",
            get(oauth::userinfo::userinfo).post(oauth::userinfo::userinfo),
        )
        // ward API
        .route("/api/profile", get(api::profile::profile))
        .route("/api/auth/validate", get(api::auth::validate))
        .route("/api/auth/refresh", post(api::auth::refresh))
        .route("/api/auth/logout", post(api::auth::logout))
        // Operations
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        // The identity-aware proxy for `[[routes]]`; the JSON 404 for everything else.
        .fallback(crate::proxy::fallback())
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::log_requests,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal("handler panicked").into_response()
        }))
        .layer(axum::middleware::from_fn(middleware::security_headers))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => "ready".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "database not reachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
