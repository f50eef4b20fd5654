//! Accounts a person can live with (SPEC §2.14): changing a password (`password`), an
//! admin's recovery link, MFA reset and user deletion (`recovery`), and the same flows through
//! the pages in a real headless Chromium (`browser`). Shared helpers here.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::*;

mod branding;
mod browser;
mod email_change;
mod mail;
mod password;
mod recovery;
mod signup_browser;
mod signup_modes;
mod smtp;

/// A password zxcvbn scores 4 that no test uses elsewhere.
pub const NEW_PASSWORD: &str = "violet anchor drizzle 31";
/// The password users made by [`create_user`] start with.
pub const USER_PASSWORD: &str = "user-password-123";

/// An admin `ward-cli` access token.
pub async fn admin_token(server: &TestServer) -> String {
    cli_tokens(server).await["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Creates a user with [`USER_PASSWORD`]; returns their id.
pub async fn create_user(server: &TestServer, admin: &str, email: &str, role: &str) -> String {
    let r = server
        .api()
        .post(server.url("/api/admin/users"))
        .bearer_auth(admin)
        .json(&json!({"email": email, "password": USER_PASSWORD, "role": role}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A `ward-cli` sign-in of `email` with `password` through the pages; the token response.
pub async fn cli_tokens_of(server: &TestServer, email: &str, password: &str) -> Value {
    let browser = server.browser();
    let (verifier, challenge) = pkce_pair();
    let url = reqwest::Url::parse_with_params(
        &server.url("/cli-login"),
        &[
            ("response_type", "code"),
            ("client_id", "ward-cli"),
            ("redirect_uri", LOOPBACK),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("scope", "openid offline_access"),
        ],
    )
    .unwrap();
    let back = browser.sign_in_through(url.as_str(), email, password).await;
    let (_, consent, _) = browser.get(&back).await;
    let r = browser
        .submit_form(&consent, &[("decision", "allow")])
        .await;
    let to = location_of(&r);
    let code = reqwest::Url::parse(&to)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .to_string();
    let r = exchange_cli_code(server, &code, &verifier).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

pub fn access(tokens: &Value) -> String {
    tokens["access_token"].as_str().unwrap().to_string()
}

/// `method path` with the bearer and an optional JSON body: (status, JSON body).
pub async fn call(
    server: &TestServer,
    bearer: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = server
        .api()
        .request(method, server.url(path))
        .bearer_auth(bearer);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or_default())
}

/// The audit events of `type` (newest first), as the admin API lists them.
pub async fn audit_events(server: &TestServer, admin: &str, event_type: &str) -> Vec<Value> {
    let (status, v) = call(
        server,
        admin,
        "GET",
        &format!("/api/admin/audit?type={event_type}&limit=500"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v["events"].as_array().unwrap().clone()
}

/// Signs a fresh cookie browser in with the password; the status and `Location` of the answer.
pub async fn password_sign_in(
    server: &TestServer,
    email: &str,
    password: &str,
) -> (Browser, StatusCode, String) {
    let browser = server.browser();
    let r = browser.sign_in(email, password).await;
    let status = r.status();
    let location = location_of(&r);
    (browser, status, location)
}
