//! DPoP at the proxy (HTTP and the WebSocket upgrade or auth message) and at forward-auth,
//! directly and behind a real nginx: a bound token is accepted with a proof of its key for
//! that request, and a stolen one (no proof, another key) is refused everywhere.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use ward_client::dpop::DpopKey;
use ward_example_backend::Counters;
use ward_server::config::RawConfig;

use super::{bound_cli_tokens, proof_for};
use crate::harness::*;
use crate::on_both_backends;
use crate::proxy::route;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub(super) async fn backend() -> String {
    let addr = ward_example_backend::spawn("127.0.0.1:0", Counters::default())
        .await
        .unwrap();
    format!("http://{addr}")
}

pub(super) fn routes(c: &mut RawConfig, backend: &str) {
    let mut containers = route("/api/containers", backend);
    containers.permission = Some("containers:read".into());
    let mut terminal = route("/api/terminal", backend);
    terminal.websocket = true;
    terminal.permission = Some("containers:write".into());
    c.routes = vec![containers, terminal];
}

struct Setup {
    server: TestServer,
    key: DpopKey,
    access: String,
}

async fn setup(b: Backend, extra: impl FnOnce(&mut RawConfig)) -> Setup {
    let backend = backend().await;
    let server = TestServer::start_with(b, |c| {
        routes(c, &backend);
        extra(c);
    })
    .await;
    let key = DpopKey::generate();
    let tokens = bound_cli_tokens(&server, &key).await;
    let access = tokens["access_token"].as_str().unwrap().to_string();
    Setup {
        server,
        key,
        access,
    }
}

async fn proxy_http_needs_the_proof(b: Backend) {
    let s = setup(b, |_| {}).await;
    let path = "/api/containers/c1";
    let send = |authorization: String, proof: Option<String>| {
        let mut r = s
            .server
            .api()
            .get(s.server.url(&format!("{path}?all=1")))
            .header("Authorization", authorization);
        if let Some(p) = proof {
            r = r.header("DPoP", p);
        }
        r.send()
    };
    let proof = proof_for(&s.server, &s.key, "GET", path, Some(&s.access));
    let r = send(format!("DPoP {}", s.access), Some(proof))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["headers"]["x-ward-email"], ADMIN_EMAIL);
    assert!(
        body["headers"].get("dpop").is_none(),
        "the proof is not forwarded"
    );

    let r = send(format!("Bearer {}", s.access), None).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let thief = DpopKey::generate();
    let stolen = proof_for(&s.server, &thief, "GET", path, Some(&s.access));
    let r = send(format!("DPoP {}", s.access), Some(stolen))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("invalid_dpop_proof"), "{challenge}");
}

fn ws_url(server: &TestServer, path: &str) -> String {
    server.url(path).replacen("http://", "ws://", 1)
}

async fn connect(url: &str, headers: &[(&str, String)]) -> Ws {
    let mut req = url.into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(
            reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    tokio_tungstenite::connect_async(req).await.unwrap().0
}

/// The first text (the example backend's hello), or the close reason.
async fn first(ws: &mut Ws) -> Result<Value, String> {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message in time");
        match m {
            Some(Ok(Message::Text(t))) => return Ok(serde_json::from_str(t.as_str()).unwrap()),
            Some(Ok(Message::Close(frame))) => {
                return Err(frame.map(|f| f.reason.to_string()).unwrap_or_default())
            }
            Some(Ok(_)) => continue,
            other => return Err(format!("{other:?}")),
        }
    }
}

async fn websocket_upgrade_and_auth_message_need_the_proof(b: Backend) {
    let s = setup(b, |_| {}).await;
    let path = "/api/terminal/t1";
    let url = ws_url(&s.server, path);

    // On the upgrade request: Authorization: DPoP and the DPoP header.
    let proof = proof_for(&s.server, &s.key, "GET", path, Some(&s.access));
    let mut ws = connect(
        &url,
        &[
            ("Authorization", format!("DPoP {}", s.access)),
            ("DPoP", proof),
        ],
    )
    .await;
    assert_eq!(
        first(&mut ws).await.unwrap()["headers"]["x-ward-email"],
        ADMIN_EMAIL
    );

    // In the auth message, for browsers.
    let mut ws = connect(&url, &[]).await;
    let proof = proof_for(&s.server, &s.key, "GET", path, Some(&s.access));
    let auth = json!({"type": "auth", "token": format!("DPoP {}", s.access), "dpop": proof});
    ws.send(Message::text(auth.to_string())).await.unwrap();
    assert_eq!(first(&mut ws).await.unwrap()["type"], "hello");

    // Stolen: the token alone in the auth message, in the query, or with another key.
    let mut ws = connect(&url, &[]).await;
    let auth = json!({"type": "auth", "token": format!("Bearer {}", s.access)});
    ws.send(Message::text(auth.to_string())).await.unwrap();
    let why = first(&mut ws).await.unwrap_err();
    assert!(why.contains("bound to a DPoP key"), "{why}");

    let mut ws = connect(&format!("{url}?token={}", s.access), &[]).await;
    assert!(first(&mut ws).await.is_err());

    let thief = DpopKey::generate();
    let mut ws = connect(&url, &[]).await;
    let proof = proof_for(&s.server, &thief, "GET", path, Some(&s.access));
    let auth = json!({"type": "auth", "token": format!("DPoP {}", s.access), "dpop": proof});
    ws.send(Message::text(auth.to_string())).await.unwrap();
    let why = first(&mut ws).await.unwrap_err();
    assert!(why.contains("DPoP proof"), "{why}");
}

/// Forward-auth: the proof names the original request (method, URI on the backend's host),
/// which nginx describes with `X-Forwarded-Method` and `X-Forwarded-Uri`.
async fn forward_auth_checks_the_original_request(b: Backend) {
    let front = "https://app.example.com";
    let s = setup(b, |c| c.dpop.origins = vec![front.into()]).await;
    let validate = |proof: String, method: &str| {
        s.server
            .api()
            .get(s.server.url("/api/auth/validate"))
            .header("Authorization", format!("DPoP {}", s.access))
            .header("DPoP", proof)
            .header("X-Forwarded-Method", method)
            .header("X-Forwarded-Uri", "/api/containers/c1?x=1")
            .send()
    };
    let url = reqwest::Url::parse(&format!("{front}/api/containers/c1")).unwrap();
    let now = u64::try_from(s.server.clock_now()).unwrap();
    let proof = s
        .key
        .proof("GET", &url, Some(&s.access), None, now)
        .unwrap();
    assert_eq!(
        validate(proof, "GET").await.unwrap().status(),
        StatusCode::OK
    );
    // A proof for another method, or for ward's own URL of the same path, does not do.
    let proof = s
        .key
        .proof("POST", &url, Some(&s.access), None, now)
        .unwrap();
    assert_eq!(
        validate(proof, "GET").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let evil = reqwest::Url::parse("https://evil.example/api/containers/c1").unwrap();
    let proof = s
        .key
        .proof("GET", &evil, Some(&s.access), None, now)
        .unwrap();
    assert_eq!(
        validate(proof, "GET").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}

on_both_backends!(
    proxy_http_needs_the_proof,
    websocket_upgrade_and_auth_message_need_the_proof,
    forward_auth_checks_the_original_request,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn behind_nginx_a_stolen_bound_token_is_refused() {
    let Some(binary) = crate::proxy::nginx_binary() else {
        missing_component(
            "behind_nginx_a_stolen_bound_token_is_refused",
            "the nginx binary (apt-get install -y nginx)",
        );
        return;
    };
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let front = format!("http://127.0.0.1:{port}");
    let backend = backend().await;
    let origin = front.clone();
    let s = setup(Backend::Sqlite, |c| c.dpop.origins = vec![origin]).await;
    let (_nginx, front) =
        crate::proxy::start_nginx_on(&binary, port, &s.server.url, &backend).await;
    let api = s.server.api();
    let target = format!("{front}/api/containers/c1");
    let url = reqwest::Url::parse(&target).unwrap();
    let now = u64::try_from(s.server.clock_now()).unwrap();

    let proof = s
        .key
        .proof("GET", &url, Some(&s.access), None, now)
        .unwrap();
    let r = api
        .get(&target)
        .header("Authorization", format!("DPoP {}", s.access))
        .header("DPoP", proof)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["headers"]["x-ward-email"], ADMIN_EMAIL);
    assert!(body["headers"].get("dpop").is_none());

    let r = api
        .get(&target)
        .bearer_auth(&s.access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let thief = DpopKey::generate();
    let proof = thief
        .proof("GET", &url, Some(&s.access), None, now)
        .unwrap();
    let r = api
        .get(&target)
        .header("Authorization", format!("DPoP {}", s.access))
        .header("DPoP", proof)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}
