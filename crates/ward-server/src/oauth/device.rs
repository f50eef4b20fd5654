//! The device authorization endpoint (RFC 8628 §3.1–3.2).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use ward_core::device::{
    display_user_code, new_user_code, DEFAULT_INTERVAL_SECS, DEVICE_CODE_LIFETIME_SECS,
};
use ward_core::model::{DeviceGrant, DeviceGrantStatus};
use ward_core::scope::ScopeSet;
use ward_core::token::{new_opaque_secret, token_hash};
use ward_core::{OAuthError, OAuthErrorCode, StoreError};
use ward_proto::{DeviceAuthorizationResponse, ErrorBody, DEVICE_CODE_GRANT_TYPE};

use crate::error::ApiResult;
use crate::extract::{ClientIp, FormParams};
use crate::ops::client;
use crate::state::AppState;

/// The form of `POST /oauth/device/code` (documentation only).
#[derive(Debug, utoipa::ToSchema)]
pub struct DeviceAuthorizationForm {
    /// Space-separated; `openid` when absent.
    pub scope: Option<String>,
    /// A stable id of the device, recorded on the session.
    pub device_id: Option<String>,
    /// A human name of the device, shown in session lists.
    pub device_name: Option<String>,
    /// Client authentication by `client_secret_post` or, for a public client, its id alone;
    /// alternatively HTTP Basic (`client_secret_basic`).
    pub client_id: Option<String>,
    /// `client_secret_post`; never together with HTTP Basic.
    pub client_secret: Option<String>,
}

/// The device authorization endpoint (RFC 8628 §3.1), when `device_flow` is on.
#[utoipa::path(
    post,
    path = "/oauth/device/code",
    operation_id = "oauth_device_authorization",
    tag = "oauth",
    security(("client_basic" = []), ()),
    request_body(content = DeviceAuthorizationForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "A device code and the user code to enter at `verification_uri`", body = DeviceAuthorizationResponse),
        (status = 400, description = "`invalid_request`, `unauthorized_client` (also when the device flow is off) or `invalid_scope`", body = ErrorBody),
        (status = 401, description = "Client authentication failed (`invalid_client`)", body = ErrorBody),
        (status = 429, description = "Too many device authorizations from this address (`rate_limits.device_codes_per_ip`)", body = ErrorBody),
    )
)]
pub async fn device_authorization(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    form: FormParams,
) -> ApiResult<Json<DeviceAuthorizationResponse>> {
    if !state.config.device_flow {
        return Err(OAuthError::new(
            OAuthErrorCode::UnauthorizedClient,
            "the device flow is switched off on this server",
        )
        .into());
    }
    let client = client::authenticate(&state, ip.as_deref(), &headers, &form).await?;
    if !client.allows_grant(DEVICE_CODE_GRANT_TYPE) {
        return Err(OAuthError::new(
            OAuthErrorCode::UnauthorizedClient,
            "this client may not use the device flow",
        )
        .into());
    }
    let scope = ScopeSet::parse(form.get("scope").unwrap_or("openid"));
    if let Some(bad) = scope.first_rejected(|s| client.allows_scope(&state, s)) {
        return Err(OAuthError::new(
            OAuthErrorCode::InvalidScope,
            format!("scope {bad} is not allowed for this client"),
        )
        .into());
    }
    let now = state.clock.now();
    // Each request writes a grant for a caller that need not be anyone: limited per address.
    let limits = state.config.rate_limits;
    state
        .limiter
        .hit(
            "device_code_ip",
            ip.as_deref().unwrap_or_default(),
            limits.device_codes_per_ip,
            limits.window_secs,
            now,
        )
        .await?;
    let device_code = new_opaque_secret(state.random.as_ref());
    let short = |name: &str| {
        form.get(name)
            .map(|v| v.chars().take(128).collect::<String>())
    };
    // A user code collision (1 in 20^8 per pair) is retried with a fresh code.
    for _ in 0..5 {
        let user_code = new_user_code(state.random.as_ref());
        let grant = DeviceGrant {
            device_code_hash: token_hash(&device_code),
            user_code: user_code.clone(),
            client_id: client.id().to_string(),
            scope: scope.to_string(),
            device_id: short("device_id"),
            device_name: short("device_name"),
            created_at: now,
            expires_at: now.plus_secs(DEVICE_CODE_LIFETIME_SECS),
            interval: DEFAULT_INTERVAL_SECS,
            last_polled_at: None,
            status: DeviceGrantStatus::Pending,
            user_id: None,
            auth_time: None,
            amr: Vec::new(),
            requested_ip: ip.clone(),
        };
        match state.store.insert_device_grant(&grant).await {
            Ok(()) => {
                let display = display_user_code(&user_code);
                let verification_uri = state.url("/device");
                let complete = format!("{verification_uri}?user_code={display}");
                return Ok(Json(DeviceAuthorizationResponse {
                    device_code,
                    user_code: display,
                    verification_uri,
                    verification_uri_complete: complete,
                    expires_in: DEVICE_CODE_LIFETIME_SECS as u64,
                    interval: DEFAULT_INTERVAL_SECS as u64,
                }));
            }
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(crate::error::ApiError::internal(
        "could not allocate a unique user code",
    ))
}
