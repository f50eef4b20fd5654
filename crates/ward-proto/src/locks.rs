//! Per-resource MFA locks and step-up (SPEC §2.6, §2.17): `/api/security/*`.

use serde::{Deserialize, Serialize};

/// `GET /api/security/{kind}/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LockStatus {
    pub kind: String,
    pub id: String,
    pub locked: bool,
    /// The id of the user who locked it, shown to admins only; null when unlocked or not an
    /// admin.
    pub locked_by: Option<String>,
}

/// The state after `mfa-lock` or `mfa-unlock`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LockChanged {
    pub kind: String,
    pub id: String,
    pub locked: bool,
}

/// A single-use ticket for one connection to a locked resource, bound to the session (or API
/// token) that asked for it; present it as `X-Ward-Ticket`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ticket {
    pub ticket: String,
    /// Seconds.
    pub expires_in: i64,
}

/// An approval request: open `approve_url` on another device signed in as the same account,
/// then poll `POST /api/security/verify/poll` with `request_id`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerifyRequestStarted {
    pub request_id: String,
    /// The page where the owner approves with a second factor.
    pub approve_url: String,
    /// Seconds until the request expires.
    pub expires_in: i64,
    /// Seconds to wait between polls (RFC 8628 §3.5: `slow_down` adds 5).
    pub interval: i64,
}

/// `POST /api/security/verify/poll`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PollBody {
    pub request_id: String,
}
