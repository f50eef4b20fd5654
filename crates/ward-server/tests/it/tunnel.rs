//! TCP over WebSocket (SPEC §2.17): a `tcp = "host:port"` route is a byte tunnel with the
//! route's permission and lock, closed within a second of a revocation (the TCP side too); and
//! the real `ssh` client reaching a real `sshd` through it with a ward certificate.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use ward_server::config::RawRole;

use crate::accounts::{cli_tokens_of, create_user, USER_PASSWORD};
use crate::harness::*;
use crate::mfa::{enrol, post, python_totp};
use crate::on_both_backends;
use crate::proxy::route;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A TCP echo server; every connection's end (EOF) is reported on the channel.
async fn echo_server() -> (String, tokio::sync::mpsc::UnboundedReceiver<Instant>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
                let _ = tx.send(Instant::now());
            });
        }
    });
    (addr, rx)
}

async fn open(server: &TestServer, path: &str, bearer: &str, ticket: Option<&str>) -> Ws {
    let url = server.url(path).replacen("http://", "ws://", 1);
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {bearer}").parse().unwrap());
    if let Some(t) = ticket {
        req.headers_mut()
            .insert("x-ward-ticket", t.parse().unwrap());
    }
    tokio_tungstenite::connect_async(req).await.unwrap().0
}

async fn echo(ws: &mut Ws, bytes: &[u8]) -> Vec<u8> {
    ws.send(Message::Binary(bytes.to_vec().into()))
        .await
        .unwrap();
    let mut got = Vec::new();
    while got.len() < bytes.len() {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) => got.extend_from_slice(&b),
            other => panic!("expected echoed bytes, got {other:?}"),
        }
    }
    got
}

async fn close_of(ws: &mut Ws) -> (u16, String) {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Close(Some(f))))) => return (f.code.into(), f.reason.to_string()),
            Ok(Some(Ok(Message::Close(None)))) | Ok(None) => return (1005, String::new()),
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(e))) => panic!("{e}"),
            Err(_) => panic!("no close in time"),
        }
    }
}

async fn tcp_routes_permission_lock_and_revocation(b: Backend) {
    let (addr, mut ended) = echo_server().await;
    let server = TestServer::start_with(b, |raw| {
        let mut open = route("/tcp/echo", "");
        open.tcp = Some(addr.clone());
        open.permission = Some("ssh:write".into());
        let mut locked = route("/tcp/host", "");
        locked.tcp = Some(addr.clone());
        locked.permission = Some("ssh:write".into());
        locked.lock_kind = Some("host".into());
        raw.mfa.lock_kinds.push("host".into());
        raw.routes = vec![open, locked];
        raw.roles.insert(
            "viewer".into(),
            RawRole {
                permissions: vec!["containers:read".into()],
                ..RawRole::default()
            },
        );
    })
    .await;
    let admin = cli_tokens(&server).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    // Bytes go through both ways, in order, binary-safe.
    let mut ws = open(&server, "/tcp/echo", &admin, None).await;
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(echo(&mut ws, &payload).await, payload);
    assert_eq!(echo(&mut ws, b"\x00\xffhello").await, b"\x00\xffhello");
    // The client's close ends the TCP connection.
    ws.close(None).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), ended.recv())
        .await
        .expect("the upstream connection ends with the tunnel")
        .unwrap();

    // Plain HTTP to a tunnel route is a clear 400.
    let r = server
        .api()
        .get(server.url("/tcp/echo"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("TCP tunnel"));

    // Without the route's permission: closed with 1008 naming it, nothing connected upstream.
    create_user(&server, &admin, "viewer@test.example", "viewer").await;
    let viewer = cli_tokens_of(&server, "viewer@test.example", USER_PASSWORD).await;
    let mut ws = open(
        &server,
        "/tcp/echo",
        viewer["access_token"].as_str().unwrap(),
        None,
    )
    .await;
    let (code, reason) = close_of(&mut ws).await;
    assert_eq!(code, 1008);
    assert!(reason.contains("ssh:write"), "{reason}");

    // A locked host needs a ticket.
    let (secret, _) = enrol(&server, &admin).await;
    let r = post(
        &server,
        &admin,
        "/api/security/host/db-1/mfa-lock",
        json!({"code": python_totp(&secret, server.clock_now())}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    server.clock.advance(30);
    let mut ws = open(&server, "/tcp/host/db-1", &admin, None).await;
    let (code, reason) = close_of(&mut ws).await;
    assert_eq!(code, 1008);
    assert!(reason.contains("locked"), "{reason}");
    let ticket: Value = post(
        &server,
        &admin,
        "/api/security/host/db-1/verify",
        json!({"code": python_totp(&secret, server.clock_now())}),
    )
    .await
    .json()
    .await
    .unwrap();
    let mut ws = open(&server, "/tcp/host/db-1", &admin, ticket["ticket"].as_str()).await;
    assert_eq!(
        echo(&mut ws, b"through the lock").await,
        b"through the lock"
    );

    // Revoking the session closes the tunnel (and the TCP connection) within a second.
    while ended.try_recv().is_ok() {}
    let r = server
        .api()
        .post(server.url("/api/auth/logout"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let revoked_at = Instant::now();
    let (code, reason) = close_of(&mut ws).await;
    let took = revoked_at.elapsed();
    assert_eq!((code, reason.as_str()), (1008, "session revoked"));
    assert!(took < Duration::from_secs(1), "closed after {took:?}");
    let upstream_end = tokio::time::timeout(Duration::from_secs(1), ended.recv())
        .await
        .expect("the upstream connection closes too")
        .unwrap();
    assert!(upstream_end.duration_since(revoked_at) < Duration::from_secs(1));
}

on_both_backends!(tcp_routes_permission_lock_and_revocation);
