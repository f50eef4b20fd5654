//! WebAuthn credentials and ceremonies.

use async_trait::async_trait;
use ward_core::clock::Timestamp;
use ward_core::model::{WebauthnCeremony, WebauthnCredential};
use ward_core::store::{StoreResult, WebauthnStore};
use ward_core::UserId;

use crate::codec::{opt, Time};
use crate::{backend, SqlStore};

const CREDENTIAL_COLUMNS: &str = "credential_id, user_id, name, passkey, created_at, last_used_at";

/// A row of [`CREDENTIAL_COLUMNS`].
#[derive(sqlx::FromRow)]
struct CredentialRow {
    credential_id: String,
    user_id: String,
    name: String,
    passkey: String,
    created_at: Time,
    last_used_at: Option<Time>,
}

impl From<CredentialRow> for WebauthnCredential {
    fn from(r: CredentialRow) -> Self {
        WebauthnCredential {
            credential_id: r.credential_id,
            user_id: r.user_id.into(),
            name: r.name,
            passkey: r.passkey,
            created_at: r.created_at.0,
            last_used_at: opt(r.last_used_at),
        }
    }
}

#[derive(sqlx::FromRow)]
struct CeremonyRow {
    id: String,
    user_id: Option<String>,
    kind: String,
    state: String,
    created_at: Time,
    expires_at: Time,
}

impl From<CeremonyRow> for WebauthnCeremony {
    fn from(r: CeremonyRow) -> Self {
        WebauthnCeremony {
            id: r.id,
            user_id: r.user_id.map(Into::into),
            kind: r.kind,
            state: r.state,
            created_at: r.created_at.0,
            expires_at: r.expires_at.0,
        }
    }
}

#[async_trait]
impl WebauthnStore for SqlStore {
    async fn insert_webauthn_credential(&self, c: &WebauthnCredential) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO webauthn_credentials (credential_id, user_id, name, passkey, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&c.credential_id)
        .bind(c.user_id.as_str())
        .bind(&c.name)
        .bind(&c.passkey)
        .bind(c.created_at.0)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn webauthn_credentials_of_user(
        &self,
        user_id: &UserId,
    ) -> StoreResult<Vec<WebauthnCredential>> {
        let rows = sqlx::query_as::<_, CredentialRow>(&format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM webauthn_credentials WHERE user_id = $1 ORDER BY created_at"
        ))
        .bind(user_id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.into_iter().map(WebauthnCredential::from).collect())
    }

    async fn webauthn_credential(
        &self,
        credential_id: &str,
    ) -> StoreResult<Option<WebauthnCredential>> {
        let row = sqlx::query_as::<_, CredentialRow>(&format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM webauthn_credentials WHERE credential_id = $1"
        ))
        .bind(credential_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(row.map(WebauthnCredential::from))
    }

    async fn update_webauthn_credential(
        &self,
        credential_id: &str,
        passkey: &str,
        now: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE webauthn_credentials SET passkey = $1, last_used_at = $2 WHERE credential_id = $3")
            .bind(passkey)
            .bind(now.0)
            .bind(credential_id)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn delete_webauthn_credential(
        &self,
        user_id: &UserId,
        credential_id: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "DELETE FROM webauthn_credentials WHERE user_id = $1 AND credential_id = $2",
        )
        .bind(user_id.as_str())
        .bind(credential_id)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_webauthn_ceremony(&self, c: &WebauthnCeremony) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO webauthn_ceremonies (id, user_id, kind, state, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&c.id)
        .bind(c.user_id.as_ref().map(UserId::as_str))
        .bind(&c.kind)
        .bind(&c.state)
        .bind(c.created_at.0)
        .bind(c.expires_at.0)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn take_webauthn_ceremony(
        &self,
        id: &str,
        now: Timestamp,
    ) -> StoreResult<Option<WebauthnCeremony>> {
        let row = sqlx::query_as::<_, CeremonyRow>(
            "UPDATE webauthn_ceremonies SET consumed_at = $1 \
             WHERE id = $2 AND consumed_at IS NULL AND expires_at > $1 \
             RETURNING id, user_id, kind, state, created_at, expires_at",
        )
        .bind(now.0)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(row.map(WebauthnCeremony::from))
    }

    async fn delete_expired_webauthn_ceremonies(&self, cutoff: Timestamp) -> StoreResult<u64> {
        self.delete_expired("webauthn_ceremonies", cutoff).await
    }
}
