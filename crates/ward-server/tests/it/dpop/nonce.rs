//! Server nonces at resources (RFC 9449 §9): with `[dpop] require_nonce`, ward's API, the proxy
//! and forward-auth answer a proof without a valid nonce with 401 `use_dpop_nonce` and the
//! nonce in `DPoP-Nonce`, and accept the proof that carries it; `ward-client` retries once.

use reqwest::StatusCode;
use serde_json::Value;
use ward_client::dpop::DpopKey;
use ward_client::{AccessToken, Secret, TokenOrigin};

use super::proxy::{backend, routes};
use super::refusal;
use crate::harness::*;
use crate::on_both_backends;

fn now(server: &TestServer) -> u64 {
    u64::try_from(server.clock_now()).unwrap()
}

/// The CLI's code exchange with a nonce: asked for one, then bound tokens.
async fn bound_access_token(server: &TestServer, key: &DpopKey) -> String {
    let browser = server.browser();
    let (verifier, challenge) = pkce_pair();
    let code = server.cli_code(&browser, &challenge, LOOPBACK).await;
    let url = reqwest::Url::parse(&server.url("/oauth/token")).unwrap();
    let exchange = |nonce: Option<String>| {
        let proof = key
            .proof("POST", &url, None, nonce.as_deref(), now(server))
            .unwrap();
        server
            .api()
            .post(url.clone())
            .header("DPoP", proof)
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", LOOPBACK),
                ("client_id", "ward-cli"),
                ("code_verifier", verifier.as_str()),
            ])
            .send()
    };
    let r = exchange(None).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let nonce = r.headers()["dpop-nonce"].to_str().unwrap().to_string();
    let r = exchange(Some(nonce)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let tokens: Value = r.json().await.unwrap();
    tokens["access_token"].as_str().unwrap().to_string()
}

async fn resources_ask_for_a_nonce_when_required(b: Backend) {
    let upstream = backend().await;
    let server = TestServer::start_with(b, |c| {
        routes(c, &upstream);
        c.dpop.require_nonce = true;
    })
    .await;
    let key = DpopKey::generate();
    let access = bound_access_token(&server, &key).await;

    // The API, the proxy and forward-auth (the original request in X-Forwarded-*).
    for (path, forwarded) in [
        ("/api/profile", None),
        ("/api/containers/c1", None),
        ("/api/auth/validate", Some("/api/containers/c1?q=1")),
    ] {
        let named = forwarded.map_or(path, |f| f.split('?').next().unwrap());
        let target = reqwest::Url::parse(&server.url(named)).unwrap();
        let send = |nonce: Option<&str>| {
            let proof = key
                .proof("GET", &target, Some(&access), nonce, now(&server))
                .unwrap();
            let mut r = server
                .api()
                .get(server.url(path))
                .header("Authorization", format!("DPoP {access}"))
                .header("DPoP", proof);
            if let Some(f) = forwarded {
                r = r
                    .header("X-Forwarded-Uri", f)
                    .header("X-Forwarded-Method", "GET");
            }
            r.send()
        };
        let r = send(None).await.unwrap();
        let nonce = r
            .headers()
            .get("dpop-nonce")
            .unwrap_or_else(|| panic!("{path}: no DPoP-Nonce"))
            .to_str()
            .unwrap()
            .to_string();
        let (status, error, challenge) = refusal(r).await;
        assert_eq!(
            (status, error.as_str()),
            (StatusCode::UNAUTHORIZED, "use_dpop_nonce"),
            "{path}"
        );
        assert!(
            challenge.starts_with("DPoP ") && challenge.contains("error=\"use_dpop_nonce\""),
            "{path}: {challenge}"
        );
        let (status, error, _) = refusal(send(Some("not-a-nonce")).await.unwrap()).await;
        assert_eq!(
            (status, error.as_str()),
            (StatusCode::UNAUTHORIZED, "use_dpop_nonce")
        );
        let r = send(Some(&nonce)).await.unwrap();
        let status = r.status();
        assert_eq!(
            status,
            StatusCode::OK,
            "{path}: {}",
            r.text().await.unwrap()
        );
    }

    // ward-client: no nonce yet, asked for one, retried once; later requests carry it; when it
    // has expired, asked again and retried again.
    let dir = tempfile::tempdir().unwrap();
    let client = ward_client::Client::new(ward_client::Params {
        config_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    })
    .with_clock(std::sync::Arc::new(server.clock.clone()));
    let token = AccessToken {
        token: Secret::new(access.clone()),
        expires_at: None,
        source: TokenOrigin::Cached,
        dpop: Some(key.clone()),
    };
    let http = reqwest::Client::new();
    let profile = reqwest::Url::parse(&server.url("/api/profile")).unwrap();
    let proxied = reqwest::Url::parse(&server.url("/api/containers/c1")).unwrap();
    for (url, round) in [(&profile, 1), (&proxied, 2), (&profile, 3)] {
        if round == 3 {
            // Past both nonce windows: the remembered nonce is refused, a new one is sent.
            server.clock.advance(11 * 60);
        }
        let r = client
            .send_authorized(http.get(url.clone()), "GET", url, &token)
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "request {round} to {url}");
    }
    // A request with a body is retried with its body.
    server.clock.advance(11 * 60);
    let exchange = reqwest::Url::parse(&server.url("/api/auth/tool-token")).unwrap();
    let r = client
        .send_authorized(
            http.post(exchange.clone()).body("{}"),
            "POST",
            &exchange,
            &token,
        )
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

on_both_backends!(resources_ask_for_a_nonce_when_required);
