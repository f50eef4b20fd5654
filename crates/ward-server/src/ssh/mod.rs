//! The SSH user CA (SPEC §2.17): an Ed25519 key whose 32-byte seed is sealed under the master
//! key like the signing keys, created on first use, rotatable (`ward server rotate-ssh-ca`);
//! the newest unretired key signs, and a retired key stays published for `ssh.ttl` so that the
//! certificates it signed keep working on hosts that re-read `GET /api/ssh/ca`.

pub mod config;

use ssh_key::certificate::{Builder, CertType};
use ssh_key::private::Ed25519Keypair;
use ssh_key::{Certificate, PrivateKey};
use ward_core::clock::Timestamp;
use ward_core::random::{random_id, Random};
use ward_core::stepup::SshCaKey;
use ward_core::store::Store;

use crate::error::{ApiError, ApiResult};
use crate::keys::MasterKey;
use crate::state::AppState;

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("ssh CA: {e}"))
}

/// A new CA key, its seed sealed under `master`.
///
/// # Errors
/// When sealing or encoding fails.
pub fn new_ca_key(
    master: &MasterKey,
    random: &dyn Random,
    now: Timestamp,
) -> Result<SshCaKey, String> {
    let mut seed = [0u8; 32];
    random.fill(&mut seed);
    let id = format!("sshca_{}", random_id(random));
    let private = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    let mut public = private.public_key().clone();
    public.set_comment(format!("ward user CA {id}"));
    let public_key = public.to_openssh().map_err(|e| e.to_string())?;
    let private_enc = master.seal(&seed, random).map_err(|e| e.to_string())?;
    Ok(SshCaKey {
        id,
        public_key,
        private_enc,
        created_at: now,
        retired_at: None,
    })
}

/// Every CA key, creating the first one when there is none (two replicas racing here each add
/// one; the newer signs and both are published, which is harmless).
async fn keys(state: &AppState) -> ApiResult<Vec<SshCaKey>> {
    let keys = state.store.ssh_ca_keys().await?;
    if !keys.is_empty() {
        return Ok(keys);
    }
    let key = new_ca_key(&state.master_key, state.random.as_ref(), state.clock.now())
        .map_err(internal)?;
    state.store.insert_ssh_ca_key(&key, None).await?;
    Ok(state.store.ssh_ca_keys().await?)
}

/// The public keys hosts should trust (`TrustedUserCAKeys`), newest first: the current key and
/// keys retired less than `ssh.ttl` ago.
pub async fn published(state: &AppState) -> ApiResult<Vec<String>> {
    let now = state.clock.now();
    let ttl = state.config.ssh.ttl;
    Ok(keys(state)
        .await?
        .into_iter()
        .filter(|k| k.retired_at.is_none_or(|at| now < at.plus_secs(ttl)))
        .map(|k| k.public_key)
        .collect())
}

/// What a certificate says; the caller has checked that the user may have it.
pub struct CertificateRequest<'a> {
    pub subject: ssh_key::PublicKey,
    pub principals: &'a [String],
    pub key_id: String,
    pub valid_after: Timestamp,
    pub valid_before: Timestamp,
}

/// Signs a user certificate with the current CA key.
pub async fn sign(state: &AppState, req: CertificateRequest<'_>) -> ApiResult<Certificate> {
    let keys = keys(state).await?;
    let current = keys
        .iter()
        .find(|k| k.retired_at.is_none())
        .or(keys.first())
        .ok_or_else(|| internal("no CA key"))?;
    let seed = state
        .master_key
        .open(&current.id, &current.private_enc)
        .map_err(internal)?;
    let seed: [u8; 32] = seed
        .as_slice()
        .try_into()
        .map_err(|_| internal(format!("{}: the sealed seed is not 32 bytes", current.id)))?;
    let ca = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    let mut nonce = [0u8; 32];
    state.random.fill(&mut nonce);
    let mut serial = [0u8; 8];
    state.random.fill(&mut serial);
    let after = u64::try_from(req.valid_after.0).map_err(internal)?;
    let before = u64::try_from(req.valid_before.0).map_err(internal)?;
    let mut b =
        Builder::new(nonce, req.subject.key_data().clone(), after, before).map_err(internal)?;
    b.serial(u64::from_be_bytes(serial)).map_err(internal)?;
    b.cert_type(CertType::User).map_err(internal)?;
    b.key_id(req.key_id).map_err(internal)?;
    for p in req.principals {
        b.valid_principal(p.clone()).map_err(internal)?;
    }
    // OpenSSH's defaults for a user certificate from `ssh-keygen -s` (minus X11).
    for ext in [
        "permit-agent-forwarding",
        "permit-port-forwarding",
        "permit-pty",
        "permit-user-rc",
    ] {
        b.extension(ext, "").map_err(internal)?;
    }
    b.sign(&ca).map_err(internal)
}

/// A new CA key that signs from now on; the previous keys are retired now and stay published
/// for `ssh.ttl`. Returns the new key's id.
///
/// # Errors
/// The store's, or when sealing fails.
pub async fn rotate(
    store: &dyn Store,
    master: &MasterKey,
    random: &dyn Random,
    now: Timestamp,
) -> Result<String, String> {
    let key = new_ca_key(master, random, now)?;
    store
        .insert_ssh_ca_key(&key, Some(now))
        .await
        .map_err(|e| e.to_string())?;
    Ok(key.id)
}
