//! Unauthenticated input: the WebSocket auth message is bounded; anonymous writes are limited per
//! client address.

use super::*;
use crate::on_both_backends;

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

on_both_backends!(
    websocket_reads_little_before_authentication,
    unauthenticated_writes_are_limited_per_address,
);
