//! Workload identity federation (SPEC §2.15): an external OpenID provider's ID token (a CI job's,
//! say) is verified against the issuer's discovery document and JWKS — signature, `iss`,
//! `aud`, `exp` on ward's clock — and then against the `[[trust]]` entries for that issuer
//! (every listed claim, exact or `*` glob; `ward_core::exchange`). The issuer's keys are cached
//! for ten minutes and re-read when a token names a key id they do not have (a rotation), at
//! most every [`REFETCH_EVERY_SECS`] so that made-up key ids cannot make ward hammer the issuer.

pub mod config;

use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::core::{CoreIdToken, CoreIdTokenVerifier};
use openidconnect::{ClaimsVerificationError, ClientId, Nonce, SignatureVerificationError};
use serde_json::{Map, Value};

use crate::idp::oidc;
use crate::state::AppState;
use config::TrustConfig;

/// Discovery documents and JWKS are trusted this long.
const METADATA_TTL_SECS: i64 = 600;
/// An unknown key id re-reads the issuer's keys at most this often.
const REFETCH_EVERY_SECS: i64 = 10;

/// The claims of a JWT, read without verifying it (to choose the issuer's keys).
fn unverified_claims(token: &str) -> Option<Map<String, Value>> {
    let mut parts = token.split('.');
    let (_, payload, _) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

fn audiences(claims: &Map<String, Value>) -> Vec<String> {
    match claims.get("aud") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

async fn metadata(state: &AppState, issuer: &str, fresh: bool) -> Result<oidc::Metadata, String> {
    let now = state.clock.now().0;
    {
        let cache = state.idp.trust.lock().await;
        if let Some((m, at)) = cache.get(issuer) {
            let age = now - at;
            let usable = (0..METADATA_TTL_SECS).contains(&age);
            if usable && (!fresh || age < REFETCH_EVERY_SECS) {
                return Ok(m.clone());
            }
        }
    }
    let m = oidc::discover(state, issuer)
        .await
        .map_err(|e| format!("cannot read the keys of {issuer}: {}", e.detail()))?;
    state
        .idp
        .trust
        .lock()
        .await
        .insert(issuer.to_string(), (m.clone(), now));
    Ok(m)
}

fn verify(
    state: &AppState,
    id_token: &CoreIdToken,
    metadata: &oidc::Metadata,
    audience: &str,
) -> Result<(), ClaimsVerificationError> {
    let now = state.clock.now().0;
    let mut verifier = CoreIdTokenVerifier::new_public_client(
        ClientId::new(audience.to_string()),
        metadata.issuer().clone(),
        metadata.jwks().clone(),
    )
    .set_time_fn(move || {
        chrono::DateTime::from_timestamp(now, 0).unwrap_or(chrono::DateTime::UNIX_EPOCH)
    });
    verifier = verifier.set_allowed_algs(metadata.id_token_signing_alg_values_supported().clone());
    // A workload's token answers no authorization request of ward's: there is no nonce.
    id_token
        .claims(&verifier, |_: Option<&Nonce>| Ok(()))
        .map(|_| ())
}

fn describe(e: &ClaimsVerificationError, issuer: &str) -> String {
    match e {
        ClaimsVerificationError::Expired(_) => "the ID token expired".into(),
        ClaimsVerificationError::InvalidAudience(d) => format!("wrong audience: {d}"),
        ClaimsVerificationError::InvalidIssuer(d) => format!("wrong issuer: {d}"),
        ClaimsVerificationError::SignatureVerification(_) => {
            format!("the ID token's signature does not verify with the keys of {issuer}")
        }
        other => format!("the ID token is not valid: {other}"),
    }
}

/// A workload's ID token that a `[[trust]]` entry accepts.
pub struct Accepted<'a> {
    pub entry: &'a TrustConfig,
    pub claims: Map<String, Value>,
}

/// Verifies `token` and finds the `[[trust]]` entry that accepts it.
///
/// # Errors
/// A description for `invalid_grant` naming what failed: not a JWT, an issuer without a trust
/// entry, an untrusted audience, the signature, expiry, or a claim that does not match. Also
/// the issuer's discovery failing (down, bad document).
pub async fn accept<'a>(state: &'a AppState, token: &str) -> Result<Accepted<'a>, String> {
    let unverified = unverified_claims(token).ok_or("subject_token is not a JWT")?;
    let issuer = unverified
        .get("iss")
        .and_then(Value::as_str)
        .ok_or("the ID token has no iss claim")?
        .to_string();
    let for_issuer: Vec<&TrustConfig> = state
        .config
        .trust
        .iter()
        .filter(|t| t.issuer == issuer)
        .collect();
    if for_issuer.is_empty() {
        return Err(format!("no [[trust]] entry for issuer {issuer}"));
    }
    let auds = audiences(&unverified);
    let candidates: Vec<&TrustConfig> = for_issuer
        .iter()
        .copied()
        .filter(|t| auds.contains(&t.audience))
        .collect();
    let Some(first) = candidates.first() else {
        let expected: Vec<&str> = for_issuer.iter().map(|t| t.audience.as_str()).collect();
        return Err(format!(
            "wrong audience: the ID token is for {}, and {issuer} is trusted only for {}",
            auds.join(", "),
            expected.join(", ")
        ));
    };
    let id_token = CoreIdToken::from_str(token)
        .map_err(|e| format!("subject_token is not an ID token: {e}"))?;
    let meta = metadata(state, &issuer, false).await?;
    match verify(state, &id_token, &meta, &first.audience) {
        Ok(()) => {}
        // A key id the cached JWKS lacks: the issuer may have rotated its keys.
        Err(ClaimsVerificationError::SignatureVerification(
            SignatureVerificationError::NoMatchingKey,
        )) => {
            let meta = metadata(state, &issuer, true).await?;
            verify(state, &id_token, &meta, &first.audience).map_err(|e| describe(&e, &issuer))?;
        }
        Err(e) => return Err(describe(&e, &issuer)),
    }
    // Verified: the claims read above are the issuer's.
    let mut first_mismatch = None;
    for entry in &candidates {
        match ward_core::exchange::check_claims(&unverified, &entry.claims) {
            Ok(()) => {
                return Ok(Accepted {
                    entry,
                    claims: unverified,
                })
            }
            Err(m) => {
                first_mismatch.get_or_insert(m);
            }
        }
    }
    Err(first_mismatch.map_or_else(
        || "no [[trust]] entry accepts this ID token".to_string(),
        |m| m.to_string(),
    ))
}

/// The issuer of a JWT, unverified, for audit events of refusals.
pub fn claimed_issuer(token: &str) -> Option<String> {
    unverified_claims(token)?
        .get("iss")?
        .as_str()
        .map(str::to_string)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_claims_without_verifying() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"iss":"https://i.example","aud":["a","b"]}"#);
        let token = format!("e30.{payload}.c2ln");
        let claims = unverified_claims(&token).unwrap();
        assert_eq!(audiences(&claims), ["a", "b"]);
        assert_eq!(claimed_issuer(&token).as_deref(), Some("https://i.example"));
        assert!(unverified_claims("a.b").is_none());
        assert!(unverified_claims("not-a-jwt").is_none());
    }
}
