//! SSH certificates (SPEC §2.17): `POST /api/ssh/certificates`.

use serde::{Deserialize, Serialize};

/// `POST /api/ssh/certificates`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CertificateBody {
    /// One OpenSSH public key line (Ed25519, ECDSA, or RSA of at least 3072 bits).
    pub public_key: String,
    /// The login names wanted; default: every principal the account is granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principals: Option<Vec<String>>,
    /// The host to log in to; required when `ssh.lock_kind` is set (a locked host needs a
    /// ticket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// A ticket from `POST /api/security/{kind}/{host}/verify` (or `X-Ward-Ticket`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
}

/// An OpenSSH user certificate signed by ward's CA.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CertificateIssued {
    /// `ssh-ed25519-cert-v01@openssh.com AAAA…`: save it as `<key>-cert.pub`.
    pub certificate: String,
    /// Unix seconds after which sshd refuses it.
    pub valid_before: i64,
    pub principals: Vec<String>,
    /// `ward:<email>:<session id>`, as sshd logs it.
    pub key_id: String,
}
