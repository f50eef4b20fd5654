//! Authorization codes and device grants: each consumed by one atomic statement.

use async_trait::async_trait;
use ward_core::clock::Timestamp;
use ward_core::model::{AuthCode, DeviceGrant, DeviceGrantStatus};
use ward_core::store::{CodeRedemption, GrantStore, StoreResult};
use ward_core::StoreError;
use ward_core::{SessionId, UserId};

use crate::codec::{join, opt, unknown, Time, Words};
use crate::{backend, SqlStore};

const CODE_COLUMNS: &str = "code_hash, client_id, user_id, redirect_uri, scope, code_challenge, \
    nonce, auth_time, amr, device_id, device_name, created_at, expires_at, session_id, resource";

/// A row of [`CODE_COLUMNS`].
#[derive(sqlx::FromRow)]
struct CodeRow {
    code_hash: String,
    client_id: String,
    user_id: String,
    redirect_uri: String,
    scope: String,
    code_challenge: Option<String>,
    nonce: Option<String>,
    auth_time: Time,
    amr: Words,
    device_id: Option<String>,
    device_name: Option<String>,
    created_at: Time,
    expires_at: Time,
    session_id: Option<String>,
    resource: Option<String>,
}

impl From<CodeRow> for AuthCode {
    fn from(r: CodeRow) -> Self {
        AuthCode {
            code_hash: r.code_hash,
            client_id: r.client_id,
            user_id: r.user_id.into(),
            redirect_uri: r.redirect_uri,
            scope: r.scope,
            code_challenge: r.code_challenge,
            nonce: r.nonce,
            auth_time: r.auth_time.0,
            amr: r.amr.0,
            device_id: r.device_id,
            device_name: r.device_name,
            created_at: r.created_at.0,
            expires_at: r.expires_at.0,
            session_id: r.session_id.map(Into::into),
            resource: r.resource,
        }
    }
}

const GRANT_COLUMNS: &str = "device_code_hash, user_code, client_id, scope, device_id, \
    device_name, created_at, expires_at, poll_interval, prev_polled_at, status, user_id, \
    auth_time, amr, requested_ip";

/// A row of [`GRANT_COLUMNS`].
#[derive(sqlx::FromRow)]
struct GrantRow {
    device_code_hash: String,
    user_code: String,
    client_id: String,
    scope: String,
    device_id: Option<String>,
    device_name: Option<String>,
    created_at: Time,
    expires_at: Time,
    poll_interval: i64,
    prev_polled_at: Option<Time>,
    status: String,
    user_id: Option<String>,
    auth_time: Option<Time>,
    amr: Words,
    requested_ip: Option<String>,
}

impl TryFrom<GrantRow> for DeviceGrant {
    type Error = StoreError;
    fn try_from(r: GrantRow) -> Result<Self, StoreError> {
        Ok(DeviceGrant {
            status: DeviceGrantStatus::parse(&r.status)
                .ok_or_else(|| unknown("grant status", &r.status))?,
            device_code_hash: r.device_code_hash,
            user_code: r.user_code,
            client_id: r.client_id,
            scope: r.scope,
            device_id: r.device_id,
            device_name: r.device_name,
            created_at: r.created_at.0,
            expires_at: r.expires_at.0,
            interval: r.poll_interval,
            last_polled_at: opt(r.prev_polled_at),
            user_id: r.user_id.map(Into::into),
            auth_time: opt(r.auth_time),
            amr: r.amr.0,
            requested_ip: r.requested_ip,
        })
    }
}

#[async_trait]
impl GrantStore for SqlStore {
    async fn insert_auth_code(&self, c: &AuthCode) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO auth_codes (code_hash, client_id, user_id, redirect_uri, scope, \
             code_challenge, nonce, auth_time, amr, device_id, device_name, created_at, expires_at, \
             resource) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(&c.code_hash)
        .bind(&c.client_id)
        .bind(c.user_id.as_str())
        .bind(&c.redirect_uri)
        .bind(&c.scope)
        .bind(&c.code_challenge)
        .bind(&c.nonce)
        .bind(c.auth_time.0)
        .bind(join(&c.amr))
        .bind(&c.device_id)
        .bind(&c.device_name)
        .bind(c.created_at.0)
        .bind(c.expires_at.0)
        .bind(&c.resource)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn redeem_auth_code(
        &self,
        code_hash: &str,
        now: Timestamp,
    ) -> StoreResult<CodeRedemption> {
        let redeemed = sqlx::query_as::<_, CodeRow>(&format!(
            "UPDATE auth_codes SET consumed_at = $1 WHERE code_hash = $2 AND consumed_at IS NULL \
             RETURNING {CODE_COLUMNS}"
        ))
        .bind(now.0)
        .bind(code_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        if let Some(row) = redeemed {
            return Ok(CodeRedemption::Redeemed(row.into()));
        }
        let used = sqlx::query_as::<_, CodeRow>(&format!(
            "SELECT {CODE_COLUMNS} FROM auth_codes WHERE code_hash = $1"
        ))
        .bind(code_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(match used {
            Some(row) => CodeRedemption::AlreadyUsed(row.into()),
            None => CodeRedemption::Unknown,
        })
    }

    async fn set_auth_code_session(
        &self,
        code_hash: &str,
        session_id: &SessionId,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE auth_codes SET session_id = $1 WHERE code_hash = $2")
            .bind(session_id.as_str())
            .bind(code_hash)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn consented_scope(
        &self,
        user_id: &UserId,
        client_id: &str,
    ) -> StoreResult<Option<String>> {
        sqlx::query_scalar("SELECT scope FROM consents WHERE user_id = $1 AND client_id = $2")
            .bind(user_id.as_str())
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)
    }

    async fn record_consent(
        &self,
        user_id: &UserId,
        client_id: &str,
        scope: &str,
        now: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO consents (user_id, client_id, scope, granted_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id, client_id) \
             DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at",
        )
        .bind(user_id.as_str())
        .bind(client_id)
        .bind(scope)
        .bind(now.0)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn insert_device_grant(&self, g: &DeviceGrant) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO device_grants (device_code_hash, user_code, client_id, scope, device_id, \
             device_name, created_at, expires_at, poll_interval, status, amr, requested_ip) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&g.device_code_hash)
        .bind(&g.user_code)
        .bind(&g.client_id)
        .bind(&g.scope)
        .bind(&g.device_id)
        .bind(&g.device_name)
        .bind(g.created_at.0)
        .bind(g.expires_at.0)
        .bind(g.interval)
        .bind(g.status.as_str())
        .bind(join(&g.amr))
        .bind(&g.requested_ip)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn device_grant_by_user_code(&self, user_code: &str) -> StoreResult<Option<DeviceGrant>> {
        sqlx::query_as::<_, GrantRow>(&format!(
            "SELECT {GRANT_COLUMNS} FROM device_grants WHERE user_code = $1"
        ))
        .bind(user_code)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .map(DeviceGrant::try_from)
        .transpose()
    }

    async fn decide_device_grant(
        &self,
        user_code: &str,
        approved_by: Option<(&UserId, Timestamp, &[String])>,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let (status, user_id, auth_time, amr) = match approved_by {
            Some((user, at, amr)) => (
                DeviceGrantStatus::Approved,
                Some(user.as_str()),
                Some(at.0),
                join(amr),
            ),
            None => (DeviceGrantStatus::Denied, None, None, String::new()),
        };
        let done = sqlx::query(
            "UPDATE device_grants SET status = $1, user_id = $2, auth_time = $3, amr = $4 \
             WHERE user_code = $5 AND status = 'pending' AND expires_at > $6",
        )
        .bind(status.as_str())
        .bind(user_id)
        .bind(auth_time)
        .bind(amr)
        .bind(user_code)
        .bind(now.0)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn poll_device_grant(
        &self,
        device_code_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<DeviceGrant>> {
        // Right-hand sides of SET see the old row (SQL standard, SQLite and PostgreSQL alike),
        // so prev_polled_at receives the previous poll's time in the same atomic statement.
        sqlx::query_as::<_, GrantRow>(&format!(
            "UPDATE device_grants SET prev_polled_at = last_polled_at, last_polled_at = $1 \
             WHERE device_code_hash = $2 RETURNING {GRANT_COLUMNS}"
        ))
        .bind(now.0)
        .bind(device_code_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .map(DeviceGrant::try_from)
        .transpose()
    }

    async fn slow_down_device_grant(&self, device_code_hash: &str, by: i64) -> StoreResult<()> {
        sqlx::query(
            "UPDATE device_grants SET poll_interval = poll_interval + $1 WHERE device_code_hash = $2",
        )
        .bind(by)
        .bind(device_code_hash)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn consume_device_grant(&self, device_code_hash: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE device_grants SET status = 'consumed' \
             WHERE device_code_hash = $1 AND status = 'approved'",
        )
        .bind(device_code_hash)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_expired_auth_codes(&self, cutoff: Timestamp) -> StoreResult<u64> {
        self.delete_expired("auth_codes", cutoff).await
    }

    async fn delete_expired_device_grants(&self, cutoff: Timestamp) -> StoreResult<u64> {
        self.delete_expired("device_grants", cutoff).await
    }
}
