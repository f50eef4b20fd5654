//! `GET /api/profile`: who the caller is.

use axum::extract::State;
use axum::Json;
use ward_proto::{ErrorBody, MfaSummary, Profile, ProfileSession};

use crate::auth::Caller;
use crate::state::AppState;
use crate::time::rfc3339;

/// Who the caller is: identity, role, permissions, MFA state and session.
#[utoipa::path(
    get,
    path = "/api/profile",
    operation_id = "profile_get",
    tag = "profile",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The caller", body = Profile),
        (status = 401, description = "No valid credential", body = ErrorBody),
    )
)]
pub async fn profile(
    State(state): State<AppState>,
    caller: Caller,
) -> crate::error::ApiResult<Json<Profile>> {
    let mfa_methods = crate::mfa::methods(&state, &caller.user.id).await?;
    let role = state.config.roles.get(&caller.user.role);
    let limits = role
        .map(|r| {
            r.limits
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::from(*v)))
                .collect()
        })
        .unwrap_or_default();
    Ok(Json(Profile {
        permissions: state
            .config
            .roles
            .permissions_of(&caller.user.role, &state.config.resources),
        roles: vec![caller.user.role.clone()],
        guest: crate::authz::is_guest(&caller),
        session: caller.session.as_ref().map(|s| ProfileSession {
            id: s.id.to_string(),
            channel: s.channel.as_str().to_string(),
            expires_at: rfc3339(s.expires_at),
        }),
        mfa: MfaSummary {
            enabled: !mfa_methods.is_empty(),
            methods: mfa_methods.iter().map(|m| m.to_string()).collect(),
        },
        credential: Some(caller.credential.as_str().to_string()),
        id: caller.user.id.into(),
        email: caller.user.email,
        name: caller.user.name,
        limits,
    }))
}
