//! DPoP proofs (RFC 9449) made by the client: a P-256 key per profile, kept in the profile's
//! credential store like its tokens, and a fresh proof for every request.

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
    #[error("the stored DPoP key is not a P-256 private key")]
    BadKey,
    #[error("cannot sign a DPoP proof: {0}")]
    Sign(String),
}

/// A profile's proof-of-possession key (ES256).
#[derive(Clone)]
pub struct DpopKey {
    secret: p256::SecretKey,
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
    /// A new random key.
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

    /// The key stored by [`DpopKey::to_secret`].
    ///
    /// # Errors
    /// [`DpopKeyError::BadKey`] for anything else.
    pub fn from_secret(text: &str) -> Result<DpopKey, DpopKeyError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(text.trim())
            .map_err(|_| DpopKeyError::BadKey)?;
        Self::from_scalar(&bytes)
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
            secret,
            jwk,
            thumbprint,
        })
    }

    /// The private scalar, base64url: what the credential store keeps.
    pub fn to_secret(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.secret.to_bytes())
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
        let mut header = Header::new(Algorithm::ES256);
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
