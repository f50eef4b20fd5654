//! JWTs ward issues: RFC 9068 access tokens (`typ: at+jwt`) and OIDC ID tokens, ES256.
//! Expiry is checked against ward's own clock (not the library's), so tests control time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, Validation};
use serde::{Deserialize, Serialize};
use ward_core::clock::Timestamp;

use crate::keys::KeyRing;

pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<ward_core::SessionId>,
    pub scope: String,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default)]
    pub amr: Vec<String>,
    /// RFC 9449 §6.1: the key a DPoP-bound token is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// RFC 8693 §4.1: the party acting on the subject's behalf (a delegated token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Actor>,
}

/// RFC 8693 §4.1 actor claim: ward names the acting client.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Actor {
    pub sub: String,
}

/// RFC 7800 confirmation claim; ward binds only to a JWK thumbprint (RFC 9449 §6.1).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Confirmation {
    pub jkt: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub email: String,
    pub email_verified: bool,
    pub name: String,
    pub sid: String,
    pub amr: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("malformed token")]
    Malformed,
    #[error("not an access token")]
    WrongType,
    #[error("unknown signing key")]
    UnknownKey,
    #[error("bad signature or claims")]
    Invalid,
    #[error("token expired")]
    Expired,
    #[error("cannot sign: {0}")]
    Sign(String),
}

pub fn sign_access_token(keys: &KeyRing, claims: &AccessClaims) -> Result<String, JwtError> {
    sign(keys, Some(ACCESS_TOKEN_TYP), claims)
}

pub fn sign_id_token(keys: &KeyRing, claims: &IdClaims) -> Result<String, JwtError> {
    sign(keys, None, claims)
}

#[derive(Serialize)]
struct JwsHeader<'a> {
    alg: &'static str,
    kid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    typ: Option<&'static str>,
}

/// A compact JWS (RFC 7515 §7.1) signed with the ring's current key.
fn sign(
    keys: &KeyRing,
    typ: Option<&'static str>,
    claims: &impl Serialize,
) -> Result<String, JwtError> {
    let header = JwsHeader {
        alg: "ES256",
        kid: keys.signing_kid(),
        typ,
    };
    let header = serde_json::to_vec(&header).map_err(|e| JwtError::Sign(e.to_string()))?;
    let claims = serde_json::to_vec(claims).map_err(|e| JwtError::Sign(e.to_string()))?;
    let mut jws = URL_SAFE_NO_PAD.encode(header);
    jws.push('.');
    URL_SAFE_NO_PAD.encode_string(claims, &mut jws);
    let signature = keys
        .sign(jws.as_bytes())
        .map_err(|e| JwtError::Sign(e.to_string()))?;
    jws.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut jws);
    Ok(jws)
}

/// Verifies an access token's signature, type, issuer, audience and expiry (at `now`).
pub fn verify_access_token(
    keys: &KeyRing,
    token: &str,
    issuer: &str,
    now: Timestamp,
) -> Result<AccessClaims, JwtError> {
    verify_access_token_for(keys, token, issuer, now, |_| false)
}

/// [`verify_access_token`] that also accepts an `aud` other than the issuer when
/// `other_audience` says so (RFC 8707: a token for one of the proxied routes).
pub fn verify_access_token_for(
    keys: &KeyRing,
    token: &str,
    issuer: &str,
    now: Timestamp,
    other_audience: impl Fn(&str) -> bool,
) -> Result<AccessClaims, JwtError> {
    let audience_ok = |aud: &str| aud == issuer || other_audience(aud);
    if let Some(claims) = keys.verified(token) {
        // Same token text, same ring: the signature was checked. The issuer is compared again
        // in case the caller's differs, and expiry is ward's clock now.
        if claims.iss != issuer || !audience_ok(&claims.aud) {
            return Err(JwtError::Invalid);
        }
        if now.0 >= claims.exp {
            return Err(JwtError::Expired);
        }
        return Ok(AccessClaims::clone(&claims));
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?;
    if header.typ.as_deref() != Some(ACCESS_TOKEN_TYP) {
        return Err(JwtError::WrongType);
    }
    if header.alg != Algorithm::ES256 {
        return Err(JwtError::Invalid);
    }
    let key = header
        .kid
        .as_deref()
        .and_then(|kid| keys.decoding_key(kid))
        .ok_or(JwtError::UnknownKey)?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.validate_exp = false; // checked below against ward's clock
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    validation.set_issuer(&[issuer]);
    // Compared below: `aud` is one string in ward's tokens, ward or a route (RFC 8707).
    validation.validate_aud = false;
    let data = jsonwebtoken::decode::<AccessClaims>(token, key, &validation)
        .map_err(|_| JwtError::Invalid)?;
    if !audience_ok(&data.claims.aud) {
        return Err(JwtError::Invalid);
    }
    if now.0 >= data.claims.exp {
        return Err(JwtError::Expired);
    }
    keys.remember_verified(token, std::sync::Arc::new(data.claims.clone()), now);
    Ok(data.claims)
}

/// Verifies an ID token this server issued, given back as an `id_token_hint` (OIDC
/// RP-Initiated Logout 1.0 §2): signature, key and issuer. Expiry is not checked — a hint may
/// be presented long after its token expired — and the audience is returned for the caller to
/// compare with the client.
pub fn verify_id_token_hint(
    keys: &KeyRing,
    token: &str,
    issuer: &str,
) -> Result<IdClaims, JwtError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?;
    if header.typ.as_deref() == Some(ACCESS_TOKEN_TYP) {
        return Err(JwtError::WrongType);
    }
    if header.alg != Algorithm::ES256 {
        return Err(JwtError::Invalid);
    }
    let key = header
        .kid
        .as_deref()
        .and_then(|kid| keys.decoding_key(kid))
        .ok_or(JwtError::UnknownKey)?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["iss", "sub", "aud"]);
    validation.set_issuer(&[issuer]);
    jsonwebtoken::decode::<IdClaims>(token, key, &validation)
        .map(|data| data.claims)
        .map_err(|_| JwtError::Invalid)
}
