//! SPEC §3.1: git and docker send a credential helper's answer as HTTP Basic, so the proxy,
//! forward-auth and ward's own API take a token as the Basic password (any username), with
//! exactly the checks a bearer token meets; a refused non-browser request is offered Basic.

use std::collections::BTreeMap;

use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use ward_example_backend::Counters;

use crate::harness::*;
use crate::on_both_backends;
use crate::proxy::route;

struct Setup {
    server: TestServer,
    access: String,
}

/// `/api/containers`: GET needs `containers:read`, POST `containers:write`.
async fn setup(b: Backend) -> Setup {
    let addr = ward_example_backend::spawn("127.0.0.1:0", Counters::default())
        .await
        .unwrap();
    let backend = format!("http://{addr}");
    let server = TestServer::start_with(b, |c| {
        let mut containers = route("/api/containers", &backend);
        containers.permissions = BTreeMap::from([
            ("GET".to_string(), "containers:read".to_string()),
            ("POST".to_string(), "containers:write".to_string()),
        ]);
        let mut terminal = route("/api/terminal", &backend);
        terminal.websocket = true;
        terminal.permission = Some("containers:read".into());
        c.routes = vec![containers, terminal];
    })
    .await;
    let access = cli_tokens(&server).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    Setup { server, access }
}

fn challenges(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

async fn description(r: reqwest::Response) -> String {
    let v: Value = r.json().await.unwrap();
    v["error_description"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn access_token_as_basic_password_anywhere(b: Backend) {
    let s = setup(b).await;
    let api = s.server.api();
    // The proxy: any username; the identity reaches the backend, the credential does not.
    for user in ["ward", "x-access-token", ""] {
        let r = api
            .get(s.server.url("/api/containers/c1"))
            .basic_auth(user, Some(&s.access))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "username {user:?}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["headers"]["x-ward-email"], ADMIN_EMAIL);
        assert_eq!(body["headers"]["x-ward-credential"], "session");
        assert_eq!(
            body["authorization"], false,
            "the token never reaches the backend"
        );
    }
    // Forward-auth, as nginx asks.
    let r = api
        .get(s.server.url("/api/auth/validate"))
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Uri", "/api/containers/c1")
        .basic_auth("git", Some(&s.access))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-ward-email"], ADMIN_EMAIL);
    // ward's own API.
    let r = api
        .get(s.server.url("/api/profile"))
        .basic_auth("me", Some(&s.access))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Schemes are case-insensitive (RFC 9110 §11.1).
    let r = api
        .get(s.server.url("/api/profile"))
        .header("Authorization", format!("BEARER {}", s.access))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

async fn basic_meets_the_bearer_rules(b: Backend) {
    let s = setup(b).await;
    let api = s.server.api();
    let get = |token: String| {
        api.get(s.server.url("/api/containers/c1"))
            .basic_auth("ward", Some(token))
            .send()
    };
    // An API token's scopes bound it as they do as a bearer.
    let r = crate::tokens::create_token(&s.server, &s.access, &["containers:read"]).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    let (id, secret) = (
        created["id"].as_str().unwrap().to_string(),
        created["token"].as_str().unwrap().to_string(),
    );
    assert_eq!(get(secret.clone()).await.unwrap().status(), StatusCode::OK);
    let r = api
        .post(s.server.url("/api/containers/c1"))
        .basic_auth("ward", Some(&secret))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Revoked: refused at once.
    let r = api
        .delete(s.server.url(&format!("/api/tokens/{id}")))
        .bearer_auth(&s.access)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let r = get(secret).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(description(r).await.contains("revoked"));
    // A made-up or mistyped token, an empty password, malformed Basic.
    let r = get("ward_0000000000000000000000000000000000000".into())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = api
        .get(s.server.url("/api/containers/c1"))
        .basic_auth("ward", None::<&str>)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        description(r).await,
        "HTTP Basic credentials need a token as the password"
    );
    let r = api
        .get(s.server.url("/api/containers/c1"))
        .header("Authorization", "Basic !!!")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(description(r).await, "malformed HTTP Basic credentials");
    // A revoked session: its access token is refused as a Basic password too.
    let other = cli_tokens(&s.server).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(get(other.clone()).await.unwrap().status(), StatusCode::OK);
    let r = api
        .post(s.server.url("/api/auth/logout"))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(get(other).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    // Expired.
    s.server.clock.advance(2 * 3600);
    let r = get(s.access.clone()).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(description(r).await, "access token expired");
}

async fn refusals_offer_basic_except_to_browsers(b: Backend) {
    let s = setup(b).await;
    let api = s.server.api();
    // git's first request carries no credential; libcurl answers only a challenge it can meet.
    for url in ["/api/containers/c1", "/api/auth/validate", "/api/profile"] {
        let r = api
            .get(s.server.url(url))
            .header("X-Forwarded-Uri", "/api/containers/c1")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{url}");
        // The proxy's 401 also names the route's RFC 9728 metadata (SPEC §2.15).
        let bearer = if url == "/api/containers/c1" {
            format!(
                "Bearer realm=\"ward\", error=\"invalid_token\", resource_metadata=\"{}\"",
                s.server
                    .url("/.well-known/oauth-protected-resource/api/containers")
            )
        } else {
            "Bearer realm=\"ward\", error=\"invalid_token\"".to_string()
        };
        assert_eq!(
            challenges(&r),
            [bearer.as_str(), "Basic realm=\"ward\", charset=\"UTF-8\""],
            "{url}"
        );
    }
    // A browser would show a password dialog and then send what was typed everywhere.
    let r = api
        .get(s.server.url("/api/containers/c1"))
        .header("Sec-Fetch-Mode", "navigate")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenges(&r),
        [format!(
            "Bearer realm=\"ward\", error=\"invalid_token\", resource_metadata=\"{}\"",
            s.server
                .url("/.well-known/oauth-protected-resource/api/containers")
        )]
    );
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next(ws: &mut Ws) -> Option<Result<Message, tokio_tungstenite::tungstenite::Error>> {
    tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
        .await
        .expect("a message in time")
}

/// A WebSocket authenticated by an API token as the Basic password stays open (the proxy
/// re-checks the very token every 500 ms) until the token is revoked.
async fn websocket_with_basic_credentials(b: Backend) {
    use base64::Engine;
    let s = setup(b).await;
    let r = crate::tokens::create_token(&s.server, &s.access, &["containers:read"]).await;
    let created: Value = r.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let secret = created["token"].as_str().unwrap().to_string();
    let mut req = s
        .server
        .url("/api/terminal/t1")
        .replacen("http://", "ws://", 1)
        .into_client_request()
        .unwrap();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("git:{secret}"));
    req.headers_mut()
        .insert("authorization", format!("Basic {basic}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let hello = match next(&mut ws).await {
        Some(Ok(Message::Text(t))) => serde_json::from_str::<Value>(t.as_str()).unwrap(),
        other => panic!("expected the hello, got {other:?}"),
    };
    assert_eq!(hello["headers"]["x-ward-credential"], "api_token");
    // Several re-checks later, still open.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    ws.send(Message::Text("ping".into())).await.unwrap();
    match next(&mut ws).await {
        Some(Ok(Message::Text(t))) => assert_eq!(t.as_str(), "ping"),
        other => panic!("expected the echo, got {other:?}"),
    }
    let r = s
        .server
        .api()
        .delete(s.server.url(&format!("/api/tokens/{id}")))
        .bearer_auth(&s.access)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    loop {
        match next(&mut ws).await {
            Some(Ok(Message::Close(Some(frame)))) => {
                assert_eq!(u16::from(frame.code), 1008);
                break;
            }
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

on_both_backends!(
    websocket_with_basic_credentials,
    access_token_as_basic_password_anywhere,
    basic_meets_the_bearer_rules,
    refusals_offer_basic_except_to_browsers,
);
