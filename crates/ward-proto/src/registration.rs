//! Dynamic client registration (RFC 7591, SPEC §2.15) and the admin's view of clients: the
//! bodies of `POST /oauth/register`, `POST /api/admin/registration-tokens` and
//! `GET /api/admin/clients`.

use serde::{Deserialize, Serialize};

/// RFC 7591 §2: the metadata a client sends to `POST /oauth/register`. Fields ward does not
/// use (`client_uri`, `logo_uri`, `contacts`, …) are ignored, as §2 requires.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientMetadata {
    /// Required: https URLs, or `http://127.0.0.1` / `http://[::1]` loopback ones (RFC 8252);
    /// no fragments.
    #[serde(default)]
    pub redirect_uris: Option<Vec<String>>,
    /// `none` (a public client, PKCE), `client_secret_basic` (the default, RFC 7591 §2) or
    /// `client_secret_post`.
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
    /// `authorization_code` (the default) and optionally `refresh_token`.
    #[serde(default)]
    pub grant_types: Option<Vec<String>>,
    /// `code` (the default).
    #[serde(default)]
    pub response_types: Option<Vec<String>>,
    /// A name to show on the consent page, marked there as unverified.
    #[serde(default)]
    pub client_name: Option<String>,
    /// Space-separated; every one must be in `[registration] max_scopes` (the default: all of
    /// them).
    #[serde(default)]
    pub scope: Option<String>,
}

/// RFC 7591 §3.2.1: the registered client. `client_secret` is shown here once and never
/// again.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientRegistration {
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// Unix seconds.
    pub client_id_issued_at: i64,
    /// `0`: the secret does not expire (only sent with a secret, RFC 7591 §3.2.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub response_types: Vec<String>,
    pub token_endpoint_auth_method: String,
    pub scope: String,
}

/// `POST /api/admin/registration-tokens` request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RegistrationTokenRequest {
    /// Seconds until it expires: 60 to 2,592,000 (30 days); 86,400 (a day) when absent.
    #[serde(default)]
    pub expires_in: Option<i64>,
    /// Whether one registration spends it (the default) or it serves until it expires.
    #[serde(default)]
    pub single_use: Option<bool>,
}

/// `POST /api/admin/registration-tokens` response: the initial access token, shown once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegistrationTokenCreated {
    pub id: String,
    /// Send as `Authorization: Bearer <token>` to `POST /oauth/register`.
    pub token: String,
    /// RFC 3339, UTC.
    pub expires_at: String,
    pub single_use: bool,
}

/// One OAuth client as the admin sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientInfo {
    pub client_id: String,
    /// `configured` (`[[clients]]` or the built-in `ward-cli`) or `registered` (RFC 7591).
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// Whether it authenticates with no secret (PKCE only).
    pub public: bool,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    /// RFC 3339, UTC; registered clients only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

/// `GET /api/admin/clients` response: configured clients first, then registered ones, newest
/// first.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientList {
    pub clients: Vec<ClientInfo>,
}
