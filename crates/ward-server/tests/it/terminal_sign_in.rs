//! `POST /api/auth/terminal-sign-in` (issue 18 item 18, decision 164): the password and code
//! typed in a terminal approve that terminal's own device code. Off by default; the same
//! password and MFA budgets as the sign-in page, counted before evaluation; a code started
//! elsewhere is never approved from here.

use std::net::IpAddr;

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};
use ward_core::model::AuditQuery;

use crate::harness::*;
use crate::mfa::{enrol, python_totp};
use crate::on_both_backends;

fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn start_device(http: &reqwest::Client, server: &TestServer) -> Value {
    http.post(server.url("/oauth/device/code"))
        .form(&[("client_id", "ward-cli")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn terminal(
    http: &reqwest::Client,
    server: &TestServer,
    user_code: &str,
    password: &str,
    code: Option<&str>,
) -> (StatusCode, Value, Option<String>) {
    let mut body = json!({"user_code": user_code, "email": ADMIN_EMAIL, "password": password});
    if let Some(c) = code {
        body["code"] = json!(c);
    }
    let r = http
        .post(server.url("/api/auth/terminal-sign-in"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let remaining = r
        .headers()
        .get("ratelimit-remaining")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, r.json().await.unwrap_or(Value::Null), remaining)
}

/// One poll of the token endpoint with the device code.
async fn poll(http: &reqwest::Client, server: &TestServer, device: &Value) -> reqwest::Response {
    http.post(server.url("/oauth/token"))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device["device_code"].as_str().unwrap()),
            ("client_id", "ward-cli"),
        ])
        .send()
        .await
        .unwrap()
}

async fn redeem(http: &reqwest::Client, server: &TestServer, device: &Value) -> Value {
    let r = poll(http, server, device).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

fn amr(access_token: &str) -> Vec<String> {
    use base64::Engine;
    let payload = access_token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    serde_json::from_value(claims["amr"].clone()).unwrap()
}

async fn audit_count(server: &TestServer, event_type: &str, needle: &str) -> usize {
    server
        .state
        .store
        .audit_events(&AuditQuery {
            user_id: None,
            event_type: Some(event_type.into()),
            before: None,
            limit: 500,
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|(e, _)| e.detail.contains(needle))
        .count()
}

async fn off_by_default(b: Backend) {
    let server = TestServer::start(b).await;
    let http = server.api();
    let device = start_device(&http, &server).await;
    let (status, v, _) = terminal(
        &http,
        &server,
        device["user_code"].as_str().unwrap(),
        ADMIN_PASSWORD,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["error"], "terminal_sign_in_off");
    let discovery: Value = http
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(discovery.get("ward_terminal_sign_in_endpoint").is_none());

    // It needs the device flow it approves.
    let mut raw = ward_server::config::RawConfig {
        terminal_sign_in: true,
        device_flow: false,
        ..Default::default()
    };
    raw.listen = "127.0.0.1:0".into();
    let err = raw.validate().unwrap_err().to_string();
    assert!(err.contains("terminal_sign_in"), "{err}");
}

async fn password_then_code_approve_the_terminals_own_code(b: Backend) {
    let server = TestServer::start_with(b, |c| c.terminal_sign_in = true).await;
    let http = server.api();
    let discovery: Value = http
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["ward_terminal_sign_in_endpoint"],
        server.url("/api/auth/terminal-sign-in")
    );

    // Password only.
    let device = start_device(&http, &server).await;
    let user_code = device["user_code"].as_str().unwrap();
    let (status, v, remaining) = terminal(&http, &server, user_code, "wrong", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(v["error"], "invalid_credentials");
    assert_eq!(remaining.as_deref(), Some("9"));
    let (status, v, _) = terminal(&http, &server, user_code, ADMIN_PASSWORD, None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["email"], ADMIN_EMAIL);
    let tokens = redeem(&http, &server, &device).await;
    assert_eq!(amr(tokens["access_token"].as_str().unwrap()), vec!["pwd"]);
    assert!(tokens["refresh_token"].is_string());
    // Used once: the same code is not approved again.
    let (status, v, _) = terminal(&http, &server, user_code, ADMIN_PASSWORD, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"], "invalid_user_code");
    assert_eq!(
        audit_count(&server, "device.approved", "terminal_password").await,
        1
    );

    // With TOTP on: the code is required, a wrong one refused, the right one approves.
    let (secret, backup) = enrol(&server, tokens["access_token"].as_str().unwrap()).await;
    let device = start_device(&http, &server).await;
    let user_code = device["user_code"].as_str().unwrap();
    let (status, v, _) = terminal(&http, &server, user_code, ADMIN_PASSWORD, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(v["error"], "mfa_required");
    let (status, v, remaining) =
        terminal(&http, &server, user_code, ADMIN_PASSWORD, Some("000000")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"], "invalid_code");
    assert!(remaining.is_some());
    // Nothing was approved yet.
    assert_eq!(
        poll(&http, &server, &device).await.status(),
        StatusCode::BAD_REQUEST
    );
    let code = python_totp(&secret, server.clock_now());
    let (status, v, _) = terminal(&http, &server, user_code, ADMIN_PASSWORD, Some(&code)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    server.clock.advance(6);
    let tokens = redeem(&http, &server, &device).await;
    assert!(amr(tokens["access_token"].as_str().unwrap()).contains(&"otp".to_string()));

    // A backup code works too.
    let device = start_device(&http, &server).await;
    let (status, v, _) = terminal(
        &http,
        &server,
        device["user_code"].as_str().unwrap(),
        ADMIN_PASSWORD,
        Some(&backup[0]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
}

/// A terminal approves only the code it asked for itself: a code started from another address
/// (an attacker's device code sent to a victim) is refused even with the right password.
async fn a_code_started_elsewhere_is_refused(b: Backend) {
    let server = TestServer::start_with(b, |c| c.terminal_sign_in = true).await;
    let attacker = client_from("127.0.0.2");
    let device = start_device(&attacker, &server).await;
    let victim = server.api();
    let (status, v, _) = terminal(
        &victim,
        &server,
        device["user_code"].as_str().unwrap(),
        ADMIN_PASSWORD,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"], "invalid_user_code");
    assert!(
        v["error_description"]
            .as_str()
            .unwrap()
            .contains("another address"),
        "{v}"
    );
    assert_eq!(
        poll(&attacker, &server, &device).await.status(),
        StatusCode::BAD_REQUEST
    );
}

/// 40 concurrent wrong passwords: no more than the account's budget (10) are evaluated, the
/// rest are 429, and then the right password is refused too until the window passes.
async fn concurrent_guesses_hold_the_account_budget(b: Backend) {
    let server = TestServer::start_with(b, |c| {
        c.terminal_sign_in = true;
        // Only the account budget is under test here.
        c.rate_limits.signin_per_ip = 1000;
    })
    .await;
    let http = server.api();
    let device = start_device(&http, &server).await;
    let user_code = device["user_code"].as_str().unwrap().to_owned();
    let answers = join_all((0..40).map(|i| {
        let http = http.clone();
        let server = &server;
        let user_code = user_code.clone();
        async move {
            terminal(&http, server, &user_code, &format!("wrong {i}"), None)
                .await
                .0
        }
    }))
    .await;
    let evaluated = answers
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let limited = answers
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(evaluated, 10, "{answers:?}");
    assert_eq!(limited, 30, "{answers:?}");
    let (status, _, _) = terminal(&http, &server, &user_code, ADMIN_PASSWORD, None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

on_both_backends!(
    off_by_default,
    password_then_code_approve_the_terminals_own_code,
    a_code_started_elsewhere_is_refused,
    concurrent_guesses_hold_the_account_budget,
);
