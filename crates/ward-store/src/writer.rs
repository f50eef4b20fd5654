//! Group commit for the hot durable writes (refresh-token rotation, session activity) on SQLite.
//! One task takes every write queued while the previous batch was committing and commits them
//! together in one transaction: N concurrent rotations cost one fsync instead of N, and writers
//! no longer queue on SQLite's busy handler (which sleeps in steps of up to 100 ms instead of
//! waking the next writer). A caller is answered only after the commit that holds its write, so
//! durability is unchanged; writes in a batch apply in queue order, as if committed one by one.

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool};
use tokio::sync::{mpsc, oneshot};
use ward_core::store::{RefreshRotation, StoreResult};
use ward_core::StoreError;

use crate::backend;
use crate::sessions;

/// The most writes committed in one transaction.
const MAX_BATCH: usize = 512;

pub(crate) enum Write {
    Rotate {
        old_hash: String,
        new_hash: String,
        now: i64,
    },
    Touch {
        session_id: String,
        now: i64,
    },
    /// A DPoP proof id (decision 152): one insert per proof, on the hot path of every bound
    /// request, so batched like the others.
    DpopJti {
        hash: String,
        expires_at: i64,
    },
}

pub(crate) enum Done {
    Rotation(RefreshRotation),
    Touched,
    /// Whether this write inserted the id (`false`: seen before).
    JtiRecorded(bool),
}

pub(crate) struct Job {
    write: Write,
    reply: oneshot::Sender<StoreResult<Done>>,
}

/// Handle to the group-commit task; cheap to clone.
#[derive(Clone)]
pub(crate) enum Writer {
    /// SQLite: one writer at a time anyway, so batching only removes waiting and fsyncs.
    Batched(mpsc::UnboundedSender<Job>),
    /// PostgreSQL: concurrent transactions, which the server already group-commits; funnelling
    /// them through one connection would serialize every statement's round trip.
    Direct(AnyPool),
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Writer")
    }
}

impl Writer {
    /// With `batch`, starts the group-commit task (it ends when the last handle is dropped);
    /// otherwise each write commits on its own.
    pub(crate) fn new(pool: AnyPool, batch: bool) -> Writer {
        if !batch {
            return Writer::Direct(pool);
        }
        let (queue, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(pool, rx));
        Writer::Batched(queue)
    }

    /// Queues `write` and waits until it is committed.
    ///
    /// # Cancel safety
    /// Dropping the future does not withdraw the write: once queued it is committed.
    pub(crate) async fn submit(&self, write: Write) -> StoreResult<Done> {
        let queue = match self {
            Writer::Batched(queue) => queue,
            // One statement needs no transaction: one round trip instead of three.
            Writer::Direct(pool) => {
                if let Write::DpopJti { hash, expires_at } = &write {
                    let mut conn = pool.acquire().await.map_err(backend)?;
                    return crate::dpop::record_in(&mut conn, hash, *expires_at)
                        .await
                        .map(Done::JtiRecorded);
                }
                return commit_one(pool, &write).await;
            }
        };
        let (reply, answer) = oneshot::channel();
        queue
            .send(Job { write, reply })
            .map_err(|_| StoreError::Backend("the write queue has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Backend("the write queue dropped a write".into()))?
    }
}

async fn run(pool: AnyPool, mut rx: mpsc::UnboundedReceiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        match commit_all(&pool, &jobs).await {
            Ok(done) => {
                for (job, d) in jobs.drain(..).zip(done) {
                    let _ = job.reply.send(Ok(d));
                }
            }
            // One failing write must not fail the others: retry each in its own transaction.
            Err(_) => {
                for job in jobs.drain(..) {
                    let _ = job.reply.send(commit_one(&pool, &job.write).await);
                }
            }
        }
    }
}

async fn commit_all(pool: &AnyPool, jobs: &[Job]) -> StoreResult<Vec<Done>> {
    let mut tx = Tx::begin(pool).await?;
    let result = match tx.conn() {
        Ok(conn) => apply_all(conn, jobs).await,
        Err(e) => Err(e),
    };
    tx.end(result).await
}

async fn apply_all(conn: &mut AnyConnection, jobs: &[Job]) -> StoreResult<Vec<Done>> {
    // Proof ids touch no row the other writes do, so they go first, many per statement: a
    // statement's trip to SQLite's thread costs more than the insert itself.
    let jtis: Vec<(&str, i64)> = jobs
        .iter()
        .filter_map(|job| match &job.write {
            Write::DpopJti { hash, expires_at } => Some((hash.as_str(), *expires_at)),
            _ => None,
        })
        .collect();
    let mut fresh = crate::dpop::record_many_in(conn, &jtis).await?.into_iter();
    let mut done = Vec::with_capacity(jobs.len());
    for job in jobs {
        done.push(match &job.write {
            Write::DpopJti { .. } => Done::JtiRecorded(fresh.next().unwrap_or(false)),
            other => apply(conn, other).await?,
        });
    }
    Ok(done)
}

async fn commit_one(pool: &AnyPool, write: &Write) -> StoreResult<Done> {
    let mut tx = Tx::begin(pool).await?;
    let result = match tx.conn() {
        Ok(conn) => apply(conn, write).await,
        Err(e) => Err(e),
    };
    tx.end(result).await
}

/// A transaction begun and ended by explicit statements on a pooled connection.
///
/// SQLite may keep a transaction open after a failed statement or `COMMIT` (a full disk,
/// SQLITE_FULL); a connection returned to the pool like that would hold its next user's writes
/// uncommitted, invisible to every other connection, while the caller is told they succeeded.
/// So [`Tx::end`] rolls back at once after any failure, and a connection that cannot be rolled
/// back, or whose `Tx` is dropped before it ended (a cancelled request on PostgreSQL's direct
/// path), is closed instead of going back to the pool.
struct Tx {
    conn: Option<PoolConnection<Any>>,
}

impl Tx {
    /// `BEGIN` on a pooled connection. A connection left inside a transaction makes `BEGIN`
    /// fail: an error, never a write that silently joins someone else's transaction.
    async fn begin(pool: &AnyPool) -> StoreResult<Tx> {
        let mut conn = pool.acquire().await.map_err(backend)?;
        if let Err(e) = sqlx::query("BEGIN").execute(&mut *conn).await {
            conn.detach();
            return Err(backend(e));
        }
        Ok(Tx { conn: Some(conn) })
    }

    /// The connection, until `end` takes it (which consumes the `Tx`).
    fn conn(&mut self) -> StoreResult<&mut AnyConnection> {
        self.conn
            .as_deref_mut()
            .ok_or_else(|| StoreError::Backend("the transaction has ended".into()))
    }

    /// Commits when every write applied; otherwise, and when `COMMIT` itself fails, rolls back.
    async fn end<T>(mut self, result: StoreResult<T>) -> StoreResult<T> {
        let Some(mut conn) = self.conn.take() else {
            return result;
        };
        let result = match result {
            Ok(done) => match sqlx::query("COMMIT").execute(&mut *conn).await {
                Ok(_) => return Ok(done),
                Err(e) => Err(backend(e)),
            },
            Err(e) => Err(e),
        };
        if sqlx::query("ROLLBACK").execute(&mut *conn).await.is_err() {
            conn.detach();
        }
        result
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        // Dropped before `end`: closing the connection rolls its transaction back.
        if let Some(conn) = self.conn.take() {
            conn.detach();
        }
    }
}

async fn apply(conn: &mut AnyConnection, write: &Write) -> StoreResult<Done> {
    match write {
        Write::Rotate {
            old_hash,
            new_hash,
            now,
        } => sessions::rotate_in(conn, old_hash, new_hash, *now)
            .await
            .map(Done::Rotation),
        Write::Touch { session_id, now } => sessions::touch_in(conn, session_id, *now)
            .await
            .map(|()| Done::Touched),
        Write::DpopJti { hash, expires_at } => crate::dpop::record_in(conn, hash, *expires_at)
            .await
            .map(Done::JtiRecorded),
    }
}
