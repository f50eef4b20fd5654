//! A proxied response is not held back by Nagle's algorithm (issue 25's regression).
//!
//! When an upstream sends its response head and its body in two writes, hyper hands ward the
//! head before the body, and ward writes them to the client as two segments. Without
//! `TCP_NODELAY` on the accepted connection the second segment waits until the client
//! acknowledges the first, and the client delays that ACK (40 ms on Linux): every such request
//! took at least 40 ms (a Python `http.server` upstream: 23 requests/s through ward, measured with
//! `wrk -c1` against a debug build). Twenty requests on one keep-alive connection then take at
//! least 800 ms; with the option set they take a few milliseconds each.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::harness::*;
use crate::on_both_backends;

const BODY: &[u8] = b"the body, written after the head\n";

/// An HTTP/1.1 upstream that answers every request on a connection with its head in one write
/// and its body in another, a moment later (as Python's `http.server` and many CGI-style
/// servers do).
async fn two_write_upstream() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            conn.set_nodelay(true).unwrap();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let mut pending = Vec::new();
                loop {
                    // One request per head: the proxy sends GETs without bodies.
                    while !pending.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => pending.extend_from_slice(&buf[..n]),
                        }
                    }
                    let end = pending.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                    pending.drain(..end);
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n",
                        BODY.len()
                    );
                    if conn.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    if conn.write_all(BODY).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

async fn split_responses_are_not_delayed(b: Backend) {
    let upstream = two_write_upstream().await;
    let server = TestServer::start_with(b, |c| {
        let mut r = crate::proxy::route("/split", &upstream);
        r.permission = Some("containers:read".into());
        c.routes = vec![r];
    })
    .await;
    let tokens = cli_tokens(&server).await;
    let access = tokens["access_token"].as_str().unwrap().to_string();
    // One client, one keep-alive connection to ward: each request waits for the one before.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    let get = || {
        client
            .get(server.url("/split/x"))
            .bearer_auth(&access)
            .send()
    };
    // Warm-up: the connection's first segments are acknowledged at once (quick-ACK mode).
    for _ in 0..3 {
        let r = get().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.bytes().await.unwrap();
    }
    const N: u32 = 20;
    let started = Instant::now();
    for _ in 0..N {
        let r = get().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.bytes().await.unwrap().as_ref(), BODY);
    }
    let took = started.elapsed();
    // Held by Nagle, each request would take ≥ 40 ms: ≥ 800 ms in all. Unheld, a debug build
    // on a busy machine takes well under 20 ms each.
    assert!(
        took < Duration::from_millis(600),
        "{N} proxied requests took {took:?}: the response's second segment waited for an ACK (is TCP_NODELAY set on accepted connections?)"
    );
}

on_both_backends!(split_responses_are_not_delayed);
