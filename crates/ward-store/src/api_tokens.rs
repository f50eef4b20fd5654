//! API tokens.

use async_trait::async_trait;
use ward_core::clock::Timestamp;
use ward_core::model::ApiToken;
use ward_core::store::{ApiTokenStore, StoreResult};

use crate::changes::Change;
use crate::codec::{join, opt, Time, Words};
use crate::{backend, SqlStore};

const COLUMNS: &str =
    "id, user_id, name, token_hash, scopes, created_at, expires_at, last_used_at, revoked_at";

/// A row of [`COLUMNS`], and of a service account's token (whose `service_account_id` is
/// selected as `user_id`, see service_accounts.rs).
#[derive(sqlx::FromRow)]
pub(crate) struct TokenRow {
    id: String,
    user_id: String,
    name: String,
    token_hash: String,
    scopes: Words,
    created_at: Time,
    expires_at: Option<Time>,
    last_used_at: Option<Time>,
    revoked_at: Option<Time>,
}

impl From<TokenRow> for ApiToken {
    fn from(r: TokenRow) -> Self {
        ApiToken {
            id: r.id,
            user_id: r.user_id,
            name: r.name,
            token_hash: r.token_hash,
            scopes: r.scopes.0,
            created_at: r.created_at.0,
            expires_at: opt(r.expires_at),
            last_used_at: opt(r.last_used_at),
            revoked_at: opt(r.revoked_at),
        }
    }
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
        let found = sqlx::query_as::<_, TokenRow>(&format!(
            "SELECT {COLUMNS} FROM api_tokens WHERE token_hash = $1"
        ))
        .bind(hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .map(ApiToken::from);
        if let Some(t) = &found {
            self.cache.api_tokens.put(hash, t, generation);
        }
        Ok(found)
    }

    async fn api_tokens_of_user(&self, user_id: &str) -> StoreResult<Vec<ApiToken>> {
        let rows = sqlx::query_as::<_, TokenRow>(&format!(
            "SELECT {COLUMNS} FROM api_tokens WHERE user_id = $1 ORDER BY created_at DESC, id"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.into_iter().map(ApiToken::from).collect())
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
