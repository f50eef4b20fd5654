//! Dynamic client registration (RFC 7591): registered clients and initial access tokens. Not
//! cached: a registered client is read on each authorization and token request, so removing it
//! takes effect at once on every replica.

use async_trait::async_trait;
use ward_core::clock::Timestamp;
use ward_core::registration::{RegisteredClient, RegistrationToken};
use ward_core::store::{RegistrationStore, StoreResult};

use crate::changes::Change;
use crate::codec::{join, Time, Words};
use crate::{backend, SqlStore};

const CLIENT_COLUMNS: &str = "client_id, secret_hash, client_name, redirect_uris, grant_types, \
    scopes, token_endpoint_auth_method, created_at, registered_ip, registration_token_id";

/// A row of [`CLIENT_COLUMNS`].
#[derive(sqlx::FromRow)]
struct ClientRow {
    client_id: String,
    secret_hash: Option<String>,
    client_name: Option<String>,
    redirect_uris: Words,
    grant_types: Words,
    scopes: Words,
    token_endpoint_auth_method: String,
    created_at: Time,
    registered_ip: Option<String>,
    registration_token_id: Option<String>,
}

impl From<ClientRow> for RegisteredClient {
    fn from(r: ClientRow) -> Self {
        RegisteredClient {
            client_id: r.client_id,
            secret_hash: r.secret_hash,
            client_name: r.client_name,
            redirect_uris: r.redirect_uris.0,
            grant_types: r.grant_types.0,
            scopes: r.scopes.0,
            token_endpoint_auth_method: r.token_endpoint_auth_method,
            created_at: r.created_at.0,
            registered_ip: r.registered_ip,
            registration_token_id: r.registration_token_id,
        }
    }
}

#[async_trait]
impl RegistrationStore for SqlStore {
    async fn insert_registered_client(&self, c: &RegisteredClient) -> StoreResult<()> {
        // Redirect URIs hold no spaces (they are parsed URLs), so a space-separated list is
        // safe, as for scopes.
        sqlx::query(&format!(
            "INSERT INTO registered_clients ({CLIENT_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(&c.client_id)
        .bind(&c.secret_hash)
        .bind(&c.client_name)
        .bind(join(&c.redirect_uris))
        .bind(join(&c.grant_types))
        .bind(join(&c.scopes))
        .bind(&c.token_endpoint_auth_method)
        .bind(c.created_at.0)
        .bind(&c.registered_ip)
        .bind(&c.registration_token_id)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn registered_client(&self, client_id: &str) -> StoreResult<Option<RegisteredClient>> {
        let row = sqlx::query_as::<_, ClientRow>(&format!(
            "SELECT {CLIENT_COLUMNS} FROM registered_clients WHERE client_id = $1"
        ))
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(row.map(RegisteredClient::from))
    }

    async fn registered_clients(&self) -> StoreResult<Vec<RegisteredClient>> {
        let rows = sqlx::query_as::<_, ClientRow>(&format!(
            "SELECT {CLIENT_COLUMNS} FROM registered_clients ORDER BY created_at DESC, client_id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.into_iter().map(RegisteredClient::from).collect())
    }

    async fn delete_registered_client(&self, client_id: &str, now: Timestamp) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let done = sqlx::query("DELETE FROM registered_clients WHERE client_id = $1")
            .bind(client_id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let revoked: Vec<String> = sqlx::query_scalar(
            "UPDATE sessions SET revoked_at = $1 WHERE client_id = $2 AND revoked_at IS NULL \
             RETURNING id",
        )
        .bind(now.0)
        .bind(client_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
        sqlx::query("DELETE FROM consents WHERE client_id = $1")
            .bind(client_id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        let changes: Vec<Change> = revoked.into_iter().map(Change::Session).collect();
        if !changes.is_empty() {
            self.changed(&changes).await;
        }
        Ok(done.rows_affected() == 1)
    }

    async fn insert_registration_token(&self, t: &RegistrationToken) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO registration_tokens \
             (id, token_hash, created_at, expires_at, created_by, single_use, uses) \
             VALUES ($1, $2, $3, $4, $5, $6, 0)",
        )
        .bind(&t.id)
        .bind(&t.token_hash)
        .bind(t.created_at.0)
        .bind(t.expires_at.0)
        .bind(&t.created_by)
        .bind(i64::from(t.single_use))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn use_registration_token(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<String>> {
        // One statement: under any concurrency a single-use token is spent exactly once.
        sqlx::query_scalar(
            "UPDATE registration_tokens SET used_at = $1, uses = uses + 1 \
             WHERE token_hash = $2 AND expires_at > $1 AND (single_use = 0 OR used_at IS NULL) \
             RETURNING id",
        )
        .bind(now.0)
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)
    }
}
