//! The backend behind ward's proxy routes in the toolchain tests: `/git/…` runs the real
//! `git http-backend` as a CGI program (this is the "small CGI host"); everything else is a
//! Kubernetes API server that answers `/version` and `/api`. Every request's `X-Ward-*` headers
//! are recorded, so a test can check what identity ward asserted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::io::AsyncWriteExt;

/// One request the backend saw: its path and `X-Ward-*` headers.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub ward: BTreeMap<String, String>,
}

#[derive(Clone)]
struct Shared {
    git_root: PathBuf,
    seen: Arc<Mutex<Vec<Seen>>>,
}

pub struct Upstream {
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    _task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    /// Serves the bare repositories under `git_root` and the fake API server.
    pub async fn start(git_root: &Path) -> Upstream {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            git_root: git_root.to_owned(),
            seen: seen.clone(),
        };
        let app = axum::Router::new().fallback(handle).with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Upstream {
            url,
            seen,
            _task: task,
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self._task.abort();
    }
}

async fn handle(State(shared): State<Shared>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let ward: BTreeMap<String, String> = request
        .headers()
        .iter()
        .filter(|(n, _)| n.as_str().starts_with("x-ward-"))
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    shared.seen.lock().unwrap().push(Seen {
        path: path.clone(),
        ward,
    });
    if let Some(rest) = path.strip_prefix("/git/") {
        let rest = format!("/{rest}");
        return cgi(&shared.git_root, &rest, request).await;
    }
    kube(&path)
}

/// What a Kubernetes API server answers to the two calls the tests make.
fn kube(path: &str) -> Response {
    match path {
        "/version" => axum::Json(json!({
            "major": "1", "minor": "32", "gitVersion": "v1.32.0",
            "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.0", "compiler": "gc",
            "platform": "linux/amd64"
        }))
        .into_response(),
        "/api" => axum::Json(json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]
        }))
        .into_response(),
        _ => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})),
        )
            .into_response(),
    }
}

/// RFC 3875: runs `git http-backend` with the request as CGI variables and body on stdin.
/// The user is the identity ward asserted (`REMOTE_USER`, which also enables pushing).
async fn cgi(root: &Path, path_info: &str, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, 64 << 20).await else {
        return (StatusCode::BAD_REQUEST, "body too large").into_response();
    };
    let mut cmd = tokio::process::Command::new("git");
    cmd.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", root)
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("REQUEST_METHOD", parts.method.as_str())
        .env("PATH_INFO", path_info)
        .env("QUERY_STRING", parts.uri.query().unwrap_or_default())
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("CONTENT_LENGTH", body.len().to_string());
    if let Some(user) = parts
        .headers
        .get("x-ward-email")
        .and_then(|v| v.to_str().ok())
    {
        cmd.env("REMOTE_USER", user);
    }
    for (name, value) in &parts.headers {
        let Ok(value) = value.to_str() else { continue };
        if name == "content-type" {
            cmd.env("CONTENT_TYPE", value);
        }
        let var = format!(
            "HTTP_{}",
            name.as_str().to_ascii_uppercase().replace('-', "_")
        );
        cmd.env(var, value);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("git http-backend runs");
    let mut stdin = child.stdin.take().unwrap();
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(&body).await;
    });
    let out = child.wait_with_output().await.unwrap();
    let _ = writer.await;
    cgi_response(&out.stdout, &out.stderr)
}

/// A CGI program's output (headers, a blank line, the body) as an HTTP response.
fn cgi_response(out: &[u8], stderr: &[u8]) -> Response {
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| out.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let Some((end, sep)) = split else {
        return (
            StatusCode::BAD_GATEWAY,
            format!("bad CGI output: {}", String::from_utf8_lossy(stderr)),
        )
            .into_response();
    };
    let head = String::from_utf8_lossy(&out[..end]).into_owned();
    let mut response = Response::new(Body::from(out[end + sep..].to_vec()));
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split(' ').next().and_then(|c| c.parse().ok());
            if let Some(s) = code.and_then(|c| StatusCode::from_u16(c).ok()) {
                *response.status_mut() = s;
            }
        } else if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().append(n, v);
        }
    }
    response
}
