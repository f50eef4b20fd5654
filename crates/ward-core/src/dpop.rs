//! DPoP proofs (RFC 9449): the checks a proof must pass before ward trusts that the caller holds
//! the private key a token is bound to. No IO: the time, the request as the server saw it, the
//! nonce rule and the replay cache are the caller's.
//!
//! The JWS itself (signature, algorithm, the public key in the header) is `jsonwebtoken`'s
//! work (ES256 through ring), with Ed25519 signatures verified by `ed25519-dalek`; this module adds what RFC 9449 §4.3 asks on top: `typ`, a public key only, `htm`,
//! `htu` (compared after the same path normalisation as every route, SPEC §2.12), the `iat`
//! window, `ath`, the nonce, and the RFC 7638 thumbprint that `cnf.jkt` names.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::clock::Timestamp;

/// RFC 9449 §4.2: the media type of a proof's header.
pub const PROOF_TYP: &str = "dpop+jwt";
/// How far a proof's `iat` may be from the server's clock, either way (SPEC §2.16).
pub const IAT_WINDOW_SECS: i64 = 60;
/// How long a `jti` must be remembered: any proof older than this is refused by its `iat`.
pub const JTI_TTL_SECS: i64 = 2 * IAT_WINDOW_SECS + 5;
/// The lifetime of one server nonce window; a nonce is accepted in its window and the next.
pub const NONCE_WINDOW_SECS: i64 = 300;
/// The algorithms ward verifies (discovery's `dpop_signing_alg_values_supported`).
pub const SIGNING_ALGS: &[&str] = &["ES256", "EdDSA"];
/// Longest proof accepted; a P-256 proof is about 600 bytes.
const MAX_PROOF_LEN: usize = 4096;

/// Why a proof was refused. The text names the failed check and is safe to send to the client
/// (it goes into `error_description`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DpopError {
    #[error("a DPoP proof is required (the DPoP header)")]
    Missing,
    #[error("DPoP proof is malformed: {0}")]
    Malformed(&'static str),
    #[error("DPoP proof typ must be dpop+jwt")]
    Type,
    #[error("DPoP proof algorithm is not supported (use ES256 or EdDSA)")]
    Algorithm,
    #[error("DPoP proof jwk is not an acceptable public key: {0}")]
    Key(&'static str),
    #[error("DPoP proof signature is invalid")]
    Signature,
    #[error("DPoP proof htm does not match the request method")]
    Method,
    #[error("DPoP proof htu does not match the request URL")]
    Url,
    #[error("DPoP proof iat is outside the accepted window of 60 seconds")]
    IssuedAt,
    #[error("DPoP proof ath does not match the access token")]
    AccessTokenHash,
    #[error("DPoP proof has no ath, but an access token is presented")]
    MissingAccessTokenHash,
    #[error("DPoP proof is for another key than the token is bound to")]
    KeyMismatch,
    #[error("DPoP proof jti was already used")]
    Replayed,
    #[error("a DPoP nonce is required: use the one in the DPoP-Nonce header")]
    UseNonce,
}

impl DpopError {
    /// The RFC 9449 error code: `use_dpop_nonce` asks the client to retry with the nonce, every
    /// other refusal is `invalid_dpop_proof`.
    pub fn code(&self) -> &'static str {
        match self {
            DpopError::UseNonce => "use_dpop_nonce",
            _ => "invalid_dpop_proof",
        }
    }
}

/// The request a proof must describe, as the server received it.
#[derive(Debug, Clone, Copy)]
pub struct ExpectedRequest<'a> {
    /// The HTTP method (`htm`), compared exactly (RFC 9110 methods are case-sensitive).
    pub method: &'a str,
    /// The origins (`scheme://host[:port]`, lower case, no default port) this request may
    /// have been addressed to.
    pub origins: &'a [String],
    /// The request's path, already normalised (SPEC §2.12), without query.
    pub path: &'a str,
}

/// What a valid proof establishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    /// RFC 7638 thumbprint of the proof's key (what `cnf.jkt` holds).
    pub jkt: String,
    /// The proof's unique id, to be refused when seen again (hash it before storing).
    pub jti: String,
    pub iat: Timestamp,
}

#[derive(Deserialize)]
struct ProofClaims {
    jti: String,
    htm: String,
    htu: String,
    iat: i64,
    #[serde(default)]
    ath: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
}

/// A proof's protected header, read once.
#[derive(Deserialize)]
struct RawHeader {
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    /// Kept raw: `jsonwebtoken`'s typed `Jwk` would silently drop a private key (`d`).
    #[serde(default)]
    jwk: Option<serde_json::Map<String, serde_json::Value>>,
}

/// What a proof header establishes once checked (`typ`, an acceptable public key for `alg`):
/// the verification key and its thumbprint.
struct CheckedHeader {
    key: ProofKey,
    jkt: String,
}

/// A proof's public key, ready to verify signatures with (parsed once per header).
enum ProofKey {
    /// ES256 through `jsonwebtoken` (ring).
    Es256(DecodingKey),
    /// EdDSA (Ed25519) through `ed25519-dalek`, strict RFC 8032 verification (decision 180):
    /// small-order keys and non-canonical signatures are refused.
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl ProofKey {
    /// Whether `signature` (base64url, as in the proof) signs `input` under this key.
    fn verifies(&self, input: &[u8], signature: &str) -> bool {
        match self {
            ProofKey::Es256(key) => {
                jsonwebtoken::crypto::verify(signature, input, key, Algorithm::ES256)
                    .unwrap_or(false)
            }
            ProofKey::Ed25519(key) => {
                // An Ed25519 signature is exactly 64 bytes (86 base64url characters); the
                // buffer has room for base64's conservative length estimate.
                let mut bytes = [0u8; 72];
                if URL_SAFE_NO_PAD.decode_slice(signature, &mut bytes).ok()
                    != Some(ed25519_dalek::SIGNATURE_LENGTH)
                {
                    return false;
                }
                let Ok(signature) =
                    ed25519_dalek::Signature::from_slice(&bytes[..ed25519_dalek::SIGNATURE_LENGTH])
                else {
                    return false;
                };
                key.verify_strict(input, &signature).is_ok()
            }
        }
    }
}

/// Headers already checked and seen with a valid signature, by their exact base64url text. A
/// client sends the same header (its public key) with every proof, so after its first proof
/// only the signature is verified: no base64, JSON, key construction or thumbprint per request.
/// Bounded: emptied when full.
pub struct HeaderCache {
    entries: Mutex<HashMap<String, Arc<CheckedHeader>>>,
}

/// Distinct client keys remembered by one [`HeaderCache`].
const HEADER_CACHE_ENTRIES: usize = 4096;

impl Default for HeaderCache {
    fn default() -> Self {
        HeaderCache {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl HeaderCache {
    /// [`verify_proof`], with this cache of checked headers.
    ///
    /// # Errors
    /// [`DpopError`] naming the first check that failed.
    pub fn verify(
        &self,
        proof: &str,
        expected: &ExpectedRequest<'_>,
        now: Timestamp,
        access_token: Option<&str>,
        nonce: Option<&dyn Fn(&str) -> bool>,
    ) -> Result<VerifiedProof, DpopError> {
        verify_with(Some(self), proof, expected, now, access_token, nonce)
    }

    fn get(&self, header: &str) -> Option<Arc<CheckedHeader>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(header).cloned()
    }

    fn put(&self, header: &str, checked: Arc<CheckedHeader>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= HEADER_CACHE_ENTRIES {
            entries.clear();
        }
        entries.insert(header.to_owned(), checked);
    }
}

/// Verifies one proof (RFC 9449 §4.3) for `expected`, at `now`. `access_token` is the token
/// presented with it at a resource (its hash must be `ath`); `nonce` is `Some(check)` when the
/// server requires a nonce. Replay (`jti`) is the caller's check, against a store every replica
/// shares.
///
/// # Errors
/// [`DpopError`] naming the first check that failed.
pub fn verify_proof(
    proof: &str,
    expected: &ExpectedRequest<'_>,
    now: Timestamp,
    access_token: Option<&str>,
    nonce: Option<&dyn Fn(&str) -> bool>,
) -> Result<VerifiedProof, DpopError> {
    verify_with(None, proof, expected, now, access_token, nonce)
}

fn verify_with(
    cache: Option<&HeaderCache>,
    proof: &str,
    expected: &ExpectedRequest<'_>,
    now: Timestamp,
    access_token: Option<&str>,
    nonce: Option<&dyn Fn(&str) -> bool>,
) -> Result<VerifiedProof, DpopError> {
    if proof.len() > MAX_PROOF_LEN {
        return Err(DpopError::Malformed("too long"));
    }
    let mut parts = proof.split('.');
    let (Some(header_text), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(DpopError::Malformed("header"));
    };
    let cached = cache.and_then(|c| c.get(header_text));
    let header = match &cached {
        Some(h) => h.clone(),
        None => Arc::new(check_header(header_text)?),
    };
    // The JWS signing input is the proof up to its second dot.
    let signing_input = &proof[..header_text.len() + 1 + payload.len()];
    // The signature itself is a crypto crate's work (ring for ES256, ed25519-dalek for EdDSA).
    if !header.key.verifies(signing_input.as_bytes(), signature) {
        return Err(DpopError::Signature);
    }
    if let (Some(c), None) = (cache, &cached) {
        c.put(header_text, header.clone());
    }
    let claims_error = || DpopError::Malformed("claims (jti, htm, htu and iat are required)");
    let claims: ProofClaims = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(claims_error)?;
    if claims.jti.is_empty() || claims.jti.len() > 256 {
        return Err(DpopError::Malformed("jti"));
    }
    if claims.htm != expected.method {
        return Err(DpopError::Method);
    }
    if !htu_matches(&claims.htu, expected) {
        return Err(DpopError::Url);
    }
    if (now.0 - claims.iat).abs() > IAT_WINDOW_SECS {
        return Err(DpopError::IssuedAt);
    }
    if let Some(token) = access_token {
        let ath = claims
            .ath
            .as_deref()
            .ok_or(DpopError::MissingAccessTokenHash)?;
        if ath != access_token_hash(token) {
            return Err(DpopError::AccessTokenHash);
        }
    }
    if let Some(accept) = nonce {
        match claims.nonce.as_deref() {
            Some(n) if accept(n) => {}
            _ => return Err(DpopError::UseNonce),
        }
    }
    Ok(VerifiedProof {
        jkt: header.jkt.clone(),
        jti: claims.jti,
        iat: Timestamp(claims.iat),
    })
}

/// RFC 9449 §4.3 (4–6) on the header: `typ`, an asymmetric algorithm ward supports, a public
/// key of the matching type, and no private part.
fn check_header(text: &str) -> Result<CheckedHeader, DpopError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| DpopError::Malformed("header"))?;
    let raw: RawHeader =
        serde_json::from_slice(&bytes).map_err(|_| DpopError::Malformed("header"))?;
    if raw.typ.as_deref() != Some(PROOF_TYP) {
        return Err(DpopError::Type);
    }
    let raw_jwk = raw.jwk.ok_or(DpopError::Key("missing"))?;
    let alg = match raw.alg.as_deref() {
        Some("ES256") => Algorithm::ES256,
        Some("EdDSA") => Algorithm::EdDSA,
        _ => return Err(DpopError::Algorithm),
    };
    let private = raw_jwk.contains_key("d");
    let jwk: Jwk = serde_json::from_value(serde_json::Value::Object(raw_jwk))
        .map_err(|_| DpopError::Key("unreadable"))?;
    match (&jwk.algorithm, alg) {
        (AlgorithmParameters::EllipticCurve(p), Algorithm::ES256)
            if p.curve == EllipticCurve::P256 => {}
        (AlgorithmParameters::OctetKeyPair(p), Algorithm::EdDSA)
            if p.curve == EllipticCurve::Ed25519 => {}
        _ => return Err(DpopError::Key("wrong type or curve for alg")),
    }
    if private {
        return Err(DpopError::Key("it holds a private key"));
    }
    let key = match (&jwk.algorithm, alg) {
        (AlgorithmParameters::OctetKeyPair(p), Algorithm::EdDSA) => {
            let bytes: [u8; ed25519_dalek::PUBLIC_KEY_LENGTH] = URL_SAFE_NO_PAD
                .decode(&p.x)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or(DpopError::Key("an Ed25519 x must be 32 bytes"))?;
            let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                .map_err(|_| DpopError::Key("not an Ed25519 point"))?;
            if key.is_weak() {
                return Err(DpopError::Key("a small-order Ed25519 key"));
            }
            ProofKey::Ed25519(key)
        }
        _ => {
            ProofKey::Es256(DecodingKey::from_jwk(&jwk).map_err(|_| DpopError::Key("unreadable"))?)
        }
    };
    let jkt = thumbprint(&jwk).ok_or(DpopError::Key("unsupported key type"))?;
    Ok(CheckedHeader { key, jkt })
}

/// `htu` names the request: same origin (one of `expected.origins`), and the same path after
/// normalisation; its query and fragment are ignored (RFC 9449 §4.3 (9)).
fn htu_matches(htu: &str, expected: &ExpectedRequest<'_>) -> bool {
    // The usual case, the URL exactly as the server sees it: no parsing needed to accept it.
    let bare = htu.split(['?', '#']).next().unwrap_or_default();
    if expected
        .origins
        .iter()
        .any(|o| bare.strip_prefix(o.as_str()) == Some(expected.path))
    {
        return true;
    }
    let Ok(url) = url::Url::parse(htu) else {
        return false;
    };
    if !matches!(url.scheme(), "http" | "https") {
        return false;
    }
    let origin = url.origin().ascii_serialization();
    if !expected
        .origins
        .iter()
        .any(|o| o.eq_ignore_ascii_case(&origin))
    {
        return false;
    }
    crate::path::normalize(url.path()).is_ok_and(|p| p == expected.path)
}

/// `ath`: base64url of the SHA-256 of the access token's ASCII (RFC 9449 §4.2).
pub fn access_token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order, no spaces.
/// `jsonwebtoken` 9 has no thumbprint function.
pub fn thumbprint(jwk: &Jwk) -> Option<String> {
    let canonical = match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
            serde_json::json!({"crv": "P-256", "kty": "EC", "x": p.x, "y": p.y})
        }
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            serde_json::json!({"crv": "Ed25519", "kty": "OKP", "x": p.x})
        }
        _ => return None,
    };
    // serde_json's map keeps keys sorted (no `preserve_order`), which is RFC 7638's order.
    let text = serde_json::to_string(&canonical).ok()?;
    Some(URL_SAFE_NO_PAD.encode(Sha256::digest(text.as_bytes())))
}

/// A token's binding against the proof that came with it: a bound token needs the same key.
///
/// # Errors
/// [`DpopError::KeyMismatch`] when the proof was made with another key.
pub fn check_binding(token_jkt: &str, proof: &VerifiedProof) -> Result<(), DpopError> {
    if subtle_eq(token_jkt.as_bytes(), proof.jkt.as_bytes()) {
        Ok(())
    } else {
        Err(DpopError::KeyMismatch)
    }
}

fn subtle_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Server nonces (RFC 9449 §8) with no state: an HMAC of the time window under a secret every
/// replica derives from the master key, so any replica accepts any replica's nonce and nothing
/// is written. A nonce is good in its window and the next one (5 to 10 minutes).
pub struct NonceKey(Vec<u8>);

impl NonceKey {
    pub fn new(secret: &[u8]) -> NonceKey {
        NonceKey(secret.to_vec())
    }

    fn for_window(&self, window: i64) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            return String::new();
        };
        mac.update(b"ward dpop nonce v1");
        mac.update(&window.to_be_bytes());
        URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..18])
    }

    /// The nonce to hand out now.
    pub fn current(&self, now: Timestamp) -> String {
        self.for_window(now.0.div_euclid(NONCE_WINDOW_SECS))
    }

    /// Whether `nonce` was handed out in this window or the previous one.
    pub fn accepts(&self, nonce: &str, now: Timestamp) -> bool {
        let window = now.0.div_euclid(NONCE_WINDOW_SECS);
        [window, window - 1]
            .iter()
            .any(|w| subtle_eq(self.for_window(*w).as_bytes(), nonce.as_bytes()))
    }
}

#[cfg(test)]
#[path = "dpop_tests.rs"]
mod tests;
