//! SSH user certificates (SPEC §2.17): which keys are accepted, which principals a user gets,
//! the lock on the host kind, and the audit record. Signing is `crate::ssh`.

use serde_json::json;
use ssh_key::public::KeyData;
use ssh_key::{HashAlg, PublicKey};
use ward_core::audit::Outcome;
use ward_core::scope::{Action, Permission};

use crate::audit::{self, Audit};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::ssh::config::{is_principal, Principals};
use crate::ssh::{sign, CertificateRequest};
use crate::state::AppState;

/// RSA keys below this many bits are refused (NIST SP 800-57: 3072 bits for 128-bit security).
pub const MIN_RSA_BITS: usize = 3072;

/// What the caller asked for.
pub struct Ask<'a> {
    pub public_key: &'a str,
    /// Principals asked for; all that are granted when `None`.
    pub principals: Option<&'a [String]>,
    /// The host to log in to: the resource id of `ssh.lock_kind`.
    pub host: Option<&'a str>,
    pub ticket: Option<&'a str>,
}

/// An issued certificate.
pub struct Issued {
    pub certificate: String,
    pub valid_before: i64,
    pub principals: Vec<String>,
    pub key_id: String,
}

fn rsa_bits(n: &ssh_key::Mpint) -> usize {
    let bytes = n.as_positive_bytes().unwrap_or_default();
    match bytes.first() {
        Some(first) => bytes.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    }
}

/// Parses the subject key: an OpenSSH public key line of Ed25519, ECDSA or RSA ≥ 3072 bits.
pub fn subject_key(text: &str) -> ApiResult<PublicKey> {
    let key = PublicKey::from_openssh(text.trim()).map_err(|_| {
        ApiError::bad_request(
            "public_key is not an OpenSSH public key: expected one line such as `ssh-ed25519 AAAA… comment` (the contents of ~/.ssh/id_ed25519.pub)",
        )
    })?;
    match key.key_data() {
        KeyData::Ed25519(_) | KeyData::Ecdsa(_) => Ok(key),
        KeyData::Rsa(rsa) => {
            let bits = rsa_bits(&rsa.n);
            if bits < MIN_RSA_BITS {
                return Err(ApiError::bad_request(format!(
                    "RSA keys need at least {MIN_RSA_BITS} bits; this one has {bits}: use ssh-keygen -t ed25519"
                )));
            }
            Ok(key)
        }
        other => Err(ApiError::bad_request(format!(
            "{} keys are not accepted: use Ed25519, ECDSA or RSA of at least {MIN_RSA_BITS} bits",
            other.algorithm()
        ))),
    }
}

/// The principals the caller's account is granted.
pub fn granted(state: &AppState, caller: &Caller) -> ApiResult<Vec<String>> {
    match &state.config.ssh.principals {
        Principals::EmailLocalPart => {
            let local = caller
                .user
                .email
                .split('@')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            if !is_principal(&local) {
                return Err(ApiError::forbidden(format!(
                    "the email's local part {local:?} is not a valid login name; an admin can list principals per role in [ssh] principals"
                )));
            }
            Ok(vec![local])
        }
        Principals::PerRole(map) => match map.get(&caller.user.role) {
            Some(list) if !list.is_empty() => Ok(list.clone()),
            _ => Err(ApiError::forbidden(format!(
                "role {} is granted no SSH principals",
                caller.user.role
            ))),
        },
    }
}

/// Issues a user certificate for `ask.public_key`.
pub async fn issue(
    state: &AppState,
    caller: &Caller,
    ask: Ask<'_>,
    ip: Option<&str>,
) -> ApiResult<Issued> {
    let ssh = &state.config.ssh;
    if !ssh.enabled {
        return Err(ApiError::not_found(
            "SSH certificates are not enabled on this server ([ssh] enabled = true)",
        ));
    }
    let permission = Permission {
        resource: "ssh".into(),
        action: Action::Write,
    };
    crate::authz::require(state, caller, &permission)?;
    let subject = subject_key(ask.public_key)?;
    let granted = granted(state, caller)?;
    let principals = match ask.principals {
        None => granted.clone(),
        Some([]) => {
            return Err(ApiError::bad_request(
                "principals, when given, is not empty",
            ))
        }
        Some(asked) => {
            if let Some(p) = asked.iter().find(|p| !granted.contains(p)) {
                return Err(ApiError::forbidden(format!(
                    "principal {p:?} is not granted to role {} (granted: {})",
                    caller.user.role,
                    granted.join(", ")
                )));
            }
            asked.to_vec()
        }
    };
    if let Some(kind) = &ssh.lock_kind {
        let Some(host) = ask.host else {
            return Err(ApiError::bad_request(format!(
                "host is required: logins are locked per host ({kind} locks)"
            )));
        };
        crate::ops::locks::admit(state, caller, kind, host, ask.ticket, None).await?;
    }
    let holder = crate::ops::locks::holder(caller).unwrap_or_else(|| "none".into());
    let now = state.clock.now();
    // The session id is in the key id, so sshd's log line ("ID … (serial …)") leads back to
    // the session to revoke.
    let key_id = format!("ward:{}:{}", caller.user.email, holder);
    let valid_before = now.plus_secs(ssh.ttl);
    let cert = sign(
        state,
        CertificateRequest {
            subject: subject.clone(),
            principals: &principals,
            key_id: key_id.clone(),
            // A minute back: the host's clock may be a little behind ward's.
            valid_after: now.plus_secs(-60),
            valid_before,
        },
    )
    .await?;
    let certificate = cert
        .to_openssh()
        .map_err(|e| ApiError::internal(format!("ssh certificate encoding: {e}")))?;
    audit::record(
        state,
        Audit::new("ssh.certificate", Outcome::Ok)
            .actor(caller.user.id.as_str())
            .ip(ip)
            .target(ask.host.unwrap_or(""))
            .detail(json!({
                "principals": principals,
                "serial": cert.serial().to_string(),
                "key_id": key_id,
                "fingerprint": subject.fingerprint(HashAlg::Sha256).to_string(),
                "valid_before": valid_before.0,
            })),
    )
    .await;
    Ok(Issued {
        certificate,
        valid_before: valid_before.0,
        principals,
        key_id,
    })
}
