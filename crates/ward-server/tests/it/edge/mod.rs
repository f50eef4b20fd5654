//! The request edge (SPEC §2.12), attacked as the issue describes: encoded and dot-segment paths
//! against a permission and a lock, through forward-auth behind a real nginx and through the
//! built-in proxy (raw request lines, since HTTP clients normalise paths); redirects after sign-in;
//! spoofed forwarding and identity headers; client addresses behind a trusted proxy.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message as AxumMessage, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use ward_core::model::AuditQuery;
use ward_server::config::RawConfig;
use ward_server::proxy::config::RawRoute;

use crate::harness::*;

// ---------------------------------------------------------------- a backend that tells all

/// Answers every request with what it received: method, the raw request target, and every
/// header (names lower-cased, repeated values joined with `, `). A WebSocket upgrade gets the
/// same as its first message.
async fn spawn_echo_backend() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(|r: Request| echo(r, false));
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// The echo: `{"method", "target", "headers", "tls"}` as JSON, or as a WebSocket's first
/// message before it echoes every message back.
async fn echo(request: Request, tls: bool) -> Response {
    let (mut parts, _body) = request.into_parts();
    let ws = if parts.headers.contains_key("upgrade") {
        WebSocketUpgrade::from_request_parts(&mut parts, &())
            .await
            .ok()
    } else {
        None
    };
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in &parts.headers {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers
            .entry(name.as_str().to_string())
            .and_modify(|prev| {
                prev.push_str(", ");
                prev.push_str(&v);
            })
            .or_insert(v);
    }
    let seen = json!({
        "method": parts.method.as_str(),
        "target": parts.uri.to_string(),
        "headers": headers,
        "tls": tls,
    });
    match ws {
        Some(ws) => ws
            .on_upgrade(move |mut socket| async move {
                let _ = socket.send(AxumMessage::text(seen.to_string())).await;
                while let Some(Ok(m)) = socket.recv().await {
                    if socket.send(m).await.is_err() {
                        break;
                    }
                }
            })
            .into_response(),
        None => axum::Json(seen).into_response(),
    }
}

fn route(prefix: &str, upstream: &str, permission: &str) -> RawRoute {
    RawRoute {
        prefix: prefix.into(),
        upstream: upstream.into(),
        permissions: BTreeMap::new(),
        permission: Some(permission.into()),
        websocket: false,
        tcp: None,
        lock_kind: None,
        timeout: None,
        ca_file: None,
        cert_file: None,
        key_file: None,
    }
}

/// `/api/containers` (GET read, DELETE needs `ops`), `/api/terminal` (locked, WebSocket).
fn configure(c: &mut RawConfig, backend: &str) {
    let mut containers = route("/api/containers", backend, "containers:read");
    containers.permission = None;
    containers.permissions = BTreeMap::from([
        ("GET".to_string(), "containers:read".to_string()),
        ("DELETE".to_string(), "containers:delete".to_string()),
    ]);
    let mut terminal = route("/api/terminal", backend, "containers:write");
    terminal.websocket = true;
    terminal.lock_kind = Some("terminal".into());
    c.routes = vec![containers, terminal];
    c.roles.get_mut("admin").unwrap().permissions =
        vec!["containers:read".into(), "containers:write".into()];
}

struct Setup {
    server: TestServer,
    backend: String,
    access: String,
}

async fn setup_with(b: Backend, extra: impl FnOnce(&mut RawConfig)) -> Setup {
    let backend = spawn_echo_backend().await;
    let server = TestServer::start_with(b, |c| {
        configure(c, &backend);
        extra(c);
    })
    .await;
    let tokens = cli_tokens(&server).await;
    let access = tokens["access_token"].as_str().unwrap().to_string();
    Setup {
        server,
        backend,
        access,
    }
}

/// Locks terminal `t1` behind the admin's TOTP.
async fn lock_terminal_t1(s: &Setup) {
    let (secret, _) = crate::mfa::enrol(&s.server, &s.access).await;
    let code = crate::mfa::python_totp(&secret, s.server.clock_now());
    let path = "/api/security/terminal/t1/mfa-lock";
    let r = crate::mfa::post(&s.server, &s.access, path, json!({ "code": code })).await;
    assert_eq!(r.status(), StatusCode::OK);
    s.server.clock.advance(30);
}

// ---------------------------------------------------------------- raw HTTP

struct RawResponse {
    status: u16,
    body: String,
}

impl RawResponse {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// Sends `method target` exactly as written (no client-side normalisation) with `headers`.
async fn raw_request(
    base: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> RawResponse {
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut buf))
        .await
        .expect("answer in time")
        .unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    RawResponse { status, body }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

// ---------------------------------------------------------------- nginx

fn nginx_binary() -> std::path::PathBuf {
    ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())
        .expect("nginx is installed (bash .ci/packages.sh)")
}

struct Nginx {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// nginx on 127.0.0.1 with `server` as its body (`{d}`: its directory).
async fn start_nginx(server: &str) -> Nginx {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let d = dir.path().display();
    let conf = format!(
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
        listen 127.0.0.1:{port};
        {server}
    }}
}}
"#
    );
    let file = dir.path().join("nginx.conf");
    std::fs::write(&file, conf).unwrap();
    let child = std::process::Command::new(nginx_binary())
        .arg("-p")
        .arg(dir.path())
        .arg("-e")
        .arg(dir.path().join("error.log"))
        .arg("-c")
        .arg(&file)
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("nginx starts");
    let nginx = Nginx {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "nginx did not start listening");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    nginx
}

/// docs/proxy.md's forward-auth configuration.
fn forward_auth_server(ward: &str, backend: &str) -> String {
    format!(
        r#"
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
            auth_request_set $ward_email $upstream_http_x_ward_email;
            proxy_set_header X-Ward-Email $ward_email;
            proxy_set_header Authorization "";
            proxy_pass {backend};
        }}
"#
    )
}

/// A client of its own loopback address (Linux routes all of 127.0.0.0/8 to lo), keeping
/// cookies and not following redirects.
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

mod addresses;
mod caddy;
mod csrf;
mod limits;
mod paths;
mod redirects;
mod tls;
