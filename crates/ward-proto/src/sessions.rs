//! Sessions: `GET /api/sessions` and `GET /api/admin/sessions`.

use serde::{Deserialize, Serialize};

/// A live session. Times are RFC 3339, UTC.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionInfo {
    pub id: String,
    pub user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub channel: String,
    pub client_id: String,
    pub device_id: Option<String>,
    pub device_name: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: String,
    pub last_seen_at: String,
    pub expires_at: String,
    /// When the session ends if it is not used before then.
    pub idle_expires_at: String,
    pub mfa_verified: bool,
    /// The session the request was made with.
    pub current: bool,
}

/// `GET /api/sessions` and `GET /api/admin/sessions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionList {
    pub sessions: Vec<SessionInfo>,
    /// `GET /api/admin/sessions`: pass as `before` for the next (older) page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}
