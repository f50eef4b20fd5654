//! Second factors: `/api/mfa/*` and `POST /api/auth/reauth`.

use serde::{Deserialize, Serialize};

/// A one-time code: TOTP or a backup code.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CodeBody {
    pub code: String,
}

/// The enrolment material of `POST /api/mfa/totp/setup`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TotpSetup {
    /// The secret, base32.
    pub secret: String,
    pub otpauth_url: String,
    /// The `otpauth_url` as an SVG QR code.
    pub qr_svg: String,
}

/// Fresh backup codes, shown once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BackupCodes {
    pub backup_codes: Vec<String>,
}

/// A successful step-up.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MfaVerified {
    pub verified: bool,
    /// `totp` or `backup_code`.
    pub method: String,
    /// With a backup code: how many are left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_codes_remaining: Option<i64>,
    /// With a backup code: "N remaining".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `POST /api/mfa/disable`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MfaDisabled {
    /// Always false.
    pub enabled: bool,
}

/// `GET /api/mfa`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MfaStatus {
    pub enabled: bool,
    /// `totp` and `backup_code` when enabled.
    pub methods: Vec<String>,
    pub backup_codes_remaining: i64,
    /// Whether the policy requires MFA of the caller's role.
    pub required_by_policy: bool,
    /// Whether the current session passed a second factor; null without a session.
    pub session_verified: Option<bool>,
}

/// `POST /api/auth/reauth`: a TOTP or backup code (accounts with MFA) or the password (accounts
/// without). Exactly one of the two.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReauthRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// `POST /api/auth/reauth`: the session is verified now.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reauthenticated {
    /// RFC 3339, UTC.
    pub verified_at: String,
    /// Until then, account-security operations accept this session.
    pub valid_until: String,
}
