//! The records ward keeps: users, sessions, authorization codes, device grants, signing keys.

use crate::clock::Timestamp;
use crate::ids::{SessionId, UserId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    /// Lowercased at the edge (see [`normalize_email`]).
    pub email: String,
    pub name: String,
    /// Argon2id PHC string; `None` for accounts that cannot sign in with a password.
    pub password_hash: Option<String>,
    pub role: String,
    pub disabled: bool,
    pub created_at: Timestamp,
    /// Whether the address was verified: by an IdP that said so, by an emailed link, or by an
    /// admin who created the account (SPEC §2.11). Self-signed-up addresses start unverified.
    pub email_verified: bool,
}

/// Emails compare in one canonical form (NFKC, lower case, IDNA domain without a trailing
/// dot): see [`crate::email::normalize`].
pub fn normalize_email(email: &str) -> String {
    crate::email::normalize(email)
}

/// A syntactic check only: one `@`, something on each side, no spaces.
pub fn is_plausible_email(email: &str) -> bool {
    let mut parts = email.splitn(2, '@');
    match (parts.next(), parts.next()) {
        (Some(local), Some(domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !email.chars().any(|c| c.is_whitespace() || c.is_control())
                && email.len() <= 254
        }
        _ => false,
    }
}

/// How a session was started (SPEC §2.7); it decides the session's lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Cli,
    Web,
    Api,
    Guest,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Cli => "cli",
            Channel::Web => "web",
            Channel::Api => "api",
            Channel::Guest => "guest",
        }
    }
    pub fn parse(s: &str) -> Option<Channel> {
        match s {
            "cli" => Some(Channel::Cli),
            "web" => Some(Channel::Web),
            "api" => Some(Channel::Api),
            "guest" => Some(Channel::Guest),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub client_id: String,
    pub channel: Channel,
    pub scope: String,
    pub device_id: Option<String>,
    pub device_name: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub expires_at: Timestamp,
    /// Seconds of inactivity after which the session stops working.
    pub idle_timeout: i64,
    pub mfa_verified: bool,
    /// Authentication methods references (RFC 8176), e.g. `pwd`, `otp`.
    pub amr: Vec<String>,
    pub revoked_at: Option<Timestamp>,
    /// When the owner last proved a second factor (or, without MFA, the password) in this
    /// session: sign-in, step-up or re-authentication. Account security needs it recent.
    pub verified_at: Timestamp,
    /// RFC 9449: the thumbprint of the key this session's refresh token is bound to (public
    /// clients that proved a key at sign-in); a refresh must prove the same key.
    pub dpop_jkt: Option<String>,
    /// RFC 8707 §2.2: the resource (a route's URL) the session's grant was given for, the
    /// audience of every access token it issues; `None` for ward itself (unrestricted).
    pub resource: Option<String>,
}

impl Session {
    /// Why this session cannot be used at `now`, if it cannot. Checked on every use, so an
    /// expired or idle session stops working without any sweeper having run.
    pub fn unusable_reason(&self, now: Timestamp) -> Option<&'static str> {
        if self.revoked_at.is_some() {
            Some("session revoked")
        } else if now >= self.expires_at {
            Some("session expired")
        } else if now >= self.last_seen_at.plus_secs(self.idle_timeout) {
            Some("session idle for too long")
        } else {
            None
        }
    }
    pub fn is_usable(&self, now: Timestamp) -> bool {
        self.unusable_reason(now).is_none()
    }
}

/// An issued authorization code (RFC 6749 §4.1.2), stored by the hash of its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthCode {
    pub code_hash: String,
    pub client_id: String,
    pub user_id: UserId,
    pub redirect_uri: String,
    pub scope: String,
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    pub auth_time: Timestamp,
    pub amr: Vec<String>,
    pub device_id: Option<String>,
    pub device_name: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// The session the first exchange created: revoked if the code is presented again.
    pub session_id: Option<SessionId>,
    /// RFC 8707 §2.2: the `resource` named at the authorization request; the token's `aud`.
    pub resource: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceGrantStatus {
    Pending,
    Approved,
    Denied,
    Consumed,
}

impl DeviceGrantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceGrantStatus::Pending => "pending",
            DeviceGrantStatus::Approved => "approved",
            DeviceGrantStatus::Denied => "denied",
            DeviceGrantStatus::Consumed => "consumed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(DeviceGrantStatus::Pending),
            "approved" => Some(DeviceGrantStatus::Approved),
            "denied" => Some(DeviceGrantStatus::Denied),
            "consumed" => Some(DeviceGrantStatus::Consumed),
            _ => None,
        }
    }
}

/// An RFC 8628 device authorization, stored by the hash of its device code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceGrant {
    pub device_code_hash: String,
    /// Normalized: 8 letters, no dash.
    pub user_code: String,
    pub client_id: String,
    pub scope: String,
    pub device_id: Option<String>,
    pub device_name: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// Seconds the client must wait between polls; grows by 5 on `slow_down`.
    pub interval: i64,
    pub last_polled_at: Option<Timestamp>,
    pub status: DeviceGrantStatus,
    pub user_id: Option<UserId>,
    pub auth_time: Option<Timestamp>,
    pub amr: Vec<String>,
    /// The client address that asked for this grant (`POST /oauth/device/code`).
    pub requested_ip: Option<String>,
}

/// A JWT signing key; the private half is encrypted under the master key by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub alg: String,
    /// The public JWK as JSON text.
    pub public_jwk: String,
    /// Nonce and ciphertext of the PKCS#8 private key, base64.
    pub private_key_enc: String,
    pub created_at: Timestamp,
    /// Set when a newer key took over signing; the key stays published until its tokens expire.
    pub retired_at: Option<Timestamp>,
}

/// A long-lived API token (SPEC §2.3), stored by the hash of its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub token_hash: String,
    /// `resource:action` permissions the token may use (intersected with the owner's).
    pub scopes: Vec<String>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

impl ApiToken {
    pub fn unusable_reason(&self, now: Timestamp) -> Option<&'static str> {
        if self.revoked_at.is_some() {
            Some("API token revoked")
        } else if self.expires_at.is_some_and(|e| now >= e) {
            Some("API token expired")
        } else {
            None
        }
    }
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: String,
    pub at: Timestamp,
    /// e.g. `signin`, `token.created`, `role.changed` (see docs/api.md for the list).
    pub event_type: String,
    /// `ok`, `failed` or `denied`.
    pub outcome: String,
    pub actor_user_id: Option<String>,
    pub actor_ip: Option<String>,
    /// What the event was about (a user id, token id, session id…).
    pub target: Option<String>,
    /// Free-form JSON object with non-secret details.
    pub detail: String,
}

/// Which audit events to list: newest first, `limit` of them, older than `before` (a cursor).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub user_id: Option<String>,
    pub event_type: Option<String>,
    /// Cursor from the previous page: `(at, seq)` of its last event.
    pub before: Option<(i64, i64)>,
    pub limit: i64,
}

/// A user's TOTP enrolment; `confirmed` once a first code was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpEnrolment {
    pub user_id: UserId,
    /// Sealed under the master key by the server.
    pub secret_enc: String,
    pub confirmed: bool,
    /// The last step whose code was accepted: only newer steps are accepted (no replay).
    pub last_step: i64,
    pub created_at: Timestamp,
}

/// Why a sign-in is waiting at the second-factor step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengePurpose {
    /// The user has MFA: ask for a code.
    Verify,
    /// Policy requires MFA and the user has none: enrol first.
    Enrol,
}

impl ChallengePurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            ChallengePurpose::Verify => "verify",
            ChallengePurpose::Enrol => "enrol",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "verify" => Some(ChallengePurpose::Verify),
            "enrol" => Some(ChallengePurpose::Enrol),
            _ => None,
        }
    }
}

/// A sign-in that passed its first factor and waits for the second; no session exists yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaChallenge {
    pub token_hash: String,
    pub user_id: UserId,
    pub purpose: ChallengePurpose,
    pub return_to: String,
    /// Methods used so far (e.g. `pwd`).
    pub amr: Vec<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A single-use permission to open one connection to a locked resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockTicket {
    pub ticket_hash: String,
    pub session_id: String,
    pub kind: String,
    pub resource_id: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// An authentication method reference (RFC 8176) that ward records in a session's `amr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Amr {
    /// A password.
    Pwd,
    /// A one-time code: TOTP or a backup code.
    Otp,
    /// A hardware-bound key: a security key or passkey (WebAuthn).
    Hwk,
    /// A software-bound key.
    Swk,
    /// Signed in at a federated identity provider (ward's own value, as Keycloak and Azure AD use).
    Fed,
    /// More than one factor.
    Mfa,
}

impl Amr {
    pub const fn as_str(self) -> &'static str {
        match self {
            Amr::Pwd => "pwd",
            Amr::Otp => "otp",
            Amr::Hwk => "hwk",
            Amr::Swk => "swk",
            Amr::Fed => "fed",
            Amr::Mfa => "mfa",
        }
    }

    /// Whether `amr` holds this method.
    pub fn is_in(self, amr: &[String]) -> bool {
        amr.iter().any(|m| m == self.as_str())
    }
}

impl From<Amr> for String {
    fn from(amr: Amr) -> String {
        amr.as_str().to_string()
    }
}

/// Whether the methods in `amr` (RFC 8176) include a second factor.
pub fn amr_is_multi_factor(amr: &[String]) -> bool {
    [Amr::Otp, Amr::Hwk, Amr::Swk, Amr::Mfa]
        .iter()
        .any(|m| m.is_in(amr))
}

/// The `amr` after a second factor `method`: the first factor's, plus `method` and `mfa`, each
/// once.
pub fn amr_with(amr: &[String], method: Amr) -> Vec<String> {
    let mut out = amr.to_vec();
    for m in [method, Amr::Mfa] {
        if !m.is_in(&out) {
            out.push(m.into());
        }
    }
    out
}

/// A registered WebAuthn credential (security key or passkey). `passkey` is the library's
/// serialized public-key record: no secret is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebauthnCredential {
    /// Base64url credential id.
    pub credential_id: String,
    pub user_id: UserId,
    pub name: String,
    pub passkey: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

/// What a WebAuthn ceremony is for; a ceremony finishes only as the kind it was started as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CeremonyKind {
    /// Adding a security key or passkey to the account.
    Register,
    /// Passwordless sign-in with a discoverable credential.
    Signin,
    /// The second factor of a sign-in that is waiting for one.
    Mfa,
    /// A fresh check of a signed-in caller (`/reauth`, `amr` refresh).
    StepUp,
    /// A lock, an unlock, a ticket or an approval of a per-resource MFA lock.
    Resource,
}

impl CeremonyKind {
    /// The name stored with the ceremony (and, for sign-in, MFA and step-up, the `mode` a
    /// client asks for).
    pub fn as_str(self) -> &'static str {
        match self {
            CeremonyKind::Register => "register",
            CeremonyKind::Signin => "signin",
            CeremonyKind::Mfa => "mfa",
            CeremonyKind::StepUp => "step-up",
            CeremonyKind::Resource => "resource",
        }
    }

    pub fn parse(name: &str) -> Option<CeremonyKind> {
        [
            CeremonyKind::Register,
            CeremonyKind::Signin,
            CeremonyKind::Mfa,
            CeremonyKind::StepUp,
            CeremonyKind::Resource,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }
}

/// A WebAuthn ceremony in progress (registration or authentication), single use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebauthnCeremony {
    pub id: String,
    pub user_id: Option<UserId>,
    /// A [`CeremonyKind`]'s name.
    pub kind: String,
    /// The library's serialized ceremony state.
    pub state: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A sign-in sent to an upstream identity provider and not yet back (SPEC §2.5). Stored by the
/// hash of its `state` value; the PKCE verifier and the nonce are derived from `state` and the
/// browser's binding cookie, so nothing in this record can finish the sign-in by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpPending {
    pub state_hash: String,
    /// The `[[idp]]` name.
    pub idp: String,
    /// Hash of the browser-binding cookie: the callback must come in the browser that started.
    pub binding_hash: String,
    pub return_to: String,
    pub login_hint: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_factor_adds_its_method_and_mfa_once() {
        let pwd: Vec<String> = vec![Amr::Pwd.into()];
        assert!(!amr_is_multi_factor(&pwd));
        let after = amr_with(&pwd, Amr::Otp);
        assert_eq!(after, ["pwd", "otp", "mfa"]);
        assert!(amr_is_multi_factor(&after));
        assert_eq!(amr_with(&after, Amr::Hwk), ["pwd", "otp", "mfa", "hwk"]);
        assert_eq!(amr_with(&after, Amr::Otp), after);
    }

    #[test]
    fn ceremony_kinds_read_back_their_names() {
        for kind in [
            CeremonyKind::Register,
            CeremonyKind::Signin,
            CeremonyKind::Mfa,
            CeremonyKind::StepUp,
            CeremonyKind::Resource,
        ] {
            assert_eq!(CeremonyKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(CeremonyKind::parse("step_up"), None);
    }
}
