//! The admin API's users and audit log: `/api/admin/users`, `/api/admin/audit`.

use serde::{Deserialize, Serialize};

/// A user. `created_at` is RFC 3339, UTC.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserInfo {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: String,
    pub disabled: bool,
    pub created_at: String,
}

/// `GET /api/admin/users`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserList {
    pub users: Vec<UserInfo>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// `POST /api/admin/users` request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub email: String,
    /// Without one, the user signs in through an identity provider only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// A configured role; the default role when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The display name; the email's local part when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `PATCH /api/admin/users/{id}` request: at least one of these.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PatchUser {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// Break-glass: lets this account sign in with its password or passkey although its email
    /// domain is routed to an identity provider (SPEC §2.13).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_login: Option<bool>,
}

/// One audit event.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEvent {
    pub id: String,
    /// RFC 3339, UTC.
    pub time: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// `ok`, `failed`, `denied`…
    pub outcome: String,
    /// The acting user's id.
    pub actor: Option<String>,
    pub ip: Option<String>,
    pub target: Option<String>,
    /// Event-specific details.
    pub detail: serde_json::Value,
}

/// `GET /api/admin/audit`: newest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    /// Pass as `before` for the next page; null on the last page.
    pub next: Option<String>,
}
