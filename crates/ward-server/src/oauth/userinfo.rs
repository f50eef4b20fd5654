//! The OIDC UserInfo endpoint.

use axum::Json;
use serde::Serialize;
use ward_proto::ErrorBody;

use crate::auth::Caller;

/// OIDC Core §5.3.2 claims.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserInfoClaims {
    pub sub: String,
    pub email: String,
    pub email_verified: bool,
    pub name: String,
}

/// The UserInfo endpoint (OIDC Core §5.3) by GET.
#[utoipa::path(
    get,
    path = "/oauth/userinfo",
    operation_id = "oauth_userinfo",
    tag = "oauth",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "Claims about the user", body = UserInfoClaims),
        (status = 401, description = "No valid access token (`invalid_token`)", body = ErrorBody),
    )
)]
pub async fn userinfo(caller: Caller) -> Json<UserInfoClaims> {
    Json(UserInfoClaims {
        sub: caller.user.id.into(),
        email: caller.user.email,
        email_verified: caller.user.email_verified,
        name: caller.user.name,
    })
}

/// The UserInfo endpoint by POST (OIDC Core §5.3.1): the same answer.
#[utoipa::path(
    post,
    path = "/oauth/userinfo",
    operation_id = "oauth_userinfo_post",
    tag = "oauth",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "Claims about the user", body = UserInfoClaims),
        (status = 401, description = "No valid access token (`invalid_token`)", body = ErrorBody),
    )
)]
pub async fn userinfo_post(caller: Caller) -> Json<UserInfoClaims> {
    userinfo(caller).await
}
