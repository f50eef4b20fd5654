//! DPoP proofs (RFC 9449): the checks a proof must pass before ward trusts that the caller holds
//! the private key a token is bound to. No IO: the time, the request as the server saw it, the
//! nonce rule and the replay cache are the caller's.
//!
//! The JWS itself (signature, algorithm, the public key in the header) is `jsonwebtoken`'s
//! work; this module adds what RFC 9449 §4.3 asks on top: `typ`, a public key only, `htm`,
//! `htu` (compared after the same path normalisation as every route, SPEC §2.12), the `iat`
//! window, `ath`, the nonce, and the RFC 7638 thumbprint that `cnf.jkt` names.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};

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

/// The raw header, read again to refuse a private key (`jwk.d`) that `jsonwebtoken`'s typed
/// `Jwk` would silently drop.
#[derive(Deserialize)]
struct RawHeader {
    #[serde(default)]
    jwk: Option<serde_json::Map<String, serde_json::Value>>,
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
    if proof.len() > MAX_PROOF_LEN {
        return Err(DpopError::Malformed("too long"));
    }
    let header = jsonwebtoken::decode_header(proof).map_err(|_| DpopError::Malformed("header"))?;
    if header.typ.as_deref() != Some(PROOF_TYP) {
        return Err(DpopError::Type);
    }
    let jwk = header.jwk.as_ref().ok_or(DpopError::Key("missing"))?;
    check_public_key(proof, jwk, header.alg)?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| DpopError::Key("unreadable"))?;
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<ProofClaims>(proof, &key, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature
            | jsonwebtoken::errors::ErrorKind::InvalidEcdsaKey
            | jsonwebtoken::errors::ErrorKind::InvalidKeyFormat
            | jsonwebtoken::errors::ErrorKind::Crypto(_) => DpopError::Signature,
            _ => DpopError::Malformed("claims (jti, htm, htu and iat are required)"),
        })?
        .claims;
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
        jkt: thumbprint(jwk).ok_or(DpopError::Key("unsupported key type"))?,
        jti: claims.jti,
        iat: Timestamp(claims.iat),
    })
}

/// RFC 9449 §4.3 (5, 6): an asymmetric algorithm ward supports, a key of the matching type, and
/// no private part.
fn check_public_key(proof: &str, jwk: &Jwk, alg: Algorithm) -> Result<(), DpopError> {
    match (&jwk.algorithm, alg) {
        (AlgorithmParameters::EllipticCurve(p), Algorithm::ES256)
            if p.curve == EllipticCurve::P256 => {}
        (AlgorithmParameters::OctetKeyPair(p), Algorithm::EdDSA)
            if p.curve == EllipticCurve::Ed25519 => {}
        (_, Algorithm::ES256 | Algorithm::EdDSA) => {
            return Err(DpopError::Key("wrong type or curve for alg"))
        }
        _ => return Err(DpopError::Algorithm),
    }
    let raw = proof.split('.').next().unwrap_or_default();
    let bytes = URL_SAFE_NO_PAD
        .decode(raw)
        .map_err(|_| DpopError::Malformed("header"))?;
    let header: RawHeader =
        serde_json::from_slice(&bytes).map_err(|_| DpopError::Malformed("header"))?;
    if header.jwk.is_some_and(|k| k.contains_key("d")) {
        return Err(DpopError::Key("it holds a private key"));
    }
    Ok(())
}

/// `htu` names the request: same origin (one of `expected.origins`), and the same path after
/// normalisation; its query and fragment are ignored (RFC 9449 §4.3 (9)).
fn htu_matches(htu: &str, expected: &ExpectedRequest<'_>) -> bool {
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
