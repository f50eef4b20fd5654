//! Every guessable input is counted before it is evaluated (SPEC §2.13): bursts of concurrent
//! wrong guesses are evaluated at most the configured number of times (counted by the server's
//! `ward_auth_events{outcome="failed"}` counter, bumped once per evaluated wrong guess), the rest
//! refused with 429 + `Retry-After` + `RateLimit-Remaining: 0`, and the right answer stays
//! refused until the window passes.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::join_all;
use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::json;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use ward_server::config::RawConfig;

use super::*;
use crate::mfa::{enrol, post, python_totp};
use crate::on_both_backends;

/// Concurrent wrong guesses per burst.
const BURST: usize = 200;

/// A burst of `BURST` wrong step-up codes, split over `servers` (replicas of one database):
/// exactly the budget is evaluated, every other answer is a 429 with its headers.
async fn step_up_burst(servers: &[&TestServer], bearer: &str) {
    let first = servers[0];
    let limit = first.state.config.rate_limits.mfa_failures_per_account as usize;
    let before: u64 = servers.iter().map(|s| evaluated(s, "mfa_code")).sum();
    let responses = join_all((0..BURST).map(|i| {
        post(
            servers[i % servers.len()],
            bearer,
            "/api/mfa/verify",
            json!({"code": "000000"}),
        )
    }))
    .await;
    let after: u64 = servers.iter().map(|s| evaluated(s, "mfa_code")).sum();
    assert_eq!(after - before, limit as u64, "evaluated exactly the budget");
    assert_eq!(
        tally(&responses),
        BTreeMap::from([(400, limit), (429, BURST - limit)])
    );
    for r in responses.iter().filter(|r| r.status() == 429) {
        assert_refusal(first, r);
    }
}

async fn step_up_codes_raced(b: Backend) {
    let server = TestServer::start(b).await;
    let admin = admin_token(&server).await;
    let (secret, _) = enrol(&server, &admin).await;
    step_up_burst(&[&server], &admin).await;
    // The right code is still refused, unread, until the window passes.
    let good = python_totp(&secret, server.clock_now());
    let r = post(&server, &admin, "/api/mfa/verify", json!({"code": good})).await;
    assert_refusal(&server, &r);
    next_window(&server);
    let good = python_totp(&secret, server.clock_now());
    let r = post(&server, &admin, "/api/mfa/verify", json!({"code": good})).await;
    assert_eq!(r.status(), StatusCode::OK);
    // A wrong code says how many attempts are left.
    server.clock.advance(30);
    let r = post(
        &server,
        &admin,
        "/api/mfa/verify",
        json!({"code": "000000"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let limit = server.state.config.rate_limits.mfa_failures_per_account;
    assert_eq!(
        r.headers()["ratelimit-remaining"],
        (limit - 1).to_string().as_str()
    );
}

/// Signs a browser in with the admin's password; it is then at `/login/mfa`. Returns the page.
async fn at_second_factor(browser: &Browser) -> String {
    let r = browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location_of(&r), "/login/mfa");
    let (status, page, _) = browser.get("/login/mfa").await;
    assert_eq!(status, StatusCode::OK);
    page
}

async fn signin_codes_raced_void_the_challenge(b: Backend) {
    let server = TestServer::start(b).await;
    let admin = admin_token(&server).await;
    let (secret, _) = enrol(&server, &admin).await;
    let limit = server.state.config.rate_limits.mfa_failures_per_account as usize;
    let browser = server.browser();
    let page = at_second_factor(&browser).await;
    let before = evaluated(&server, "mfa_code");
    let responses =
        join_all((0..BURST).map(|_| browser.submit_form(&page, &[("code", "000000")]))).await;
    assert_eq!(evaluated(&server, "mfa_code") - before, limit as u64);
    let counts = tally(&responses);
    assert_eq!(counts.get(&401), Some(&limit), "{counts:?}");
    // Once void, the pending sign-in is gone: a request that arrives after that is sent back to
    // the sign-in page (303) instead of being refused; neither is evaluated.
    assert_eq!(
        counts.get(&429).unwrap_or(&0) + counts.get(&303).unwrap_or(&0),
        BURST - limit,
        "{counts:?}"
    );
    for r in &responses {
        match r.status() {
            StatusCode::TOO_MANY_REQUESTS => {
                assert_refusal(&server, r);
            }
            StatusCode::SEE_OTHER => assert!(location_of(r).starts_with("/login?")),
            _ => {}
        }
    }
    // The challenge is void: the password must be entered again.
    let (status, _, to) = browser.get("/login/mfa").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(to.starts_with("/login?"), "{to}");
    // Even then the right code is refused until the window passes, and voids that challenge.
    let page = at_second_factor(&browser).await;
    let good = python_totp(&secret, server.clock_now());
    let r = browser.submit_form(&page, &[("code", &good)]).await;
    assert_refusal(&server, &r);
    assert!(r.text().await.unwrap().contains("sign in again"));
    let (status, _, _) = browser.get("/login/mfa").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    next_window(&server);
    let page = at_second_factor(&browser).await;
    let good = python_totp(&secret, server.clock_now());
    let r = browser.submit_form(&page, &[("code", &good)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location_of(&r), "/account");
}

async fn passwords_raced(b: Backend) {
    let server = TestServer::start_with(b, |c| c.rate_limits.signin_per_ip = 10_000).await;
    let limit = server.state.config.rate_limits.signin_failures_per_account as usize;
    let browser = server.browser();
    let (_, page, _) = browser.get("/login").await;
    let page = browser
        .submit_form(&page, &[("email", ADMIN_EMAIL)])
        .await
        .text()
        .await
        .unwrap();
    let before = evaluated(&server, "password");
    let responses = join_all((0..BURST).map(|_| {
        browser.submit_form(
            &page,
            &[("email", ADMIN_EMAIL), ("password", "not the password")],
        )
    }))
    .await;
    assert_eq!(evaluated(&server, "password") - before, limit as u64);
    assert_eq!(
        tally(&responses),
        BTreeMap::from([(401, limit), (429, BURST - limit)])
    );
    for r in responses.iter().filter(|r| r.status() == 429) {
        assert_refusal(&server, r);
    }
    let r = browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_refusal(&server, &r);
    next_window(&server);
    let r = browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

async fn device_user_codes_raced(b: Backend) {
    let server = TestServer::start_with(b, |c| c.rate_limits.user_code_per_ip = 10_000).await;
    let limit = server
        .state
        .config
        .rate_limits
        .user_code_failures_per_account as usize;
    let browser = server.browser();
    assert_eq!(
        browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    let real = device_user_code(&server).await;

    // Entry: `POST /device`.
    let (_, page, _) = browser.get("/device").await;
    let before = evaluated(&server, "user_code");
    let responses =
        join_all((0..BURST).map(|_| browser.submit_form(&page, &[("user_code", "BCDF-GHJK")])))
            .await;
    assert_eq!(evaluated(&server, "user_code") - before, limit as u64);
    assert_eq!(
        tally(&responses),
        BTreeMap::from([(400, limit), (429, BURST - limit)])
    );
    let mut left: Vec<String> = responses
        .iter()
        .filter(|r| r.status() == 400)
        .map(|r| {
            r.headers()["ratelimit-remaining"]
                .to_str()
                .unwrap()
                .to_string()
        })
        .collect();
    left.sort();
    let expected: Vec<String> = (0..limit).map(|n| n.to_string()).collect();
    assert_eq!(
        left, expected,
        "each evaluated guess says how many are left"
    );
    let r = browser.submit_form(&page, &[("user_code", &real)]).await;
    assert_refusal(&server, &r);

    // Decision: `POST /device/decision` (no entry step needed to guess there).
    next_window(&server);
    let real = device_user_code(&server).await;
    let consent = browser
        .submit_form(&page, &[("user_code", &real)])
        .await
        .text()
        .await
        .unwrap();
    assert!(consent.contains("/device/decision"), "{consent}");
    let before = evaluated(&server, "user_code");
    let responses = join_all((0..BURST).map(|_| {
        browser.submit_form(
            &consent,
            &[("user_code", "BCDF-GHJK"), ("decision", "allow")],
        )
    }))
    .await;
    assert_eq!(evaluated(&server, "user_code") - before, limit as u64);
    assert_eq!(
        tally(&responses),
        BTreeMap::from([(400, limit), (429, BURST - limit)])
    );
    let r = browser
        .submit_form(&consent, &[("decision", "allow")])
        .await;
    assert_refusal(&server, &r);
    next_window(&server);
    let real = device_user_code(&server).await;
    let consent = browser
        .submit_form(&page, &[("user_code", &real)])
        .await
        .text()
        .await
        .unwrap();
    let r = browser
        .submit_form(&consent, &[("decision", "allow")])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The close code and reason a WebSocket ends with.
async fn close_of(ws: &mut Ws) -> (u16, String) {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("closed in time");
        match m {
            Some(Ok(Message::Close(Some(CloseFrame { code, reason })))) => {
                return (code.into(), reason.as_str().to_string())
            }
            Some(Ok(_)) => continue,
            other => panic!("no close frame: {other:?}"),
        }
    }
}

/// One WebSocket connection to the locked terminal with a code in the auth message; the close
/// code (1008 refused) or 0 when admitted.
async fn ws_with_code(server: &TestServer, bearer: &str, code: &str) -> (u16, String) {
    let url = server
        .url("/api/terminal/t1")
        .replacen("http://", "ws://", 1);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let auth = json!({"type": "auth", "token": format!("Bearer {bearer}"), "mfa_code": code});
    ws.send(Message::text(auth.to_string())).await.unwrap();
    match tokio::time::timeout(Duration::from_secs(30), ws.next())
        .await
        .expect("an answer in time")
    {
        Some(Ok(Message::Text(t))) if t.as_str().contains("\"hello\"") => (0, String::new()),
        Some(Ok(Message::Close(Some(CloseFrame { code, reason })))) => {
            (code.into(), reason.as_str().to_string())
        }
        _ => close_of(&mut ws).await,
    }
}

async fn locked_resource_codes_raced(b: Backend) {
    let mut config = RawConfig::default();
    with_terminal_route(&mut config).await;
    let server = TestServer::start_with(b, |c| {
        c.routes = config.routes;
        c.roles.get_mut("admin").unwrap().permissions = vec!["containers:write".into()];
    })
    .await;
    let limit = server.state.config.rate_limits.mfa_failures_per_account as usize;
    let admin = admin_token(&server).await;
    let (secret, _) = enrol(&server, &admin).await;
    let code = python_totp(&secret, server.clock_now());
    let r = post(
        &server,
        &admin,
        "/api/security/terminal/t1/mfa-lock",
        json!({ "code": code }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    server.clock.advance(30);

    // Lock verification.
    next_window(&server);
    let before = evaluated(&server, "mfa_code");
    let responses = join_all((0..BURST).map(|_| {
        post(
            &server,
            &admin,
            "/api/security/terminal/t1/verify",
            json!({"code": "000000"}),
        )
    }))
    .await;
    assert_eq!(evaluated(&server, "mfa_code") - before, limit as u64);
    assert_eq!(
        tally(&responses),
        BTreeMap::from([(400, limit), (429, BURST - limit)])
    );
    let good = python_totp(&secret, server.clock_now());
    let r = post(
        &server,
        &admin,
        "/api/security/terminal/t1/verify",
        json!({ "code": good }),
    )
    .await;
    assert_refusal(&server, &r);

    // `X-Ward-MFA-Code` at forward-auth.
    next_window(&server);
    let url = server.url("/api/auth/validate?lock_kind=terminal&resource=t1");
    let before = evaluated(&server, "mfa_code");
    let responses = join_all((0..BURST).map(|_| {
        server
            .api()
            .get(&url)
            .bearer_auth(&admin)
            .header("X-Ward-MFA-Code", "000000")
            .send()
    }))
    .await
    .into_iter()
    .map(Result::unwrap)
    .collect::<Vec<_>>();
    assert_eq!(evaluated(&server, "mfa_code") - before, limit as u64);
    assert_eq!(
        tally(&responses),
        BTreeMap::from([(400, limit), (429, BURST - limit)])
    );
    for r in responses.iter().filter(|r| r.status() == 429) {
        assert_refusal(&server, r);
    }
    let good = python_totp(&secret, server.clock_now());
    let r = server
        .api()
        .get(&url)
        .bearer_auth(&admin)
        .header("X-Ward-MFA-Code", &good)
        .send()
        .await
        .unwrap();
    assert_refusal(&server, &r);

    // The WebSocket auth message's `mfa_code`.
    next_window(&server);
    let before = evaluated(&server, "mfa_code");
    let closes = join_all((0..BURST).map(|_| ws_with_code(&server, &admin, "000000"))).await;
    assert_eq!(evaluated(&server, "mfa_code") - before, limit as u64);
    assert!(closes.iter().all(|(code, _)| *code == 1008), "{closes:?}");
    let refused = closes
        .iter()
        .filter(|(_, why)| why.starts_with("too many attempts; try again in"))
        .count();
    assert_eq!(refused, BURST - limit, "{closes:?}");
    let good = python_totp(&secret, server.clock_now());
    let (code, why) = ws_with_code(&server, &admin, &good).await;
    assert_eq!(code, 1008);
    assert!(why.starts_with("too many attempts"), "{why}");
    next_window(&server);
    let good = python_totp(&secret, server.clock_now());
    assert_eq!(ws_with_code(&server, &admin, &good).await.0, 0, "admitted");
}

on_both_backends!(
    step_up_codes_raced,
    signin_codes_raced_void_the_challenge,
    passwords_raced,
    device_user_codes_raced,
    locked_resource_codes_raced,
);

/// Two replicas on one PostgreSQL database share one budget per account: a burst split over
/// both evaluates the budget once, not twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_replicas_sum_guesses_to_the_budget() {
    let a = TestServer::start_postgres_with_cache_ttl(Duration::from_secs(1)).await;
    let b = a.start_replica().await;
    let admin = admin_token(&a).await;
    let (secret, _) = enrol(&a, &admin).await;
    step_up_burst(&[&a, &b], &admin).await;
    let good = python_totp(&secret, a.clock_now());
    for server in [&a, &b] {
        let r = post(server, &admin, "/api/mfa/verify", json!({"code": good})).await;
        assert_refusal(server, &r);
    }

    // Passwords: a burst split over both.
    next_window(&a);
    let limit = a.state.config.rate_limits.signin_failures_per_account as usize;
    let (on_a, on_b) = (a.browser(), b.browser());
    let mut pages = Vec::new();
    for browser in [&on_a, &on_b] {
        let (_, page, _) = browser.get("/login").await;
        let page = browser
            .submit_form(&page, &[("email", ADMIN_EMAIL)])
            .await
            .text()
            .await
            .unwrap();
        pages.push(page);
    }
    let before = evaluated(&a, "password") + evaluated(&b, "password");
    // 50 each: under the per-IP limit (60), so only the account's budget refuses.
    let responses = join_all((0..100).map(|i| {
        let browser = if i % 2 == 0 { &on_a } else { &on_b };
        browser.submit_form(
            &pages[i % 2],
            &[("email", ADMIN_EMAIL), ("password", "not the password")],
        )
    }))
    .await;
    let after = evaluated(&a, "password") + evaluated(&b, "password");
    assert_eq!(after - before, limit as u64);
    assert_eq!(
        tally(&responses),
        BTreeMap::from([(401, limit), (429, 100 - limit)])
    );
}
