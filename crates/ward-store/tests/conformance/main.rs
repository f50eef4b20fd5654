//! The store conformance suite (issue 17): ward-core's store contract checked against
//! ward-store directly, on SQLite and on PostgreSQL, without an HTTP server. A change to one SQL
//! statement is checked here in seconds; the HTTP suite then checks the behaviour built on it.
//!
//! Every "exactly once" promise of `ward_core::store` is raced by real concurrent tasks on a
//! multi-threaded runtime.

// Test fixtures may unwrap and panic: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fixtures;
mod once;
mod records;
mod users;

/// Runs each async test function once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = $crate::fixtures::Db::sqlite().await;
                    super::$name(&db.store).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = $crate::fixtures::Db::postgres().await;
                    super::$name(&db.store).await
                }
            )*
        }
    };
}
