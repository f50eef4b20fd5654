//! What a token may carry and who may renew it: scopes bounded by the user's role, and a
//! confidential client's refresh token renewed only with the client's secret.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::*;
use crate::on_both_backends;

on_both_backends!(
    cli_scopes_are_bounded_by_the_role,
    a_confidential_refresh_token_needs_the_client_secret,
);

async fn cli_scopes_are_bounded_by_the_role(b: Backend) {
    let server = TestServer::start(b).await;
    let api = server.api();
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
}

async fn a_confidential_refresh_token_needs_the_client_secret(b: Backend) {
    let server = TestServer::start(b).await;
    let api = server.api();
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
