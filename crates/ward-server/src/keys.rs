//! Signing keys: ES256 (P-256) keys generated on first start, the private half encrypted at rest
//! with ChaCha20-Poly1305 under the master key, the public half published at the JWKS endpoint.
//! Retired keys stay published until every token they signed has expired.

use std::collections::HashMap;
use std::path::Path;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use jsonwebtoken::DecodingKey;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::EncodePrivateKey;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::json;
use sha2::{Digest, Sha256};
use ward_core::clock::Timestamp;
use ward_core::model::SigningKeyRecord;
use ward_core::store::Store;
use ward_core::{Random, Secret};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("master key: {0}")]
    MasterKey(String),
    #[error("signing key {kid}: {reason}")]
    Corrupt { kid: String, reason: String },
    #[error("storage: {0}")]
    Store(#[from] ward_core::StoreError),
}

/// The 256-bit key that encrypts private signing keys at rest.
pub struct MasterKey(Secret<[u8; 32]>);

impl MasterKey {
    /// From `WARD_MASTER_KEY` (64 hex digits or base64 of 32 bytes) when set, else from
    /// `<data_dir>/master.key`, created with mode 0600 on first start.
    pub fn load(
        configured: Option<&str>,
        data_dir: &Path,
        random: &dyn Random,
    ) -> Result<Self, KeyError> {
        if let Some(text) = configured {
            return Self::parse(text).ok_or_else(|| {
                KeyError::MasterKey("master_key must be 64 hex digits or base64 of 32 bytes".into())
            });
        }
        let path = data_dir.join("master.key");
        if path.exists() {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| KeyError::MasterKey(format!("{}: {e}", path.display())))?;
            return Self::parse(text.trim()).ok_or_else(|| {
                KeyError::MasterKey(format!("{} does not hold a 32-byte key", path.display()))
            });
        }
        let mut key = [0u8; 32];
        random.fill(&mut key);
        write_private_file(&path, hex::encode(key).as_bytes())
            .map_err(|e| KeyError::MasterKey(format!("{}: {e}", path.display())))?;
        Ok(MasterKey(Secret::new(key)))
    }

    fn parse(text: &str) -> Option<Self> {
        let bytes = if text.len() == 64 {
            hex::decode(text).ok()?
        } else {
            STANDARD.decode(text).ok()?
        };
        let key: [u8; 32] = bytes.try_into().ok()?;
        Some(MasterKey(Secret::new(key)))
    }

    /// A key for keyed hashes (e.g. backup codes), derived for one `purpose` so that it is
    /// never the encryption key itself: HMAC-SHA-256(master, purpose).
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        use hmac::{Hmac, Mac};
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(self.0.expose()) else {
            return [0u8; 32];
        };
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(Key::from_slice(self.0.expose()))
    }

    /// Encrypts a secret that ward must read back (signing keys, TOTP secrets).
    pub fn seal(&self, plaintext: &[u8], random: &dyn Random) -> Result<String, KeyError> {
        let mut nonce = [0u8; 12];
        random.fill(&mut nonce);
        let ct = self
            .cipher()
            .encrypt(Nonce::from_slice(&nonce), plaintext)
            .map_err(|_| KeyError::MasterKey("encryption failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(STANDARD.encode(out))
    }

    /// Decrypts what [`seal`](Self::seal) produced; `kid` names it in errors.
    pub fn open(&self, kid: &str, sealed: &str) -> Result<Vec<u8>, KeyError> {
        let corrupt = |reason: &str| KeyError::Corrupt {
            kid: kid.to_string(),
            reason: reason.to_string(),
        };
        let bytes = STANDARD.decode(sealed).map_err(|_| corrupt("not base64"))?;
        if bytes.len() < 12 {
            return Err(corrupt("too short"));
        }
        let (nonce, ct) = bytes.split_at(12);
        self.cipher()
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| corrupt("cannot decrypt: is this the master key that encrypted it?"))
    }
}

/// Writes a file readable only by its owner (0600 on Unix).
pub fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

struct PublicKey {
    decoding: DecodingKey,
}

/// The keys in use: one signing key and every published verification key.
pub struct KeyRing {
    signing_kid: String,
    /// Parsed once: jsonwebtoken's `EncodingKey` re-parses the PKCS#8 document and recomputes
    /// the public point (a scalar multiplication) on every signature, which was half the cost
    /// of a token response.
    signing: EcdsaKeyPair,
    public: HashMap<String, PublicKey>,
    jwks: serde_json::Value,
    /// Access tokens whose signature, issuer and audience this ring has verified, by the
    /// SHA-256 of their text, with their claims: an ES256 verification costs more than the rest
    /// of a validation. Expiry is still checked on every use; a reload (rotation) starts a new
    /// ring and so an empty cache.
    verified: std::sync::RwLock<HashMap<[u8; 32], std::sync::Arc<crate::jwt::AccessClaims>>>,
}

/// Most verified tokens remembered (their claims, about 0.8 KB each: a digest, not the token's
/// text, is the key).
const VERIFIED_CAPACITY: usize = 10_000;

/// The key of a token in [`KeyRing`]'s verified cache: a collision-resistant digest, so that no
/// other text finds a verified token's claims.
fn verified_key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl KeyRing {
    pub fn signing_kid(&self) -> &str {
        &self.signing_kid
    }
    /// An ES256 signature of `message` (the 64-byte `r || s` form JWS uses, RFC 7518 §3.4).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.signing
            .sign(&ring::rand::SystemRandom::new(), message)
            .map(|sig| sig.as_ref().to_vec())
            .map_err(|_| KeyError::Corrupt {
                kid: self.signing_kid.clone(),
                reason: "signing failed".into(),
            })
    }
    pub fn decoding_key(&self, kid: &str) -> Option<&DecodingKey> {
        self.public.get(kid).map(|k| &k.decoding)
    }
    pub fn jwks(&self) -> &serde_json::Value {
        &self.jwks
    }

    /// The claims of `token` if this ring has verified it before.
    pub fn verified(&self, token: &str) -> Option<std::sync::Arc<crate::jwt::AccessClaims>> {
        let key = verified_key(token);
        self.verified.read().ok()?.get(&key).cloned()
    }

    /// Remembers a verified token. When the cache is full, expired tokens go first (they would
    /// be refused anyway), and everything if that is not enough.
    pub fn remember_verified(
        &self,
        token: &str,
        claims: std::sync::Arc<crate::jwt::AccessClaims>,
        now: Timestamp,
    ) {
        let key = verified_key(token);
        if let Ok(mut verified) = self.verified.write() {
            if verified.len() >= VERIFIED_CAPACITY {
                verified.retain(|_, c| c.exp > now.0);
                if verified.len() >= VERIFIED_CAPACITY {
                    verified.clear();
                }
            }
            verified.insert(key, claims);
        }
    }

    /// Verified tokens remembered now (for tests and metrics).
    pub fn verified_len(&self) -> usize {
        self.verified.read().map(|v| v.len()).unwrap_or(0)
    }

    /// Loads the keys from the store, generating the first one when there is none.
    /// `max_token_lifetime` is how long a retired key stays published.
    pub async fn load_or_create(
        store: &dyn Store,
        master: &MasterKey,
        random: &dyn Random,
        now: Timestamp,
        max_token_lifetime: i64,
    ) -> Result<KeyRing, KeyError> {
        let mut records = store.signing_keys().await?;
        if !records.iter().any(|r| r.retired_at.is_none()) {
            let record = generate(master, random, now)?;
            store.insert_signing_key(&record).await?;
            records = store.signing_keys().await?;
        }
        Self::from_records(&records, master, now, max_token_lifetime)
    }

    /// Re-reads the keys from the store (another replica, or `ward server rotate-keys`, may have
    /// rotated them). `None` when nothing changed.
    pub async fn reload(
        &self,
        store: &dyn Store,
        master: &MasterKey,
        now: Timestamp,
        max_token_lifetime: i64,
    ) -> Result<Option<KeyRing>, KeyError> {
        let records = store.signing_keys().await?;
        let fresh = Self::from_records(&records, master, now, max_token_lifetime)?;
        let same = fresh.signing_kid == self.signing_kid
            && fresh.public.len() == self.public.len()
            && fresh.public.keys().all(|k| self.public.contains_key(k));
        Ok((!same).then_some(fresh))
    }

    /// A ring with one fresh signing key that lives only in memory (benchmarks and tests).
    pub fn ephemeral(random: &dyn Random, now: Timestamp) -> Result<KeyRing, KeyError> {
        let mut key = [0u8; 32];
        random.fill(&mut key);
        let master = MasterKey(Secret::new(key));
        let record = generate(&master, random, now)?;
        Self::from_records(std::slice::from_ref(&record), &master, now, 0)
    }

    /// Makes a new signing key; the old ones are retired but stay published.
    pub async fn rotate(
        store: &dyn Store,
        master: &MasterKey,
        random: &dyn Random,
        now: Timestamp,
    ) -> Result<String, KeyError> {
        let record = generate(master, random, now)?;
        store.insert_signing_key(&record).await?;
        store.retire_signing_keys_except(&record.kid, now).await?;
        Ok(record.kid)
    }

    fn from_records(
        records: &[SigningKeyRecord],
        master: &MasterKey,
        now: Timestamp,
        max_token_lifetime: i64,
    ) -> Result<KeyRing, KeyError> {
        let current = records
            .iter()
            .filter(|r| r.retired_at.is_none())
            .max_by_key(|r| r.created_at)
            .ok_or_else(|| KeyError::MasterKey("no current signing key".into()))?;
        let der = master.open(&current.kid, &current.private_key_enc)?;
        let signing = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &der,
            &ring::rand::SystemRandom::new(),
        )
        .map_err(|e| KeyError::Corrupt {
            kid: current.kid.clone(),
            reason: format!("not a P-256 private key: {e}"),
        })?;
        let mut public = HashMap::new();
        let mut jwks = Vec::new();
        for r in records {
            let still_published = r
                .retired_at
                .is_none_or(|retired| now < retired.plus_secs(max_token_lifetime));
            if !still_published {
                continue;
            }
            let jwk: serde_json::Value =
                serde_json::from_str(&r.public_jwk).map_err(|e| KeyError::Corrupt {
                    kid: r.kid.clone(),
                    reason: e.to_string(),
                })?;
            let (Some(x), Some(y)) = (jwk["x"].as_str(), jwk["y"].as_str()) else {
                return Err(KeyError::Corrupt {
                    kid: r.kid.clone(),
                    reason: "public JWK lacks x or y".into(),
                });
            };
            let decoding =
                DecodingKey::from_ec_components(x, y).map_err(|e| KeyError::Corrupt {
                    kid: r.kid.clone(),
                    reason: e.to_string(),
                })?;
            public.insert(r.kid.clone(), PublicKey { decoding });
            jwks.push(jwk);
        }
        Ok(KeyRing {
            signing_kid: current.kid.clone(),
            signing,
            public,
            jwks: json!({ "keys": jwks }),
            verified: Default::default(),
        })
    }
}

fn generate(
    master: &MasterKey,
    random: &dyn Random,
    now: Timestamp,
) -> Result<SigningKeyRecord, KeyError> {
    // Draw scalars until one is valid (all but ~2^-32 of 256-bit strings are).
    let secret = loop {
        let mut bytes = [0u8; 32];
        random.fill(&mut bytes);
        if let Ok(key) = p256::SecretKey::from_slice(&bytes) {
            break key;
        }
    };
    let point = secret.public_key().to_encoded_point(false);
    let (Some(x), Some(y)) = (point.x(), point.y()) else {
        return Err(KeyError::MasterKey("cannot encode the public key".into()));
    };
    let x = URL_SAFE_NO_PAD.encode(x);
    let y = URL_SAFE_NO_PAD.encode(y);
    // RFC 7638 thumbprint as the key id: members in lexicographic order, no spaces.
    let thumbprint_input = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(thumbprint_input.as_bytes()));
    let jwk = json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "use": "sig", "alg": "ES256"});
    let der = secret
        .to_pkcs8_der()
        .map_err(|e| KeyError::MasterKey(format!("cannot encode the private key: {e}")))?;
    Ok(SigningKeyRecord {
        kid,
        alg: "ES256".into(),
        public_jwk: jwk.to_string(),
        private_key_enc: master.seal(der.as_bytes(), random)?,
        created_at: now,
        retired_at: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::AccessClaims;
    use std::sync::Arc;

    fn claims(exp: i64) -> Arc<AccessClaims> {
        Arc::new(AccessClaims {
            iss: "https://ward.test".into(),
            sub: "u".into(),
            aud: "https://ward.test".into(),
            exp,
            iat: 0,
            jti: "j".into(),
            client_id: "c".into(),
            sid: None,
            scope: String::new(),
            roles: Vec::new(),
            email: None,
            amr: Vec::new(),
            cnf: None,
            act: None,
        })
    }

    #[test]
    fn verified_tokens_are_found_by_their_exact_text() {
        let ring = KeyRing::ephemeral(&ward_core::random::OsRandom, Timestamp(0)).unwrap();
        ring.remember_verified("a.b.c", claims(100), Timestamp(0));
        assert!(ring.verified("a.b.c").is_some());
        assert!(ring.verified("a.b.d").is_none());
        assert!(ring.verified("a.b.c ").is_none());
    }

    #[test]
    fn a_full_cache_drops_expired_tokens_first() {
        let ring = KeyRing::ephemeral(&ward_core::random::OsRandom, Timestamp(0)).unwrap();
        let now = Timestamp(1_000);
        ring.remember_verified("live", claims(2_000), now);
        for i in 1..VERIFIED_CAPACITY {
            ring.remember_verified(&format!("expired {i}"), claims(500), now);
        }
        assert_eq!(ring.verified_len(), VERIFIED_CAPACITY);
        ring.remember_verified("new", claims(2_000), now);
        assert_eq!(ring.verified_len(), 2);
        assert!(ring.verified("live").is_some() && ring.verified("new").is_some());
        // Full of live tokens: everything goes, the new one stays.
        for i in 2..VERIFIED_CAPACITY {
            ring.remember_verified(&format!("live {i}"), claims(2_000), now);
        }
        ring.remember_verified("newest", claims(2_000), now);
        assert_eq!(ring.verified_len(), 1);
    }
}
