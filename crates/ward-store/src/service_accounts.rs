//! Service accounts and their tokens (SPEC §2.15). Nothing here is cached: a service account's
//! token is looked up on every request, so deleting the account (or revoking the token) takes
//! effect at once on every replica.

use async_trait::async_trait;
use ward_core::clock::Timestamp;
use ward_core::machine::ServiceAccount;
use ward_core::model::ApiToken;
use ward_core::store::{ServiceAccountStore, StoreResult};

use crate::api_tokens::TokenRow;
use crate::codec::{join, Time};
use crate::{backend, SqlStore};

const ACCOUNT_COLUMNS: &str = "id, name, role, created_at, created_by";
const TOKEN_COLUMNS: &str = "id, service_account_id, name, token_hash, scopes, created_at, \
                             expires_at, last_used_at, revoked_at";
/// [`TOKEN_COLUMNS`] read as a [`TokenRow`]: the account is the token's holder.
const TOKEN_SELECT: &str = "id, service_account_id AS user_id, name, token_hash, scopes, \
                            created_at, expires_at, last_used_at, revoked_at";

/// A row of [`ACCOUNT_COLUMNS`].
#[derive(sqlx::FromRow)]
struct AccountRow {
    id: String,
    name: String,
    role: String,
    created_at: Time,
    created_by: Option<String>,
}

impl From<AccountRow> for ServiceAccount {
    fn from(r: AccountRow) -> Self {
        ServiceAccount {
            id: r.id,
            name: r.name,
            role: r.role,
            created_at: r.created_at.0,
            created_by: r.created_by,
        }
    }
}

#[async_trait]
impl ServiceAccountStore for SqlStore {
    async fn insert_service_account(&self, a: &ServiceAccount) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO service_accounts (id, name, role, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&a.id)
        .bind(&a.name)
        .bind(&a.role)
        .bind(a.created_at.0)
        .bind(&a.created_by)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn service_accounts(&self) -> StoreResult<Vec<ServiceAccount>> {
        let rows = sqlx::query_as::<_, AccountRow>(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM service_accounts ORDER BY name"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.into_iter().map(ServiceAccount::from).collect())
    }

    async fn service_account_by_id(&self, id: &str) -> StoreResult<Option<ServiceAccount>> {
        let row = sqlx::query_as::<_, AccountRow>(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM service_accounts WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(row.map(ServiceAccount::from))
    }

    async fn delete_service_account(&self, id: &str) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query("DELETE FROM service_account_tokens WHERE service_account_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let done = sqlx::query("DELETE FROM service_accounts WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_service_account_token(&self, t: &ApiToken) -> StoreResult<()> {
        sqlx::query(&format!(
            "INSERT INTO service_account_tokens ({TOKEN_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
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

    async fn service_account_tokens(&self, account_id: &str) -> StoreResult<Vec<ApiToken>> {
        let rows = sqlx::query_as::<_, TokenRow>(&format!(
            "SELECT {TOKEN_SELECT} FROM service_account_tokens WHERE service_account_id = $1 \
             ORDER BY created_at DESC, id"
        ))
        .bind(account_id)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.into_iter().map(ApiToken::from).collect())
    }

    async fn service_account_token_by_hash(
        &self,
        hash: &str,
    ) -> StoreResult<Option<(ApiToken, ServiceAccount)>> {
        let Some(row) = sqlx::query_as::<_, TokenRow>(&format!(
            "SELECT {TOKEN_SELECT} FROM service_account_tokens WHERE token_hash = $1"
        ))
        .bind(hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        else {
            return Ok(None);
        };
        let found = ApiToken::from(row);
        Ok(self
            .service_account_by_id(&found.user_id)
            .await?
            .map(|a| (found, a)))
    }

    async fn revoke_service_account_token(
        &self,
        account_id: &str,
        id: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE service_account_tokens SET revoked_at = $1 \
             WHERE id = $2 AND service_account_id = $3 AND revoked_at IS NULL",
        )
        .bind(now.0)
        .bind(id)
        .bind(account_id)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn touch_service_account_token(&self, id: &str, now: Timestamp) -> StoreResult<()> {
        sqlx::query("UPDATE service_account_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now.0)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }
}
