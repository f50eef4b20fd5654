//! Users.

use async_trait::async_trait;
use ward_core::clock::Timestamp;
use ward_core::model::User;
use ward_core::store::{StoreResult, UserCursor, UserStore};
use ward_core::UserId;

use crate::changes::Change;
use crate::codec::{Flag, Time};
use crate::{backend, SqlStore};

/// The tables besides `sessions` and `api_tokens` whose `user_id` references `users(id)`.
pub(crate) const DEPENDENTS: [&str; 6] = [
    "consents",
    "mfa_totp",
    "mfa_backup_codes",
    "mfa_challenges",
    "webauthn_credentials",
    "idp_links",
];

/// What follows the last `@` of a user's email, as SQL both backends run: the expression of the
/// index users_email_domain (migration 0022), which a query must repeat exactly to be served by
/// it. (`rtrim` strips from the right every character of the email but `@`.)
pub const EMAIL_DOMAIN: &str = "substr(email, length(rtrim(email, replace(email, '@', ''))) + 1)";

pub(crate) const COLUMNS: &str =
    "id, email, name, password_hash, role, disabled, created_at, email_verified";

/// A row of [`COLUMNS`].
#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: String,
    email: String,
    name: String,
    password_hash: Option<String>,
    role: String,
    disabled: Flag,
    created_at: Time,
    email_verified: Flag,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        User {
            id: r.id.into(),
            email: r.email,
            name: r.name,
            password_hash: r.password_hash,
            role: r.role,
            disabled: r.disabled.0,
            created_at: r.created_at.0,
            email_verified: r.email_verified.0,
        }
    }
}

#[async_trait]
impl UserStore for SqlStore {
    async fn insert_user(&self, u: &User) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO users (id, email, name, password_hash, role, disabled, created_at, \
             email_verified) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(u.id.as_str())
        .bind(&u.email)
        .bind(&u.name)
        .bind(&u.password_hash)
        .bind(&u.role)
        .bind(i64::from(u.disabled))
        .bind(u.created_at.0)
        .bind(i64::from(u.email_verified))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn user_by_id(&self, id: &UserId) -> StoreResult<Option<User>> {
        if let Some(u) = self.cache.users.get(id.as_str()) {
            return Ok(Some(u));
        }
        let generation = self.cache.users.generation();
        let found =
            sqlx::query_as::<_, UserRow>(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?
                .map(User::from);
        if let Some(u) = &found {
            self.cache.users.put(id.as_str(), u, generation);
        }
        Ok(found)
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let row =
            sqlx::query_as::<_, UserRow>(&format!("SELECT {COLUMNS} FROM users WHERE email = $1"))
                .bind(email)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        Ok(row.map(User::from))
    }

    async fn count_users(&self) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await
            .map_err(backend)
    }

    async fn count_users_up_to(&self, cap: i64) -> StoreResult<i64> {
        // The inner LIMIT stops the read after `cap` rows (of the smallest index, on SQLite).
        sqlx::query_scalar("SELECT COUNT(*) FROM (SELECT 1 FROM users LIMIT $1) capped")
            .bind(cap.max(0))
            .fetch_one(&self.pool)
            .await
            .map_err(backend)
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        let rows = sqlx::query_as::<_, UserRow>(&format!(
            "SELECT {COLUMNS} FROM users ORDER BY created_at, email"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.into_iter().map(User::from).collect())
    }

    async fn users_page(&self, after: Option<&UserCursor>, limit: i64) -> StoreResult<Vec<User>> {
        // Keyset paging on the users_created index (migration 0020): `(created_at, email) >
        // cursor` written out, since row-value comparisons are not portable to every planner.
        let (at, email) = match after {
            Some(c) => (c.created_at, c.email.clone()),
            None => (i64::MIN, String::new()),
        };
        let rows = sqlx::query_as::<_, UserRow>(&format!(
            "SELECT {COLUMNS} FROM users WHERE created_at >= $1 \
             AND (created_at > $1 OR email > $2) ORDER BY created_at, email LIMIT $3"
        ))
        .bind(at)
        .bind(email)
        .bind(limit.clamp(1, 1000))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.into_iter().map(User::from).collect())
    }

    async fn users_by_ids(&self, ids: &[UserId]) -> StoreResult<Vec<User>> {
        let mut ids: Vec<&str> = ids.iter().map(UserId::as_str).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut found = Vec::with_capacity(ids.len());
        // In chunks, well under every backend's limit on binds per statement.
        for chunk in ids.chunks(500) {
            let list = (1..=chunk.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!("SELECT {COLUMNS} FROM users WHERE id IN ({list})");
            let mut q = sqlx::query_as::<_, UserRow>(&sql);
            for id in chunk {
                q = q.bind(*id);
            }
            let rows = q.fetch_all(&self.pool).await.map_err(backend)?;
            found.extend(rows.into_iter().map(User::from));
        }
        Ok(found)
    }

    async fn user_emails_at_domain(&self, domain: &str) -> StoreResult<Vec<String>> {
        // On the users_email_domain index (migration 0022): the expression is the indexed one.
        // A domain holds no `@`, so "after the last @ is `domain`" is "ends with @`domain`";
        // the length keeps the rule that the local part is not empty.
        sqlx::query_scalar(&format!(
            "SELECT email FROM users WHERE {EMAIL_DOMAIN} = $1 AND length(email) > length($1) + 1"
        ))
        .bind(domain)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)
    }

    async fn user_local_login(&self, id: &UserId) -> StoreResult<bool> {
        let found: Option<Flag> = sqlx::query_scalar("SELECT local_login FROM users WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        Ok(found.is_some_and(|f| f.0))
    }

    async fn set_user_local_login(&self, id: &UserId, local_login: bool) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE users SET local_login = $1 WHERE id = $2")
            .bind(i64::from(local_login))
            .bind(id.as_str())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_user_role(&self, id: &UserId, role: &str) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
            .bind(role)
            .bind(id.as_str())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        self.changed(&[Change::User(id.to_string())]).await;
        Ok(done.rows_affected() == 1)
    }

    async fn set_user_disabled(
        &self,
        id: &UserId,
        disabled: bool,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // Enabling a sign-up that waits for approval approves it (one state, not two).
        let done = sqlx::query(
            "UPDATE users SET disabled = $1, \
             pending_approval = CASE WHEN $1 = 0 THEN 0 ELSE pending_approval END WHERE id = $2",
        )
        .bind(i64::from(disabled))
        .bind(id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        if disabled {
            sqlx::query(
                "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
            )
            .bind(now.0)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            sqlx::query(
                "UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
            )
            .bind(now.0)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)?;
        // The user, and every session and API token of theirs.
        self.changed(&[Change::User(id.to_string())]).await;
        Ok(true)
    }

    async fn delete_users_without_sessions(
        &self,
        role: &str,
        email_suffix: &str,
        created_before: Timestamp,
    ) -> StoreResult<u64> {
        // The suffix is matched with LIKE: escape its wildcards (`_` is common in domains).
        let pattern = format!(
            "%{}",
            email_suffix
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        const DOOMED: &str = "SELECT u.id FROM users u WHERE u.role = $1 AND u.created_at < $2 \
             AND u.email LIKE $3 ESCAPE '\\' \
             AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = u.id) \
             AND NOT EXISTS (SELECT 1 FROM api_tokens t WHERE t.user_id = u.id)";
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // Every other table with a foreign key to users first: a guest who was promoted for a
        // while (and enrolled a second factor, say) and demoted again must not make the delete
        // fail, which would stop every later sweep too.
        for table in DEPENDENTS {
            sqlx::query(&format!("DELETE FROM {table} WHERE user_id IN ({DOOMED})"))
                .bind(role)
                .bind(created_before.0)
                .bind(&pattern)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        let done = sqlx::query(&format!("DELETE FROM users WHERE id IN ({DOOMED})"))
            .bind(role)
            .bind(created_before.0)
            .bind(&pattern)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        if done.rows_affected() > 0 {
            self.changed(&[Change::AllUsers]).await;
        }
        Ok(done.rows_affected())
    }
}
