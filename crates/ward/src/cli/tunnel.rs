//! `ward tunnel ROUTE`: standard input and output over a TCP route's WebSocket (SPEC §2.17), for
//! ssh's `ProxyCommand` (`ssh -o ProxyCommand='ward tunnel /tcp/db-1' host`). Authenticates with
//! the profile's access token on the upgrade request (signed with the profile's DPoP key when
//! the session is bound); a refusal or a revocation arrives as a
//! WebSocket close with its reason, printed as `Error: …`. At the end of standard input it
//! sends an empty binary message (ward half-closes the TCP connection) and exits when the
//! upstream closes.

use clap::Args;
use futures::{SinkExt, StreamExt};
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
    // Standard input and output are read and written by threads of their own (blocking calls,
    // no per-message hand-off to tokio's blocking pool and no copy): see `stdin_chunks` and
    // `stdout_writer`.
    let mut input = stdin_chunks();
    let (output, writer) = stdout_writer();
    let upload = async {
        while let Some(chunk) = input.recv().await {
            // An empty chunk is the end of input: an empty binary message asks ward to
            // half-close the TCP connection; what the upstream still sends keeps coming until
            // it closes.
            let end = chunk.is_empty();
            if tx.send(Message::Binary(chunk.into())).await.is_err() || end {
                return;
            }
        }
    };
    let download = async move {
        while let Some(m) = rx.next().await {
            match m {
                Ok(Message::Binary(b)) => {
                    if output.send(b).await.is_err() {
                        return Ok(());
                    }
                }
                Ok(Message::Text(t)) => {
                    let b = tokio_tungstenite::tungstenite::Bytes::copy_from_slice(t.as_bytes());
                    if output.send(b).await.is_err() {
                        return Ok(());
                    }
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
    let result = {
        tokio::pin!(upload);
        tokio::pin!(download);
        tokio::select! {
            r = &mut download => r,
            () = &mut upload => download.await,
        }
    };
    // The sender went with `download`: everything received is written out before the process
    // ends.
    let _ = tokio::task::spawn_blocking(move || writer.join()).await;
    result
}

/// Bytes per message at most: reads are sent as they come while the connection keeps up, and
/// gathered up to this size while it is busy (fewer, larger messages under load; no delay for
/// an interactive session).
const CHUNK: usize = 1024 * 1024;

/// Reads standard input on a thread of its own; an empty chunk marks its end. The thread is not
/// joined: a read may block until the process exits.
fn stdin_chunks() -> tokio::sync::mpsc::Receiver<Vec<u8>> {
    use std::io::Read;
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        // Zeroed once per chunk (a safe `read` needs initialised memory), not once per read:
        // resizing before every read of a pipe's 64 KiB wrote about 8 MiB of zeros per MiB
        // gathered.
        let mut buf = vec![0u8; CHUNK];
        let mut filled = 0;
        loop {
            let n = loop {
                match stdin.read(buf.get_mut(filled..).unwrap_or_default()) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Ok(n) => break n,
                    Err(_) => break 0,
                }
            };
            filled += n;
            // Send now when the connection is waiting for data; keep gathering while it is
            // busy, up to a full chunk. At the end of input, what is left, then an empty chunk.
            if n == 0 || tx.capacity() > 0 || filled >= CHUNK {
                let next = if n == 0 { Vec::new() } else { vec![0u8; CHUNK] };
                let mut chunk = std::mem::replace(&mut buf, next);
                chunk.truncate(filled);
                filled = 0;
                if !chunk.is_empty() && tx.blocking_send(chunk).is_err() {
                    return;
                }
            }
            if n == 0 {
                let _ = tx.blocking_send(Vec::new());
                return;
            }
        }
    });
    rx
}

type Chunk = tokio_tungstenite::tungstenite::Bytes;

/// Writes what the tunnel receives to standard output on a thread of its own, flushing when no
/// more is waiting; join the thread after dropping the sender.
fn stdout_writer() -> (
    tokio::sync::mpsc::Sender<Chunk>,
    std::thread::JoinHandle<()>,
) {
    use std::io::Write;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Chunk>(8);
    let writer = std::thread::spawn(move || {
        let mut stdout = raw_stdout();
        while let Some(chunk) = rx.blocking_recv() {
            if stdout.write_all(&chunk).is_err() {
                return;
            }
            if rx.is_empty() && stdout.flush().is_err() {
                return;
            }
        }
        let _ = stdout.flush();
    });
    (tx, writer)
}

/// Standard output without Rust's `LineWriter`: a duplicate of file descriptor 1 as a `File`.
/// `Stdout` looks for the last newline in every write (a `memrchr` over each megabyte the
/// tunnel delivers, 6 % of the CPU of a download in `perf`); a tunnel carries bytes, not lines,
/// and the writer flushes nothing it holds back. Falls back to `Stdout` if fd 1 cannot be
/// duplicated.
fn raw_stdout() -> Box<dyn std::io::Write> {
    use std::os::fd::AsFd;
    let stdout = std::io::stdout();
    match stdout.as_fd().try_clone_to_owned() {
        Ok(fd) => Box::new(std::fs::File::from(fd)),
        Err(_) => Box::new(stdout.lock()),
    }
}
