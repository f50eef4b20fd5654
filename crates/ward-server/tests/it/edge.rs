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
use crate::on_both_backends;

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

// ---------------------------------------------------------------- built-in proxy

async fn builtin_proxy_matches_and_forwards_the_normalised_path(b: Backend) {
    let s = setup_with(b, |_| {}).await;
    let bearer = format!("Bearer {}", s.access);
    let auth = [("Authorization", bearer.as_str())];
    let get = |target: &'static str| raw_request(&s.server.url, "GET", target, &auth);

    // Encoded unreserved characters: decoded, matched and forwarded decoded.
    let r = get("/api/%63ontainers/c%31?q=%2F").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["target"], "/api/containers/c1?q=%2F");
    // DELETE through an encoded prefix meets the route's permission.
    let r = raw_request(&s.server.url, "DELETE", "/api/%63ontainers/c1", &auth).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let description = r.json()["error_description"].to_string();
    assert!(description.contains("containers:delete"), "{description}");

    // Dot segments against the lock: each names terminal t1 and needs its proof.
    lock_terminal_t1(&s).await;
    for target in [
        "/api/containers/../terminal/t1",
        "/api/terminal/./t1",
        "/api/terminal/x/../t1",
        "/api/termin%61l/t1",
        "/api/terminal/%2e/t1",
        "/api//terminal//t1",
    ] {
        let r = get(target).await;
        assert_eq!(r.status, 403, "{target}: {}", r.body);
        assert_eq!(r.json()["error"], "mfa_required", "{target}");
    }
    // Another terminal is not locked, and is forwarded in normal form.
    let r = get("/api/terminal/x/../t2/./size").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["target"], "/api/terminal/t2/size");

    // What cannot be made unambiguous is refused, and never reaches the backend.
    for (target, why) in [
        ("/api/containers/a%2Fb", "encoded '/'"),
        ("/api/containers/a%2fb", "encoded '/'"),
        ("/api/containers/a%5Cb", "encoded '\\'"),
        ("/api/containers/a\\b", "backslash"),
        ("/api/containers/a%00", "control character"),
        ("/api/containers/..;/terminal/t1", "parameters"),
        ("/api/containers/../../../etc/passwd", "above the root"),
        ("/api/containers/%zz", "malformed percent escape"),
    ] {
        let r = get(target).await;
        assert_eq!(r.status, 400, "{target}: {}", r.body);
        assert_eq!(r.json()["error"], "invalid_path", "{target}");
        let description = r.json()["error_description"].as_str().unwrap().to_string();
        assert!(description.contains(why), "{target}: {description}");
    }

    // ward's own routes see the same form: `/api/%70rofile` is the profile, and a lock id
    // of `.` or `..` can never be named.
    let r = get("/api/%70rofile").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["email"], ADMIN_EMAIL);
    for target in [
        "/api/security/terminal/%2e%2e/mfa-lock",
        "/api/security/terminal/./verify",
        "/api/security/terminal//verify",
    ] {
        let r = raw_request(&s.server.url, "POST", target, &auth).await;
        assert!(
            r.status == 404 || r.status == 405,
            "{target}: {} {}",
            r.status,
            r.body
        );
    }
}

async fn spoofed_headers_never_reach_the_backend(b: Backend) {
    let s = setup_with(b, |_| {}).await;
    let spoofed: [(&str, &str); 14] = [
        ("X_Ward_User_Id", "evil"),
        ("x-ward_email", "evil"),
        ("X-Ward-Roles", "evil"),
        ("X-Real-IP", "evil"),
        ("X_Real_IP", "evil"),
        ("Forwarded", "for=6.6.6.6"),
        ("X-Forwarded-For", "6.6.6.6"),
        ("X_Forwarded_For", "6.6.6.6"),
        ("X-Forwarded-Host", "evil.example"),
        ("X-Forwarded-Proto", "gopher"),
        ("X-HTTP-Method-Override", "DELETE"),
        ("X-HTTP-Method", "DELETE"),
        ("x_method_override", "DELETE"),
        ("X-Keep-Me", "kept"),
    ];
    let check = |seen: &Value, host: &str| {
        let h = seen["headers"].as_object().unwrap();
        for (name, value) in h {
            let normal = name.replace('_', "-");
            assert!(
                !value.as_str().unwrap_or_default().contains("evil")
                    && !value.as_str().unwrap_or_default().contains("6.6.6.6")
                    && !value.as_str().unwrap_or_default().contains("DELETE")
                    && !value.as_str().unwrap_or_default().contains("gopher"),
                "{name}: {value} in {h:?}"
            );
            assert!(
                !normal.contains("method") && normal != "x-real-ip" && normal != "forwarded",
                "{name} in {h:?}"
            );
        }
        assert_eq!(h["x-forwarded-for"], "127.0.0.1", "{h:?}");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], host);
        assert_eq!(h["x-ward-email"], ADMIN_EMAIL);
        assert_eq!(h["x-ward-roles"], "admin");
        assert_eq!(h["x-keep-me"], "kept");
    };
    let host = s.server.url.trim_start_matches("http://").to_string();

    // HTTP (raw, so that the underscore spellings go out as written).
    let bearer = format!("Bearer {}", s.access);
    let mut headers: Vec<(&str, &str)> = spoofed.to_vec();
    headers.push(("Authorization", &bearer));
    let r = raw_request(&s.server.url, "GET", "/api/containers/c1", &headers).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = r.json();
    assert_eq!(seen["method"], "GET");
    check(&seen, &host);

    // WebSocket.
    let url = format!(
        "{}?token={}",
        s.server
            .url("/api/terminal/t9")
            .replacen("http://", "ws://", 1),
        s.access
    );
    let mut req = url.into_client_request().unwrap();
    for (k, v) in spoofed {
        req.headers_mut().append(
            reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let Message::Text(text) = first else {
        panic!("expected the backend's hello, got {first:?}")
    };
    let seen: Value = serde_json::from_str(text.as_str()).unwrap();
    assert_eq!(seen["target"], "/api/terminal/t9");
    check(&seen, &host);
    let _ = s.backend;
}

// ---------------------------------------------------------------- redirects

async fn redirects_after_sign_in_stay_on_this_origin(b: Backend) {
    let server = TestServer::start(b).await;
    // Through the whole sign-in: the target in the sign-in page's address, and then (as a
    // forged form would) in the posted form itself.
    for (target, expected) in [
        ("/%09/evil.example", "/account"),
        ("/\t/evil.example", "/account"),
        ("/%0a", "/account"),
        ("/\n", "/account"),
        ("/\\evil.example", "/account"),
        ("//evil.example", "/account"),
        ("/device?x=1", "/device?x=1"),
    ] {
        let browser = server.browser();
        let login = format!(
            "/login?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("return_to", target)
                .finish()
        );
        let (status, page, _) = browser.get(&login).await;
        assert_eq!(status, StatusCode::OK, "{target:?}");
        let r = browser.submit_form(&page, &[("email", ADMIN_EMAIL)]).await;
        let page = r.text().await.unwrap();
        let r = browser
            .submit_form(
                &page,
                &[
                    ("email", ADMIN_EMAIL),
                    ("password", ADMIN_PASSWORD),
                    ("return_to", target),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{target:?}");
        assert_eq!(location_of(&r), expected, "{target:?}");
    }
    // Signed in, `/login?return_to=…` redirects at once: every form, encoded or not.
    let browser = server.browser();
    let r = browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let bad = [
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r\n/evil.example",
        "/ /evil.example",
        "/%2F/evil.example",
        "/%2f%2fevil.example",
        "/%5Cevil.example",
        "/%5c%5cevil.example",
        "/%09/evil.example",
        "/%0a",
        "/%252F%252Fevil.example",
        "https://evil.example/",
        "http:evil.example",
        "evil.example",
        "/café",
        "",
    ];
    for target in bad {
        let url = reqwest::Url::parse_with_params(&server.url("/login"), &[("return_to", target)])
            .unwrap();
        let (status, body, location) = browser.get(url.as_str()).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{target:?}: {body}");
        assert_eq!(location, "/account", "{target:?}");
    }
    // The raw, undecodable forms in the query string itself: never a 5xx.
    for query in ["return_to=/%0a", "return_to=/%C3%28", "return_to=%"] {
        let r = raw_request(&server.url, "GET", &format!("/login?{query}"), &[]).await;
        assert!(r.status < 500, "{query}: {}", r.status);
    }
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

async fn forward_auth_behind_nginx_sees_the_normalised_path(b: Backend) {
    let s = setup_with(b, |_| {}).await;
    let nginx = start_nginx(&forward_auth_server(&s.server.url, &s.backend)).await;
    let bearer = format!("Bearer {}", s.access);
    let auth = [("Authorization", bearer.as_str())];
    let send =
        |method: &'static str, target: &'static str| raw_request(&nginx.url, method, target, &auth);

    let r = send("GET", "/api/containers/c1").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["headers"]["x-ward-email"], ADMIN_EMAIL);
    // The backend is handed the raw path and serves /api/containers/c1; ward decides on
    // the same resource, so the DELETE needs containers:delete.
    for target in [
        "/api/%63ontainers/c1",
        "/api/containers/x/../c1",
        "/api/containers/./c1",
    ] {
        let r = send("DELETE", target).await;
        assert_eq!(r.status, 403, "DELETE {target}: {}", r.body);
    }
    // The lock applies whatever the spelling.
    lock_terminal_t1(&s).await;
    for target in [
        "/api/termin%61l/t1",
        "/api/terminal/./t1",
        "/api/terminal/x/../t1",
        "/api/containers/../terminal/t1",
    ] {
        let r = send("GET", target).await;
        assert_eq!(r.status, 403, "GET {target}: {}", r.body);
    }
    let r = send("GET", "/api/terminal/t2").await;
    assert_eq!(r.status, 200, "an unlocked terminal: {}", r.body);
    // Refused paths are 403 (nginx would turn a 400 into a 500), and so is a path no route
    // describes (proxy.unmatched = "deny").
    for target in [
        "/api/containers/a%2Fb",
        "/api/containers/..;/x",
        "/elsewhere",
    ] {
        let r = send("GET", target).await;
        assert_eq!(r.status, 403, "GET {target}: {}", r.body);
    }

    // ward's own answer, without nginx: what each refusal says.
    let validate = |uri: &'static str| {
        s.server
            .api()
            .get(s.server.url("/api/auth/validate"))
            .bearer_auth(&s.access)
            .header("X-Forwarded-Method", "GET")
            .header("X-Forwarded-Uri", uri)
            .send()
    };
    let r = validate("/api/containers/a%2Fb").await.unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::FORBIDDEN, "invalid_path".into())
    );
    let r = validate("/elsewhere").await.unwrap();
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("no route matches"),
        "{body}"
    );
}

async fn unmatched_allow_needs_only_an_identity(b: Backend) {
    let s = setup_with(b, |c| c.proxy.unmatched = "allow".into()).await;
    let validate = |uri: &'static str, token: Option<&str>| {
        let mut r = s
            .server
            .api()
            .get(s.server.url("/api/auth/validate"))
            .header("X-Forwarded-Method", "DELETE")
            .header("X-Forwarded-Uri", uri);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    let r = validate("/elsewhere", Some(&s.access)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = validate("/elsewhere", None).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // The normalised path still meets its route.
    let r = validate("/api/%63ontainers/c1", Some(&s.access))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

// ---------------------------------------------------------------- trusted proxies

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

/// Signs in at `base` through the pages; returns the final response.
async fn sign_in_at(
    client: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    let page = client
        .get(format!("{base}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = input_value(&page, "csrf_token").unwrap();
    let r = client
        .post(format!("{base}/login"))
        .form(&[("csrf_token", csrf.as_str()), ("email", email)])
        .send()
        .await
        .unwrap();
    let page = r.text().await.unwrap();
    let csrf = input_value(&page, "csrf_token").unwrap();
    client
        .post(format!("{base}/login/password"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
}

async fn audit_ips(server: &TestServer, event_type: &str) -> Vec<(String, Option<String>)> {
    server
        .state
        .store
        .audit_events(&AuditQuery {
            user_id: None,
            event_type: Some(event_type.into()),
            before: None,
            limit: 500,
        })
        .await
        .unwrap()
        .into_iter()
        .map(|(e, _)| (e.outcome, e.actor_ip))
        .collect()
}

async fn trusted_proxy_gives_each_client_its_own_address(b: Backend) {
    let server = TestServer::start_with(b, |c| {
        c.trusted_proxies = ward_server::config::StringList::List(vec!["127.0.0.1/32".into()]);
    })
    .await;
    let nginx = start_nginx(&format!(
        r#"
        location / {{
            proxy_pass {ward};
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
"#,
        ward = server.url
    ))
    .await;

    // The first client fails 61 times (unknown accounts, so no account is locked).
    let attacker = client_from("127.0.0.2");
    let page = attacker
        .get(format!("{}/login", nginx.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = input_value(&page, "csrf_token").unwrap();
    let mut statuses = Vec::new();
    for i in 0..61 {
        let r = attacker
            .post(format!("{}/login/password", nginx.url))
            // A spoofed address of its own: nginx appends the real one.
            .header("X-Forwarded-For", format!("198.51.100.{i}"))
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("email", &format!("nobody{i}@test.example")),
                ("password", "wrong"),
            ])
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert!(statuses[..60].iter().all(|s| *s == 401), "{statuses:?}");
    assert_eq!(statuses[60], 429, "the 61st from that client is limited");

    // Another client behind the same proxy signs in.
    let user = client_from("127.0.0.3");
    let r = sign_in_at(&user, &nginx.url, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );

    // Audit and sessions show the real addresses.
    let events = audit_ips(&server, "signin").await;
    let failed: Vec<_> = events.iter().filter(|(o, _)| o == "failed").collect();
    assert_eq!(failed.len(), 60, "{events:?}");
    assert!(
        failed
            .iter()
            .all(|(_, ip)| ip.as_deref() == Some("127.0.0.2")),
        "{failed:?}"
    );
    assert!(
        events
            .iter()
            .any(|(o, ip)| o == "ok" && ip.as_deref() == Some("127.0.0.3")),
        "{events:?}"
    );
    let admin = server
        .state
        .store
        .user_by_email(ADMIN_EMAIL)
        .await
        .unwrap()
        .unwrap();
    let sessions = server
        .state
        .store
        .sessions_of_user(&admin.id)
        .await
        .unwrap();
    assert!(
        sessions
            .iter()
            .any(|s| s.ip.as_deref() == Some("127.0.0.3")),
        "{:?}",
        sessions.iter().map(|s| &s.ip).collect::<Vec<_>>()
    );
}

async fn without_trusted_proxies_forwarding_headers_are_ignored(b: Backend) {
    let server = TestServer::start(b).await;
    let client = client_from("127.0.0.5");
    let page = client
        .get(server.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = input_value(&page, "csrf_token").unwrap();
    let r = client
        .post(server.url("/login/password"))
        .header("X-Forwarded-For", "198.51.100.1")
        .header("Forwarded", "for=198.51.100.2")
        .header("X-Real-IP", "198.51.100.3")
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("email", "nobody@test.example"),
            ("password", "wrong"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let events = audit_ips(&server, "signin").await;
    assert_eq!(
        events,
        vec![("failed".to_string(), Some("127.0.0.5".to_string()))]
    );
}

// ---------------------------------------------------------------- unauthenticated input

async fn websocket_reads_little_before_authentication(b: Backend) {
    let s = setup_with(b, |_| {}).await;
    let url = s
        .server
        .url("/api/terminal/t9")
        .replacen("http://", "ws://", 1);
    let auth = |pad: usize| {
        json!({"type": "auth", "token": format!("Bearer {}", s.access), "pad": "x".repeat(pad)})
            .to_string()
    };
    let first_message = |ws_url: String, message: Option<String>| async move {
        let (mut ws, _) = tokio_tungstenite::connect_async(ws_url.as_str())
            .await
            .unwrap();
        if let Some(m) = message {
            // The server may already be gone when the message is too big: ignore send errors.
            let _ = futures::SinkExt::send(&mut ws, Message::text(m)).await;
        }
        tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("an answer or a close within 5 s")
    };

    // An auth message just under 16 KiB is read and accepted.
    let m = first_message(url.clone(), Some(auth(15 * 1024))).await;
    assert!(
        matches!(&m, Some(Ok(Message::Text(t))) if t.as_str().contains("/api/terminal/t9")),
        "{m:?}"
    );
    // Over 16 KiB, even with a valid token: the connection ends, the backend is not reached.
    let m = first_message(url.clone(), Some(auth(20 * 1024))).await;
    assert!(
        !matches!(&m, Some(Ok(Message::Text(_)))),
        "an oversized first message must not reach the backend: {m:?}"
    );
    // Authenticated on the upgrade request, large messages pass both ways.
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("{url}?token={}", s.access).as_str())
            .await
            .unwrap();
    let hello = ws.next().await.unwrap().unwrap();
    assert!(matches!(hello, Message::Text(_)), "{hello:?}");
    let big = "y".repeat(100 * 1024);
    futures::SinkExt::send(&mut ws, Message::text(big.clone()))
        .await
        .unwrap();
    let echoed = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(echoed, Message::text(big));
}

async fn unauthenticated_writes_are_limited_per_address(b: Backend) {
    // WebAuthn needs a host name for its RP ID, not an IP address.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = TestServer::start_with(b, |c| {
        c.listen = format!("0.0.0.0:{port}");
        c.public_url = Some(format!("http://localhost:{port}"));
        c.rate_limits.device_codes_per_ip = 3;
        c.rate_limits.passkey_starts_per_ip = 3;
        c.rate_limits.guests_per_ip = 3;
    })
    .await;
    assert!(server.state.webauthn.is_some());
    let base = format!("http://127.0.0.1:{port}");
    let device = |client: reqwest::Client| {
        let url = format!("{base}/oauth/device/code");
        async move {
            client
                .post(url)
                .form(&[("client_id", "ward-cli")])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let passkey = |client: reqwest::Client| {
        let url = format!("{base}/api/mfa/webauthn/authenticate/start");
        async move {
            client
                .post(url)
                .json(&json!({"mode": "signin"}))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let guest = |client: reqwest::Client| {
        let url = format!("{base}/api/auth/guest");
        async move { client.post(url).send().await.unwrap().status() }
    };
    let (first, second) = (client_from("127.0.0.7"), client_from("127.0.0.8"));
    for (what, outcomes) in [
        (
            "device authorization",
            vec![
                device(first.clone()).await,
                device(first.clone()).await,
                device(first.clone()).await,
                device(first.clone()).await,
                device(second.clone()).await,
            ],
        ),
        (
            "passkey sign-in start",
            vec![
                passkey(first.clone()).await,
                passkey(first.clone()).await,
                passkey(first.clone()).await,
                passkey(first.clone()).await,
                passkey(second.clone()).await,
            ],
        ),
        (
            "guest start",
            vec![
                guest(first.clone()).await,
                guest(first.clone()).await,
                guest(first.clone()).await,
                guest(first.clone()).await,
                guest(second.clone()).await,
            ],
        ),
    ] {
        let codes: Vec<u16> = outcomes.iter().map(|s| s.as_u16()).collect();
        assert_eq!(codes, vec![200, 200, 200, 429, 200], "{what}");
    }
}

// ---------------------------------------------------------------- CSRF

/// `name=value` of the `Set-Cookie` named `name` in `r`, with the whole header line.
fn set_cookie(r: &reqwest::Response, name: &str) -> Option<(String, String)> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|line| {
            let value = line[name.len() + 1..].split(';').next().unwrap_or_default();
            (value.to_string(), line.to_string())
        })
}

/// A sibling subdomain plants its own pre-session cookie and token in a signed-in victim's
/// browser: the victim's forms refuse them, and accept the victim's own.
async fn csrf_token_is_bound_to_the_session(b: Backend) {
    let server = TestServer::start(b).await;
    let plain = server.api();
    // The attacker's own pre-session cookie and the token ward gave it.
    let r = plain.get(server.url("/login")).send().await.unwrap();
    let (planted, _) = set_cookie(&r, "ward_csrf").expect("a CSRF cookie");
    let attacker_token = input_value(&r.text().await.unwrap(), "csrf_token").unwrap();
    // The victim signs in.
    let victim = server.browser();
    let r = victim.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (session, _) = set_cookie(&r, "ward_session").expect("a session cookie");

    let forge = |csrf_cookie: String, token: String| {
        plain
            .post(server.url("/account/tokens"))
            .header(
                "Cookie",
                format!("ward_session={session}; ward_csrf={csrf_cookie}"),
            )
            .form(&[
                ("csrf_token", token.as_str()),
                ("name", "forged"),
                ("expires", "30"),
                ("scope.containers:read", "on"),
            ])
            .send()
    };
    // The planted pair, and the planted cookie with itself as the token (the old
    // double-submit check accepted both).
    let r = forge(planted.clone(), attacker_token.clone())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = forge(planted.clone(), planted.clone()).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // The victim's own page gives a token that works, whatever pre-session cookie is there.
    let (_, page, _) = victim.get("/account").await;
    let own = input_value(&page, "csrf_token").unwrap();
    let r = forge(planted, own).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("forged"));
}

async fn csrf_cookie_has_the_host_prefix_over_https(b: Backend) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = TestServer::start_with(b, |c| {
        c.listen = format!("127.0.0.1:{port}");
        c.public_url = Some(format!("https://localhost:{port}"));
    })
    .await;
    let base = format!("http://127.0.0.1:{port}");
    let plain = server.api();
    let r = plain.get(format!("{base}/login")).send().await.unwrap();
    assert!(set_cookie(&r, "ward_csrf").is_none());
    let (value, line) = set_cookie(&r, "__Host-ward_csrf").expect("the __Host- cookie");
    assert!(line.contains("Secure") && line.contains("Path=/"), "{line}");
    assert!(!line.to_ascii_lowercase().contains("domain="), "{line}");
    let token = input_value(&r.text().await.unwrap(), "csrf_token").unwrap();
    let submit = |cookie: String| {
        plain
            .post(format!("{base}/login"))
            .header("Cookie", cookie)
            .form(&[("csrf_token", token.as_str()), ("email", ADMIN_EMAIL)])
            .send()
    };
    let r = submit(format!("__Host-ward_csrf={value}")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The unprefixed name (which a sibling subdomain can set) is not read.
    let r = submit(format!("ward_csrf={value}")).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

// ---------------------------------------------------------------- TLS to upstreams

/// Warnings and errors of every server in this test process, for tests that check a log line.
fn log_capture() -> std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
    static CAPTURE: std::sync::OnceLock<std::sync::Arc<std::sync::Mutex<Vec<u8>>>> =
        std::sync::OnceLock::new();
    CAPTURE
        .get_or_init(|| {
            struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
            impl std::io::Write for Sink {
                fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                    self.0.lock().unwrap().extend_from_slice(b);
                    Ok(b.len())
                }
                fn flush(&mut self) -> std::io::Result<()> {
                    Ok(())
                }
            }
            let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            let writer = buffer.clone();
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::WARN)
                .with_ansi(false)
                .with_writer(move || Sink(writer.clone()))
                .try_init()
                .expect("no other test installs a global subscriber");
            buffer
        })
        .clone()
}

/// A CA and what it signs, all generated here.
struct Pki {
    ca_cert: rcgen::Certificate,
    ca_key: rcgen::KeyPair,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let ca_cert = params.self_signed(&ca_key).unwrap();
        Pki { ca_cert, ca_key }
    }

    /// (certificate PEM, key PEM) for a server at 127.0.0.1, or a client.
    fn issue(&self, server: bool) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let names = if server {
            vec!["127.0.0.1".to_string(), "localhost".to_string()]
        } else {
            Vec::new()
        };
        let mut params = rcgen::CertificateParams::new(names).unwrap();
        params.extended_key_usages = vec![if server {
            rcgen::ExtendedKeyUsagePurpose::ServerAuth
        } else {
            rcgen::ExtendedKeyUsagePurpose::ClientAuth
        }];
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            if server { "upstream" } else { "ward" },
        );
        let cert = params.signed_by(&key, &self.ca_cert, &self.ca_key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn ca_pem(&self) -> String {
        self.ca_cert.pem()
    }
}

struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            // A refused handshake (wrong CA, no client certificate) is the test's point.
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// The echo backend over TLS with `cert`, requiring a client certificate from `client_ca`
/// when given. Returns `https://127.0.0.1:<port>`.
async fn spawn_tls_echo_backend(cert: &(String, String), client_ca: Option<&str>) -> String {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert.0.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(cert.1.as_bytes()).unwrap();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let config = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                roots.add(c.unwrap()).unwrap();
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                std::sync::Arc::new(roots),
                provider,
            )
            .build()
            .unwrap();
            builder
                .with_client_cert_verifier(verifier)
                .with_single_cert(chain, key)
                .unwrap()
        }
        None => builder
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap(),
    };
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    let listener = TlsListener {
        tcp,
        acceptor: tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)),
    };
    let app = axum::Router::new().fallback(|r: Request| echo(r, true));
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("https://127.0.0.1:{port}")
}

async fn https_upstreams_with_a_ca_file_and_a_client_certificate(b: Backend) {
    let logs = log_capture();
    let (pki, other) = (Pki::new("upstream CA"), Pki::new("some other CA"));
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, pem: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).unwrap();
        path.display().to_string()
    };
    let ca_file = write("ca.pem", &pki.ca_pem());
    let wrong_ca_file = write("wrong-ca.pem", &other.ca_pem());
    let (client_cert, client_key) = pki.issue(false);
    let (cert_file, key_file) = (
        write("client.pem", &client_cert),
        write("client.key", &client_key),
    );
    let server_cert = pki.issue(true);
    let open = spawn_tls_echo_backend(&server_cert, None).await;
    let mutual = spawn_tls_echo_backend(&server_cert, Some(&pki.ca_pem())).await;

    let s = setup_with(b, |c| {
        let tls_route = |prefix: &str, upstream: &str, ca: &str| {
            let mut r = route(prefix, upstream, "containers:read");
            r.ca_file = Some(ca.to_string());
            r.websocket = true;
            r
        };
        let mut with_cert = tls_route("/tls-mutual", &mutual, &ca_file);
        with_cert.cert_file = Some(cert_file.clone());
        with_cert.key_file = Some(key_file.clone());
        c.routes.extend([
            tls_route("/tls", &open, &ca_file),
            with_cert,
            tls_route("/tls-no-cert", &mutual, &ca_file),
            tls_route("/tls-wrong", &open, &wrong_ca_file),
        ]);
    })
    .await;
    let api = s.server.api();
    let get = |path: &str| api.get(s.server.url(path)).bearer_auth(&s.access).send();

    // HTTP over TLS, with identity headers, to the CA of ca_file.
    let r = get("/tls/x?y=1").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let seen: Value = r.json().await.unwrap();
    assert_eq!(seen["tls"], true);
    assert_eq!(seen["target"], "/tls/x?y=1");
    assert_eq!(seen["headers"]["x-ward-email"], ADMIN_EMAIL);
    // An upstream that requires a client certificate: with cert_file/key_file it answers,
    // without it refuses the handshake (502).
    let r = get("/tls-mutual/x").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["tls"], true);
    let r = get("/tls-no-cert/x").await.unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::BAD_GATEWAY, "upstream_unavailable".into())
    );
    // The wrong CA: 502 and a log line that says why.
    let r = get("/tls-wrong/x").await.unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::BAD_GATEWAY, "upstream_unavailable".into())
    );
    let logged = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    let line = logged
        .lines()
        .find(|l| l.contains("route=/tls-wrong") && l.contains("upstream TLS connection failed"))
        .unwrap_or_else(|| panic!("no log line for /tls-wrong in:\n{logged}"));
    assert!(
        line.contains("invalid peer certificate") && line.contains("UnknownIssuer"),
        "{line}"
    );

    // WebSocket over TLS (wss://), plain and with the client certificate.
    for path in ["/tls/term", "/tls-mutual/term"] {
        let url = format!(
            "{}?token={}",
            s.server.url(path).replacen("http://", "ws://", 1),
            s.access
        );
        let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .unwrap();
        let hello = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let Message::Text(text) = hello else {
            panic!("{path}: expected the upstream's hello, got {hello:?}")
        };
        let hello: Value = serde_json::from_str(text.as_str()).unwrap();
        assert_eq!(hello["tls"], true, "{path}");
        assert_eq!(hello["target"], path);
        futures::SinkExt::send(&mut ws, Message::text("over tls"))
            .await
            .unwrap();
        let echoed = ws.next().await.unwrap().unwrap();
        assert_eq!(echoed, Message::text("over tls"));
    }
}

on_both_backends!(
    https_upstreams_with_a_ca_file_and_a_client_certificate,
    csrf_token_is_bound_to_the_session,
    csrf_cookie_has_the_host_prefix_over_https,
    websocket_reads_little_before_authentication,
    unauthenticated_writes_are_limited_per_address,
    builtin_proxy_matches_and_forwards_the_normalised_path,
    spoofed_headers_never_reach_the_backend,
    redirects_after_sign_in_stay_on_this_origin,
    forward_auth_behind_nginx_sees_the_normalised_path,
    unmatched_allow_needs_only_an_identity,
    trusted_proxy_gives_each_client_its_own_address,
    without_trusted_proxies_forwarding_headers_are_ignored,
);
