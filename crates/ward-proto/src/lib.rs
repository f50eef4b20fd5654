//! Wire types shared by the ward server and `ward-client`: OAuth 2.0 / OIDC bodies, ward API
//! bodies and error codes, and the two things both sides hold: the [`clock`] and [`secret`]s.
//! Only serde; no IO but the wall clock. With the `openapi` feature each type also
//! derives `utoipa::ToSchema`, for the server's OpenAPI document.

use serde::{Deserialize, Serialize};

mod admin;
pub mod clock;
mod events;
mod locks;
mod mfa;
pub mod registration;
pub mod secret;
mod sessions;
mod ssh;
mod tokens;

pub use admin::*;
pub use events::*;
pub use locks::*;
pub use mfa::*;
pub use sessions::*;
pub use ssh::*;
pub use tokens::*;

/// The built-in public client used by `ward login` (SPEC §2.2).
pub const CLI_CLIENT_ID: &str = "ward-cli";
/// RFC 8628 §3.4 grant type.
pub const DEVICE_CODE_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Every error body of ward: RFC 6749 §5.2 shape, used for the ward API too.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: String,
    pub error_description: String,
}

/// RFC 6749 §5.1 access token response (plus OIDC `id_token`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// RFC 8693 §2.2.1: the type of the token issued by a token exchange.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<String>,
}

/// RFC 8628 §3.2 device authorization response.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceAuthorizationResponse {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: u64,
    pub interval: u64,
}

/// `POST /api/auth/refresh` request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// `POST /api/auth/refresh` response.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RefreshResponse {
    pub access_token: String,
    pub expires_in: u64,
    pub refresh_token: String,
}

/// `GET /api/profile`: who the caller is.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Profile {
    pub id: String,
    pub email: String,
    pub name: String,
    pub roles: Vec<String>,
    pub permissions: Vec<String>,
    pub mfa: MfaSummary,
    pub session: Option<ProfileSession>,
    pub guest: bool,
    /// The role's numeric limits, by name.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub limits: serde_json::Map<String, serde_json::Value>,
    /// Which credential authenticated this request: `access_token`, `api_token` or
    /// `session_cookie`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MfaSummary {
    pub enabled: bool,
    pub methods: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProfileSession {
    pub id: String,
    pub channel: String,
    /// RFC 3339, UTC.
    pub expires_at: String,
}

/// `GET /api/auth/validate` response body (also sent as `X-Ward-*` headers).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ValidateResponse {
    pub user_id: String,
    pub email: String,
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    pub scope: String,
    /// The credential's effective permissions (role ∩ grant), as in `X-Ward-Scopes`.
    #[serde(default)]
    pub permissions: Vec<String>,
    /// `session`, `api_token`, … as in `X-Ward-Credential`.
    #[serde(default)]
    pub credential: String,
    /// The OAuth client the credential was issued to, as in `X-Ward-Client-Id`.
    #[serde(default)]
    pub client_id: String,
}

/// RFC 7662 §2.2 introspection response.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IntrospectionResponse {
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// `POST /api/account/password` request (SPEC §2.14).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    /// At least 12 characters, at most 128, not guessable (zxcvbn score ≥ `password.min_score`)
    /// and not the current one.
    pub new_password: String,
}

/// `POST /api/account/password` response: the password is changed and every other session of
/// the user is signed out.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangePasswordResponse {
    /// How many other sessions were revoked.
    pub sessions_revoked: u64,
}

/// `POST /api/admin/users/{id}/recovery` response: a single-use link where the user sets a
/// new password and enrols MFA again.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecoveryLink {
    pub url: String,
    /// RFC 3339, UTC.
    pub expires_at: String,
}

/// `POST /api/admin/invitations` request (SPEC §2.14, `signup = "invite"`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct InvitationRequest {
    /// The invitee's address, pinned: the account is created with it.
    pub email: String,
    /// A configured role; `default_role` when omitted.
    #[serde(default)]
    pub role: Option<String>,
}

/// An invitation: a single-use link (7 days) where the invitee chooses a password.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Invitation {
    /// The link with its secret; only in the answer that made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub email: String,
    pub role: String,
    /// RFC 3339, UTC.
    pub expires_at: String,
    /// Whether it was also mailed to the invitee (`[smtp]` is set).
    #[serde(default)]
    pub mailed: bool,
}

/// `GET /api/admin/invitations` response: the invitations neither used nor expired.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InvitationList {
    pub invitations: Vec<Invitation>,
}

/// `POST /api/account/email` request (SPEC §2.14): the new address is unverified until the
/// link mailed to it is followed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangeEmailRequest {
    pub email: String,
    /// Needed for an account without MFA (the fresh proof); with MFA, a recent second factor.
    #[serde(default)]
    pub current_password: Option<String>,
}

/// `POST /api/account/email` response.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangeEmailResponse {
    pub email: String,
    /// False until the link mailed to the new address is followed.
    pub email_verified: bool,
    /// Whether a verification link was mailed (`[smtp]` is set).
    pub verification_sent: bool,
}

/// `POST /api/auth/terminal-sign-in` request (`ward login --auth-flow password`, decision 164):
/// the password and, for an account with two-step verification, the code, typed in the terminal
/// that asked for `user_code`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TerminalSignInRequest {
    /// The `user_code` of the caller's own pending device authorization.
    pub user_code: String,
    pub email: String,
    pub password: String,
    /// A TOTP or backup code; needed when the first answer was `mfa_required`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// `POST /api/auth/terminal-sign-in` response: the device code is approved; the next poll of
/// the token endpoint with its `device_code` returns the session.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TerminalSignInResponse {
    pub email: String,
    /// How the account proved itself (`pwd`, `otp`, `mfa`).
    pub amr: Vec<String>,
}

/// `POST /api/admin/service-accounts` request (SPEC §2.15).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountRequest {
    /// Unique; 1 to 64 letters, digits, `.`, `_` or `-`.
    pub name: String,
    /// A configured role (not `guest`): what its tokens may do at most.
    pub role: String,
}

/// A token of a service account, without its secret. Times are RFC 3339, UTC.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceAccountToken {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked: bool,
}

/// A service account and its tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceAccount {
    /// `sa_…`; the audit actor of what its tokens do.
    pub id: String,
    pub name: String,
    pub role: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// The admin who made it.
    pub created_by: Option<String>,
    #[serde(default)]
    pub tokens: Vec<ServiceAccountToken>,
}

/// `GET /api/admin/service-accounts` response, by name.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceAccountList {
    pub service_accounts: Vec<ServiceAccount>,
}

/// `POST /api/admin/service-accounts/{id}/tokens` request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountTokenRequest {
    /// 1 to 100 characters.
    pub name: String,
    /// Permissions (`resource:action`), each one granted by the account's role.
    pub scopes: Vec<String>,
    /// RFC 3339, in the future; none for a token that does not expire.
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// `POST /api/admin/service-accounts/{id}/tokens` response: the token and, this once, its secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedServiceAccountToken {
    #[serde(flatten)]
    pub info: ServiceAccountToken,
    /// The secret, shown only in this response.
    pub token: String,
}
