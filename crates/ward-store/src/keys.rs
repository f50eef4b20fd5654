//! Signing keys (the private half arrives already encrypted).

use async_trait::async_trait;
use ward_core::clock::Timestamp;
use ward_core::model::SigningKeyRecord;
use ward_core::store::{KeyStore, StoreResult};

use crate::changes::Change;
use crate::codec::{opt, Time};
use crate::{backend, SqlStore};

#[derive(sqlx::FromRow)]
struct KeyRow {
    kid: String,
    alg: String,
    public_jwk: String,
    private_key_enc: String,
    created_at: Time,
    retired_at: Option<Time>,
}

impl From<KeyRow> for SigningKeyRecord {
    fn from(r: KeyRow) -> Self {
        SigningKeyRecord {
            kid: r.kid,
            alg: r.alg,
            public_jwk: r.public_jwk,
            private_key_enc: r.private_key_enc,
            created_at: r.created_at.0,
            retired_at: opt(r.retired_at),
        }
    }
}

#[async_trait]
impl KeyStore for SqlStore {
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        let rows = sqlx::query_as::<_, KeyRow>(
            "SELECT kid, alg, public_jwk, private_key_enc, created_at, retired_at \
             FROM signing_keys ORDER BY created_at DESC, kid",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.into_iter().map(SigningKeyRecord::from).collect())
    }

    async fn insert_signing_key(&self, k: &SigningKeyRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, public_jwk, private_key_enc, created_at, retired_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&k.kid)
        .bind(&k.alg)
        .bind(&k.public_jwk)
        .bind(&k.private_key_enc)
        .bind(k.created_at.0)
        .bind(k.retired_at.map(|t| t.0))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        self.changed(&[Change::SigningKeys]).await;
        Ok(())
    }

    async fn retire_signing_keys_except(&self, kid: &str, now: Timestamp) -> StoreResult<()> {
        sqlx::query(
            "UPDATE signing_keys SET retired_at = $1 WHERE kid <> $2 AND retired_at IS NULL",
        )
        .bind(now.0)
        .bind(kid)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        self.changed(&[Change::SigningKeys]).await;
        Ok(())
    }
}
