//! The example backend a platform would put behind ward. It never sees a credential: it trusts
//! the `X-Ward-*` headers ward adds (and must only be reachable through ward).
//!
//! - `GET /stream?bytes=N`: N bytes generated on the fly (byte i is `i % 251`), in 64 KiB
//!   chunks, produced only as fast as the reader takes them.
//! - `POST|PUT /upload`: reads the body as a stream, answers `{"bytes": n, "ok": bool}` where
//!   `ok` says the bytes followed the same pattern.
//! - `GET /slow?ms=N`: answers after N milliseconds (timeouts).
//! - `GET /work?rounds=N`: a fixed amount of CPU work before answering (N rounds of 64
//!   multiply-rotate steps; 2000 rounds take about 0.2 ms on the development machine), like a
//!   handler that queries and serializes something (the proxy benchmark's "backend that works").
//!   A fixed amount of work, not a wall-clock budget, so that a loaded machine slows it down
//!   the same way it slows everything else.
//! - WebSocket on any path when the request is an upgrade: the "terminal". It first sends a
//!   JSON `{"type":"hello", "path", "query", "protocol", "headers": {x-ward-*}}`, then echoes
//!   every text and binary message.
//! - Anything else: `{"method", "path", "query", "headers": {x-ward-*}, "authorization",
//!   "cookie"}` — what a handler would see.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::net::TcpListener;

const CHUNK: usize = 64 * 1024;

/// Progress counters, shared with whoever started the backend (tests use them to show that
/// a proxy in between streams instead of buffering).
#[derive(Debug, Default, Clone)]
pub struct Counters {
    /// Bytes `/stream` has produced so far.
    pub streamed: Arc<AtomicU64>,
    /// Bytes `/upload` has received so far.
    pub uploaded: Arc<AtomicU64>,
    /// Plain requests the echo handler has answered.
    pub requests: Arc<AtomicU64>,
    /// Terminal (WebSocket) connections opened.
    pub websockets: Arc<AtomicU64>,
}

/// The request counters at one moment (tests compare two of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub requests: u64,
    pub websockets: u64,
}

impl Counters {
    pub fn snapshot(&self) -> Seen {
        Seen {
            requests: self.requests.load(Ordering::SeqCst),
            websockets: self.websockets.load(Ordering::SeqCst),
        }
    }
}

pub fn router(counters: Counters) -> Router {
    Router::new()
        .route("/stream", get(stream))
        .route("/upload", post(upload).put(upload))
        .route("/slow", get(slow))
        .route("/work", get(work))
        .fallback(echo_or_terminal)
        .with_state(counters)
}

/// Serves until the listener fails.
pub async fn serve(listener: TcpListener, counters: Counters) -> std::io::Result<()> {
    axum::serve(listener, router(counters)).await
}

/// Binds `addr` (e.g. `127.0.0.1:0`), serves in the background, returns the bound address.
pub async fn spawn(addr: &str, counters: Counters) -> std::io::Result<std::net::SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(serve(listener, counters));
    Ok(bound)
}

/// The byte at offset `i` of generated bodies.
pub fn pattern_byte(i: u64) -> u8 {
    (i % 251) as u8
}

/// `len` (at most 64 KiB) bytes of the pattern starting at `offset`, cut from one
/// precomputed period-aligned buffer.
pub fn pattern_slice(offset: u64, len: usize) -> Bytes {
    static PATTERN: std::sync::OnceLock<Bytes> = std::sync::OnceLock::new();
    let pattern = PATTERN.get_or_init(|| (0..(CHUNK as u64 + 251)).map(pattern_byte).collect());
    let start = (offset % 251) as usize;
    pattern.slice(start..start + len.min(CHUNK))
}

fn ward_headers(headers: &HeaderMap) -> BTreeMap<String, String> {
    headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("x-ward-"))
        .map(|(name, value)| {
            (
                name.as_str().to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect()
}

#[derive(Deserialize)]
struct StreamParams {
    bytes: u64,
}

async fn stream(State(c): State<Counters>, Query(p): Query<StreamParams>) -> Response {
    let total = p.bytes;
    let chunks = futures::stream::unfold(0u64, move |offset| {
        let c = c.clone();
        async move {
            if offset >= total {
                return None;
            }
            let len = (total - offset).min(CHUNK as u64);
            let chunk = pattern_slice(offset, len as usize);
            c.streamed.fetch_add(len, Ordering::SeqCst);
            Some((Ok::<_, std::io::Error>(chunk), offset + len))
        }
    });
    (
        [(header::CONTENT_TYPE, "application/octet-stream")],
        Body::from_stream(chunks),
    )
        .into_response()
}

async fn upload(State(c): State<Counters>, request: Request) -> Response {
    let mut body = request.into_body().into_data_stream();
    let mut n: u64 = 0;
    let mut ok = true;
    while let Some(chunk) = body.next().await {
        let Ok(chunk) = chunk else {
            return (StatusCode::BAD_REQUEST, "body interrupted").into_response();
        };
        for (i, piece) in chunk.chunks(CHUNK).enumerate() {
            ok &= *piece == pattern_slice(n + (i * CHUNK) as u64, piece.len());
        }
        n += chunk.len() as u64;
        c.uploaded.fetch_add(chunk.len() as u64, Ordering::SeqCst);
    }
    Json(json!({"bytes": n, "ok": ok})).into_response()
}

#[derive(Deserialize)]
struct SlowParams {
    ms: u64,
}

async fn slow(Query(p): Query<SlowParams>) -> &'static str {
    tokio::time::sleep(Duration::from_millis(p.ms)).await;
    "finally"
}

#[derive(Deserialize)]
struct WorkParams {
    rounds: u64,
}

/// `rounds` rounds of arithmetic (capped at ten million); answers with a digest of the result
/// so the loop cannot be optimised away.
async fn work(Query(p): Query<WorkParams>) -> Json<Value> {
    let mut acc: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..p.rounds.min(10_000_000) {
        for _ in 0..64 {
            acc = acc.rotate_left(5) ^ acc.wrapping_mul(0x0100_0000_01B3);
        }
    }
    Json(json!({"rounds": p.rounds, "digest": format!("{acc:016x}")}))
}

async fn echo_or_terminal(State(c): State<Counters>, request: Request) -> Response {
    let (mut parts, _body) = request.into_parts();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().map(str::to_string);
    let headers = ward_headers(&parts.headers);
    if parts.headers.contains_key(header::UPGRADE) {
        let protocol = parts
            .headers
            .get(header::SEC_WEBSOCKET_PROTOCOL)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        return match WebSocketUpgrade::from_request_parts(&mut parts, &c).await {
            Ok(ws) => {
                c.websockets.fetch_add(1, Ordering::SeqCst);
                let hello = json!({
                    "type": "hello",
                    "path": path,
                    "query": query,
                    "protocol": protocol,
                    "headers": headers,
                });
                ws.on_upgrade(move |socket| terminal(socket, hello))
            }
            Err(rejection) => rejection.into_response(),
        };
    }
    c.requests.fetch_add(1, Ordering::SeqCst);
    let cookie = parts
        .headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    Json(json!({
        "method": parts.method.as_str(),
        "path": path,
        "query": query,
        "headers": headers,
        "authorization": parts.headers.contains_key(header::AUTHORIZATION),
        "cookie": cookie,
    }))
    .into_response()
}

async fn terminal(mut socket: WebSocket, hello: Value) {
    if socket
        .send(Message::Text(hello.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    while let Some(Ok(message)) = socket.recv().await {
        let reply = match message {
            Message::Text(t) => Message::Text(t),
            Message::Binary(b) => Message::Binary(b),
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        if socket.send(reply).await.is_err() {
            break;
        }
    }
}
