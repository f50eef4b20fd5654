//! Signing-key rotation: tokens signed with the old key stay valid until they expire, and the
//! old key is published until then.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::*;
use crate::on_both_backends;

on_both_backends!(key_rotation_keeps_old_tokens_valid);

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
