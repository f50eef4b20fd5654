//! `ward tunnel ROUTE`: standard input and output over a TCP route's WebSocket (SPEC §2.17), for
//! ssh's `ProxyCommand` (`ssh -o ProxyCommand='ward tunnel /tcp/db-1' host`). Authenticates with
//! the profile's access token on the upgrade request (signed with the profile's DPoP key when
//! the session is bound); a refusal or a revocation arrives as a
//! WebSocket close with its reason, printed as `Error: …`. At the end of standard input it
//! sends an empty binary message (ward half-closes the TCP connection) and exits when the
//! upstream closes.

use clap::Args;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use super::{CliError, CliResult, Ctx};

#[derive(Args, Debug)]
pub struct TunnelArgs {
    /// The route's path on the server, e.g. /tcp/ssh (a full ws:// or http(s):// URL also works).
    pub route: String,
    /// A ticket for a locked resource (from `ward verify`).
    #[arg(long)]
    pub ticket: Option<String>,
}

/// The WebSocket URL of `route` on the profile's server.
fn tunnel_url(base: &url::Url, route: &str) -> CliResult<url::Url> {
    let mut url = if route.contains("://") {
        url::Url::parse(route)
            .map_err(|e| CliError::usage(format!("{route:?} is not a URL: {e}")))?
    } else if route.starts_with('/') {
        base.join(route)
            .map_err(|e| CliError::usage(format!("{route:?} is not a path: {e}")))?
    } else {
        return Err(CliError::usage(format!(
            "{route:?} is not a route: give its path on the server, such as /tcp/ssh"
        )));
    };
    let scheme = match url.scheme() {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        other => {
            return Err(CliError::usage(format!(
                "unsupported scheme {other:?}: use the server's http(s) URL"
            )))
        }
    };
    let _ = url.set_scheme(scheme);
    Ok(url)
}

pub async fn run(ctx: &Ctx, args: TunnelArgs) -> CliResult {
    let client = ctx.client();
    let alias = if client.has_token_override() {
        "default".to_owned()
    } else {
        client.resolve_alias(ctx.global.profile.as_deref())?
    };
    let base = client.resolve_url(&alias, ctx.global.url.as_deref())?;
    let url = tunnel_url(&base, &args.route)?;
    let token = client.access_token(&alias).await?;
    let upgrade = || -> CliResult<_> {
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| CliError::new(format!("cannot build the tunnel request: {e}")))?;
        let headers = request.headers_mut();
        // A DPoP-bound session (ward-cli's default) signs the upgrade like any other request.
        for (name, value) in client.authorization_headers("GET", &url, &token)? {
            let value = HeaderValue::from_str(&value)
                .map_err(|_| CliError::new("the access token is not a valid header value"))?;
            headers.insert(name, value);
        }
        if let Some(t) = &args.ticket {
            let v =
                HeaderValue::from_str(t).map_err(|_| CliError::usage("--ticket is not valid"))?;
            headers.insert("x-ward-ticket", v);
        }
        Ok(request)
    };
    let mut connected = tokio_tungstenite::connect_async(upgrade()?).await;
    // A server that requires DPoP nonces asks for one (RFC 9449 §9): once more with it.
    if let Err(tokio_tungstenite::tungstenite::Error::Http(response)) = &connected {
        let nonce = response
            .headers()
            .get("dpop-nonce")
            .and_then(|v| v.to_str().ok());
        if token.dpop.is_some() && client.remember_dpop_nonce(&url, nonce) {
            connected = tokio_tungstenite::connect_async(upgrade()?).await;
        }
    }
    let (socket, _) =
        connected.map_err(|e| CliError::new(format!("cannot open the tunnel {url}: {e}")))?;
    let (mut tx, mut rx) = socket.split();
    let upload = async {
        let mut stdin = tokio::io::stdin();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = stdin.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                // End of input: an empty binary message asks ward to half-close the TCP
                // connection; what the upstream still sends keeps coming until it closes.
                let _ = tx.send(Message::Binary(Vec::new().into())).await;
                return;
            }
            let chunk = buf.get(..n).unwrap_or_default().to_vec();
            if tx.send(Message::Binary(chunk.into())).await.is_err() {
                return;
            }
        }
    };
    let download = async {
        let mut stdout = tokio::io::stdout();
        while let Some(m) = rx.next().await {
            match m {
                Ok(Message::Binary(b)) => {
                    if stdout.write_all(&b).await.is_err() || stdout.flush().await.is_err() {
                        return Ok(());
                    }
                }
                Ok(Message::Text(t)) => {
                    let _ = stdout.write_all(t.as_bytes()).await;
                    let _ = stdout.flush().await;
                }
                Ok(Message::Close(Some(frame)))
                    if frame.code != CloseCode::Normal && frame.code != CloseCode::Away =>
                {
                    return Err(CliError::new(format!(
                        "the tunnel was closed: {}",
                        if frame.reason.is_empty() {
                            format!("code {}", u16::from(frame.code))
                        } else {
                            frame.reason.to_string()
                        }
                    )));
                }
                Ok(Message::Close(_)) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(CliError::new(format!("the tunnel failed: {e}"))),
            }
        }
        Ok(())
    };
    tokio::pin!(upload);
    tokio::pin!(download);
    tokio::select! {
        r = &mut download => r,
        () = &mut upload => download.await,
    }
}
