//! Single-use things presented N times at once succeed exactly once.

use futures::future::join_all;
use reqwest::StatusCode;

use crate::harness::*;
use crate::on_both_backends;

const RACERS: usize = 24;

async fn count_ok(responses: Vec<reqwest::Response>) -> usize {
    let mut ok = 0;
    for r in responses {
        match r.status() {
            StatusCode::OK => ok += 1,
            StatusCode::BAD_REQUEST => assert_eq!(error_code(r).await.1, "invalid_grant"),
            other => panic!("unexpected status {other}"),
        }
    }
    ok
}

async fn authorization_code_redeemed_once(b: Backend) {
    let server = TestServer::start(b).await;
    let browser = server.browser();
    let (verifier, challenge) = pkce_pair();
    let code = server.cli_code(&browser, &challenge, LOOPBACK).await;
    let responses =
        join_all((0..RACERS).map(|_| exchange_cli_code(&server, &code, &verifier))).await;
    assert_eq!(count_ok(responses).await, 1);
}

async fn refresh_token_rotated_once(b: Backend) {
    let server = TestServer::start(b).await;
    let tokens = cli_tokens(&server).await;
    let rt = tokens["refresh_token"].as_str().unwrap().to_string();
    let responses = join_all((0..RACERS).map(|_| refresh_grant(&server, &rt))).await;
    assert_eq!(count_ok(responses).await, 1);
}

async fn device_code_redeemed_once(b: Backend) {
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
    crate::standard_clients::approve_device(
        &server,
        start["verification_uri_complete"].as_str().unwrap(),
    )
    .await;
    let device_code = start["device_code"].as_str().unwrap();
    let responses = join_all((0..RACERS).map(|_| {
        api.post(server.url("/oauth/token"))
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", device_code),
                ("client_id", "ward-cli"),
            ])
            .send()
    }))
    .await;
    let mut ok = 0;
    for r in responses {
        let r = r.unwrap();
        if r.status() == StatusCode::OK {
            ok += 1;
        } else {
            let code = error_code(r).await.1;
            assert!(code == "invalid_grant" || code == "slow_down", "{code}");
        }
    }
    assert_eq!(ok, 1);
}

on_both_backends!(
    authorization_code_redeemed_once,
    refresh_token_rotated_once,
    device_code_redeemed_once
);
