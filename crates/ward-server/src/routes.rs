//! The route table.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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
        .route("/cli-login", get(oauth::authorize::authorize))
        .route(
            "/cli-login/success",
            get(oauth::authorize::cli_login_success),
        )
        // ward API: every `/api/…` and `/oauth/…` route with its OpenAPI operation.
        .merge(api_routes().split_for_parts().0)
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
    let verified = state.keys.read().await.verified_len();
    state.metrics.observe(state.store.pool_stats(), verified);
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

/// Every `/api/…` and `/oauth/…` route, registered with its `#[utoipa::path]` operation: the
/// router and the OpenAPI document (`openapi.rs`) come from this one list, so a route cannot be
/// served undocumented or documented unserved. Handlers sharing a path share a `routes!`.
pub(crate) fn api_routes() -> OpenApiRouter<AppState> {
    use crate::proxy::forward_auth;
    use api::{
        account, admin, admin_accounts, auth, clients, events, invitations, mfa, profile, security,
        service_accounts, sessions, ssh, stepup, tokens, webauthn, webhooks,
    };
    use oauth::{authorize, device, end_session, introspect, register, revoke, token, userinfo};
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(openapi::document))
        // OAuth 2.0 / OpenID Connect
        .routes(routes!(authorize::authorize))
        .routes(routes!(authorize::decision))
        .routes(routes!(token::token))
        .routes(routes!(device::device_authorization))
        .routes(routes!(revoke::revoke))
        .routes(routes!(
            end_session::end_session,
            end_session::end_session_post
        ))
        .routes(routes!(introspect::introspect))
        .routes(routes!(register::register))
        .routes(routes!(userinfo::userinfo, userinfo::userinfo_post))
        // Who the caller is; validation and the CLI's session
        .routes(routes!(profile::profile))
        .routes(routes!(forward_auth::validate))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::tool_token))
        .routes(routes!(auth::terminal_sign_in))
        .routes(routes!(auth::reauth))
        .routes(routes!(auth::guest))
        // The caller's sessions, API tokens and account
        .routes(routes!(sessions::list))
        .routes(routes!(sessions::revoke))
        .routes(routes!(tokens::list, tokens::create))
        .routes(routes!(tokens::validate))
        .routes(routes!(tokens::revoke))
        .routes(routes!(account::change_password))
        .routes(routes!(account::change_email))
        // Admins: users, invitations, machine identities, clients, audit, events, sessions
        .routes(routes!(admin::list_users, admin::create_user))
        .routes(routes!(admin::patch_user, admin_accounts::delete_user))
        .routes(routes!(admin_accounts::recovery_link))
        .routes(routes!(admin_accounts::reset_mfa))
        .routes(routes!(invitations::approve))
        .routes(routes!(invitations::deny))
        .routes(routes!(invitations::list, invitations::create))
        .routes(routes!(service_accounts::list, service_accounts::create))
        .routes(routes!(service_accounts::delete))
        .routes(routes!(service_accounts::create_token))
        .routes(routes!(service_accounts::revoke_token))
        .routes(routes!(clients::list))
        .routes(routes!(clients::delete))
        .routes(routes!(clients::create_token))
        .routes(routes!(admin::audit_log))
        .routes(routes!(events::stream))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(webhooks::resend))
        .routes(routes!(sessions::admin_list))
        .routes(routes!(sessions::admin_revoke))
        // Second factors
        .routes(routes!(mfa::status))
        .routes(routes!(mfa::setup))
        .routes(routes!(mfa::confirm))
        .routes(routes!(mfa::verify))
        .routes(routes!(mfa::disable))
        .routes(routes!(mfa::regenerate_backup_codes))
        .routes(routes!(webauthn::register_start))
        .routes(routes!(webauthn::register_finish))
        .routes(routes!(webauthn::authenticate_start))
        .routes(routes!(webauthn::authenticate_finish))
        .routes(routes!(webauthn::list))
        .routes(routes!(webauthn::remove))
        // Per-resource MFA locks and step-up
        .routes(routes!(security::status))
        .routes(routes!(security::lock))
        .routes(routes!(security::unlock))
        .routes(routes!(security::verify))
        .routes(routes!(security::verify_start))
        .routes(routes!(stepup::request))
        .routes(routes!(stepup::poll))
        // SSH certificates
        .routes(routes!(ssh::ca))
        .routes(routes!(ssh::certificate))
}
