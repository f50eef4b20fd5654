//! API tokens.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use ward_core::clock::Timestamp;
use ward_core::model::ApiToken;
use ward_core::store::{ApiTokenStore, StoreResult};

use crate::changes::Change;
use crate::codec::{get, join, list, opt_time, time};
use crate::{backend, SqlStore};

const COLUMNS: &str =
    "id, user_id, name, token_hash, scopes, created_at, expires_at, last_used_at, revoked_at";

fn api_token(row: &AnyRow) -> StoreResult<ApiToken> {
    Ok(ApiToken {
        id: get(row, "id")?,
        user_id: get(row, "user_id")?,
        name: get(row, "name")?,
        token_hash: get(row, "token_hash")?,
        scopes: list(row, "scopes")?,
        created_at: time(row, "created_at")?,
        expires_at: opt_time(row, "expires_at")?,
        last_used_at: opt_time(row, "last_used_at")?,
        revoked_at: opt_time(row, "revoked_at")?,
    })
}

#[async_trait]
impl ApiTokenStore for SqlStore {
    async fn insert_api_token(&self, t: &ApiToken) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO api_tokens (id, user_id, name, token_hash, scopes, created_at, expires_at, \
             last_used_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&t.id)
        .bind(&t.user_id)
        .bind(&t.name)
        .bind(&t.token_hash)
        .bind(join(&t.scopes))
        .bind(t.created_at.0)
        .bind(t.expires_at.map(|x| x.0))
        .bind(t.last_used_at.map(|x| x.0))
        .bind(t.revoked_at.map(|x| x.0))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn api_token_by_hash(&self, hash: &str) -> StoreResult<Option<ApiToken>> {
        if let Some(t) = self.cache.api_tokens.get(hash) {
            return Ok(Some(t));
        }
        let generation = self.cache.api_tokens.generation();
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM api_tokens WHERE token_hash = $1"
        ))
        .bind(hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        let found = row.as_ref().map(api_token).transpose()?;
        if let Some(t) = &found {
            self.cache.api_tokens.put(hash, t, generation);
        }
        Ok(found)
    }

    async fn api_tokens_of_user(&self, user_id: &str) -> StoreResult<Vec<ApiToken>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM api_tokens WHERE user_id = $1 ORDER BY created_at DESC, id"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(api_token).collect()
    }

    async fn revoke_api_token(&self, user_id: &str, id: &str, now: Timestamp) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
        )
        .bind(now.0)
        .bind(id)
        .bind(user_id)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        self.changed(&[Change::ApiToken(id.to_string())]).await;
        Ok(done.rows_affected() == 1)
    }

    async fn touch_api_token(&self, id: &str, now: Timestamp) -> StoreResult<()> {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now.0)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        self.cache.api_tokens.update(|t| {
            if t.id == id {
                t.last_used_at = Some(now);
            }
        });
        Ok(())
    }
}
