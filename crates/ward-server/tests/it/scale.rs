//! Scale (issue 25): the sweeper deletes in bounded batches, each its own short transaction,
//! while sign-ins and validations go on; the admin user list pages by key. The rows are seeded
//! with bulk SQL on the server's own database (one `INSERT … SELECT` over a recursive CTE, the
//! same text on SQLite and PostgreSQL), not through the API.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Connection;
use ward_core::store::SweepStats;
use ward_server::sweeper::sweep;

use crate::events::admin_token;
use crate::harness::*;
use crate::on_both_backends;

/// Expired sessions seeded for the sweep test.
const DEAD: i64 = 200_000;

async fn db(server: &TestServer) -> sqlx::AnyConnection {
    sqlx::any::install_default_drivers();
    sqlx::AnyConnection::connect(&server.state.config.database_url)
        .await
        .unwrap()
}

/// `DEAD` sessions of one user, dead (expired) for a year, each with a refresh token.
async fn seed_dead_sessions(server: &TestServer) {
    let now = server.clock_now();
    let long_ago = now - 2 * 365 * 86_400;
    let mut conn = db(server).await;
    sqlx::query(
        "INSERT INTO users (id, email, name, password_hash, role, disabled, created_at) \
         VALUES ('scaleuser', 'scale@seed.example', 'Scale', NULL, 'user', 0, $1)",
    )
    .bind(long_ago)
    .execute(&mut conn)
    .await
    .unwrap();
    let series = format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {DEAD}) "
    );
    sqlx::query(&format!(
        "INSERT INTO sessions (id, user_id, client_id, channel, scope, created_at, last_seen_at, \
         expires_at, idle_timeout, mfa_verified, amr, verified_at) \
         {series} SELECT 'dead' || i, 'scaleuser', 'ward-cli', 'cli', 'openid', $1, $1, $2, \
         86400, 0, 'pwd', $1 FROM n"
    ))
    .bind(long_ago)
    .bind(long_ago + 3600)
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query(&format!(
        "INSERT INTO refresh_tokens (token_hash, session_id, created_at) \
         {series} SELECT 'deadtoken' || i, 'dead' || i, $1 FROM n"
    ))
    .bind(long_ago)
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
}

async fn count(server: &TestServer, sql: &str) -> i64 {
    let mut conn = db(server).await;
    let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    n
}

/// Signs the admin in (password form) and validates a token, `rounds` times; returns the worst
/// sign-in and the worst validation.
async fn traffic(
    server: &TestServer,
    token: &str,
    until: impl Fn() -> bool,
) -> (Duration, Duration, u32) {
    let (mut worst_signin, mut worst_validate, mut rounds) = (Duration::ZERO, Duration::ZERO, 0);
    loop {
        let t = Instant::now();
        let r = server.browser().sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        assert!(
            r.status().is_redirection(),
            "a sign-in during the sweep failed: {}",
            r.status()
        );
        worst_signin = worst_signin.max(t.elapsed());
        let t = Instant::now();
        let r = server
            .api()
            .get(server.url("/api/auth/validate"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "a validation during the sweep failed"
        );
        worst_validate = worst_validate.max(t.elapsed());
        rounds += 1;
        if until() {
            return (worst_signin, worst_validate, rounds);
        }
    }
}

on_both_backends!(
    sweep_deletes_in_bounded_batches,
    admin_users_page_by_key,
    admin_sessions_page_by_key,
    admin_users_page_counts_up_to_a_cap
);

async fn sweep_deletes_in_bounded_batches(b: Backend) {
    let server = TestServer::start_with(b, |c| {
        c.sessions.sweep_interval = "1000d".into();
        c.rate_limits.signin_per_ip = 1_000_000;
    })
    .await;
    let token = admin_token(&server).await;
    seed_dead_sessions(&server).await;
    let seeded = count(
        &server,
        "SELECT COUNT(*) FROM sessions WHERE id LIKE 'dead%'",
    )
    .await;
    assert_eq!(seeded, DEAD);

    // Before the sweep: the same traffic, for the comparison printed below.
    let (idle_signin, idle_validate, _) = {
        let start = Instant::now();
        traffic(&server, &token, || start.elapsed() > Duration::from_secs(1)).await
    };

    let before = server.state.store.sweep_stats();
    let state = server.state.clone();
    let sweeping = tokio::spawn(async move {
        let t = Instant::now();
        let report = sweep(&state).await.unwrap();
        (report, t.elapsed())
    });
    let (busy_signin, busy_validate, rounds) =
        traffic(&server, &token, || sweeping.is_finished()).await;
    let (report, took) = sweeping.await.unwrap();
    let stats = server.state.store.sweep_stats();
    eprintln!(
        "{b:?}: swept {} sessions in {took:?}: {} batches, at most {} rows and {} µs each; \
         {rounds} sign-ins meanwhile, worst sign-in {busy_signin:?} (before the sweep \
         {idle_signin:?}), worst validation {busy_validate:?} (before {idle_validate:?})",
        report.sessions,
        stats.batches - before.batches,
        stats.max_rows,
        stats.max_micros
    );

    assert_eq!(report.sessions, u64::try_from(DEAD).unwrap());
    assert_eq!(
        count(
            &server,
            "SELECT COUNT(*) FROM sessions WHERE id LIKE 'dead%'"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &server,
            "SELECT COUNT(*) FROM refresh_tokens WHERE token_hash LIKE 'deadtoken%'"
        )
        .await,
        0
    );
    // The structural bound: no delete transaction touched more than BATCH rows, so the write
    // lock was taken and released at least DEAD / BATCH times.
    let batch = u64::try_from(SweepStats::BATCH).unwrap();
    assert!(
        stats.max_rows <= batch,
        "a sweep transaction deleted {} rows, more than the batch of {batch}",
        stats.max_rows
    );
    assert!(
        stats.batches - before.batches >= u64::try_from(DEAD).unwrap() / batch,
        "{} batches for {DEAD} rows",
        stats.batches - before.batches
    );
    // Generous, for a loaded shared machine: one batch is a few milliseconds.
    assert!(
        stats.max_micros < 1_000_000,
        "one sweep transaction held the write lock for {} µs",
        stats.max_micros
    );
    assert!(rounds >= 1, "no sign-in completed during the sweep");
    // The live sessions (the admin's) are untouched.
    let r = server
        .api()
        .get(server.url("/api/sessions"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

async fn users_page(server: &TestServer, token: &str, query: &str) -> (StatusCode, Value) {
    let r = server
        .api()
        .get(server.url(&format!("/api/admin/users{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

async fn admin_users_page_by_key(b: Backend) {
    let server = TestServer::start(b).await;
    let token = admin_token(&server).await;
    for i in 0..6 {
        let r = server
            .api()
            .post(server.url("/api/admin/users"))
            .bearer_auth(&token)
            .json(&json!({"email": format!("p{i}@page.example"), "role": "user"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    // Pages of 2, following `next`: every user once, in (created_at, email) order.
    let mut emails = Vec::new();
    let mut query = "?limit=2".to_string();
    loop {
        let (status, page) = users_page(&server, &token, &query).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let users = page["users"].as_array().unwrap();
        assert!(users.len() <= 2);
        emails.extend(
            users
                .iter()
                .map(|u| u["email"].as_str().unwrap().to_string()),
        );
        match page["next"].as_str() {
            Some(next) => {
                query = format!("?limit=2&after={}", urlencode(next));
            }
            None => break,
        }
    }
    let (_, all) = users_page(&server, &token, "").await;
    let all: Vec<String> = all["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        emails, all,
        "paging by key lists the same users in the same order"
    );
    assert_eq!(all.len(), 7);

    let (status, one) = users_page(&server, &token, "?email=P3%40page.example").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["users"][0]["email"], "p3@page.example");
    assert_eq!(one["users"].as_array().unwrap().len(), 1);

    for (query, what) in [
        ("?limit=0", "limit"),
        ("?limit=1001", "limit"),
        ("?after=nonsense", "cursor"),
    ] {
        let (status, body) = users_page(&server, &token, query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert!(body.to_string().contains(what), "{query}: {body}");
    }
}

async fn admin_get(server: &TestServer, token: &str, path: &str) -> (StatusCode, Value) {
    let r = server
        .api()
        .get(server.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

async fn admin_sessions_page_by_key(b: Backend) {
    let server = TestServer::start(b).await;
    let token = admin_token(&server).await;
    // Five more sessions, a second apart so that the order is by time as well as by id.
    for _ in 0..5 {
        server.clock.advance(1);
        cli_tokens(&server).await;
    }
    let (status, all) = admin_get(&server, &token, "/api/admin/sessions").await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert!(all.get("next").is_none(), "one page holds them all: {all}");
    let all: Vec<String> = all["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert!(all.len() >= 6, "{all:?}");
    let mut paged = Vec::new();
    let mut path = "/api/admin/sessions?limit=2".to_string();
    loop {
        let (status, page) = admin_get(&server, &token, &path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        paged.extend(
            page["sessions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].as_str().unwrap().to_string()),
        );
        match page["next"].as_str() {
            Some(next) => path = format!("/api/admin/sessions?limit=2&before={}", urlencode(next)),
            None => break,
        }
    }
    assert_eq!(
        paged, all,
        "paging by key lists the same sessions, newest first"
    );
    for query in ["?limit=0", "?limit=501", "?before=nonsense", "?before=12."] {
        let (status, body) =
            admin_get(&server, &token, &format!("/api/admin/sessions{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `n` users seeded in one statement, created long ago (so that they sort before the admin).
async fn seed_users(server: &TestServer, from: i64, n: i64) {
    let mut conn = db(server).await;
    sqlx::query(&format!(
        "WITH RECURSIVE n(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM n WHERE i < {last}) \
         INSERT INTO users (id, email, name, password_hash, role, disabled, created_at) \
         SELECT 'seeded' || i, 'u' || i || '@count.example', 'Seeded', NULL, 'user', 0, 1 FROM n",
        last = from + n - 1
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
}

/// The users page counts users no further than 10,000 (a bounded read on every view, not a
/// count of a million rows) and says so past that: exactly 10,000 is shown as such, one more
/// as "10000+".
async fn admin_users_page_counts_up_to_a_cap(b: Backend) {
    let server = TestServer::start(b).await;
    let admin = server.browser();
    admin.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let count = |page: &str| {
        let (_, rest) = page.split_once("<span class=\"count\">").unwrap();
        rest.split_once('<').unwrap().0.to_string()
    };
    let (status, page, _) = admin.get("/admin/users").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(count(&page), "1", "the bootstrap admin");

    seed_users(&server, 1, 9_999).await;
    let (_, page, _) = admin.get("/admin/users").await;
    assert_eq!(count(&page), "10000");

    seed_users(&server, 10_000, 1).await;
    let (_, page, _) = admin.get("/admin/users").await;
    assert_eq!(count(&page), "10000+");
}
