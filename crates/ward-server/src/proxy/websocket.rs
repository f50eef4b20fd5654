//! WebSocket through the proxy (SPEC §2.8). Any of three ways to authenticate:
//!
//! 1. a first message `{"type":"auth","token":"Bearer <t>"}` (optionally `"mfa_code"` or
//!    `"ticket"`), consumed by ward and never forwarded;
//! 2. `?token=<t>`, removed from the query before forwarding (and never logged: the request log
//!    records paths only);
//! 3. `Sec-WebSocket-Protocol: <token_prefix>.token.<t>`, echoed back as the selected protocol
//!    (and not forwarded upstream);
//!
//! and, like plain HTTP, `Authorization: Bearer` or the session cookie. ward always completes
//! the upgrade of a route with `websocket = true` and then reports a refusal in-band: a bad
//! `Origin`, a failed authentication and a missing permission close with 1008 (policy
//! violation), because a browser's WebSocket API cannot see an HTTP status. An unreachable
//! upstream closes with 1011.
//!
//! Revocation: every open connection re-checks its session every [`RECHECK`] (the session row
//! and its user; for a credential without a session, the credential itself) and closes with
//! 1008 when it has been revoked, has expired or its user was disabled, so a revoked session's
//! terminals close within one second. Polling per connection costs one or two indexed reads per
//! connection per half second; a PostgreSQL `LISTEN/NOTIFY` broadcast (SPEC §2.10) can replace
//! it without changing the behavior. While a connection is open it keeps its session's
//! last-seen time fresh, so an active terminal does not count as idle.

use std::time::Duration;
use ward_core::SessionId;

use axum::extract::ws::{self, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::auth::{
    authenticate_bearer, authenticate_presented, authenticate_token, Caller, Presented, Scheme,
};
use crate::dpop::Target;
use crate::state::AppState;

use super::config::Route;
use super::lock::{self, Proof};
use super::origin::OriginVerdict;
use super::{
    authorize, identity_headers, sanitize_request_headers, set_forwarding_headers, upstream_url,
};

/// How often an open connection re-checks its session.
pub const RECHECK: Duration = Duration::from_millis(500);
/// How long ward waits for the auth message when the upgrade carried no credential.
const AUTH_MESSAGE_TIMEOUT: Duration = Duration::from_secs(10);
/// SPEC §2.12: the most an unauthenticated client may make ward read (message and frame).
pub const MAX_UNAUTHENTICATED_MESSAGE: usize = 16 * 1024;
/// Consecutive failed re-checks (database unreachable) after which a connection is closed.
pub(super) const MAX_RECHECK_ERRORS: u32 = 3;
/// RFC 6455 §5.5: a close frame's reason fits in 123 bytes.
const MAX_REASON: usize = 123;
/// 1011 (unexpected condition). IANA's 1014 "bad gateway" would fit better, but RFC 6455
/// implementations such as tungstenite treat it as reserved and fail the connection with 1002.
pub(super) const BAD_GATEWAY: u16 = ws::close_code::ERROR;

pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// How a connection's identity is re-checked while it is open.
#[derive(Clone)]
pub(super) enum Watch {
    Session {
        id: SessionId,
    },
    /// A credential without a session (e.g. an API token): re-validated as a whole.
    Bearer(String),
}

enum PreAuth {
    Authenticated(Box<Caller>, Watch),
    Failed(String),
    /// No credential on the upgrade request: wait for the auth message.
    AwaitMessage,
}

struct Connection {
    state: AppState,
    route: Route,
    verdict: OriginVerdict,
    pre: PreAuth,
    proof: Proof,
    /// The client's request path (for the lock's resource id).
    path: String,
    upstream_url: String,
    upstream_headers: HeaderMap,
    upstream_protocols: Vec<String>,
}

pub async fn upgrade(
    state: AppState,
    route: Route,
    request: Request,
    verdict: OriginVerdict,
) -> Response {
    let (mut parts, _body) = request.into_parts();
    let mut ws = match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };

    // (3) Sec-WebSocket-Protocol: <prefix>.token.<t>
    let marker = format!("{}.token.", state.config.token_prefix);
    let mut protocol_token: Option<(String, String)> = None;
    let mut upstream_protocols = Vec::new();
    for value in ws.requested_protocols() {
        for p in value.to_str().unwrap_or_default().split(',').map(str::trim) {
            match p.strip_prefix(marker.as_str()) {
                Some(t) if protocol_token.is_none() => {
                    protocol_token = Some((p.to_string(), t.to_string()));
                }
                Some(_) => {}
                None if !p.is_empty() => upstream_protocols.push(p.to_string()),
                None => {}
            }
        }
    }
    if let Some((selected, _)) = &protocol_token {
        if let Ok(v) = HeaderValue::from_str(selected) {
            ws.set_selected_protocol(v);
        }
    }

    // (2) ?token=<t>, and ?ticket=<t> for locked resources; both removed before forwarding.
    let mut proof = Proof::from_headers(&parts.headers);
    let (query_token, query_ticket, forwarded_query) = split_query(parts.uri.query());
    if query_ticket.is_some() {
        proof.ticket = query_ticket;
    }

    let pre = if matches!(verdict, OriginVerdict::Refused(_)) {
        PreAuth::AwaitMessage // never used: the origin refusal closes first
    } else if let Some(token) = protocol_token.map(|(_, t)| t).or(query_token) {
        bearer_pre_auth(&state, token).await
    } else if parts.headers.contains_key(header::AUTHORIZATION) {
        match Caller::from_request_parts(&mut parts, &state).await {
            Ok(caller) => {
                let token = bearer_from_header(&parts.headers).unwrap_or_default();
                let watch = watch_for(&caller, token);
                PreAuth::Authenticated(Box::new(caller), watch)
            }
            Err(e) => PreAuth::Failed(e.description),
        }
    } else {
        // The session cookie, if any; otherwise the auth message.
        match Caller::from_request_parts(&mut parts, &state).await {
            Ok(caller) => {
                let watch = watch_for(&caller, String::new());
                PreAuth::Authenticated(Box::new(caller), watch)
            }
            Err(_) => PreAuth::AwaitMessage,
        }
    };

    if matches!(pre, PreAuth::AwaitMessage) {
        // Nothing has authenticated this client yet: its first message is read with a small
        // limit instead of tungstenite's 64 MiB. The limit stays for the connection's life
        // (axum and tokio-tungstenite offer no way to raise it after the auth message), so
        // clients that send large messages authenticate on the upgrade request instead.
        ws = ws
            .max_message_size(MAX_UNAUTHENTICATED_MESSAGE)
            .max_frame_size(MAX_UNAUTHENTICATED_MESSAGE);
    }
    let host = parts.headers.get(header::HOST).cloned();
    let mut upstream_headers = parts.headers.clone();
    sanitize_request_headers(&mut upstream_headers);
    for name in [
        header::HOST,
        header::CONTENT_LENGTH,
        header::SEC_WEBSOCKET_KEY,
        header::SEC_WEBSOCKET_VERSION,
        header::SEC_WEBSOCKET_EXTENSIONS,
        header::SEC_WEBSOCKET_PROTOCOL,
        header::SEC_WEBSOCKET_ACCEPT,
    ] {
        upstream_headers.remove(name);
    }
    set_forwarding_headers(&state, &mut upstream_headers, parts.extensions.get(), host);
    let upstream_url = upstream_url(&route, parts.uri.path(), forwarded_query.as_deref());
    let upstream_url = match upstream_url.strip_prefix("https://") {
        Some(rest) => format!("wss://{rest}"),
        None => upstream_url.replacen("http://", "ws://", 1),
    };
    let connection = Connection {
        state,
        route,
        verdict,
        pre,
        proof,
        path: parts.uri.path().to_string(),
        upstream_url,
        upstream_headers,
        upstream_protocols,
    };
    ws.on_upgrade(move |socket| run(socket, connection))
}

/// Takes `token` and `ticket` out of a query string: (token, ticket, the rest).
fn split_query(query: Option<&str>) -> (Option<String>, Option<String>, Option<String>) {
    let (mut token, mut ticket) = (None, None);
    let mut kept = url::form_urlencoded::Serializer::new(String::new());
    let mut kept_any = false;
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "token" => token = Some(v.into_owned()),
            "ticket" => ticket = Some(v.into_owned()),
            _ => {
                kept.append_pair(&k, &v);
                kept_any = true;
            }
        }
    }
    (token, ticket, kept_any.then(|| kept.finish()))
}

async fn bearer_pre_auth(state: &AppState, token: String) -> PreAuth {
    match authenticate_bearer(state, &token).await {
        Ok(caller) => {
            let watch = watch_for(&caller, token);
            PreAuth::Authenticated(Box::new(caller), watch)
        }
        Err(e) => PreAuth::Failed(e.description),
    }
}

/// The token of the `Authorization` header (Bearer, or Basic with the token as the password).
fn bearer_from_header(headers: &HeaderMap) -> Option<String> {
    crate::auth::token_from_authorization(headers.get(header::AUTHORIZATION)?).ok()
}

fn watch_for(caller: &Caller, token: String) -> Watch {
    match &caller.session {
        Some(s) => Watch::Session { id: s.id.clone() },
        None => Watch::Bearer(token),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct AuthMessage {
    #[serde(rename = "type")]
    kind: String,
    pub(crate) token: String,
    #[serde(default)]
    pub(crate) mfa_code: Option<String>,
    #[serde(default)]
    pub(crate) ticket: Option<String>,
    /// A DPoP proof for the upgrade request (`GET` and its URL) when `token` is DPoP-bound
    /// (SPEC §2.16): browsers cannot set headers on a WebSocket upgrade.
    #[serde(default)]
    pub(crate) dpop: Option<String>,
}

/// The first message of a WebSocket: `{"type":"auth","token":"Bearer <t>",…}` (or `"DPoP <t>"`
/// with `"dpop": <proof>`); the token is returned without its scheme and surrounding space.
pub(crate) fn parse_auth_message(text: &str) -> Result<AuthMessage, String> {
    let mut message: AuthMessage = serde_json::from_str(text)
        .ok()
        .filter(|m: &AuthMessage| m.kind == "auth")
        .ok_or_else(|| {
            "authentication required: the first message must be {\"type\":\"auth\",\"token\":\"Bearer …\"}".to_string()
        })?;
    message.token = message
        .token
        .strip_prefix("Bearer ")
        .or_else(|| message.token.strip_prefix("DPoP "))
        .unwrap_or(&message.token)
        .trim()
        .to_string();
    Ok(message)
}

pub(super) type ClientRx = futures::stream::SplitStream<WebSocket>;
pub(super) type ClientTx = futures::stream::SplitSink<WebSocket, Message>;

/// (1) The first message must be the auth message.
async fn message_auth(
    state: &AppState,
    rx: &mut ClientRx,
    proof: &mut Proof,
    path: &str,
) -> Result<(Caller, Watch), String> {
    let first = tokio::time::timeout(AUTH_MESSAGE_TIMEOUT, rx.next())
        .await
        .map_err(|_| "authentication required: no auth message".to_string())?;
    let text = match first {
        Some(Ok(Message::Text(t))) => t,
        Some(Ok(_)) => {
            return Err(
                "authentication required: the first message must be {\"type\":\"auth\",…}".into(),
            )
        }
        _ => return Err("connection closed before authentication".into()),
    };
    let message = parse_auth_message(text.as_str())?;
    let token = message.token;
    if message.ticket.is_some() {
        proof.ticket = message.ticket;
    }
    proof.mfa_code = message.mfa_code;
    let presented = Presented {
        token: &token,
        scheme: if message.dpop.is_some() {
            Scheme::Dpop
        } else {
            Scheme::Bearer
        },
        proof: message.dpop.as_deref(),
    };
    let target = Target::own(state, &axum::http::Method::GET, path);
    let caller = authenticate_presented(state, &presented, &target)
        .await
        .map_err(|e| e.description)?;
    let watch = watch_for(&caller, token);
    Ok((caller, watch))
}

pub(super) async fn close(tx: &mut ClientTx, code: u16, reason: &str) {
    let mut end = reason.len().min(MAX_REASON);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let frame = CloseFrame {
        code,
        reason: reason.get(..end).unwrap_or_default().into(),
    };
    let _ = tx.send(Message::Close(Some(frame))).await;
    let _ = tx.close().await;
}

async fn run(socket: WebSocket, c: Connection) {
    let (mut client_tx, mut client_rx) = socket.split();
    if let OriginVerdict::Refused(why) = c.verdict {
        return close(&mut client_tx, ws::close_code::POLICY, why).await;
    }
    let mut proof = c.proof;
    let (caller, watch) = match c.pre {
        PreAuth::Authenticated(caller, watch) => (*caller, watch),
        PreAuth::Failed(why) => return close(&mut client_tx, ws::close_code::POLICY, &why).await,
        PreAuth::AwaitMessage => {
            match message_auth(&c.state, &mut client_rx, &mut proof, &c.path).await {
                Ok(found) => found,
                Err(why) => {
                    return close(&mut client_tx, ws::close_code::POLICY, &why).await;
                }
            }
        }
    };
    if let Err(e) = authorize(&c.state, &c.route, &Method::GET, &caller) {
        return close(&mut client_tx, ws::close_code::POLICY, &e.description).await;
    }
    if let Some(kind) = &c.route.lock_kind {
        let resource = c.route.resource_id(&c.path);
        if let Err(e) = lock::check(&c.state, &caller, kind, resource, &proof).await {
            return close(&mut client_tx, ws::close_code::POLICY, &e.description).await;
        }
    }
    if let Some(addr) = &c.route.tcp {
        let tunnel = super::tunnel::Tunnel {
            state: &c.state,
            route: &c.route,
            caller: &caller,
            watch: &watch,
            addr,
        };
        return tunnel.run(client_tx, client_rx).await;
    }

    let mut request = match c.upstream_url.as_str().into_client_request() {
        Ok(r) => r,
        Err(_) => return close(&mut client_tx, BAD_GATEWAY, "bad upstream address").await,
    };
    let h = request.headers_mut();
    for (name, value) in c.upstream_headers.iter() {
        h.append(name.clone(), value.clone());
    }
    for (name, value) in identity_headers(&c.state, &caller) {
        h.insert(name, value);
    }
    if !c.upstream_protocols.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&c.upstream_protocols.join(", ")) {
            h.insert(header::SEC_WEBSOCKET_PROTOCOL, v);
        }
    }
    let connector = c
        .route
        .tls
        .clone()
        .map(tokio_tungstenite::Connector::Rustls);
    let upstream = match tokio::time::timeout(
        c.route.timeout,
        tokio_tungstenite::connect_async_tls_with_config(request, None, false, connector),
    )
    .await
    {
        Ok(Ok((stream, _response))) => stream,
        Ok(Err(e)) => {
            tracing::warn!(target: "ward::proxy", route = %c.route.prefix, upstream = %c.route.upstream, error = %super::tls::error_chain(&e), "websocket upstream failed");
            return close(&mut client_tx, BAD_GATEWAY, "upstream unavailable").await;
        }
        Err(_) => {
            tracing::warn!(target: "ward::proxy", route = %c.route.prefix, "websocket upstream timed out");
            return close(&mut client_tx, BAD_GATEWAY, "upstream timed out").await;
        }
    };
    tracing::info!(target: "ward::proxy", route = %c.route.prefix, user_id = %caller.user.id, "websocket opened");
    let (mut up_tx, mut up_rx) = upstream.split();
    let mut recheck = tokio::time::interval(RECHECK);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    recheck.tick().await;
    let mut errors = 0u32;
    loop {
        tokio::select! {
            m = client_rx.next() => {
                let Some(Ok(m)) = m else { break };
                let Some(m) = to_upstream(m) else { continue };
                let closing = matches!(m, tungstenite::Message::Close(_));
                if up_tx.send(m).await.is_err() && !closing {
                    break;
                }
            }
            m = up_rx.next() => {
                let Some(Ok(m)) = m else { break };
                let Some(m) = to_client(m) else { continue };
                let closing = matches!(m, Message::Close(_));
                if client_tx.send(m).await.is_err() && !closing {
                    break;
                }
            }
            _ = recheck.tick() => {
                match still_valid(&c.state, &watch).await {
                    Ok(()) => errors = 0,
                    Err(Recheck::Revoked(why)) => {
                        tracing::info!(target: "ward::proxy", route = %c.route.prefix, user_id = %caller.user.id, reason = %why, "websocket closed: credential no longer valid");
                        let _ = up_tx.send(tungstenite::Message::Close(None)).await;
                        return close(&mut client_tx, ws::close_code::POLICY, &why).await;
                    }
                    Err(Recheck::Unavailable) => {
                        errors += 1;
                        if errors >= MAX_RECHECK_ERRORS {
                            let _ = up_tx.send(tungstenite::Message::Close(None)).await;
                            return close(&mut client_tx, ws::close_code::AGAIN, "cannot verify the session; reconnect").await;
                        }
                    }
                }
            }
        }
    }
    let _ = up_tx.close().await;
    let _ = client_tx.close().await;
}

pub(super) enum Recheck {
    Revoked(String),
    Unavailable,
}

pub(super) async fn still_valid(state: &AppState, watch: &Watch) -> Result<(), Recheck> {
    match watch {
        // The same live-session check as every request (revocation, expiry, idle time, a
        // disabled user, the MFA policy); an open connection is activity, so it is touched.
        Watch::Session { id } => match crate::auth::live_session(state, id).await {
            Ok(_) => Ok(()),
            Err(e) if e.status.is_server_error() => Err(Recheck::Unavailable),
            Err(e) => Err(Recheck::Revoked(e.description)),
        },
        // The token alone: a bound token's proof was checked when the connection opened.
        Watch::Bearer(token) => match authenticate_token(state, token).await {
            Ok(_) => Ok(()),
            Err(e) if e.status.is_server_error() => Err(Recheck::Unavailable),
            Err(_) => Err(Recheck::Revoked("credential no longer valid".into())),
        },
    }
}

fn to_upstream(m: Message) -> Option<tungstenite::Message> {
    Some(match m {
        Message::Text(t) => tungstenite::Message::Text(t.as_str().into()),
        Message::Binary(b) => tungstenite::Message::Binary(b),
        Message::Close(frame) => {
            tungstenite::Message::Close(frame.map(|f| tungstenite::protocol::CloseFrame {
                code: f.code.into(),
                reason: f.reason.as_str().into(),
            }))
        }
        // Each hop answers its own pings.
        Message::Ping(_) | Message::Pong(_) => return None,
    })
}

fn to_client(m: tungstenite::Message) -> Option<Message> {
    Some(match m {
        tungstenite::Message::Text(t) => Message::Text(t.as_str().into()),
        tungstenite::Message::Binary(b) => Message::Binary(b),
        tungstenite::Message::Close(frame) => Message::Close(frame.map(|f| CloseFrame {
            code: f.code.into(),
            reason: f.reason.as_str().into(),
        })),
        tungstenite::Message::Ping(_)
        | tungstenite::Message::Pong(_)
        | tungstenite::Message::Frame(_) => return None,
    })
}
