//! A fresh database per test, and records with sensible defaults.

use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::Connection;
use ward_core::clock::Timestamp;
use ward_core::model::{Channel, Session, User};
use ward_core::{SessionId, UserId};
use ward_store::SqlStore;

/// A store on a database of its own; the SQLite file lives as long as this.
pub struct Db {
    pub store: SqlStore,
    _dir: Option<tempfile::TempDir>,
}

impl Db {
    pub async fn sqlite() -> Db {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("ward.db").display());
        Db {
            store: ward_store::connect(&url).await.unwrap(),
            _dir: Some(dir),
        }
    }

    pub async fn postgres() -> Db {
        let admin = std::env::var("WARD_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        let name = format!("ward_conformance_{}", unique());
        let mut conn = sqlx::PgConnection::connect(&format!("{admin}/postgres"))
            .await
            .expect("PostgreSQL must be running on 127.0.0.1:5432 (see .ci/run)");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        Db {
            store: ward_store::connect(&format!("{admin}/{name}"))
                .await
                .unwrap(),
            _dir: None,
        }
    }
}

/// A name no other test of this run uses.
pub fn unique() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        rand::random::<u32>()
    )
}

pub const NOW: Timestamp = Timestamp(1_800_000_000);

pub fn user(email: &str) -> User {
    User {
        id: UserId::from(format!("u{}", unique())),
        email: email.into(),
        name: email.split('@').next().unwrap_or_default().into(),
        password_hash: None,
        role: "user".into(),
        disabled: false,
        created_at: NOW,
        email_verified: true,
    }
}

pub fn session(user_id: &UserId) -> Session {
    Session {
        id: SessionId::from(format!("s{}", unique())),
        user_id: user_id.clone(),
        client_id: "ward-cli".into(),
        channel: Channel::Cli,
        scope: "openid".into(),
        device_id: None,
        device_name: None,
        ip: Some("127.0.0.1".into()),
        user_agent: None,
        created_at: NOW,
        last_seen_at: NOW,
        expires_at: NOW.plus_secs(3600),
        idle_timeout: 1800,
        mfa_verified: false,
        amr: vec!["pwd".into()],
        revoked_at: None,
        verified_at: NOW,
        dpop_jkt: None,
        resource: None,
    }
}
