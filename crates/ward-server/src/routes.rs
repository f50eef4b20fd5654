//! The route table.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;

use crate::error::ApiError;
use crate::state::AppState;
use crate::{api, middleware, oauth, openapi, pages};

/// Form and JSON bodies are small; anything bigger is refused with 413.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// The route table behind the request edge ([`crate::edge`]): the edge runs before routing, so
/// that ward's routes and the proxy match the normalised path.
pub fn router(state: AppState) -> Router {
    let routes = routes(state.clone());
    let edged = tower::ServiceBuilder::new()
        .layer(axum::middleware::from_fn_with_state(
            state,
            crate::edge::layer,
        ))
        .service(routes);
    Router::new().fallback_service(middleware::security_headers(edged))
}

fn routes(state: AppState) -> Router {
    Router::new()
        // Pages
        .route("/", get(pages::login::home))
        .route(
            "/login",
            get(pages::login::login_page).post(pages::login::submit_email),
        )
        .route("/login/password", post(pages::login::submit_password))
        .route(
            "/login/mfa",
            get(pages::mfa_login::mfa_page).post(pages::mfa_login::submit_code),
        )
        .route(
            "/login/mfa/enrol",
            get(pages::mfa_login::enrol_page).post(pages::mfa_login::submit_enrol),
        )
        .route("/logout", post(pages::login::logout))
        .route("/login/guest", post(pages::login::start_guest))
        .route(
            "/signup",
            get(pages::signup::signup_page).post(pages::signup::submit_signup),
        )
        .route("/account", get(pages::account::account_page))
        .route(
            "/reauth",
            get(pages::reauth::reauth_page).post(pages::reauth::submit_reauth),
        )
        .route(
            "/account/password",
            get(pages::password::password_page).post(pages::password::submit_password),
        )
        .route(
            "/recover",
            get(pages::recovery::recovery_page).post(pages::recovery::submit_recovery),
        )
        .route(
            "/reset",
            get(pages::recovery::reset_page).post(pages::recovery::submit_reset),
        )
        .route(
            "/login/forgot",
            get(pages::forgot::forgot_page).post(pages::forgot::submit_forgot),
        )
        .route("/verify-email", get(pages::forgot::verify_email))
        .route(
            "/account/email",
            get(pages::email::email_page).post(pages::email::submit_email),
        )
        .route(
            "/invite",
            get(pages::invite::invite_page).post(pages::invite::submit_invite),
        )
        .route(
            "/admin/invitations",
            get(pages::admin_invitations::page).post(pages::admin_invitations::invite_form),
        )
        .route(
            "/admin/requests/{id}/{decision}",
            post(pages::admin_invitations::decide_form),
        )
        .route("/static/logo", get(crate::branding::logo))
        .route("/static/brand.css", get(crate::branding::stylesheet))
        .route("/admin/mail", get(pages::admin::mail_page))
        .route("/account/tokens", post(pages::account::create_token_form))
        .route(
            "/account/tokens/{id}/revoke",
            post(pages::account::revoke_token_form),
        )
        .route(
            "/account/sessions/{id}/revoke",
            post(pages::account::revoke_session_form),
        )
        .route(
            "/admin/users",
            get(pages::admin::users_page).post(pages::admin::create_user_form),
        )
        .route(
            "/admin/users/{id}/{action}",
            post(pages::admin::user_action_form),
        )
        .route(
            "/admin/service-accounts",
            get(pages::admin_service_accounts::page)
                .post(pages::admin_service_accounts::create_form),
        )
        .route(
            "/admin/service-accounts/{id}/{action}",
            post(pages::admin_service_accounts::action_form),
        )
        .route("/admin/sessions", get(pages::admin::sessions_page))
        .route(
            "/admin/sessions/{id}/revoke",
            post(pages::admin::revoke_session_form),
        )
        .route("/admin/audit", get(pages::admin::audit_page))
        .route("/admin/webhooks", get(pages::admin_webhooks::page))
        .route(
            "/admin/webhooks/{id}/resend",
            post(pages::admin_webhooks::resend_form),
        )
        .route("/idp/{name}/callback", get(pages::idp::callback))
        .route(
            "/device",
            get(pages::device::device_page).post(pages::device::submit_code),
        )
        .route("/device/decision", post(pages::device::decision))
        .route("/account/mfa", get(pages::account_mfa::show))
        .route("/account/mfa/totp", post(pages::account_mfa::totp_start))
        .route(
            "/account/mfa/totp/confirm",
            post(pages::account_mfa::totp_confirm),
        )
        .route(
            "/account/mfa/disable",
            post(pages::account_mfa::disable_form),
        )
        .route(
            "/account/mfa/backup-codes",
            post(pages::account_mfa::backup_codes_form),
        )
        .route(
            "/account/mfa/keys/{id}/remove",
            post(pages::account_mfa::remove_key_form),
        )
        .route("/static/ward.css", get(pages::stylesheet))
        .route("/static/webauthn.js", get(pages::webauthn_script))
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
        .route(
            "/.well-known/oauth-protected-resource",
            get(oauth::discovery::protected_resource_root),
        )
        .route(
            "/.well-known/oauth-protected-resource/{*prefix}",
            get(oauth::discovery::protected_resource),
        )
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
        .route(
            "/oauth/logout",
            get(oauth::end_session::end_session).post(oauth::end_session::end_session_post),
        )
        .route("/oauth/introspect", post(oauth::introspect::introspect))
        .route("/oauth/register", post(oauth::register::register))
        .route(
            "/oauth/userinfo",
            get(oauth::userinfo::userinfo).post(oauth::userinfo::userinfo_post),
        )
        // ward API. Every `/api/…` and `/oauth/…` route is in the OpenAPI document
        // (`openapi.rs`); `tests/it/openapi.rs` reads this table to check it.
        .route("/api/openapi.json", get(openapi::document))
        .route("/api/profile", get(api::profile::profile))
        .route(
            "/api/auth/validate",
            get(crate::proxy::forward_auth::validate),
        )
        .route("/api/auth/refresh", post(api::auth::refresh))
        .route("/api/auth/logout", post(api::auth::logout))
        .route("/api/auth/tool-token", post(api::auth::tool_token))
        .route(
            "/api/auth/terminal-sign-in",
            post(api::auth::terminal_sign_in),
        )
        .route("/api/auth/reauth", post(api::auth::reauth))
        .route("/api/auth/guest", post(api::auth::guest))
        .route("/api/sessions", get(api::sessions::list))
        .route("/api/sessions/{id}", delete(api::sessions::revoke))
        .route(
            "/api/tokens",
            get(api::tokens::list).post(api::tokens::create),
        )
        .route("/api/tokens/validate", get(api::tokens::validate))
        .route("/api/tokens/{id}", delete(api::tokens::revoke))
        .route(
            "/api/admin/users",
            get(api::admin::list_users).post(api::admin::create_user),
        )
        .route(
            "/api/admin/users/{id}",
            patch(api::admin::patch_user).delete(api::admin_accounts::delete_user),
        )
        .route(
            "/api/admin/users/{id}/recovery",
            post(api::admin_accounts::recovery_link),
        )
        .route(
            "/api/admin/users/{id}/mfa/reset",
            post(api::admin_accounts::reset_mfa),
        )
        .route(
            "/api/admin/users/{id}/approve",
            post(api::invitations::approve),
        )
        .route("/api/admin/users/{id}/deny", post(api::invitations::deny))
        .route(
            "/api/admin/invitations",
            get(api::invitations::list).post(api::invitations::create),
        )
        .route("/api/account/password", post(api::account::change_password))
        .route("/api/account/email", post(api::account::change_email))
        .route(
            "/api/admin/service-accounts",
            get(api::service_accounts::list).post(api::service_accounts::create),
        )
        .route("/api/admin/clients", get(api::clients::list))
        .route(
            "/api/admin/clients/{client_id}",
            delete(api::clients::delete),
        )
        .route(
            "/api/admin/registration-tokens",
            post(api::clients::create_token),
        )
        .route(
            "/api/admin/service-accounts/{id}",
            delete(api::service_accounts::delete),
        )
        .route(
            "/api/admin/service-accounts/{id}/tokens",
            post(api::service_accounts::create_token),
        )
        .route(
            "/api/admin/service-accounts/{id}/tokens/{token_id}",
            delete(api::service_accounts::revoke_token),
        )
        .route("/api/admin/audit", get(api::admin::audit_log))
        .route("/api/admin/events", get(api::events::stream))
        .route(
            "/api/admin/webhooks/deliveries",
            get(api::webhooks::deliveries),
        )
        .route(
            "/api/admin/webhooks/deliveries/{id}/resend",
            post(api::webhooks::resend),
        )
        .route("/api/admin/sessions", get(api::sessions::admin_list))
        .route(
            "/api/admin/sessions/{id}",
            delete(api::sessions::admin_revoke),
        )
        .route("/api/mfa", get(api::mfa::status))
        .route("/api/mfa/totp/setup", post(api::mfa::setup))
        .route("/api/mfa/totp/confirm", post(api::mfa::confirm))
        .route("/api/mfa/verify", post(api::mfa::verify))
        .route("/api/mfa/disable", post(api::mfa::disable))
        .route(
            "/api/mfa/backup-codes",
            post(api::mfa::regenerate_backup_codes),
        )
        .route(
            "/api/mfa/webauthn/register/start",
            post(api::webauthn::register_start),
        )
        .route(
            "/api/mfa/webauthn/register/finish",
            post(api::webauthn::register_finish),
        )
        .route(
            "/api/mfa/webauthn/authenticate/start",
            post(api::webauthn::authenticate_start),
        )
        .route(
            "/api/mfa/webauthn/authenticate/finish",
            post(api::webauthn::authenticate_finish),
        )
        .route("/api/mfa/webauthn/credentials", get(api::webauthn::list))
        .route(
            "/api/mfa/webauthn/credentials/{id}",
            delete(api::webauthn::remove),
        )
        .route("/api/security/{kind}/{id}", get(api::security::status))
        .route(
            "/api/security/{kind}/{id}/mfa-lock",
            post(api::security::lock),
        )
        .route(
            "/api/security/{kind}/{id}/mfa-unlock",
            post(api::security::unlock),
        )
        .route(
            "/api/security/{kind}/{id}/verify",
            post(api::security::verify),
        )
        .route(
            "/api/security/{kind}/{id}/verify/start",
            post(api::security::verify_start),
        )
        .route(
            "/api/security/{kind}/{id}/verify/request",
            post(api::stepup::request),
        )
        .route("/api/security/verify/poll", post(api::stepup::poll))
        .route("/api/ssh/ca", get(api::ssh::ca))
        .route("/api/ssh/certificates", post(api::ssh::certificate))
        .route(
            "/approve/{id}",
            get(pages::approve::approve_page).post(pages::approve::submit),
        )
        .route("/approve/{id}/passkey", post(pages::approve::passkey_start))
        // Operations
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        // The identity-aware proxy for `[[routes]]`; the JSON 404 for everything else.
        .fallback(crate::proxy::fallback(&state.config.routes))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::branding::scope,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::log_requests,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal("handler panicked").into_response()
        }))
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

/// 405: JSON for the API, a page for a browser at one of ward's pages (`GET /account/tokens`
/// typed into the address bar must not show raw JSON).
async fn method_not_allowed(uri: axum::http::Uri, headers: axum::http::HeaderMap) -> Response {
    let path = uri.path();
    let api = path.starts_with("/api/") || path.starts_with("/oauth/");
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if wants_html && !api {
        return pages::message_page(
            StatusCode::METHOD_NOT_ALLOWED,
            "Nothing to see here",
            "This address is where a form sends its answer; it has no page of its own.",
        );
    }
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not accept that method",
    )
    .into_response()
}
