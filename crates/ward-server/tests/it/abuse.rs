//! Guessing and abuse (SPEC §2.13), tried as an attacker would: bursts of concurrent wrong
//! guesses against every guessable input are evaluated at most the configured number of times
//! (counted by the server's `ward_auth_events{outcome="failed"}` counter, which is bumped once
//! per evaluated wrong guess), the rest refused with 429 + `Retry-After` +
//! `RateLimit-Remaining: 0`, and the right answer stays refused until the window passes.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::join_all;
use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use ward_server::config::RawConfig;
use ward_server::metrics::OutcomeLabel;
use ward_server::proxy::config::RawRoute;

use crate::harness::*;
use crate::mfa::{enrol, post, python_totp};
use crate::on_both_backends;

/// Concurrent wrong guesses per burst.
const BURST: usize = 200;

/// Wrong guesses of `kind` the server evaluated so far.
fn evaluated(server: &TestServer, kind: &str) -> u64 {
    server
        .state
        .metrics
        .auth_events
        .get_or_create(&OutcomeLabel {
            kind: kind.into(),
            outcome: "failed".into(),
        })
        .get()
}

fn window(server: &TestServer) -> i64 {
    server.state.config.rate_limits.window_secs
}

/// Moves the clock into the next rate-limit window.
fn next_window(server: &TestServer) {
    let w = window(server);
    let now = server.clock_now();
    server.clock.advance(w - now.rem_euclid(w));
}

/// Checks a refusal's headers; returns its `Retry-After`.
fn assert_refusal(server: &TestServer, r: &reqwest::Response) -> i64 {
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: i64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=window(server)).contains(&retry), "{retry}");
    assert_eq!(r.headers()["ratelimit-remaining"], "0");
    retry
}

/// Status → count.
fn tally(responses: &[reqwest::Response]) -> BTreeMap<u16, usize> {
    let mut out = BTreeMap::new();
    for r in responses {
        *out.entry(r.status().as_u16()).or_insert(0) += 1;
    }
    out
}

async fn admin_token(server: &TestServer) -> String {
    cli_tokens(server).await["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

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
    assert_eq!(location_of(&r), "/");
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

/// Starts a device authorization; returns its user code.
async fn device_user_code(server: &TestServer) -> String {
    let r: Value = server
        .api()
        .post(server.url("/oauth/device/code"))
        .form(&[("client_id", "ward-cli")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["user_code"].as_str().unwrap().to_string()
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

// ---------------------------------------------------------------- locked resources

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket route `/api/terminal` to the example backend, locked by kind `terminal`.
async fn with_terminal_route(c: &mut RawConfig) {
    let addr = ward_example_backend::spawn("127.0.0.1:0", Default::default())
        .await
        .unwrap();
    c.routes = vec![RawRoute {
        prefix: "/api/terminal".into(),
        upstream: format!("http://{addr}"),
        permissions: BTreeMap::new(),
        permission: Some("containers:write".into()),
        websocket: true,
        lock_kind: Some("terminal".into()),
        timeout: None,
    }];
}

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

/// Creates a user with `role` and signs a browser in as them; returns the browser (whose session
/// cookie authenticates API calls) and the user's id.
async fn member(server: &TestServer, admin: &str, email: &str, role: &str) -> (Browser, String) {
    let password = "member password 0123";
    let r = server
        .api()
        .post(server.url("/api/admin/users"))
        .bearer_auth(admin)
        .json(&json!({"email": email, "password": password, "role": role}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let browser = server.browser();
    assert_eq!(
        browser.sign_in(email, password).await.status(),
        StatusCode::SEE_OTHER
    );
    (browser, id)
}

async fn locks_need_the_route_permission(b: Backend) {
    let mut config = RawConfig::default();
    with_terminal_route(&mut config).await;
    let server = TestServer::start_with(b, |c| {
        c.routes = config.routes;
        c.roles.insert(
            "viewer".into(),
            ward_server::config::RawRole {
                permissions: vec!["containers:read".into()],
                limits: Default::default(),
            },
        );
    })
    .await;
    let admin = admin_token(&server).await;
    let admin_id = server
        .state
        .store
        .user_by_email(ADMIN_EMAIL)
        .await
        .unwrap()
        .unwrap()
        .id;
    let (secret, _) = enrol(&server, &admin).await;
    let r = post(
        &server,
        &admin,
        "/api/security/terminal/t1/mfa-lock",
        json!({ "code": python_totp(&secret, server.clock_now()) }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let status = |browser: &Browser| {
        browser
            .http
            .get(server.url("/api/security/terminal/t1"))
            .send()
    };
    let (viewer, _) = member(&server, &admin, "viewer@test.example", "viewer").await;
    let (user, _) = member(&server, &admin, "user@test.example", "user").await;

    // Without the terminal route's permission (containers:write): no lock state, no lock, no
    // unlock, whatever the code.
    assert_eq!(
        error_code(status(&viewer).await.unwrap()).await,
        (StatusCode::FORBIDDEN, "forbidden".into())
    );
    for path in [
        "/api/security/terminal/t1/mfa-unlock",
        "/api/security/terminal/t2/mfa-lock",
    ] {
        let r = viewer
            .http
            .post(server.url(path))
            .json(&json!({"code": "000000"}))
            .send()
            .await
            .unwrap();
        let (code, error) = error_code(r).await;
        assert_eq!(
            (code, error.as_str()),
            (StatusCode::FORBIDDEN, "forbidden"),
            "{path}"
        );
    }
    // With it: the state, without who locked it.
    let r = status(&user).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["locked"], true);
    assert_eq!(body["locked_by"], Value::Null);
    // An admin sees who locked it.
    let r = server
        .api()
        .get(server.url("/api/security/terminal/t1"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["locked_by"], admin_id.as_str());
}

/// A guest's browser, and a CSRF token for it.
async fn guest_browser(server: &TestServer) -> (Browser, String) {
    let guest = server.browser();
    let (_, page, _) = guest.get("/login").await;
    let csrf = input_value(&page, "csrf_token").unwrap();
    let r = guest
        .http
        .post(server.url("/login/guest"))
        .form(&[("csrf_token", csrf.as_str()), ("return_to", "/account")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    (guest, csrf)
}

async fn assert_guest_refused(r: reqwest::Response) {
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let page = r.text().await.unwrap();
    assert!(page.contains("Guests cannot sign in devices"), "{page}");
    assert!(page.contains("signed in as a guest"), "{page}");
}

async fn guests_cannot_approve_cli_or_device_sign_ins(b: Backend) {
    let server = TestServer::start(b).await;
    let (guest, csrf) = guest_browser(&server).await;

    // The CLI's PKCE flow: no consent page, and a forged decision is refused.
    let (_, challenge) = pkce_pair();
    let query = reqwest::Url::parse_with_params(
        "http://x/",
        &[
            ("response_type", "code"),
            ("client_id", "ward-cli"),
            ("redirect_uri", LOOPBACK),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("state", "st4te"),
            ("scope", "openid offline_access"),
        ],
    )
    .unwrap()
    .query()
    .unwrap()
    .to_string();
    let r = guest
        .http
        .get(server.url(&format!("/cli-login?{query}")))
        .send()
        .await
        .unwrap();
    assert_guest_refused(r).await;
    let r = guest
        .http
        .post(server.url("/oauth/authorize/decision"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("request", query.as_str()),
            ("decision", "allow"),
        ])
        .send()
        .await
        .unwrap();
    assert_guest_refused(r).await;

    // The device flow: neither the entry nor a decision.
    let user_code = device_user_code(&server).await;
    let r = guest
        .http
        .get(server.url(&format!("/device?user_code={user_code}")))
        .send()
        .await
        .unwrap();
    assert_guest_refused(r).await;
    for (path, decision) in [("/device", None), ("/device/decision", Some("allow"))] {
        let mut form = vec![
            ("csrf_token", csrf.clone()),
            ("user_code", user_code.clone()),
        ];
        if let Some(d) = decision {
            form.push(("decision", d.to_string()));
        }
        let r = guest
            .http
            .post(server.url(path))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_guest_refused(r).await;
    }
    // The grant is still pending: an account can approve it.
    let browser = server.browser();
    assert_eq!(
        browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    let (_, page, _) = browser.get("/device").await;
    let consent = browser
        .submit_form(&page, &[("user_code", &user_code)])
        .await
        .text()
        .await
        .unwrap();
    let r = browser
        .submit_form(&consent, &[("decision", "allow")])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// A client whose connections come from `local` (another loopback address, as another host).
fn api_from(local: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(local.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn wrong_client_secrets_cannot_lock_out_the_client(b: Backend) {
    let server = TestServer::start(b).await;
    let grant = |http: reqwest::Client, secret: &'static str| {
        let url = server.url("/oauth/token");
        async move {
            http.post(url)
                .basic_auth(APP_CLIENT, Some(secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap()
        }
    };
    let attacker = api_from("127.0.0.1");
    let responses = join_all((0..100).map(|_| grant(attacker.clone(), "wrong-secret"))).await;
    let counts = tally(&responses);
    assert_eq!(counts.get(&200), None, "{counts:?}");
    assert!(counts.get(&401).is_some_and(|n| *n >= 20), "{counts:?}");
    // The attacker's address is refused, even with the right secret ...
    let r = grant(attacker.clone(), APP_SECRET).await;
    assert_refusal(&server, &r);
    // ... the real backend, elsewhere, is not.
    let r = grant(api_from("127.0.0.2"), APP_SECRET).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
}

/// `return_to` with a tab or newline: never another host (browsers drop tabs and newlines, so
/// `/\t/evil.example` is `//evil.example` to them), never a 5xx (a newline cannot be put in a
/// `Location` header).
async fn return_to_with_control_characters(b: Backend) {
    let server = TestServer::start(b).await;
    let browser = server.browser();
    assert_eq!(
        browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    for bad in [
        "/%09/evil.example",
        "/%0A/evil.example",
        "/%0D%0ASet-Cookie:x=1",
    ] {
        let (status, _, to) = browser.get(&format!("/login?return_to={bad}")).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{bad}");
        assert_eq!(to, "/", "{bad}");
    }
}

// ---------------------------------------------------------------- device-code phishing

/// Starts a device authorization from `http`'s address; returns its user code.
async fn device_code_from(server: &TestServer, http: &reqwest::Client) -> String {
    let r: Value = http
        .post(server.url("/oauth/device/code"))
        .form(&[("client_id", "ward-cli")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["user_code"].as_str().unwrap().to_string()
}

async fn device_consent_shows_where_and_when(b: Backend) {
    let server = TestServer::start(b).await;
    let victim = server.browser();
    assert_eq!(
        victim.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    let (_, entry, _) = victim.get("/device").await;

    // An attacker elsewhere (another /24) starts a sign-in and sends the code; the victim
    // enters it three minutes later.
    let code = device_code_from(&server, &api_from("127.0.1.1")).await;
    server.clock.advance(180);
    let consent = victim
        .submit_form(&entry, &[("user_code", &code)])
        .await
        .text()
        .await
        .unwrap();
    assert!(consent.contains("127.0.1.1"), "{consent}");
    assert!(consent.contains("3 minutes ago"), "{consent}");
    assert!(consent.contains(&code), "{consent}");
    assert!(consent.contains("confirm_other_network"), "{consent}");
    assert!(consent.contains("deny it"), "{consent}");
    let r = victim.submit_form(&consent, &[("decision", "allow")]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Confirm it is your device"));
    // Still pending: the explicit confirmation approves it.
    let r = victim
        .submit_form(
            &consent,
            &[("decision", "allow"), ("confirm_other_network", "yes")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("Device approved"));

    // A fresh request from the same network: shown, no second confirmation.
    let code = device_code_from(&server, &api_from("127.0.0.2")).await;
    let consent = victim
        .submit_form(&entry, &[("user_code", &code)])
        .await
        .text()
        .await
        .unwrap();
    assert!(consent.contains("127.0.0.2"), "{consent}");
    assert!(consent.contains("less than a minute ago"), "{consent}");
    assert!(!consent.contains("confirm_other_network"), "{consent}");
    let r = victim.submit_form(&consent, &[("decision", "allow")]).await;
    assert_eq!(r.status(), StatusCode::OK);
}

// ---------------------------------------------------------------- email-domain routing

async fn routed_domain_signs_in_only_through_its_idp(b: Backend) {
    use crate::idp::{audit_events, page_of, sign_in_via_idp, submit_email, ward_with_provider};
    let (server, provider) = ward_with_provider(b, |c, issuer| {
        // Another IdP for `gh.example` that may vouch for any domain.
        let mut any = crate::idp::oidc_idp("anywhere", issuer, &["gh.example"]);
        any.allowed_domains = Some(vec!["*".into()]);
        c.idp.push(any);
        // `corp`, too, may vouch for any domain: but never for one routed to `anywhere`.
        c.idp[0].allowed_domains = Some(vec!["*".into()]);
    })
    .await;
    let admin = admin_token(&server).await;
    let password = "carol's local password";
    let r = server
        .api()
        .post(server.url("/api/admin/users"))
        .bearer_auth(&admin)
        .json(&json!({"email": "carol@corp.example", "password": password, "role": "user"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let carol = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // A direct POST /login/password for the routed domain: refused, naming the IdP, before the
    // password is read (a wrong one gets the same answer).
    let browser = server.browser();
    let (_, login, _) = browser.get("/login").await;
    for pw in [password, "wrong password"] {
        let r = browser
            .http
            .post(server.url("/login/password"))
            .form(&[
                (
                    "csrf_token",
                    input_value(&login, "csrf_token").unwrap().as_str(),
                ),
                ("email", "carol@corp.example"),
                ("password", pw),
            ])
            .send()
            .await
            .unwrap();
        let (status, page) = page_of(r).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
        assert!(page.contains("Sign in with corp"), "{page}");
        assert!(page.contains("corp.example"), "{page}");
    }
    let events = audit_events(&server, "signin").await;
    assert_eq!(events[0].0, "denied");
    assert_eq!(events[0].1["reason"], "routed_to_idp");

    // Break-glass: an admin sets local_login; the password form and the password work again.
    let r = server
        .api()
        .patch(server.url(&format!("/api/admin/users/{carol}")))
        .bearer_auth(&admin)
        .json(&json!({"local_login": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = submit_email(&browser, "carol@corp.example").await;
    assert_eq!(r.status(), StatusCode::OK, "the password form, not the IdP");
    let page = r.text().await.unwrap();
    let r = browser
        .submit_form(
            &page,
            &[("email", "carol@corp.example"), ("password", password)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(audit_events(&server, "user.local_login").await.len(), 1);

    // An IdP allowed `["*"]` vouches for an address at a domain routed to another IdP:
    // refused with a page that says so, audited, no account.
    provider
        .post(
            "/__test/accounts",
            json!({"eve@corp.example": {"email": "bob@gh.example"}}),
        )
        .await;
    let (s, page) =
        page_of(sign_in_via_idp(&server, &server.browser(), "eve@corp.example").await).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{page}");
    assert!(page.contains("sign in only through anywhere"), "{page}");
    let events = audit_events(&server, "signin").await;
    assert_eq!(events[0].0, "failed");
    assert_eq!(events[0].1["reason"], "email_domain_routed_elsewhere");
    assert_eq!(
        server
            .state
            .store
            .user_by_email("bob@gh.example")
            .await
            .unwrap(),
        None
    );
}

// ---------------------------------------------------------------- look-alike addresses

const FULLWIDTH_ADMIN: &str = "\u{ff41}dmin@test.example";
const CYRILLIC_A_ADMIN: &str = "\u{430}dmin@test.example";
/// All Cyrillic (one script), and looks like `ace`.
const CYRILLIC_ACE: &str = "\u{430}\u{441}\u{435}@test.example";

async fn admin_creates(server: &TestServer, admin: &str, email: &str) -> (StatusCode, String) {
    let r = server
        .api()
        .post(server.url("/api/admin/users"))
        .bearer_auth(admin)
        .json(&json!({"email": email, "password": "some long password", "role": "user"}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    (
        status,
        body["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

async fn look_alike_addresses_are_refused(b: Backend) {
    let server = TestServer::start_with(b, |c| {
        c.signup = true;
        c.idp.push(ward_server::config::RawIdp {
            name: "corp".into(),
            kind: "github".into(),
            client_id: "corp-client".into(),
            client_secret: Some("corp-secret".into()),
            domains: vec!["corp.example".into()],
            ..Default::default()
        });
    })
    .await;
    let admin = admin_token(&server).await;
    assert_eq!(
        admin_creates(&server, &admin, "ace@test.example").await.0,
        StatusCode::CREATED
    );

    // Admin creation.
    let (status, message) = admin_creates(&server, &admin, FULLWIDTH_ADMIN).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "the same address as the admin's"
    );
    assert!(message.contains("admin@test.example"), "{message}");
    let (status, message) = admin_creates(&server, &admin, CYRILLIC_A_ADMIN).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message.contains("mixes scripts"), "{message}");
    let (status, message) = admin_creates(&server, &admin, CYRILLIC_ACE).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        message.contains("looks like the address of another account"),
        "{message}"
    );

    // Sign-up: the same, and the taken address is not confirmed as such.
    let browser = server.browser();
    let password = ("password", "a new long password");
    let cases = [
        (
            FULLWIDTH_ADMIN,
            StatusCode::CONFLICT,
            "The account could not be created.",
        ),
        (
            ADMIN_EMAIL,
            StatusCode::CONFLICT,
            "The account could not be created.",
        ),
        (CYRILLIC_A_ADMIN, StatusCode::BAD_REQUEST, "mixes scripts"),
        (
            CYRILLIC_ACE,
            StatusCode::BAD_REQUEST,
            "looks like the address of another account",
        ),
        // Routing is decided on the normalised domain.
        (
            "bob@corp.example.",
            StatusCode::BAD_REQUEST,
            "sign in through corp",
        ),
        (
            "bob@\u{ff43}orp.example",
            StatusCode::BAD_REQUEST,
            "sign in through corp",
        ),
        (
            "bob@CORP.example..",
            StatusCode::BAD_REQUEST,
            "sign in through corp",
        ),
    ];
    for (email, status, message) in cases {
        let r = crate::signup::sign_up(&browser, &[("email", email), password]).await;
        assert_eq!(r.status(), status, "{email}");
        let page = r.text().await.unwrap();
        assert!(page.contains(message), "{email}: {page}");
        assert!(!page.contains("exists"), "{email}: {page}");
    }
    // The sign-in page routes the twins of a routed domain to the IdP.
    let (_, login, _) = browser.get("/login").await;
    let r = browser
        .submit_form(&login, &[("email", "bob@corp.example.")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        location_of(&r).starts_with("https://github.com/"),
        "{}",
        location_of(&r)
    );
    assert_eq!(server.state.store.count_users().await.unwrap(), 2);
}

async fn look_alike_addresses_are_refused_through_an_idp(b: Backend) {
    use crate::idp::{audit_events, page_of, sign_in_via_idp, ward_with_provider};
    let (server, provider) = ward_with_provider(b, |_, _| {}).await;
    let admin = admin_token(&server).await;
    assert_eq!(
        admin_creates(&server, &admin, "ace@corp.example").await.0,
        StatusCode::CREATED
    );
    for (asserted, why) in [
        (
            "\u{430}\u{441}\u{435}@corp.example",
            "looks like the address of another account",
        ),
        ("\u{430}dmin@corp.example", "mixes scripts"),
    ] {
        provider
            .post(
                "/__test/accounts",
                json!({"eve@corp.example": {"email": asserted}}),
            )
            .await;
        let (s, page) =
            page_of(sign_in_via_idp(&server, &server.browser(), "eve@corp.example").await).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{page}");
        assert!(page.contains(why), "{page}");
        let events = audit_events(&server, "signin").await;
        assert_eq!(events[0].1["reason"], "email_look_alike");
    }
    assert_eq!(server.state.store.count_users().await.unwrap(), 2);
}

on_both_backends!(
    return_to_with_control_characters,
    device_consent_shows_where_and_when,
    look_alike_addresses_are_refused,
    look_alike_addresses_are_refused_through_an_idp,
    routed_domain_signs_in_only_through_its_idp,
    wrong_client_secrets_cannot_lock_out_the_client,
    guests_cannot_approve_cli_or_device_sign_ins,
    locks_need_the_route_permission,
    step_up_codes_raced,
    signin_codes_raced_void_the_challenge,
    passwords_raced,
    device_user_codes_raced,
    locked_resource_codes_raced,
);

// ---------------------------------------------------------------- replicas

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
