//! Key rotation, and the edges found in review: JSON 405, confidential refresh tokens at
//! /api/auth/refresh, scopes bounded by the role, `iss` on error redirects.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::*;
use crate::on_both_backends;

async fn key_rotation_keeps_old_tokens_valid(b: Backend) {
    let server = TestServer::start(b).await;
    let before = cli_tokens(&server).await;
    let old_access = before["access_token"].as_str().unwrap();
    let kid = |jwt: &str| {
        use base64::Engine;
        let h = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(jwt.split('.').next().unwrap())
            .unwrap();
        serde_json::from_slice::<Value>(&h).unwrap()["kid"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let old_kid = kid(old_access);
    let new_kid = ward_server::rotate_keys(
        &server.state.config,
        Arc::new(server.clock.clone()),
        Arc::new(ward_core::random::OsRandom),
    )
    .await
    .unwrap();
    assert_ne!(new_kid, old_kid);
    // On PostgreSQL the server may already have reloaded them on the rotation's notification.
    ward_server::reload_keys(&server.state).await.unwrap();
    let jwks: Value = server
        .api()
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()));
    assert_eq!(
        profile_status(&server, old_access).await,
        StatusCode::OK,
        "old tokens stay valid"
    );
    let after = cli_tokens(&server).await;
    assert_eq!(kid(after["access_token"].as_str().unwrap()), new_kid);
    // Once every token the old key signed has expired, it is no longer published.
    server.clock.advance(3601);
    assert!(ward_server::reload_keys(&server.state).await.unwrap());
    let jwks: Value = server
        .api()
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
}

async fn review_edges(b: Backend) {
    let server = TestServer::start(b).await;
    let api = server.api();
    // 405 in the JSON error shape.
    let r = api.delete(server.url("/oauth/token")).send().await.unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed".into())
    );

    // iss on error redirects (RFC 9207).
    let url = reqwest::Url::parse_with_params(
        &server.url("/oauth/authorize"),
        &[
            ("response_type", "token"),
            ("client_id", "ward-cli"),
            ("redirect_uri", LOOPBACK),
        ],
    )
    .unwrap();
    let (_, _, location) = server.browser().get(url.as_str()).await;
    let q: std::collections::HashMap<_, _> = reqwest::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(q["error"], "invalid_request");
    assert_eq!(q["iss"], server.url);

    // A user-role user asking the CLI for agent:delete gets a token without it.
    let admin = cli_tokens(&server).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    api.post(server.url("/api/admin/users"))
        .bearer_auth(&admin)
        .json(
            &json!({"email": "dev@test.example", "password": "user-password-123", "role": "user"}),
        )
        .send()
        .await
        .unwrap();
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
            ("scope", "openid agent:read agent:delete"),
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
    let tokens: Value = exchange_cli_code(&server, &code, &verifier)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tokens["scope"], "agent:read openid");

    // A confidential client's refresh token cannot be rotated without its secret.
    let app_browser = server.browser();
    let url = reqwest::Url::parse_with_params(
        &server.url("/oauth/authorize"),
        &[
            ("response_type", "code"),
            ("client_id", APP_CLIENT),
            ("redirect_uri", APP_REDIRECT),
            ("scope", "openid"),
        ],
    )
    .unwrap();
    let back = app_browser
        .sign_in_through(url.as_str(), ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    let (status, consent, _) = app_browser.get(&back).await;
    assert_eq!(status, StatusCode::OK, "configured clients ask for consent");
    let r = app_browser
        .submit_form(&consent, &[("decision", "allow")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = location_of(&r);
    let code = reqwest::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .to_string();
    let tokens: Value = api
        .post(server.url("/oauth/token"))
        .basic_auth(APP_CLIENT, Some(APP_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", APP_REDIRECT),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rt = tokens["refresh_token"].as_str().unwrap();
    let r = api
        .post(server.url("/api/auth/refresh"))
        .json(&json!({"refresh_token": rt}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::UNAUTHORIZED, "invalid_client".into())
    );
    let r = api
        .post(server.url("/oauth/token"))
        .basic_auth(APP_CLIENT, Some(APP_SECRET))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", rt)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

async fn device_flow_off_refuses_old_codes_too(b: Backend) {
    let server = TestServer::start_with(b, |c| c.device_flow = false).await;
    let r = server
        .api()
        .post(server.url("/oauth/token"))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", "x"),
            ("client_id", "ward-cli"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::BAD_REQUEST, "unauthorized_client".into())
    );
}

on_both_backends!(
    key_rotation_keeps_old_tokens_valid,
    review_edges,
    device_flow_off_refuses_old_codes_too
);
