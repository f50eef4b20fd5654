//! The identity-aware proxy (SPEC §2.8) in front of the example backend: HTTP and WebSocket
//! with each authentication method and each refusal, identity headers, streaming with bounded
//! memory, forward-auth, and a real nginx using ward's forward-auth.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use ward_example_backend::Counters;
use ward_server::config::RawConfig;
use ward_server::proxy::config::RawRoute;

use crate::harness::*;
use crate::on_both_backends;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub fn route(prefix: &str, upstream: &str) -> RawRoute {
    RawRoute {
        prefix: prefix.into(),
        upstream: upstream.into(),
        permissions: BTreeMap::new(),
        permission: None,
        websocket: false,
        tcp: None,
        lock_kind: None,
        timeout: None,
        ca_file: None,
        cert_file: None,
        key_file: None,
    }
}

/// `/api/containers` (per-method), `/api/terminal` (WebSocket), `/files` (streaming),
/// `/slow` (short timeout), `/down` (nothing listening). The `admin` role is narrowed so that
/// `containers:delete` needs the `ops` role.
fn configure(c: &mut RawConfig, backend: &str, dead: &str) {
    let mut containers = route("/api/containers", backend);
    containers.permissions = BTreeMap::from([
        ("GET".to_string(), "containers:read".to_string()),
        ("POST".to_string(), "containers:write".to_string()),
        ("DELETE".to_string(), "containers:delete".to_string()),
    ]);
    let mut terminal = route("/api/terminal", backend);
    terminal.websocket = true;
    terminal.permission = Some("containers:write".into());
    terminal.lock_kind = Some("terminal".into());
    let mut admin_ws = route("/api/admin-shell", backend);
    admin_ws.websocket = true;
    admin_ws.permission = Some("containers:delete".into());
    let mut files = route("/stream", backend);
    files.permission = Some("containers:read".into());
    let mut upload = route("/upload", backend);
    upload.permission = Some("containers:write".into());
    let mut slow = route("/slow", backend);
    slow.permission = Some("containers:read".into());
    slow.timeout = Some("300ms".into());
    let mut down = route("/down", dead);
    down.permission = Some("containers:read".into());
    down.websocket = true;
    c.routes = vec![containers, terminal, admin_ws, files, upload, slow, down];
    c.roles.get_mut("admin").unwrap().permissions =
        vec!["containers:read".into(), "containers:write".into()];
    c.roles.insert(
        "ops".into(),
        ward_server::config::RawRole {
            permissions: vec!["*".into()],
            limits: Default::default(),
        },
    );
}

/// An address where nothing listens.
async fn dead_upstream() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

struct Setup {
    server: TestServer,
    counters: Counters,
    access: String,
}

async fn setup_with(b: Backend, extra: impl FnOnce(&mut RawConfig)) -> Setup {
    let counters = Counters::default();
    let addr = ward_example_backend::spawn("127.0.0.1:0", counters.clone())
        .await
        .unwrap();
    let backend = format!("http://{addr}");
    let dead = dead_upstream().await;
    let server = TestServer::start_with(b, |c| {
        configure(c, &backend, &dead);
        extra(c);
    })
    .await;
    let tokens = cli_tokens(&server).await;
    let access = tokens["access_token"].as_str().unwrap().to_string();
    Setup {
        server,
        counters,
        access,
    }
}

async fn setup(b: Backend) -> Setup {
    setup_with(b, |_| {}).await
}

async fn json_of(r: reqwest::Response) -> Value {
    r.json().await.unwrap()
}

// ---------------------------------------------------------------- HTTP

async fn http_with_access_token_carries_identity_not_credentials(b: Backend) {
    let s = setup(b).await;
    let r = s
        .server
        .api()
        .post(s.server.url("/api/containers/c1?verbose=1"))
        .bearer_auth(&s.access)
        .header("X-Ward-User-Id", "spoofed")
        .header("X-Ward-Email", "root@evil.example")
        .header("X-Ward-Roles", "ops")
        .header("x-ward-anything", "x")
        .header("Cookie", "theme=dark; ward_session=not-for-the-backend")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Security headers on proxied responses too.
    assert_eq!(
        r.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    assert!(r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'self'"));
    let body = json_of(r).await;
    assert_eq!(body["method"], "POST");
    assert_eq!(body["path"], "/api/containers/c1");
    assert_eq!(body["query"], "verbose=1");
    let h = &body["headers"];
    assert_eq!(h["x-ward-email"], ADMIN_EMAIL);
    assert_eq!(h["x-ward-roles"], "admin");
    assert_ne!(h["x-ward-user-id"], "spoofed");
    assert!(h["x-ward-user-id"].as_str().unwrap().len() > 8);
    assert!(h["x-ward-session-id"].as_str().unwrap().len() > 8);
    assert!(h.get("x-ward-anything").is_none(), "{h}");
    assert_eq!(h["x-ward-credential"], "session");
    assert_eq!(h["x-ward-client-id"], "ward-cli");
    assert!(
        h["x-ward-scopes"]
            .as_str()
            .unwrap()
            .contains("containers:read"),
        "{h}"
    );
    assert_eq!(h.as_object().unwrap().len(), 7, "{h}");
    assert_eq!(
        body["authorization"], false,
        "the bearer never reaches the backend"
    );
    assert_eq!(body["cookie"], "theme=dark");
}

async fn http_with_session_cookie(b: Backend) {
    let s = setup(b).await;
    let browser = s.server.browser();
    let r = browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = browser
        .http
        .get(s.server.url("/api/containers"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body = json_of(r).await;
    assert_eq!(body["headers"]["x-ward-email"], ADMIN_EMAIL);
    assert!(body["cookie"].is_null(), "session cookie stripped: {body}");
}

async fn http_refusals(b: Backend) {
    let s = setup(b).await;
    let api = s.server.api();
    let url = s.server.url("/api/containers/c1");
    // No credential.
    let r = api.get(&url).send().await.unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::UNAUTHORIZED, "invalid_token".into())
    );
    // A bad token.
    let r = api
        .get(&url)
        .bearer_auth("ward_notatoken")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::UNAUTHORIZED, "invalid_token".into())
    );
    // A disallowed origin, even with a good token.
    let r = api
        .get(&url)
        .bearer_auth(&s.access)
        .header("Origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::FORBIDDEN, "origin_not_allowed".into())
    );
    // The default allowed origins: public_url and http://localhost:*.
    for origin in [s.server.url.as_str(), "http://localhost:5173"] {
        let r = api
            .get(&url)
            .bearer_auth(&s.access)
            .header("Origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{origin}");
        assert_eq!(r.headers()["access-control-allow-origin"], origin);
    }
    // Missing permission: SPEC's message.
    let r = api
        .delete(&url)
        .bearer_auth(&s.access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body = json_of(r).await;
    assert_eq!(
        body["error_description"],
        "permission denied: containers:delete requires ops role"
    );
    // The denial is in the audit log (written by a task: wait for it briefly).
    let query = ward_core::model::AuditQuery {
        user_id: None,
        event_type: Some("policy.denied".into()),
        before: None,
        limit: 10,
    };
    let mut denied = Vec::new();
    for _ in 0..100 {
        denied = s.server.state.store.audit_events(&query).await.unwrap();
        if !denied.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert!(denied[0].0.detail.contains("containers:delete"));
    assert!(denied[0].0.actor_user_id.is_some());
    // A method the route does not list.
    let r = api.put(&url).bearer_auth(&s.access).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    // Not a route: JSON 404.
    let r = api.get(s.server.url("/nowhere")).send().await.unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::NOT_FOUND, "not_found".into())
    );
    // ward's own routes still win.
    let r = api.get(s.server.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

async fn empty_origin_blocked_when_configured(b: Backend) {
    let s = setup_with(b, |c| c.block_empty_origin = true).await;
    let api = s.server.api();
    let url = s.server.url("/api/containers");
    let r = api.get(&url).bearer_auth(&s.access).send().await.unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::FORBIDDEN, "origin_not_allowed".into())
    );
    let r = api
        .get(&url)
        .bearer_auth(&s.access)
        .header("Origin", "http://localhost:3000")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

async fn configured_origins_and_preflight(b: Backend) {
    let s = setup_with(b, |c| {
        c.allowed_origins =
            ward_server::config::StringList::Comma("https://app.example.com".into());
    })
    .await;
    let api = s.server.api();
    let url = s.server.url("/api/containers/c1");
    let preflight = |origin: &'static str| {
        api.request(reqwest::Method::OPTIONS, &url)
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "DELETE")
            .header("Access-Control-Request-Headers", "authorization")
            .send()
    };
    let r = preflight("https://app.example.com").await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(r.headers()["access-control-allow-credentials"], "true");
    assert_eq!(
        r.headers()["access-control-allow-methods"],
        "DELETE, GET, POST"
    );
    assert_eq!(r.headers()["access-control-allow-headers"], "authorization");
    // localhost is no longer allowed once origins are configured.
    let r = preflight("http://localhost:3000").await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(!r.headers().contains_key("access-control-allow-origin"));
    let r = preflight("https://evil.example").await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

async fn upstream_down_and_slow(b: Backend) {
    let s = setup(b).await;
    let api = s.server.api();
    let r = api
        .get(s.server.url("/down/x"))
        .bearer_auth(&s.access)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::BAD_GATEWAY, "upstream_unavailable".into())
    );
    let r = api
        .get(s.server.url("/slow?ms=5000"))
        .bearer_auth(&s.access)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::GATEWAY_TIMEOUT, "upstream_timeout".into())
    );
    let r = api
        .get(s.server.url("/slow?ms=10"))
        .bearer_auth(&s.access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "finally");
}

async fn forward_auth_checks_route_permission(b: Backend) {
    let s = setup(b).await;
    let api = s.server.api();
    let validate = |method: &'static str, uri: &'static str, token: Option<&str>| {
        let mut r = api
            .get(s.server.url("/api/auth/validate"))
            .header("X-Forwarded-Method", method)
            .header("X-Forwarded-Uri", uri);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    let r = validate("GET", "/api/containers/c1?x=1", Some(&s.access))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-ward-email"], ADMIN_EMAIL);
    let r = validate("DELETE", "/api/containers/c1", Some(&s.access))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        json_of(r).await["error_description"],
        "permission denied: containers:delete requires ops role"
    );
    let r = validate("GET", "/api/containers/c1", None).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A URI outside every route is refused (proxy.unmatched = "deny", the default).
    let r = validate("DELETE", "/elsewhere", Some(&s.access))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

// ---------------------------------------------------------------- WebSocket

fn ws_url(server: &TestServer, path: &str) -> String {
    server.url(path).replacen("http://", "ws://", 1)
}

async fn ws_connect(
    url: &str,
    headers: &[(&str, &str)],
) -> (
    Ws,
    tokio_tungstenite::tungstenite::handshake::client::Response,
) {
    let mut req = url.into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(
            reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    tokio_tungstenite::connect_async(req).await.unwrap()
}

async fn next_text(ws: &mut Ws) -> String {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message in time")
            .expect("stream open")
            .expect("no error");
        match m {
            Message::Text(t) => return t.as_str().to_string(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected text, got {other:?}"),
        }
    }
}

/// Reads until the close frame; returns its code and reason.
async fn close_of(ws: &mut Ws) -> (u16, String) {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("closed in time");
        match m {
            Some(Ok(Message::Close(Some(CloseFrame { code, reason })))) => {
                return (code.into(), reason.as_str().to_string())
            }
            Some(Ok(Message::Close(None))) => return (1005, String::new()),
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("error before the close frame: {e}"),
            None => panic!("stream ended without a close frame"),
        }
    }
}

/// After the hello, the terminal echoes; the auth message was never forwarded, so the first
/// echo is the first message sent after it.
async fn assert_terminal(ws: &mut Ws, expect_query: Value) -> Value {
    let hello = assert_terminal_without_session(ws, expect_query).await;
    assert!(hello["headers"]["x-ward-session-id"].is_string());
    hello
}

/// [`assert_terminal`] for a credential without a session (an API token): no session header.
async fn assert_terminal_without_session(ws: &mut Ws, expect_query: Value) -> Value {
    let hello: Value = serde_json::from_str(&next_text(ws).await).unwrap();
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["path"], "/api/terminal/t1");
    assert_eq!(hello["query"], expect_query);
    assert_eq!(hello["headers"]["x-ward-email"], ADMIN_EMAIL);
    assert_eq!(hello["headers"]["x-ward-roles"], "admin");
    ws.send(Message::text("ls -la")).await.unwrap();
    assert_eq!(next_text(ws).await, "ls -la");
    ws.send(Message::binary(vec![0u8, 1, 2, 255]))
        .await
        .unwrap();
    let m = ws.next().await.unwrap().unwrap();
    assert_eq!(m, Message::binary(vec![0u8, 1, 2, 255]));
    hello
}

async fn websocket_auth_message(b: Backend) {
    let s = setup(b).await;
    let (mut ws, _) = ws_connect(
        &ws_url(&s.server, "/api/terminal/t1"),
        &[("X-Ward-User-Id", "spoofed")],
    )
    .await;
    let auth = json!({"type": "auth", "token": format!("Bearer {}", s.access)});
    ws.send(Message::text(auth.to_string())).await.unwrap();
    let hello = assert_terminal(&mut ws, Value::Null).await;
    assert_ne!(hello["headers"]["x-ward-user-id"], "spoofed");
    ws.close(None).await.unwrap();
}

async fn websocket_query_token_removed(b: Backend) {
    let s = setup(b).await;
    let url = format!(
        "{}?cols=80&token={}&rows=24",
        ws_url(&s.server, "/api/terminal/t1"),
        s.access
    );
    let (mut ws, _) = ws_connect(&url, &[]).await;
    assert_terminal(&mut ws, json!("cols=80&rows=24")).await;
}

async fn websocket_protocol_token_echoed(b: Backend) {
    let s = setup(b).await;
    let protocol = format!("ward.token.{}", s.access);
    let (mut ws, response) = ws_connect(
        &ws_url(&s.server, "/api/terminal/t1"),
        &[("Sec-WebSocket-Protocol", &protocol)],
    )
    .await;
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        protocol.as_str()
    );
    let hello = assert_terminal(&mut ws, Value::Null).await;
    assert!(hello["protocol"].is_null(), "token protocol not forwarded");
}

async fn websocket_authorization_header(b: Backend) {
    let s = setup(b).await;
    let bearer = format!("Bearer {}", s.access);
    let (mut ws, _) = ws_connect(
        &ws_url(&s.server, "/api/terminal/t1"),
        &[("Authorization", &bearer)],
    )
    .await;
    assert_terminal(&mut ws, Value::Null).await;
}

/// Signs in through the pages with a client whose cookie jar we can read; returns the
/// `Cookie` header a browser would send.
async fn browser_cookie_header(server: &TestServer) -> String {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_provider(jar.clone())
        .build()
        .unwrap();
    let page = http
        .get(server.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form = |html: &str, extra: &[(&str, &str)]| {
        let mut fields: Vec<(String, String)> = ["csrf_token", "return_to"]
            .iter()
            .filter_map(|k| input_value(html, k).map(|v| (k.to_string(), v)))
            .collect();
        fields.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        (server.url(&form_action(html).unwrap()), fields)
    };
    let (action, fields) = form(&page, &[("email", ADMIN_EMAIL)]);
    let page = http
        .post(action)
        .form(&fields)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (action, fields) = form(
        &page,
        &[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)],
    );
    let r = http.post(action).form(&fields).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let url = reqwest::Url::parse(&server.url("/")).unwrap();
    use reqwest::cookie::CookieStore;
    let cookies = jar.cookies(&url).unwrap();
    let cookies = cookies.to_str().unwrap().to_string();
    assert!(cookies.contains("ward_session="), "{cookies}");
    cookies
}

async fn websocket_session_cookie(b: Backend) {
    let s = setup(b).await;
    let cookie = browser_cookie_header(&s.server).await;
    let (mut ws, _) = ws_connect(
        &ws_url(&s.server, "/api/terminal/t1"),
        &[("Cookie", &cookie), ("Origin", s.server.url.as_str())],
    )
    .await;
    assert_terminal(&mut ws, Value::Null).await;
}

async fn websocket_upstream_down_closes_1011(b: Backend) {
    let s = setup(b).await;
    let (mut ws, _) = ws_connect(
        &format!("{}?token={}", ws_url(&s.server, "/down/x"), s.access),
        &[],
    )
    .await;
    assert_eq!(
        close_of(&mut ws).await,
        (1011, "upstream unavailable".to_string())
    );
}

async fn websocket_refusals_close_1008(b: Backend) {
    let s = setup(b).await;
    let url = ws_url(&s.server, "/api/terminal/t1");
    // No token: the first message is not an auth message.
    let (mut ws, _) = ws_connect(&url, &[]).await;
    ws.send(Message::text("ls")).await.unwrap();
    let (code, reason) = close_of(&mut ws).await;
    assert_eq!(code, 1008);
    assert!(reason.starts_with("authentication required"), "{reason}");
    // A bad token, each way.
    let (mut ws, _) = ws_connect(&url, &[]).await;
    let auth = json!({"type": "auth", "token": "Bearer ward_bogus"});
    ws.send(Message::text(auth.to_string())).await.unwrap();
    assert_eq!(close_of(&mut ws).await.0, 1008);
    let (mut ws, _) = ws_connect(&format!("{url}?token=eyJhbGciOi.bad.token"), &[]).await;
    assert_eq!(close_of(&mut ws).await.0, 1008);
    let (mut ws, _) = ws_connect(&url, &[("Sec-WebSocket-Protocol", "ward.token.bad")]).await;
    assert_eq!(close_of(&mut ws).await.0, 1008);
    // A disallowed origin, with a good token.
    let (mut ws, _) = ws_connect(
        &format!("{url}?token={}", s.access),
        &[("Origin", "https://evil.example")],
    )
    .await;
    assert_eq!(
        close_of(&mut ws).await,
        (1008, "origin not allowed".to_string())
    );
    // Missing permission.
    let (mut ws, _) = ws_connect(
        &format!(
            "{}?token={}",
            ws_url(&s.server, "/api/admin-shell/x"),
            s.access
        ),
        &[],
    )
    .await;
    assert_eq!(
        close_of(&mut ws).await,
        (
            1008,
            "permission denied: containers:delete requires ops role".to_string()
        )
    );
    // The backend received none of these.
}

async fn websocket_empty_origin_blocked(b: Backend) {
    let s = setup_with(b, |c| c.block_empty_origin = true).await;
    let url = format!(
        "{}?token={}",
        ws_url(&s.server, "/api/terminal/t1"),
        s.access
    );
    let (mut ws, _) = ws_connect(&url, &[]).await;
    assert_eq!(close_of(&mut ws).await.0, 1008);
    let (mut ws, _) = ws_connect(&url, &[("Origin", "http://localhost:8000")]).await;
    assert_terminal(&mut ws, Value::Null).await;
}

async fn revoked_session_closes_websocket_within_a_second(b: Backend) {
    let s = setup(b).await;
    let (mut ws, _) = ws_connect(
        &format!(
            "{}?token={}",
            ws_url(&s.server, "/api/terminal/t1"),
            s.access
        ),
        &[],
    )
    .await;
    assert_terminal(&mut ws, Value::Null).await;
    let r = s
        .server
        .api()
        .post(s.server.url("/api/auth/logout"))
        .bearer_auth(&s.access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let revoked_at = Instant::now();
    let (code, reason) = close_of(&mut ws).await;
    let took = revoked_at.elapsed();
    assert_eq!((code, reason.as_str()), (1008, "session revoked"));
    assert!(took < Duration::from_secs(1), "closed after {took:?}");
    // Plain HTTP through the proxy fails at once too.
    let r = s
        .server
        .api()
        .get(s.server.url("/api/containers"))
        .bearer_auth(&s.access)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::UNAUTHORIZED, "invalid_token".into())
    );
    // And it cannot come back.
    let (mut ws, _) = ws_connect(
        &format!(
            "{}?token={}",
            ws_url(&s.server, "/api/terminal/t1"),
            s.access
        ),
        &[],
    )
    .await;
    assert_eq!(close_of(&mut ws).await.0, 1008);
}

// ---------------------------------------------------------------- API tokens

/// Creates an API token for the bearer's user with `scopes`; returns (id, token).
async fn api_token(server: &TestServer, bearer: &str, scopes: &[&str]) -> (String, String) {
    let r = crate::tokens::create_token(server, bearer, scopes).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created = json_of(r).await;
    let field = |k: &str| created[k].as_str().unwrap().to_string();
    (field("id"), field("token"))
}

async fn http_and_websocket_with_api_token(b: Backend) {
    let s = setup(b).await;
    let (full_id, full) = api_token(
        &s.server,
        &s.access,
        &["containers:read", "containers:write"],
    )
    .await;
    let (_, read_only) = api_token(&s.server, &s.access, &["containers:read"]).await;
    let api = s.server.api();
    let url = s.server.url("/api/containers/c1");

    let r = api
        .post(&url)
        .bearer_auth(&full)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body = json_of(r).await;
    let h = &body["headers"];
    assert_eq!(h["x-ward-email"], ADMIN_EMAIL);
    assert_eq!(h["x-ward-roles"], "admin");
    assert!(h["x-ward-user-id"].as_str().unwrap().len() > 8);
    assert!(
        h.get("x-ward-session-id").is_none(),
        "an API token has no session: {h}"
    );
    assert_eq!(
        body["authorization"], false,
        "the token never reaches the backend"
    );

    // The token's scopes narrow what its owner's role allows.
    let r = api.get(&url).bearer_auth(&read_only).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let before = s.counters.snapshot();
    let r = api.post(&url).bearer_auth(&read_only).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        s.counters.snapshot(),
        before,
        "a refused request never reaches the backend"
    );

    // A token with one character changed fails its checksum before any lookup.
    let mut forged = full.clone().into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'a' { b'b' } else { b'a' };
    let forged = String::from_utf8(forged).unwrap();
    let r = api.get(&url).bearer_auth(&forged).send().await.unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::UNAUTHORIZED, "invalid_token".into())
    );

    // WebSocket with the API token, by each method that carries a token.
    let terminal = ws_url(&s.server, "/api/terminal/t1");
    let (mut ws, _) = ws_connect(&format!("{terminal}?token={full}"), &[]).await;
    assert!(
        assert_terminal_without_session(&mut ws, Value::Null).await["headers"]
            .get("x-ward-session-id")
            .is_none()
    );
    let (mut ws, _) = ws_connect(&terminal, &[]).await;
    let auth = json!({"type": "auth", "token": format!("Bearer {full}")});
    ws.send(Message::text(auth.to_string())).await.unwrap();
    assert!(
        assert_terminal_without_session(&mut ws, Value::Null).await["headers"]
            .get("x-ward-session-id")
            .is_none()
    );
    let protocol = format!("ward.token.{full}");
    let (mut ws, response) = ws_connect(&terminal, &[("Sec-WebSocket-Protocol", &protocol)]).await;
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        protocol.as_str()
    );
    assert!(
        assert_terminal_without_session(&mut ws, Value::Null).await["headers"]
            .get("x-ward-session-id")
            .is_none()
    );
    // The read-only token lacks containers:write, which the terminal route needs.
    let (mut ws, _) = ws_connect(&format!("{terminal}?token={read_only}"), &[]).await;
    let (code, reason) = close_of(&mut ws).await;
    assert_eq!(code, 1008);
    assert!(reason.starts_with("permission denied"), "{reason}");

    // Revoking the token closes its open terminal within a second and refuses it from then on.
    let (mut ws, _) = ws_connect(&format!("{terminal}?token={full}"), &[]).await;
    assert!(
        assert_terminal_without_session(&mut ws, Value::Null).await["headers"]
            .get("x-ward-session-id")
            .is_none()
    );
    let r = api
        .delete(s.server.url(&format!("/api/tokens/{full_id}")))
        .bearer_auth(&s.access)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let revoked_at = Instant::now();
    let (code, _) = close_of(&mut ws).await;
    assert_eq!(code, 1008);
    assert!(revoked_at.elapsed() < Duration::from_secs(1));
    let r = api.get(&url).bearer_auth(&full).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

// ---------------------------------------------------------------- locked resources

/// Locks `/api/terminal/t1` behind the admin's TOTP; returns the TOTP secret.
async fn lock_terminal(s: &Setup) -> String {
    let (secret, _) = crate::mfa::enrol(&s.server, &s.access).await;
    let code = crate::mfa::python_totp(&secret, s.server.clock_now());
    let path = "/api/security/terminal/t1/mfa-lock";
    let r = crate::mfa::post(&s.server, &s.access, path, json!({ "code": code })).await;
    assert_eq!(r.status(), StatusCode::OK);
    s.server.clock.advance(30);
    secret
}

/// A fresh single-use ticket for terminal t1; moves the clock one TOTP step on.
async fn ticket(s: &Setup, secret: &str) -> String {
    let code = crate::mfa::python_totp(secret, s.server.clock_now());
    let path = "/api/security/terminal/t1/verify";
    let r = crate::mfa::post(&s.server, &s.access, path, json!({ "code": code })).await;
    assert_eq!(r.status(), StatusCode::OK);
    s.server.clock.advance(30);
    json_of(r).await["ticket"].as_str().unwrap().to_string()
}

async fn locked_terminal_needs_a_fresh_proof_per_connection(b: Backend) {
    let s = setup(b).await;
    let secret = lock_terminal(&s).await;
    let terminal = ws_url(&s.server, "/api/terminal/t1");
    let with_token = format!("{terminal}?token={}", s.access);
    let before = s.counters.snapshot();

    // Locked, no proof: 1008, the backend never sees it.
    let (mut ws, _) = ws_connect(&with_token, &[]).await;
    let (code, reason) = close_of(&mut ws).await;
    assert_eq!(code, 1008);
    assert!(reason.contains("terminal/t1 is locked"), "{reason}");
    // Another resource of the same kind is not locked.
    let (mut ws, _) = ws_connect(
        &format!(
            "{}?token={}",
            ws_url(&s.server, "/api/terminal/t2"),
            s.access
        ),
        &[],
    )
    .await;
    let hello: Value = serde_json::from_str(&next_text(&mut ws).await).unwrap();
    assert_eq!(hello["path"], "/api/terminal/t2");
    ws.close(None).await.unwrap();

    // A ticket in the auth message opens one connection; the ticket is not forwarded.
    let t = ticket(&s, &secret).await;
    let (mut ws, _) = ws_connect(&terminal, &[]).await;
    let auth = json!({"type": "auth", "token": format!("Bearer {}", s.access), "ticket": t});
    ws.send(Message::text(auth.to_string())).await.unwrap();
    assert_terminal(&mut ws, Value::Null).await;
    ws.close(None).await.unwrap();
    // The same ticket again: refused.
    let (mut ws, _) = ws_connect(&terminal, &[]).await;
    ws.send(Message::text(auth.to_string())).await.unwrap();
    let (code, reason) = close_of(&mut ws).await;
    assert_eq!(code, 1008);
    assert!(reason.contains("was used already"), "{reason}");

    // A ticket in the query string, removed before forwarding like the token.
    let t = ticket(&s, &secret).await;
    let (mut ws, _) = ws_connect(&format!("{with_token}&ticket={t}&cols=80"), &[]).await;
    assert_terminal(&mut ws, json!("cols=80")).await;
    ws.close(None).await.unwrap();
    let (mut ws, _) = ws_connect(&format!("{with_token}&ticket={t}"), &[]).await;
    assert_eq!(
        close_of(&mut ws).await.0,
        1008,
        "a query ticket is single-use too"
    );

    // One ticket raced on ten connections at once: exactly one gets through.
    let t = ticket(&s, &secret).await;
    let url = format!("{with_token}&ticket={t}");
    let outcomes = futures::future::join_all((0..10).map(|_| {
        let url = url.clone();
        async move {
            let (mut ws, _) = ws_connect(&url, &[]).await;
            match ws.next().await {
                Some(Ok(Message::Text(t))) if t.as_str().contains("\"hello\"") => "admitted",
                Some(Ok(Message::Close(Some(f)))) if u16::from(f.code) == 1008 => "refused",
                other => panic!("unexpected {other:?}"),
            }
        }
    }))
    .await;
    assert_eq!(
        outcomes.iter().filter(|o| **o == "admitted").count(),
        1,
        "{outcomes:?}"
    );

    // A code in the auth message; a wrong code is refused.
    let code = crate::mfa::python_totp(&secret, s.server.clock_now());
    let (mut ws, _) = ws_connect(&terminal, &[]).await;
    let auth = json!({"type": "auth", "token": format!("Bearer {}", s.access), "mfa_code": code});
    ws.send(Message::text(auth.to_string())).await.unwrap();
    assert_terminal(&mut ws, Value::Null).await;
    ws.close(None).await.unwrap();
    s.server.clock.advance(30);
    let (mut ws, _) = ws_connect(&terminal, &[]).await;
    let auth =
        json!({"type": "auth", "token": format!("Bearer {}", s.access), "mfa_code": "000000"});
    ws.send(Message::text(auth.to_string())).await.unwrap();
    assert_eq!(close_of(&mut ws).await.0, 1008);

    // Plain HTTP on the locked route: 403 without proof, X-Ward-Ticket once, not forwarded.
    let api = s.server.api();
    let url = s.server.url("/api/terminal/t1/size");
    let r = api.get(&url).bearer_auth(&s.access).send().await.unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::FORBIDDEN, "mfa_required".into())
    );
    let t = ticket(&s, &secret).await;
    let r = api
        .get(&url)
        .bearer_auth(&s.access)
        .header("X-Ward-Ticket", &t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body = json_of(r).await;
    assert!(body["headers"].get("x-ward-ticket").is_none(), "{body}");
    let r = api
        .get(&url)
        .bearer_auth(&s.access)
        .header("X-Ward-Ticket", &t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "reused ticket");

    // Exactly the admitted connections reached the backend: t2, auth-message ticket, query
    // ticket, the race's one winner, code, and one HTTP request.
    let after = s.counters.snapshot();
    assert_eq!(after.websockets - before.websockets, 5, "{after:?}");
}

on_both_backends!(
    http_with_access_token_carries_identity_not_credentials,
    http_with_session_cookie,
    http_refusals,
    empty_origin_blocked_when_configured,
    configured_origins_and_preflight,
    upstream_down_and_slow,
    forward_auth_checks_route_permission,
    websocket_auth_message,
    websocket_query_token_removed,
    websocket_protocol_token_echoed,
    websocket_authorization_header,
    websocket_session_cookie,
    websocket_upstream_down_closes_1011,
    websocket_refusals_close_1008,
    websocket_empty_origin_blocked,
    revoked_session_closes_websocket_within_a_second,
    http_and_websocket_with_api_token,
    locked_terminal_needs_a_fresh_proof_per_connection,
);

// ---------------------------------------------------------------- streaming

const BIG: u64 = 200 * 1024 * 1024;
/// What may legitimately be in flight between the backend and the client: the kernel's socket
/// buffers on two loopback connections and hyper's read/write buffers. A proxy that buffered a
/// body would show the whole 200 MiB here.
const MAX_IN_FLIGHT: u64 = 48 * 1024 * 1024;

/// Bounded memory, shown with the backend's progress counters instead of the process's RSS
/// (the tests share one process, so RSS would measure the other tests too): while 200 MiB
/// flow through ward, the bytes the producer has made never run more than [`MAX_IN_FLIGHT`]
/// ahead of the bytes the consumer has taken. If ward collected a body before passing it on,
/// the lead would reach the whole body.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn large_bodies_stream_with_bounded_memory() {
    let s = setup(Backend::Sqlite).await;
    let api = s.server.api();

    // Download: the backend generates, ward forwards, the test counts and checks.
    let r = api
        .get(s.server.url(&format!("/stream?bytes={BIG}")))
        .bearer_auth(&s.access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let mut body = r.bytes_stream();
    let (mut received, mut max_lead) = (0u64, 0u64);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.unwrap();
        for (i, piece) in chunk.chunks(64 * 1024).enumerate() {
            let at = received + (i * 64 * 1024) as u64;
            assert_eq!(
                *piece,
                ward_example_backend::pattern_slice(at, piece.len()),
                "at {at}"
            );
        }
        received += chunk.len() as u64;
        let produced = s.counters.streamed.load(Ordering::SeqCst);
        max_lead = max_lead.max(produced.saturating_sub(received));
    }
    assert_eq!(received, BIG);
    assert!(max_lead < MAX_IN_FLIGHT, "download lead {max_lead}");

    // Upload: the test generates on the fly, ward forwards, the backend counts and checks.
    let produced = Arc::new(AtomicU64::new(0));
    let upload_lead = Arc::new(AtomicU64::new(0));
    let (p, lead, uploaded) = (
        produced.clone(),
        upload_lead.clone(),
        s.counters.uploaded.clone(),
    );
    let chunks = futures::stream::unfold(0u64, move |offset| {
        let (p, lead, uploaded) = (p.clone(), lead.clone(), uploaded.clone());
        async move {
            if offset >= BIG {
                return None;
            }
            let len = (BIG - offset).min(64 * 1024);
            let chunk = ward_example_backend::pattern_slice(offset, len as usize);
            let made = p.fetch_add(len, Ordering::SeqCst) + len;
            let taken = uploaded.load(Ordering::SeqCst);
            lead.fetch_max(made.saturating_sub(taken), Ordering::SeqCst);
            Some((Ok::<_, std::io::Error>(chunk), offset + len))
        }
    });
    let r = api
        .post(s.server.url("/upload"))
        .bearer_auth(&s.access)
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_of(r).await, json!({"bytes": BIG, "ok": true}));
    let lead = upload_lead.load(Ordering::SeqCst);
    assert!(lead < MAX_IN_FLIGHT, "upload lead {lead}");
    eprintln!(
        "streamed {} MiB each way; max lead download {} KiB, upload {} KiB",
        BIG >> 20,
        max_lead >> 10,
        lead >> 10
    );
}

// ---------------------------------------------------------------- nginx

pub(crate) struct Nginx {
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn nginx_binary() -> Option<std::path::PathBuf> {
    ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())
}

/// The configuration docs/proxy.md shows, with the ports filled in.
pub fn nginx_config(dir: &std::path::Path, listen: u16, ward: &str, backend: &str) -> String {
    let d = dir.display();
    format!(
        r#"daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;

    server {{
        listen 127.0.0.1:{listen};

        location = /_ward_auth {{
            internal;
            proxy_pass {ward}/api/auth/validate;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Forwarded-Method $request_method;
            proxy_set_header X-Forwarded-Uri $request_uri;
        }}

        location / {{
            auth_request /_ward_auth;
            auth_request_set $ward_user_id $upstream_http_x_ward_user_id;
            auth_request_set $ward_email $upstream_http_x_ward_email;
            auth_request_set $ward_roles $upstream_http_x_ward_roles;
            auth_request_set $ward_session_id $upstream_http_x_ward_session_id;
            proxy_set_header X-Ward-User-Id $ward_user_id;
            proxy_set_header X-Ward-Email $ward_email;
            proxy_set_header X-Ward-Roles $ward_roles;
            proxy_set_header X-Ward-Session-Id $ward_session_id;
            proxy_set_header Authorization "";
            proxy_set_header DPoP "";
            proxy_pass {backend};
        }}
    }}
}}
"#
    )
}

async fn start_nginx(binary: &std::path::Path, ward: &str, backend: &str) -> (Nginx, String) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    start_nginx_on(binary, port, ward, backend).await
}

/// [`start_nginx`] on a chosen port (a test that must name nginx's origin in ward's
/// configuration picks it first).
pub(crate) async fn start_nginx_on(
    binary: &std::path::Path,
    port: u16,
    ward: &str,
    backend: &str,
) -> (Nginx, String) {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("nginx.conf");
    std::fs::write(&conf, nginx_config(dir.path(), port, ward, backend)).unwrap();
    let child = std::process::Command::new(binary)
        .arg("-p")
        .arg(dir.path())
        .arg("-e")
        .arg(dir.path().join("error.log"))
        .arg("-c")
        .arg(&conf)
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("nginx starts");
    let nginx = Nginx { child, _dir: dir };
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "nginx did not start listening");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (nginx, format!("http://127.0.0.1:{port}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nginx_auth_request_in_front_of_the_example_backend() {
    let Some(binary) = nginx_binary() else {
        missing_component(
            "nginx_auth_request_in_front_of_the_example_backend",
            "the nginx binary (apt-get install -y nginx)",
        );
        return;
    };
    let counters = Counters::default();
    let backend = ward_example_backend::spawn("127.0.0.1:0", counters)
        .await
        .unwrap();
    let backend = format!("http://{backend}");
    let s = setup(Backend::Sqlite).await;
    let (_nginx, front) = start_nginx(&binary, &s.server.url, &backend).await;
    let api = s.server.api();

    let r = api
        .get(format!("{front}/api/containers/c1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = api
        .get(format!("{front}/api/containers/c1"))
        .bearer_auth("ward_bogus")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let r = api
        .get(format!("{front}/api/containers/c1?all=1"))
        .bearer_auth(&s.access)
        .header("X-Ward-Email", "root@evil.example")
        .header("X-Ward-Roles", "ops")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body = json_of(r).await;
    assert_eq!(body["path"], "/api/containers/c1");
    assert_eq!(body["query"], "all=1");
    assert_eq!(body["headers"]["x-ward-email"], ADMIN_EMAIL);
    assert_eq!(body["headers"]["x-ward-roles"], "admin");
    assert!(body["headers"]["x-ward-session-id"].is_string());
    assert_eq!(body["authorization"], false);

    let r = api
        .delete(format!("{front}/api/containers/c1"))
        .bearer_auth(&s.access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = api
        .get(format!("{front}/api/containers/c1"))
        .bearer_auth(&s.access)
        .header("Origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}
