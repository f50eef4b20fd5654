//! WebAuthn (webauthn-rs): security keys and passkeys as a second factor, passwordless sign-in
//! with a discoverable passkey, and step-up. The relying party id is `public_url`'s host.
//!
//! Ceremony states are kept server-side (table `webauthn_ceremonies`, single use, 5 minutes),
//! so any replica can finish what another started.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;
use url::Url;
use webauthn_rs::prelude::{Passkey, Uuid, Webauthn, WebauthnBuilder};

/// The relying party, or `None` (with a warning) when `public_url` cannot be one — an IP
/// address is not a valid RP ID.
pub fn relying_party(public_url: &Url, name: &str) -> Option<Webauthn> {
    let host = public_url.host_str()?;
    if host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') {
        tracing::warn!(%host, "WebAuthn is off: an IP address cannot be a relying party id; set public_url to a host name");
        return None;
    }
    match WebauthnBuilder::new(host, public_url).and_then(|b| b.rp_name(name).build()) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(error = %e, "WebAuthn is off");
            None
        }
    }
}

/// WebAuthn user handles are 16 bytes: ward user ids are 128-bit hex, so they map one to one.
pub fn user_handle(user_id: &str) -> Option<Uuid> {
    let bytes = hex::decode(user_id).ok()?;
    Uuid::from_slice(&bytes).ok()
}

pub fn user_id_of(handle: Uuid) -> String {
    hex::encode(handle.as_bytes())
}

/// A credential id as stored: base64url without padding.
pub fn credential_key(id: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(id)
}

pub fn passkey_key(passkey: &Passkey) -> String {
    credential_key(passkey.cred_id().as_ref())
}

/// Asks the browser for a discoverable (resident) credential, so the same passkey also works
/// for passwordless sign-in. The library's passkey registration leaves this to the
/// authenticator; the server-side checks are unchanged by it.
pub fn prefer_resident_key(mut options: Value) -> Value {
    if let Some(sel) = options
        .get_mut("publicKey")
        .and_then(|pk| pk.get_mut("authenticatorSelection"))
        .and_then(Value::as_object_mut)
    {
        sel.insert("residentKey".into(), Value::from("required"));
        sel.insert("requireResidentKey".into(), Value::from(true));
    }
    options
}
