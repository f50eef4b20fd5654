//! DPoP proofs (RFC 9449) made by the client: a key per profile, kept in the profile's
//! credential store like its tokens, and a fresh proof for every request. New keys are Ed25519
//! (EdDSA) when the server advertises it, P-256 (ES256) otherwise (decision 181).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::EncodePrivateKey;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use url::Url;

/// Why a key could not be read or a proof made.
#[derive(Debug, thiserror::Error)]
pub enum DpopKeyError {
    #[error("the stored DPoP key is not a P-256 or Ed25519 private key")]
    BadKey,
    #[error("cannot sign a DPoP proof: {0}")]
    Sign(String),
}

/// How an Ed25519 key's stored form starts; a P-256 key (the older, default form) is the bare
/// base64url scalar.
const ED25519_PREFIX: &str = "ed25519:";

/// The private part of a [`DpopKey`].
#[derive(Clone)]
enum Secret {
    P256(p256::SecretKey),
    /// The RFC 8032 seed.
    Ed25519([u8; 32]),
}

/// A profile's proof-of-possession key: ES256 (P-256) or EdDSA (Ed25519).
#[derive(Clone)]
pub struct DpopKey {
    secret: Secret,
    alg: Algorithm,
    encoding: EncodingKey,
    jwk: jsonwebtoken::jwk::Jwk,
    thumbprint: String,
}

impl std::fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopKey")
            .field("thumbprint", &self.thumbprint)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct ProofClaims<'a> {
    jti: String,
    htm: &'a str,
    htu: String,
    iat: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    ath: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
}

impl DpopKey {
    /// A new random P-256 (ES256) key.
    pub fn generate() -> DpopKey {
        loop {
            let mut bytes = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            // A scalar ≥ the group order (probability ~2^-32) is simply drawn again.
            if let Ok(key) = Self::from_scalar(&bytes) {
                return key;
            }
        }
    }

    /// A new random Ed25519 (EdDSA) key: cheaper for the server to verify (decision 181).
    pub fn generate_ed25519() -> DpopKey {
        let mut seed = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut seed);
        // Every 32-byte seed is a valid key.
        Self::from_seed(seed).unwrap_or_else(|_| Self::generate())
    }

    /// A new key for a server that verifies `algs` (its `dpop_signing_alg_values_supported`):
    /// Ed25519 when it lists EdDSA, P-256 when it lists ES256, none otherwise.
    pub fn for_server(algs: &[String]) -> Option<DpopKey> {
        if algs.iter().any(|a| a == "EdDSA") {
            Some(Self::generate_ed25519())
        } else if algs.iter().any(|a| a == "ES256") {
            Some(Self::generate())
        } else {
            None
        }
    }

    /// The key stored by [`DpopKey::to_secret`].
    ///
    /// # Errors
    /// [`DpopKeyError::BadKey`] for anything else.
    pub fn from_secret(text: &str) -> Result<DpopKey, DpopKeyError> {
        let text = text.trim();
        if let Some(seed) = text.strip_prefix(ED25519_PREFIX) {
            let seed: [u8; 32] = URL_SAFE_NO_PAD
                .decode(seed)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or(DpopKeyError::BadKey)?;
            return Self::from_seed(seed);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| DpopKeyError::BadKey)?;
        Self::from_scalar(&bytes)
    }

    fn from_seed(seed: [u8; 32]) -> Result<DpopKey, DpopKeyError> {
        let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
        let der = signing.to_pkcs8_der().map_err(|_| DpopKeyError::BadKey)?;
        let x = URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes());
        // RFC 7638: the required members in lexicographic order, no whitespace.
        let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
        let thumbprint = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        let jwk = serde_json::from_value(serde_json::json!({
            "kty": "OKP", "crv": "Ed25519", "x": x,
        }))
        .map_err(|_| DpopKeyError::BadKey)?;
        Ok(DpopKey {
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            secret: Secret::Ed25519(seed),
            alg: Algorithm::EdDSA,
            jwk,
            thumbprint,
        })
    }

    fn from_scalar(bytes: &[u8]) -> Result<DpopKey, DpopKeyError> {
        let secret = p256::SecretKey::from_slice(bytes).map_err(|_| DpopKeyError::BadKey)?;
        let der = secret.to_pkcs8_der().map_err(|_| DpopKeyError::BadKey)?;
        let point = secret.public_key().to_encoded_point(false);
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            return Err(DpopKeyError::BadKey);
        };
        let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
        // RFC 7638: the required members in lexicographic order, no whitespace.
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let thumbprint = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        let jwk = serde_json::from_value(serde_json::json!({
            "kty": "EC", "crv": "P-256", "x": x, "y": y,
        }))
        .map_err(|_| DpopKeyError::BadKey)?;
        Ok(DpopKey {
            encoding: EncodingKey::from_ec_der(der.as_bytes()),
            secret: Secret::P256(secret),
            alg: Algorithm::ES256,
            jwk,
            thumbprint,
        })
    }

    /// The proofs' algorithm: `ES256` or `EdDSA`.
    pub fn alg(&self) -> &'static str {
        match self.alg {
            Algorithm::EdDSA => "EdDSA",
            _ => "ES256",
        }
    }

    /// What the credential store keeps: a P-256 key's private scalar (base64url), or
    /// `ed25519:` and an Ed25519 key's seed (base64url).
    pub fn to_secret(&self) -> String {
        match &self.secret {
            Secret::P256(secret) => URL_SAFE_NO_PAD.encode(secret.to_bytes()),
            Secret::Ed25519(seed) => format!("{ED25519_PREFIX}{}", URL_SAFE_NO_PAD.encode(seed)),
        }
    }

    /// RFC 7638 thumbprint: the `cnf.jkt` of tokens bound to this key.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// A proof for one request (RFC 9449 §4.2): `method` and `url` (query and fragment
    /// dropped), `now` in Unix seconds, the access token's hash when one is sent with it, and
    /// the server's nonce when it asked for one.
    ///
    /// # Errors
    /// [`DpopKeyError::Sign`] if signing fails.
    pub fn proof(
        &self,
        method: &str,
        url: &Url,
        access_token: Option<&str>,
        nonce: Option<&str>,
        now: u64,
    ) -> Result<String, DpopKeyError> {
        let mut htu = url.clone();
        htu.set_query(None);
        htu.set_fragment(None);
        let mut jti = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut jti);
        let claims = ProofClaims {
            jti: URL_SAFE_NO_PAD.encode(jti),
            htm: method,
            htu: htu.to_string(),
            iat: now,
            ath: access_token.map(|t| URL_SAFE_NO_PAD.encode(Sha256::digest(t.as_bytes()))),
            nonce,
        };
        let mut header = Header::new(self.alg);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(self.jwk.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|e| DpopKeyError::Sign(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_survives_its_stored_form() {
        let key = DpopKey::generate();
        let again = DpopKey::from_secret(&key.to_secret()).unwrap();
        assert_eq!(key.thumbprint(), again.thumbprint());
        assert!(DpopKey::from_secret("not a key").is_err());
    }

    #[test]
    fn an_ed25519_key_survives_its_stored_form_and_signs_eddsa() {
        let key = DpopKey::generate_ed25519();
        assert!(key.to_secret().starts_with(ED25519_PREFIX));
        let again = DpopKey::from_secret(&key.to_secret()).unwrap();
        assert_eq!(key.thumbprint(), again.thumbprint());
        assert_eq!(again.alg(), "EdDSA");
        assert!(DpopKey::from_secret("ed25519:c2hvcnQ").is_err());
        let url = Url::parse("https://ward.example/api/profile").unwrap();
        let proof = again.proof("GET", &url, None, None, 1).unwrap();
        let header = proof.split('.').next().unwrap();
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
        assert_eq!(header["alg"], "EdDSA");
        assert_eq!(header["jwk"]["kty"], "OKP");
        assert_eq!(header["jwk"]["crv"], "Ed25519");
    }

    #[test]
    fn the_server_s_algorithms_choose_the_key() {
        let algs = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let alg = |a: &[&str]| DpopKey::for_server(&algs(a)).map(|k| k.alg());
        assert_eq!(alg(&["ES256", "EdDSA"]), Some("EdDSA"));
        assert_eq!(alg(&["ES256"]), Some("ES256"));
        assert_eq!(alg(&["RS256"]), None);
    }

    #[test]
    fn a_proof_names_the_request_without_its_query() {
        let key = DpopKey::generate();
        let url = Url::parse("https://ward.example/api/profile?x=1#f").unwrap();
        let proof = key
            .proof("GET", &url, Some("tok"), None, 1_800_000_000)
            .unwrap();
        let payload = proof.split('.').nth(1).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(claims["htu"], "https://ward.example/api/profile");
        assert_eq!(claims["htm"], "GET");
        assert_eq!(
            claims["ath"],
            URL_SAFE_NO_PAD.encode(Sha256::digest(b"tok"))
        );
    }
}
