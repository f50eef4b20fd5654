//! DPoP proof ids (RFC 9449 §11.1), shared by every replica through the database.

use async_trait::async_trait;
use sqlx::AnyConnection;
use ward_core::clock::Timestamp;
use ward_core::store::{DpopStore, StoreResult};
use ward_core::StoreError;

use crate::writer::{Done, Write};
use crate::{backend, SqlStore};

/// Inserts a proof id inside the caller's transaction; `true` when this insert made the row.
pub(crate) async fn record_in(
    conn: &mut AnyConnection,
    jti_hash: &str,
    expires_at: i64,
) -> StoreResult<bool> {
    // One statement on both backends: of any number of concurrent inserts of one id, on any
    // replica (or twice in one group commit), exactly one affects a row. An expired row still
    // blocks until swept, which only refuses a proof its `iat` already refuses.
    let done = sqlx::query(
        "INSERT INTO dpop_jtis (jti_hash, expires_at) VALUES ($1, $2) \
         ON CONFLICT (jti_hash) DO NOTHING",
    )
    .bind(jti_hash)
    .bind(expires_at)
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    Ok(done.rows_affected() == 1)
}

/// Rows per multi-row insert in [`record_many_in`].
const ROWS_PER_INSERT: usize = 64;

/// [`record_in`] for many ids at once, in order: `true` for each id this call inserted. An id
/// given twice is fresh only the first time.
pub(crate) async fn record_many_in(
    conn: &mut AnyConnection,
    ids: &[(&str, i64)],
) -> StoreResult<Vec<bool>> {
    let mut inserted = std::collections::HashSet::new();
    for chunk in ids.chunks(ROWS_PER_INSERT) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2))
            .collect();
        let sql = format!(
            "INSERT INTO dpop_jtis (jti_hash, expires_at) VALUES {} \
             ON CONFLICT (jti_hash) DO NOTHING RETURNING jti_hash",
            values.join(", ")
        );
        let mut query = sqlx::query_scalar::<_, String>(&sql);
        for (hash, expires_at) in chunk {
            query = query.bind(*hash).bind(*expires_at);
        }
        inserted.extend(query.fetch_all(&mut *conn).await.map_err(backend)?);
    }
    // Of the same id twice in one batch, the insert made one row: the first asker gets it.
    Ok(ids.iter().map(|(hash, _)| inserted.remove(*hash)).collect())
}

#[async_trait]
impl DpopStore for SqlStore {
    async fn record_dpop_jti(&self, jti_hash: &str, expires_at: Timestamp) -> StoreResult<bool> {
        // Through the group-commit writer (SQLite: one fsync per batch, not per request).
        match self
            .writer
            .submit(Write::DpopJti {
                hash: jti_hash.to_string(),
                expires_at: expires_at.0,
            })
            .await?
        {
            Done::JtiRecorded(fresh) => Ok(fresh),
            _ => Err(StoreError::Backend(
                "the writer answered another write".into(),
            )),
        }
    }

    async fn delete_expired_dpop_jtis(&self, now: Timestamp) -> StoreResult<u64> {
        self.delete_expired("dpop_jtis", now).await
    }
}
