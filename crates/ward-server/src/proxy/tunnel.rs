//! TCP over WebSocket (SPEC §2.17): a `[[routes]]` entry with `tcp = "host:port"` is a byte
//! tunnel. After the WebSocket is authenticated, authorized and admitted through the route's
//! lock (all in `websocket::run`), ward connects to the TCP upstream and copies bytes: binary
//! (or text) messages from the client to the socket, whatever the socket reads back as binary
//! messages. The session is re-checked every [`RECHECK`](super::websocket::RECHECK), so a
//! revocation closes the tunnel (and the TCP connection) within one second.
//!
//! Half-close: an empty binary message from the client means "end of my input". WebSocket has
//! no half-close (a close frame ends both directions, and tungstenite answers it at once), so
//! ward shuts down the socket's write side (the upstream reads EOF) and keeps forwarding what
//! the upstream still sends until it closes — what `nc -N` and ssh's `ProxyCommand` rely on.

use axum::extract::ws::{self, Message};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::auth::Caller;
use crate::state::AppState;

use super::config::Route;
use super::websocket::{
    close, still_valid, ClientRx, ClientTx, Recheck, Watch, BAD_GATEWAY, MAX_RECHECK_ERRORS,
    RECHECK,
};

/// Bytes read from the TCP upstream per message, at most (decision 182). The read buffer
/// becomes the message itself (no copy); it is reclaimed once the message is written out.
const CHUNK: usize = 1024 * 1024;

pub(super) struct Tunnel<'a> {
    pub state: &'a AppState,
    pub route: &'a Route,
    pub caller: &'a Caller,
    pub watch: &'a Watch,
    pub addr: &'a str,
}

impl Tunnel<'_> {
    pub async fn run(self, mut client_tx: ClientTx, mut client_rx: ClientRx) {
        let prefix = &self.route.prefix;
        let stream = match tokio::time::timeout(self.route.timeout, TcpStream::connect(self.addr))
            .await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::warn!(target: "ward::proxy", route = %prefix, error = %e, "tcp upstream failed");
                return close(&mut client_tx, BAD_GATEWAY, "upstream unavailable").await;
            }
            Err(_) => {
                return close(&mut client_tx, BAD_GATEWAY, "upstream timed out").await;
            }
        };
        let _ = stream.set_nodelay(true);
        tracing::info!(target: "ward::proxy", route = %prefix, user_id = %self.caller.user.id, "tcp tunnel opened");
        let (mut up_rd, mut up_wr) = stream.into_split();
        let mut buf = bytes::BytesMut::with_capacity(CHUNK);
        let mut recheck = tokio::time::interval(RECHECK);
        recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        recheck.tick().await;
        let mut errors = 0u32;
        let mut input_done = false;
        loop {
            tokio::select! {
                m = client_rx.next(), if !input_done => {
                    let bytes = match m {
                        Some(Ok(Message::Binary(b))) if b.is_empty() => {
                            input_done = true;
                            let _ = up_wr.shutdown().await;
                            continue;
                        }
                        Some(Ok(Message::Binary(b))) => b,
                        Some(Ok(Message::Text(t))) => axum::body::Bytes::copy_from_slice(t.as_str().as_bytes()),
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                        // The client closed (or went away): close the TCP side too.
                        _ => break,
                    };
                    if up_wr.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
                n = up_rd.read_buf(&mut buf) => {
                    if !matches!(n, Ok(n) if n > 0) {
                        break;
                    }
                    // The bytes read become the message; the buffer's storage comes back to
                    // `buf` when tungstenite has written the message and dropped it.
                    let chunk = buf.split().freeze();
                    if client_tx.send(Message::Binary(chunk)).await.is_err() {
                        break;
                    }
                    buf.reserve(CHUNK);
                }
                _ = recheck.tick() => {
                    match still_valid(self.state, self.watch).await {
                        Ok(()) => errors = 0,
                        Err(Recheck::Revoked(why)) => {
                            tracing::info!(target: "ward::proxy", route = %prefix, user_id = %self.caller.user.id, reason = %why, "tcp tunnel closed: credential no longer valid");
                            let _ = up_wr.shutdown().await;
                            return close(&mut client_tx, ws::close_code::POLICY, &why).await;
                        }
                        Err(Recheck::Unavailable) => {
                            errors += 1;
                            if errors >= MAX_RECHECK_ERRORS {
                                let _ = up_wr.shutdown().await;
                                return close(&mut client_tx, ws::close_code::AGAIN, "cannot verify the session; reconnect").await;
                            }
                        }
                    }
                }
            }
        }
        let _ = up_wr.shutdown().await;
        close(&mut client_tx, ws::close_code::NORMAL, "").await;
    }
}
