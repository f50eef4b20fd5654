//! Guessing and abuse (SPEC §2.13), tried as an attacker would. Shared helpers here; the
//! attacks in `guessing` (limits under concurrency, one replica or two), `policy` (locks,
//! guests, client secrets, `return_to`, device-code phishing) and `addresses` (email-domain
//! routing and look-alike addresses).

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::{json, Value};
use ward_server::config::RawConfig;
use ward_server::metrics::OutcomeLabel;
use ward_server::proxy::config::RawRoute;

use crate::harness::*;

mod addresses;
mod guessing;
mod policy;

/// Wrong guesses of `kind` the server evaluated so far.
pub(super) fn evaluated(server: &TestServer, kind: &str) -> u64 {
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

pub(super) fn window(server: &TestServer) -> i64 {
    server.state.config.rate_limits.window_secs
}

/// Moves the clock into the next rate-limit window.
pub(super) fn next_window(server: &TestServer) {
    let w = window(server);
    let now = server.clock_now();
    server.clock.advance(w - now.rem_euclid(w));
}

/// Checks a refusal's headers; returns its `Retry-After`.
pub(super) fn assert_refusal(server: &TestServer, r: &reqwest::Response) -> i64 {
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
pub(super) fn tally(responses: &[reqwest::Response]) -> BTreeMap<u16, usize> {
    let mut out = BTreeMap::new();
    for r in responses {
        *out.entry(r.status().as_u16()).or_insert(0) += 1;
    }
    out
}

pub(super) async fn admin_token(server: &TestServer) -> String {
    cli_tokens(server).await["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Starts a device authorization; returns its user code.
pub(super) async fn device_user_code(server: &TestServer) -> String {
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

/// A WebSocket route `/api/terminal` to the example backend, locked by kind `terminal`.
pub(super) async fn with_terminal_route(c: &mut RawConfig) {
    let addr = ward_example_backend::spawn("127.0.0.1:0", Default::default())
        .await
        .unwrap();
    c.routes = vec![RawRoute {
        prefix: "/api/terminal".into(),
        upstream: format!("http://{addr}"),
        permissions: BTreeMap::new(),
        permission: Some("containers:write".into()),
        websocket: true,
        tcp: None,
        lock_kind: Some("terminal".into()),
        timeout: None,
        ca_file: None,
        cert_file: None,
        key_file: None,
    }];
}

/// Creates a user with `role` and signs a browser in as them; returns the browser (whose session
/// cookie authenticates API calls) and the user's id.
pub(super) async fn member(
    server: &TestServer,
    admin: &str,
    email: &str,
    role: &str,
) -> (Browser, String) {
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

/// A client whose connections come from `local` (another loopback address, as another host).
pub(super) fn api_from(local: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(local.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}
