//! Two `ward server` replicas on one PostgreSQL database (SPEC §2.10). Both trust their cache for
//! 30 s here instead of 1 s, so a change made through replica A reaches replica B within 1 s only
//! by `LISTEN/NOTIFY`. PostgreSQL only: SQLite is one process.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Connection;

use crate::harness::*;

/// Far longer than any wait below: a cached row can only be dropped by a notification.
const LONG_TTL: Duration = Duration::from_secs(30);
/// SPEC §2.10.
const WITHIN: Duration = Duration::from_secs(1);

async fn replicas() -> (TestServer, TestServer) {
    let a = TestServer::start_postgres_with_cache_ttl(LONG_TTL).await;
    let b = a.start_replica().await;
    for server in [&a, &b] {
        wait_until(Duration::from_secs(5), || async {
            server.state.changes.live()
        })
        .await;
    }
    (a, b)
}

/// Polls `done` every 5 ms until it holds; returns how long that took, or panics after `limit`.
async fn wait_until<F, Fut>(limit: Duration, mut done: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if done().await {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "not within {limit:?} (waited {:?})",
            start.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn claim(jwt: &str, name: &str) -> String {
    use base64::Engine;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(jwt.split('.').nth(1).unwrap())
        .unwrap();
    serde_json::from_slice::<Value>(&payload).unwrap()[name]
        .as_str()
        .unwrap()
        .to_string()
}

async fn access_token(server: &TestServer) -> String {
    cli_tokens(server).await["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn database(server: &TestServer) -> sqlx::PgConnection {
    sqlx::PgConnection::connect(&server.state.config.database_url)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_replicas_session_revoked_on_a_is_refused_on_b_within_1s() {
    let (a, b) = replicas().await;
    let admin = access_token(&a).await;
    let victim = access_token(&a).await;
    let control = access_token(&a).await;
    // B has both sessions (and the user) cached.
    assert_eq!(profile_status(&b, &victim).await, StatusCode::OK);
    assert_eq!(profile_status(&b, &control).await, StatusCode::OK);

    // Control: a revocation written behind ward's back (no notification) is not seen by B,
    // which trusts its cache for 30 s: the case below is not the TTL at work.
    let mut db = database(&a).await;
    sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2")
        .bind(a.clock_now())
        .bind(claim(&control, "sid"))
        .execute(&mut db)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        profile_status(&b, &control).await,
        StatusCode::OK,
        "B serves its cache without a notification"
    );

    let r = a
        .api()
        .delete(a.url(&format!("/api/sessions/{}", claim(&victim, "sid"))))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let took = wait_until(WITHIN, || async {
        profile_status(&b, &victim).await == StatusCode::UNAUTHORIZED
    })
    .await;
    eprintln!("session revocation reached replica B in {took:?}");
    assert_eq!(profile_status(&a, &victim).await, StatusCode::UNAUTHORIZED);
    assert_eq!(profile_status(&b, &admin).await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_replicas_api_token_revoked_on_a_is_refused_on_b_within_1s() {
    let (a, b) = replicas().await;
    let admin = access_token(&a).await;
    let r = a
        .api()
        .post(a.url("/api/tokens"))
        .bearer_auth(&admin)
        .json(&json!({"name": "ci", "scopes": ["containers:read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    let (id, secret) = (
        created["id"].as_str().unwrap().to_string(),
        created["token"].as_str().unwrap().to_string(),
    );
    assert_eq!(profile_status(&b, &secret).await, StatusCode::OK);

    let r = a
        .api()
        .delete(a.url(&format!("/api/tokens/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let took = wait_until(WITHIN, || async {
        profile_status(&b, &secret).await == StatusCode::UNAUTHORIZED
    })
    .await;
    eprintln!("API token revocation reached replica B in {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_replicas_user_disabled_on_a_is_refused_on_b_within_1s() {
    let (a, b) = replicas().await;
    let admin = access_token(&a).await;
    let r = a
        .api()
        .post(a.url("/api/admin/users"))
        .bearer_auth(&admin)
        .json(
            &json!({"email": "dev@test.example", "password": "user-password-123", "role": "user"}),
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let user_id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The user signs in through A and is served by B.
    let browser = a.browser();
    let (verifier, challenge) = pkce_pair();
    let url = reqwest::Url::parse_with_params(
        &a.url("/cli-login"),
        &[
            ("response_type", "code"),
            ("client_id", "ward-cli"),
            ("redirect_uri", LOOPBACK),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("scope", "openid"),
        ],
    )
    .unwrap();
    let login = browser
        .sign_in_through(url.as_str(), "dev@test.example", "user-password-123")
        .await;
    let (_, consent, _) = browser.get(&login).await;
    let back = browser
        .submit_form(&consent, &[("decision", "allow")])
        .await;
    let to = reqwest::Url::parse(&location_of(&back)).unwrap();
    let code = to
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .to_string();
    let tokens: Value = exchange_cli_code(&a, &code, &verifier)
        .await
        .json()
        .await
        .unwrap();
    let dev = tokens["access_token"].as_str().unwrap().to_string();
    assert_eq!(profile_status(&b, &dev).await, StatusCode::OK);

    let r = a
        .api()
        .patch(a.url(&format!("/api/admin/users/{user_id}")))
        .bearer_auth(&admin)
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let took = wait_until(WITHIN, || async {
        profile_status(&b, &dev).await == StatusCode::UNAUTHORIZED
    })
    .await;
    eprintln!("disabling a user reached replica B in {took:?}");
}

async fn published_kids(server: &TestServer) -> Vec<String> {
    let jwks: Value = server
        .api()
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_replicas_key_rotation_reaches_both_within_1s() {
    let (a, b) = replicas().await;
    let old_kid = a.state.keys().await.signing_kid().to_string();
    // `ward server rotate-keys`: its own connection to the database, no server involved.
    let new_kid = ward_server::rotate_keys(
        &a.state.config,
        Arc::new(a.clock.clone()),
        Arc::new(ward_core::random::OsRandom),
    )
    .await
    .unwrap();
    assert_ne!(new_kid, old_kid);
    let took = wait_until(WITHIN, || async {
        published_kids(&b).await.contains(&new_kid) && published_kids(&a).await.contains(&new_kid)
    })
    .await;
    eprintln!("key rotation reached replicas A and B in {took:?}");
    // Both sign with the new key at once and still publish the old one.
    assert!(published_kids(&b).await.contains(&old_kid));
    let kid_of = |jwt: &str| {
        use base64::Engine;
        let h = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(jwt.split('.').next().unwrap())
            .unwrap();
        serde_json::from_slice::<Value>(&h).unwrap()["kid"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(kid_of(&access_token(&b).await), new_kid);
    assert_eq!(kid_of(&access_token(&a).await), new_kid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_replicas_listener_reconnects_and_forgets_what_it_may_have_missed() {
    let (a, b) = replicas().await;
    let victim = access_token(&a).await;
    assert_eq!(profile_status(&b, &victim).await, StatusCode::OK);
    // A revocation no notification announces (as if sent while B's listener was down).
    let mut db = database(&a).await;
    sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2")
        .bind(a.clock_now())
        .bind(claim(&victim, "sid"))
        .execute(&mut db)
        .await
        .unwrap();
    assert_eq!(profile_status(&b, &victim).await, StatusCode::OK, "cached");
    let connections = b.state.changes.connections();
    // Cut every listener's connection to this database.
    let cut = sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert!(cut.len() >= 2, "both replicas listen ({} cut)", cut.len());
    // B reconnects (after 0.1 s), clears its cache, and so sees the revocation.
    let took = wait_until(Duration::from_secs(3), || async {
        b.state.changes.connections() > connections
    })
    .await;
    eprintln!("listener reconnected in {took:?}");
    assert!(b.state.changes.live());
    assert_eq!(profile_status(&b, &victim).await, StatusCode::UNAUTHORIZED);
    // And notifications flow again.
    let admin = access_token(&a).await;
    let other = access_token(&a).await;
    assert_eq!(profile_status(&b, &other).await, StatusCode::OK);
    let r = a
        .api()
        .delete(a.url(&format!("/api/sessions/{}", claim(&other, "sid"))))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    wait_until(WITHIN, || async {
        profile_status(&b, &other).await == StatusCode::UNAUTHORIZED
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_replicas_share_rate_limit_counters() {
    let (a, b) = replicas().await;
    let limits = a.state.config.rate_limits;
    let limit = limits.signin_failures_per_account;
    let (on_a, on_b) = (a.browser(), b.browser());
    // Failed sign-ins for one account, alternating between the replicas: each sees only half of
    // them, yet the account is locked at the configured total.
    for i in 0..limit {
        let browser = if i % 2 == 0 { &on_a } else { &on_b };
        let r = browser.sign_in(ADMIN_EMAIL, "not the password").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    for browser in [&on_a, &on_b] {
        let r = browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry_after: i64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            (1..=limits.window_secs).contains(&retry_after),
            "{retry_after}"
        );
    }
    // The next window (on ward's clock) starts afresh on both.
    a.clock.advance(limits.window_secs);
    let r = on_b.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}
