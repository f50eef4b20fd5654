//! Sessions and their refresh tokens.

use async_trait::async_trait;
use sqlx::AnyConnection;
use ward_core::clock::Timestamp;
use ward_core::model::{Channel, Session};
use ward_core::store::{RefreshRotation, SessionStore, StoreResult};
use ward_core::StoreError;
use ward_core::{SessionId, UserId};

use crate::changes::Change;
use crate::codec::{join, opt, unknown, Flag, Time, Words};
use crate::writer::{Done, Write};
use crate::{backend, SqlStore};

const COLUMNS: &str = "s.id, s.user_id, s.client_id, s.channel, s.scope, s.device_id, \
    s.device_name, s.ip, s.user_agent, s.created_at, s.last_seen_at, s.expires_at, \
    s.idle_timeout, s.mfa_verified, s.amr, s.revoked_at, s.verified_at, s.dpop_jkt, \
    s.resource";

/// A row of [`COLUMNS`].
#[derive(sqlx::FromRow)]
struct SessionRow {
    id: String,
    user_id: String,
    client_id: String,
    channel: String,
    scope: String,
    device_id: Option<String>,
    device_name: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    created_at: Time,
    last_seen_at: Time,
    expires_at: Time,
    idle_timeout: i64,
    mfa_verified: Flag,
    amr: Words,
    revoked_at: Option<Time>,
    verified_at: Option<Time>,
    dpop_jkt: Option<String>,
    resource: Option<String>,
}

impl TryFrom<SessionRow> for Session {
    type Error = StoreError;
    fn try_from(r: SessionRow) -> Result<Self, StoreError> {
        Ok(Session {
            channel: Channel::parse(&r.channel).ok_or_else(|| unknown("channel", &r.channel))?,
            id: r.id.into(),
            user_id: r.user_id.into(),
            client_id: r.client_id,
            scope: r.scope,
            device_id: r.device_id,
            device_name: r.device_name,
            ip: r.ip,
            user_agent: r.user_agent,
            created_at: r.created_at.0,
            last_seen_at: r.last_seen_at.0,
            expires_at: r.expires_at.0,
            idle_timeout: r.idle_timeout,
            mfa_verified: r.mfa_verified.0,
            amr: r.amr.0,
            revoked_at: opt(r.revoked_at),
            // Rows written before migration 0010 count as verified when they were created.
            verified_at: opt(r.verified_at).unwrap_or(r.created_at.0),
            dpop_jkt: r.dpop_jkt,
            resource: r.resource,
        })
    }
}

/// A session joined with one of its refresh tokens.
#[derive(sqlx::FromRow)]
struct SessionTokenRow {
    #[sqlx(flatten)]
    session: SessionRow,
    token_rotated_at: Option<Time>,
}

fn sessions(rows: Vec<SessionRow>) -> StoreResult<Vec<Session>> {
    rows.into_iter().map(Session::try_from).collect()
}

impl SqlStore {
    async fn one_session(&self, sql: &str, key: &str) -> StoreResult<Option<Session>> {
        sqlx::query_as::<_, SessionRow>(sql)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .map(Session::try_from)
            .transpose()
    }
}

#[async_trait]
impl SessionStore for SqlStore {
    async fn insert_session(
        &self,
        s: &Session,
        refresh_token_hash: Option<&str>,
        cookie_hash: Option<&str>,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query(
            "INSERT INTO sessions (id, user_id, client_id, channel, scope, device_id, device_name, \
             ip, user_agent, created_at, last_seen_at, expires_at, idle_timeout, mfa_verified, \
             amr, revoked_at, cookie_hash, verified_at, dpop_jkt, resource) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)",
        )
        .bind(s.id.as_str())
        .bind(s.user_id.as_str())
        .bind(&s.client_id)
        .bind(s.channel.as_str())
        .bind(&s.scope)
        .bind(&s.device_id)
        .bind(&s.device_name)
        .bind(&s.ip)
        .bind(&s.user_agent)
        .bind(s.created_at.0)
        .bind(s.last_seen_at.0)
        .bind(s.expires_at.0)
        .bind(s.idle_timeout)
        .bind(i64::from(s.mfa_verified))
        .bind(join(&s.amr))
        .bind(s.revoked_at.map(|t| t.0))
        .bind(cookie_hash)
        .bind(s.verified_at.0)
        .bind(&s.dpop_jkt)
        .bind(&s.resource)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if let Some(hash) = refresh_token_hash {
            sqlx::query(
                "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)",
            )
            .bind(hash)
            .bind(s.id.as_str())
            .bind(s.created_at.0)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn session_by_id(&self, id: &SessionId) -> StoreResult<Option<Session>> {
        if let Some(s) = self.cache.sessions.get(id.as_str()) {
            return Ok(Some(s));
        }
        let generation = self.cache.sessions.generation();
        let found = self
            .one_session(
                &format!("SELECT {COLUMNS} FROM sessions s WHERE s.id = $1"),
                id.as_str(),
            )
            .await?;
        if let Some(s) = &found {
            self.cache.sessions.put(id.as_str(), s, generation);
        }
        Ok(found)
    }

    async fn session_by_cookie_hash(&self, cookie_hash: &str) -> StoreResult<Option<Session>> {
        self.one_session(
            &format!("SELECT {COLUMNS} FROM sessions s WHERE s.cookie_hash = $1"),
            cookie_hash,
        )
        .await
    }

    async fn session_by_refresh_token_hash(
        &self,
        hash: &str,
    ) -> StoreResult<Option<(Session, bool)>> {
        let row = sqlx::query_as::<_, SessionTokenRow>(&format!(
            "SELECT {COLUMNS}, r.rotated_at AS token_rotated_at FROM sessions s \
             JOIN refresh_tokens r ON r.session_id = s.id WHERE r.token_hash = $1"
        ))
        .bind(hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        match row {
            Some(row) => Ok(Some((
                Session::try_from(row.session)?,
                row.token_rotated_at.is_none(),
            ))),
            None => Ok(None),
        }
    }

    async fn touch_session(&self, id: &SessionId, now: Timestamp) -> StoreResult<()> {
        // Already recorded at `now` or later by this process (a rotation commits its own touch):
        // the UPDATE below would change nothing.
        if self
            .cache
            .touched
            .get(id.as_str())
            .is_some_and(|t| t >= now.0)
        {
            return Ok(());
        }
        self.writer
            .submit(Write::Touch {
                session_id: id.to_string(),
                now: now.0,
            })
            .await?;
        self.cache.sessions.update_key(id.as_str(), |s| {
            if s.last_seen_at < now {
                s.last_seen_at = now;
            }
        });
        Ok(())
    }

    async fn mark_session_reauthenticated(
        &self,
        id: &SessionId,
        now: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET verified_at = $1 WHERE id = $2")
            .bind(now.0)
            .bind(id.as_str())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        self.changed(&[Change::Session(id.to_string())]).await;
        Ok(())
    }

    async fn revoke_session(&self, id: &SessionId, now: Timestamp) -> StoreResult<bool> {
        let done =
            sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now.0)
                .bind(id.as_str())
                .execute(&self.pool)
                .await
                .map_err(backend)?;
        self.changed(&[Change::Session(id.to_string())]).await;
        Ok(done.rows_affected() == 1)
    }

    async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new_hash: &str,
        now: Timestamp,
    ) -> StoreResult<RefreshRotation> {
        // Group-committed (see writer.rs): one transaction, and one fsync, for every rotation
        // queued meanwhile; this call returns once its rotation is durable.
        match self
            .writer
            .submit(Write::Rotate {
                old_hash: old_hash.to_string(),
                new_hash: new_hash.to_string(),
                now: now.0,
            })
            .await?
        {
            Done::Rotation(r) => {
                match &r {
                    RefreshRotation::Rotated { session_id } => {
                        let generation = self.cache.touched.generation();
                        self.cache
                            .touched
                            .put(session_id.as_str(), &now.0, generation);
                        self.cache.sessions.update_key(session_id.as_str(), |s| {
                            if s.last_seen_at < now {
                                s.last_seen_at = now;
                            }
                        });
                    }
                    RefreshRotation::Reused { session_id } => {
                        self.changed(&[Change::Session(session_id.clone().into())])
                            .await;
                    }
                    RefreshRotation::Unknown => {}
                }
                Ok(r)
            }
            Done::Touched | Done::JtiRecorded(_) => {
                Err(StoreError::Backend("unexpected write result".into()))
            }
        }
    }

    async fn sessions_of_user(&self, user_id: &UserId) -> StoreResult<Vec<Session>> {
        let rows = sqlx::query_as::<_, SessionRow>(&format!(
            "SELECT {COLUMNS} FROM sessions s WHERE s.user_id = $1 ORDER BY s.created_at DESC"
        ))
        .bind(user_id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        sessions(rows)
    }

    async fn live_sessions(
        &self,
        user_id: Option<&UserId>,
        now: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<Session>> {
        self.live_sessions_before(user_id, now, None, limit).await
    }

    async fn live_sessions_before(
        &self,
        user_id: Option<&UserId>,
        now: Timestamp,
        before: Option<(i64, String)>,
        limit: i64,
    ) -> StoreResult<Vec<Session>> {
        // The user's filter only when given, rather than `($n = '' OR user_id = $n)`: each form
        // has an index that serves it (sessions_user_id; sessions_created from migration 0020)
        // where the combined one scans every session. The cursor `(created_at, id)` is a range
        // on created_at the index can seek.
        let (before_at, before_id) = before.unwrap_or((i64::MAX, String::new()));
        let of_user = if user_id.is_some() {
            " AND s.user_id = $5"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM sessions s WHERE s.revoked_at IS NULL AND s.expires_at > $1 \
             AND s.created_at <= $2 AND (s.created_at < $2 OR s.id < $3){of_user} ORDER BY s.created_at DESC, s.id DESC LIMIT $4"
        );
        let mut q = sqlx::query_as::<_, SessionRow>(&sql)
            .bind(now.0)
            .bind(before_at)
            .bind(before_id)
            .bind(limit);
        if let Some(u) = user_id {
            q = q.bind(u.as_str());
        }
        let rows = q.fetch_all(&self.pool).await.map_err(backend)?;
        sessions(rows)
    }

    async fn delete_dead_sessions(
        &self,
        cutoff: Timestamp,
        guest_cutoff: Timestamp,
    ) -> StoreResult<u64> {
        // A session is dead from the earliest of its expiry, its idle deadline and its
        // revocation; it is deleted once that moment is older than the cutoff of its kind.
        let deleted = self
            .delete_dead_sessions_batched(cutoff, guest_cutoff)
            .await?;
        if deleted > 0 {
            // Rare (a sweep), so simply forget every cached session.
            self.changed(&[Change::AllSessions]).await;
        }
        Ok(deleted)
    }
}

/// Rotation inside the caller's transaction: marks `old_hash` rotated and stores `new_hash`, or,
/// when `old_hash` was already rotated, revokes its session (reuse detection, RFC 9700).
pub(crate) async fn rotate_in(
    conn: &mut AnyConnection,
    old_hash: &str,
    new_hash: &str,
    now: i64,
) -> StoreResult<RefreshRotation> {
    // The first statement writes, so SQLite takes its write lock at once (waiting on
    // busy_timeout) and PostgreSQL locks the row: concurrent presentations serialize here
    // and exactly one sees `rotated_at IS NULL` (within a batch, in queue order).
    let rotated: Option<String> = sqlx::query_scalar(
        "UPDATE refresh_tokens SET rotated_at = $1 WHERE token_hash = $2 AND rotated_at IS NULL \
         RETURNING session_id",
    )
    .bind(now)
    .bind(old_hash)
    .fetch_optional(&mut *conn)
    .await
    .map_err(backend)?;
    let outcome = if let Some(session_id) = rotated {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)",
        )
        .bind(new_hash)
        .bind(&session_id)
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
        // A refresh is activity: recorded in the same commit, so that the caller's
        // `touch_session` finds nothing left to write (see `touch_session`).
        touch_in(conn, &session_id, now).await?;
        RefreshRotation::Rotated {
            session_id: session_id.into(),
        }
    } else {
        let known: Option<String> =
            sqlx::query_scalar("SELECT session_id FROM refresh_tokens WHERE token_hash = $1")
                .bind(old_hash)
                .fetch_optional(&mut *conn)
                .await
                .map_err(backend)?;
        match known {
            Some(session_id) => {
                sqlx::query(
                    "UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                )
                .bind(now)
                .bind(&session_id)
                .execute(&mut *conn)
                .await
                .map_err(backend)?;
                RefreshRotation::Reused {
                    session_id: session_id.into(),
                }
            }
            None => RefreshRotation::Unknown,
        }
    };
    Ok(outcome)
}

/// Records activity on a session, inside the caller's transaction.
pub(crate) async fn touch_in(conn: &mut AnyConnection, id: &str, now: i64) -> StoreResult<()> {
    sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND last_seen_at < $1")
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    Ok(())
}
