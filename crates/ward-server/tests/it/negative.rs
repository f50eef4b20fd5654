//! Security-negative cases: each asserts the exact error.

use reqwest::StatusCode;

use crate::harness::*;
use crate::on_both_backends;

async fn wrong_pkce_verifier_is_rejected(b: Backend) {
    let server = TestServer::start(b).await;
    let browser = server.browser();
    let (_verifier, challenge) = pkce_pair();
    let code = server.cli_code(&browser, &challenge, LOOPBACK).await;
    let (other_verifier, _) = pkce_pair();
    let r = exchange_cli_code(&server, &code, &other_verifier).await;
    assert_eq!(
        error_code(r).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
}

async fn reused_code_is_rejected_and_revokes_the_first_session(b: Backend) {
    let server = TestServer::start(b).await;
    let browser = server.browser();
    let (verifier, challenge) = pkce_pair();
    let code = server.cli_code(&browser, &challenge, LOOPBACK).await;
    let first = exchange_cli_code(&server, &code, &verifier).await;
    assert_eq!(first.status(), StatusCode::OK);
    let tokens: serde_json::Value = first.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(profile_status(&server, access).await, StatusCode::OK);
    let second = exchange_cli_code(&server, &code, &verifier).await;
    assert_eq!(
        error_code(second).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    assert_eq!(
        profile_status(&server, access).await,
        StatusCode::UNAUTHORIZED
    );
    let r = refresh_grant(&server, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        error_code(r).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
}

async fn expired_code_is_rejected(b: Backend) {
    let server = TestServer::start(b).await;
    let browser = server.browser();
    let (verifier, challenge) = pkce_pair();
    let code = server.cli_code(&browser, &challenge, LOOPBACK).await;
    server.clock.advance(61);
    let r = exchange_cli_code(&server, &code, &verifier).await;
    assert_eq!(
        error_code(r).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
}

async fn foreign_redirect_uris_are_never_followed(b: Backend) {
    let server = TestServer::start(b).await;
    let browser = server.browser();
    let (_, challenge) = pkce_pair();
    for (client, redirect) in [
        ("ward-cli", "https://evil.example/callback"),
        ("ward-cli", "http://localhost:9876/callback"),
        ("ward-cli", "http://127.0.0.1:9876/callback/../x"),
        ("ward-cli", "http://127.0.0.1.evil.example:9876/callback"),
        (APP_CLIENT, "https://app.example.com/callback/extra"),
        (APP_CLIENT, "https://app.example.com/callback?x=1"),
        (APP_CLIENT, "http://127.0.0.1:9876/callback"),
        ("no-such-client", "https://app.example.com/callback"),
    ] {
        let url = reqwest::Url::parse_with_params(
            &server.url("/oauth/authorize"),
            &[
                ("response_type", "code"),
                ("client_id", client),
                ("redirect_uri", redirect),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ],
        )
        .unwrap();
        let (status, body, location) = browser.get(url.as_str()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{client} {redirect}");
        assert!(location.is_empty(), "never redirected to {redirect}");
        assert!(body.contains("Invalid sign-in request"));
    }
    // An exact registered redirect is accepted (the browser is sent to sign in).
    let url = reqwest::Url::parse_with_params(
        &server.url("/oauth/authorize"),
        &[
            ("response_type", "code"),
            ("client_id", APP_CLIENT),
            ("redirect_uri", APP_REDIRECT),
        ],
    )
    .unwrap();
    let (status, _, location) = browser.get(url.as_str()).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.starts_with("/login?"));
}

async fn public_clients_must_use_pkce_s256(b: Backend) {
    let server = TestServer::start(b).await;
    let browser = server.browser();
    for extra in [
        vec![],
        vec![
            ("code_challenge", "abc"),
            ("code_challenge_method", "plain"),
        ],
    ] {
        let mut params = vec![
            ("response_type", "code"),
            ("client_id", "ward-cli"),
            ("redirect_uri", LOOPBACK),
            ("state", "s"),
        ];
        params.extend(extra);
        let url =
            reqwest::Url::parse_with_params(&server.url("/oauth/authorize"), &params).unwrap();
        let (status, _, location) = browser.get(url.as_str()).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let to = reqwest::Url::parse(&location).unwrap();
        let q: std::collections::HashMap<_, _> = to.query_pairs().into_owned().collect();
        assert_eq!(q["error"], "invalid_request");
        assert_eq!(q["state"], "s");
    }
}

async fn device_code_expiry_and_slow_down(b: Backend) {
    let server = TestServer::start(b).await;
    let api = server.api();
    let start: serde_json::Value = api
        .post(server.url("/oauth/device/code"))
        .form(&[("client_id", "ward-cli"), ("scope", "openid")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(start["interval"], 5);
    assert_eq!(start["expires_in"], 600);
    let device_code = start["device_code"].as_str().unwrap().to_string();
    let poll = || async {
        error_code(
            api.post(server.url("/oauth/token"))
                .form(&[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                    ("device_code", device_code.as_str()),
                    ("client_id", "ward-cli"),
                ])
                .send()
                .await
                .unwrap(),
        )
        .await
    };
    assert_eq!(poll().await.1, "authorization_pending");
    assert_eq!(poll().await.1, "slow_down", "polled again at once");
    // RFC 8628 §3.5: every slow_down adds 5 s for all later polls: 5 s is now too soon.
    server.clock.advance(5);
    assert_eq!(poll().await.1, "slow_down", "interval grew to 10 s");
    server.clock.advance(15);
    assert_eq!(
        poll().await.1,
        "authorization_pending",
        "waited the grown interval (15 s)"
    );
    server.clock.advance(600);
    assert_eq!(poll().await.1, "expired_token");

    // An expired code cannot be approved either.
    let browser = server.browser();
    let back = browser
        .sign_in_through(
            start["verification_uri_complete"].as_str().unwrap(),
            ADMIN_EMAIL,
            ADMIN_PASSWORD,
        )
        .await;
    let (_, page, _) = browser.get(&back).await;
    let r = browser.submit_form(&page, &[]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("not valid or has expired"));
}

async fn denied_device_and_consent(b: Backend) {
    let server = TestServer::start(b).await;
    let api = server.api();
    let start: serde_json::Value = api
        .post(server.url("/oauth/device/code"))
        .form(&[("client_id", "ward-cli")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let browser = server.browser();
    let back = browser
        .sign_in_through(
            start["verification_uri_complete"].as_str().unwrap(),
            ADMIN_EMAIL,
            ADMIN_PASSWORD,
        )
        .await;
    let (_, page, _) = browser.get(&back).await;
    let consent = browser.submit_form(&page, &[]).await.text().await.unwrap();
    let r = browser.submit_form(&consent, &[("decision", "deny")]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = api
        .post(server.url("/oauth/token"))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", start["device_code"].as_str().unwrap()),
            ("client_id", "ward-cli"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::BAD_REQUEST, "access_denied".into())
    );
}

async fn bad_csrf_token_is_refused(b: Backend) {
    let server = TestServer::start(b).await;
    let browser = server.browser();
    let (_, page, _) = browser.get("/login").await;
    assert!(input_value(&page, "csrf_token").is_some());
    for token in ["", "forged-token-forged-token-forged-token"] {
        let r = browser
            .submit_form(&page, &[("email", ADMIN_EMAIL), ("csrf_token", token)])
            .await;
        assert_eq!(
            error_code(r).await,
            (StatusCode::FORBIDDEN, "forbidden".into())
        );
    }
    // A browser that never got the cookie cannot post either.
    let fresh = server.browser();
    let r = fresh
        .http
        .post(server.url("/login/password"))
        .form(&[
            ("email", ADMIN_EMAIL),
            ("password", ADMIN_PASSWORD),
            (
                "csrf_token",
                input_value(&page, "csrf_token").unwrap().as_str(),
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

async fn malformed_requests_get_clear_4xx(b: Backend) {
    let server = TestServer::start(b).await;
    let api = server.api();
    // Token endpoint: not a form, unknown grant, missing parameters, duplicated parameters.
    let r = api
        .post(server.url("/oauth/token"))
        .body("{}")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::BAD_REQUEST, "invalid_request".into())
    );
    let r = api
        .post(server.url("/oauth/token"))
        .form(&[("grant_type", "password"), ("client_id", "ward-cli")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::BAD_REQUEST, "unsupported_grant_type".into())
    );
    let r = api
        .post(server.url("/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", "ward-cli"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::BAD_REQUEST, "invalid_request".into())
    );
    let r = api
        .post(server.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=refresh_token&grant_type=refresh_token&client_id=ward-cli")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::BAD_REQUEST, "invalid_request".into())
    );
    let r = api
        .post(server.url("/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "ward-cli"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::BAD_REQUEST, "unauthorized_client".into())
    );
    let r = api
        .post(server.url("/oauth/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", "nobody"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::UNAUTHORIZED, "invalid_client".into())
    );
    let r = api
        .post(server.url("/oauth/token"))
        .header("authorization", "Basic !!!notbase64")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::UNAUTHORIZED, "invalid_client".into())
    );
    // ward API: bad JSON, wrong shapes, bad bearer tokens.
    for body in ["not json", "{}", "{\"refresh_token\": 5}", "[]"] {
        let r = api
            .post(server.url("/api/auth/refresh"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        let e: serde_json::Value = r.json().await.unwrap();
        assert_eq!(e["error"], "invalid_request");
        assert!(e["error_description"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON body"));
    }
    let r = api
        .post(server.url("/api/auth/refresh"))
        .json(&serde_json::json!({"refresh_token": "ward_rt_nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    for auth in [
        "Bearer",
        "Bearer x.y.z",
        "Basic abc",
        "Bearer eyJhbGciOiJub25lIn0.e30.",
        "Bearer \u{7f}",
    ] {
        let r = api
            .get(server.url("/api/profile"))
            .header("authorization", auth)
            .send()
            .await;
        if let Ok(r) = r {
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{auth}");
        }
    }
    // Oversized body.
    let big = "a".repeat(200 * 1024);
    let r = api
        .post(server.url("/oauth/token"))
        .form(&[("grant_type", big.as_str())])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());
    // Unknown route: JSON 404.
    let r = api.get(server.url("/api/nope")).send().await.unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::NOT_FOUND, "not_found".into())
    );
}

/// A client secret is guessable input: after `token_failures_per_client` wrong secrets in a
/// window the client is refused (429 + Retry-After, even with the right secret) until the
/// window ends; other clients are not affected.
async fn client_secret_guessing_is_rate_limited(b: Backend) {
    let server = TestServer::start_with(b, |c| c.rate_limits.token_failures_per_client = 5).await;
    let api = server.api();
    let grant = |secret: &'static str| {
        api.post(server.url("/oauth/token"))
            .basic_auth(APP_CLIENT, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    for _ in 0..5 {
        let r = grant("wrong-secret").await.unwrap();
        assert_eq!(
            error_code(r).await,
            (StatusCode::UNAUTHORIZED, "invalid_client".into())
        );
    }
    let r = grant(APP_SECRET).await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: i64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=300).contains(&retry), "{retry}");
    // The public CLI client is not affected.
    let r = api
        .post(server.url("/oauth/device/code"))
        .form(&[("client_id", "ward-cli")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    server.clock.advance(retry);
    let r = grant(APP_SECRET).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the next window");
}

/// The head of an answer to a request sent over a raw connection, read up to the blank line.
async fn raw_answer_head(server: &TestServer, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = server.url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut byte))
            .await
            .expect("an answer in time")
            .unwrap();
        assert_eq!(n, 1, "connection closed before the answer's head ended");
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).to_ascii_lowercase()
}

/// An error answered before the request's body was read says `Connection: close`, so a
/// pooled client never reuses the connection the server is about to close (the flaky
/// `IncompleteMessage` after an oversized body). Successful answers keep the connection.
async fn errors_before_the_body_is_read_close_the_connection_politely(b: Backend) {
    let server = TestServer::start(b).await;
    let addr = server.url.trim_start_matches("http://").to_string();
    // Over the body limit: 413 once the limit is passed, before the body is sent in full.
    let request = format!(
        "POST /oauth/token HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 10485760\r\n\r\ngrant_type={}",
        "a".repeat(70 * 1024)
    );
    let answer = raw_answer_head(&server, request.as_bytes()).await;
    assert!(answer.starts_with("http/1.1 413"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    // Refused before reading: a body that is not a form.
    let body = "{\"grant_type\":\"client_credentials\"}";
    let request = format!(
        "POST /oauth/token HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let answer = raw_answer_head(&server, request.as_bytes()).await;
    assert!(answer.starts_with("http/1.1 400"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    // A refused path, with a body.
    let request =
        format!("POST /api/a%2Fb HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 2\r\n\r\n{{}}");
    let answer = raw_answer_head(&server, request.as_bytes()).await;
    assert!(answer.starts_with("http/1.1 400"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    // A request without a body keeps its connection, even when refused.
    let request = format!("GET /api/nope HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let answer = raw_answer_head(&server, request.as_bytes()).await;
    assert!(answer.starts_with("http/1.1 404"), "{answer}");
    assert!(!answer.contains("connection: close"), "{answer}");

    // One pooled client alternating oversized posts and reads never sees a broken connection.
    let api = server.api();
    let big = "a".repeat(200 * 1024);
    for round in 0..30 {
        let r = api
            .post(server.url("/oauth/token"))
            .form(&[("grant_type", big.as_str())])
            .send()
            .await
            .unwrap_or_else(|e| panic!("round {round}: oversized post: {e:?}"));
        assert!(r.status().is_client_error());
        let r = api
            .get(server.url("/api/nope"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("round {round}: the next request: {e:?}"));
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
}

on_both_backends!(
    errors_before_the_body_is_read_close_the_connection_politely,
    client_secret_guessing_is_rate_limited,
    wrong_pkce_verifier_is_rejected,
    reused_code_is_rejected_and_revokes_the_first_session,
    expired_code_is_rejected,
    foreign_redirect_uris_are_never_followed,
    public_clients_must_use_pkce_s256,
    device_code_expiry_and_slow_down,
    denied_device_and_consent,
    bad_csrf_token_is_refused,
    malformed_requests_get_clear_4xx,
);
