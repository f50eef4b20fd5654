//! Registration with a real third-party client (issue 20): Python's Authlib (PyPI) finds the
//! registration endpoint by discovery, registers a client (RFC 7591) and checks the answer with
//! its own RFC 7591 metadata rules, builds the authorization request with PKCE, redeems the code,
//! calls ward's API and the proxy with the token and refreshes it. The test signs in and allows
//! on the consent page over HTTP in between (the forms parsed as the other tests do). In each
//! mode, with capped scopes, and after removal.

use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{admin, start, MAX_SCOPES, REDIRECT};
use crate::harness::*;
use crate::on_both_backends;

/// The tests' Python packages for this client, pinned; installed from PyPI into a venv under
/// the test target's scratch directory on first use (as the DPoP interop tests do).
const PYTHON_PACKAGES: &[&str] = &["Authlib==1.9.6", "requests==2.34.2"];

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/authlib_client.py")
}

/// The venv's python with the packages above (`ward_testkit::python`).
fn authlib_python(test: &str) -> Option<PathBuf> {
    ward_testkit::python::venv(
        test,
        Path::new(env!("CARGO_TARGET_TMPDIR")),
        PYTHON_PACKAGES,
        "import authlib, requests",
    )
}

/// Runs one command of `authlib_client.py` (off the async workers: it calls the server).
async fn authlib(python: &Path, command: Value) -> Value {
    let python = python.to_path_buf();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = std::process::Command::new(python)
            .arg(script())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("python runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(command.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "authlib_client.py {command} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    })
    .await
    .unwrap()
}

fn metadata(scope: &str) -> Value {
    json!({
        "client_name": "Agent Smith",
        "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": scope,
    })
}

/// Authlib builds the request; the browser signs in and allows on the consent page (which
/// names the client unverified); Authlib redeems the code, calls `/api/containers/c1` through
/// the proxy and refreshes. Returns what the redeem step printed.
async fn sign_in(python: &Path, server: &TestServer, browser: &Browser, client: &Value) -> Value {
    let issuer = server.state.issuer.clone();
    let start = authlib(
        python,
        json!({"cmd": "authorize", "issuer": issuer, "client": client}),
    )
    .await;
    let url = start["url"].as_str().unwrap();
    let (mut status, mut page, location) = browser.get(url).await;
    if location.starts_with("/login") {
        let back = browser
            .sign_in_through(url, ADMIN_EMAIL, ADMIN_PASSWORD)
            .await;
        (status, page, _) = browser.get(&back).await;
    }
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("unverified application"), "{page}");
    let r = browser.submit_form(&page, &[("decision", "allow")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let callback = location_of(&r);
    assert!(callback.starts_with(REDIRECT), "{callback}");
    authlib(
        python,
        json!({
            "cmd": "redeem", "issuer": issuer, "client": client, "state": start["state"],
            "code_verifier": start["code_verifier"], "callback": callback,
            "api_path": "/api/containers/c1",
        }),
    )
    .await
}

async fn register(python: &Path, server: &TestServer, scope: &str, iat: Option<&str>) -> Value {
    authlib(
        python,
        json!({
            "cmd": "register", "issuer": server.state.issuer, "metadata": metadata(scope),
            "initial_access_token": iat, "endpoint": server.url("/oauth/register"),
        }),
    )
    .await
}

/// Off: Authlib finds no registration endpoint, and posting anyway is 404.
async fn authlib_off(b: Backend) {
    let Some(python) = authlib_python("authlib_off") else {
        return;
    };
    let server = start(b, "off").await;
    let v = register(&python, &server, "openid", None).await;
    assert!(v["registration_endpoint"].is_null(), "{v}");
    assert_eq!(v["status"], 404, "{v}");
}

/// Open: register, sign in with consent, redeem with PKCE, call the proxy, refresh; scopes
/// beyond the cap are refused; removal makes the refresh token fail.
async fn authlib_open(b: Backend) {
    let Some(python) = authlib_python("authlib_open") else {
        return;
    };
    let server = start(b, "open").await;
    let capped = register(&python, &server, "openid containers:write", None).await;
    assert_eq!(capped["status"], 400, "{capped}");
    assert_eq!(
        capped["body"]["error"], "invalid_client_metadata",
        "{capped}"
    );
    let v = register(&python, &server, &MAX_SCOPES.join(" "), None).await;
    assert_eq!(v["registration_endpoint"], server.url("/oauth/register"));
    assert_eq!(v["status"], 201, "{v}");
    let client = v["body"].clone();
    let browser = server.browser();
    let done = sign_in(&python, &server, &browser, &client).await;
    assert!(done.get("error").is_none(), "{done}");
    assert_eq!(done["api_status"], 200, "{done}");
    // Scope strings come back sorted (decision on scopes in api.md).
    assert_eq!(
        done["token"]["scope"], "containers:read offline_access openid",
        "{done}"
    );
    let refreshed = done["refreshed"]["refresh_token"].as_str().unwrap();
    // Removed by an admin: the client's refresh token fails at once.
    let admin = admin(&server).await;
    let id = client["client_id"].as_str().unwrap();
    let r = server
        .api()
        .delete(server.url(&format!("/api/admin/clients/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let after = authlib(
        &python,
        json!({"cmd": "refresh", "issuer": server.state.issuer, "client": client,
               "refresh_token": refreshed}),
    )
    .await;
    assert_eq!(after["error"], "invalid_client", "{after}");
}

/// Token: without an initial access token (or with a wrong one) Authlib's registration is
/// refused; with the admin's, it registers and signs in.
async fn authlib_token(b: Backend) {
    let Some(python) = authlib_python("authlib_token") else {
        return;
    };
    let server = start(b, "token").await;
    for iat in [None, Some("not-a-token")] {
        let v = register(&python, &server, "openid", iat).await;
        assert_eq!(v["status"], 401, "{v}");
        assert_eq!(v["body"]["error"], "invalid_token", "{v}");
    }
    let admin = admin(&server).await;
    let r =
        crate::machine::admin_post(&server, &admin, "/api/admin/registration-tokens", json!({}))
            .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let t: Value = r.json().await.unwrap();
    let v = register(
        &python,
        &server,
        "openid offline_access containers:read",
        t["token"].as_str(),
    )
    .await;
    assert_eq!(v["status"], 201, "{v}");
    let done = sign_in(&python, &server, &server.browser(), &v["body"]).await;
    assert_eq!(done["api_status"], 200, "{done}");
}

on_both_backends!(authlib_off, authlib_open, authlib_token);
