//! The authorization code flow with PKCE and a loopback redirect (RFC 6749 §4.1, RFC 7636,
//! RFC 8252 §7.3). The callback server answers exactly one request shape; the user may instead
//! paste the final redirect URL (for a browser on another machine).

use std::time::Duration;

use base64::Engine;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use url::Url;

use crate::error::{Error, Kind, Result};
use crate::progress::{Event, Progress};
use crate::random;
use crate::Secret;

/// A PKCE verifier and its S256 challenge.
#[derive(Debug, Clone)]
pub struct Pkce {
    /// 43 characters of base64url (RFC 7636 §4.1: 32 random octets).
    pub verifier: Secret,
    /// `BASE64URL(SHA256(verifier))` (RFC 7636 §4.2).
    pub challenge: String,
}

impl Pkce {
    /// A fresh pair.
    pub fn generate() -> Self {
        Self::from_verifier(random::token(32))
    }

    /// The pair for a given verifier.
    pub fn from_verifier(verifier: String) -> Self {
        let digest = Sha256::digest(verifier.as_bytes());
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
        Self {
            verifier: Secret::new(verifier),
            challenge,
        }
    }
}

/// What a redirect to the callback carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackOutcome {
    /// An authorization code with the expected state.
    Code(String),
    /// The server reported an error (`access_denied`, …) with the expected state.
    Denied {
        /// `error`.
        error: String,
        /// `error_description`.
        description: Option<String>,
    },
    /// The state did not match: ignore it (CSRF or a stale tab).
    StateMismatch,
    /// The `iss` parameter named another authorization server (RFC 9207): ignore it.
    IssuerMismatch,
    /// Not a callback (wrong path, no code, favicon).
    NotACallback,
}

/// What a redirect must carry to belong to this login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackCheck {
    /// The `state` sent (RFC 6749 §10.12).
    pub state: String,
    /// The authorization server's issuer, when known (RFC 9207 mix-up defense).
    pub issuer: Option<String>,
    /// Whether the server promised to send `iss` (`authorization_response_iss_parameter_supported`).
    pub issuer_required: bool,
}

impl CallbackCheck {
    /// A check of `state` only.
    pub fn state(state: impl Into<String>) -> Self {
        Self {
            state: state.into(),
            issuer: None,
            issuer_required: false,
        }
    }

    /// Classifies a redirect URL or request target.
    pub fn classify(&self, target: &str) -> CallbackOutcome {
        let outcome = parse_callback(target, &self.state);
        if matches!(
            outcome,
            CallbackOutcome::NotACallback | CallbackOutcome::StateMismatch
        ) {
            return outcome;
        }
        // RFC 9207 §2.4: compare `iss` with the issuer the request was sent to.
        let iss = query_value(target, "iss");
        match (&self.issuer, iss) {
            (Some(expected), Some(got))
                if got.trim_end_matches('/') != expected.trim_end_matches('/') =>
            {
                CallbackOutcome::IssuerMismatch
            }
            // A missing `iss` is fatal only for a code: a bare error response can at worst end
            // this login, which the user can retry.
            (Some(_), None)
                if self.issuer_required && matches!(outcome, CallbackOutcome::Code(_)) =>
            {
                CallbackOutcome::IssuerMismatch
            }
            _ => outcome,
        }
    }
}

fn callback_url(target: &str) -> Option<Url> {
    if target.starts_with('/') {
        Url::parse(&format!("http://127.0.0.1{target}")).ok()
    } else {
        Url::parse(target.trim()).ok()
    }
}

fn query_value(target: &str, name: &str) -> Option<String> {
    callback_url(target)?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Classifies a redirect URL (or a request target `/callback?…`) against the expected state.
pub fn parse_callback(target: &str, expected_state: &str) -> CallbackOutcome {
    let Some(url) = callback_url(target) else {
        return CallbackOutcome::NotACallback;
    };
    if url.path() != "/callback" {
        return CallbackOutcome::NotACallback;
    }
    let mut code = None;
    let mut state = None;
    let mut error = None;
    let mut description = None;
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "code" => code = Some(v.into_owned()),
            "state" => state = Some(v.into_owned()),
            "error" => error = Some(v.into_owned()),
            "error_description" => description = Some(v.into_owned()),
            _ => {}
        }
    }
    if code.is_none() && error.is_none() {
        return CallbackOutcome::NotACallback;
    }
    // RFC 6749 §10.12: the state binds the response to this request.
    if state.as_deref() != Some(expected_state) {
        return CallbackOutcome::StateMismatch;
    }
    match (code, error) {
        (_, Some(error)) => CallbackOutcome::Denied { error, description },
        (Some(code), None) => CallbackOutcome::Code(code),
        (None, None) => CallbackOutcome::NotACallback,
    }
}

/// A bound loopback listener.
#[derive(Debug)]
pub struct Loopback {
    listener: TcpListener,
    port: u16,
}

impl Loopback {
    /// Binds `127.0.0.1:port`; when it is taken, any free port (reported as
    /// [`Event::PortFallback`]). Port 0 means any free port.
    ///
    /// # Errors
    /// A bind error when no loopback port can be had.
    pub async fn bind(port: u16, progress: &dyn Progress) -> Result<Self> {
        match TcpListener::bind(("127.0.0.1", port)).await {
            Ok(l) => Self::from_listener(l),
            Err(first) if port != 0 => {
                let l = TcpListener::bind(("127.0.0.1", 0)).await.map_err(|e| {
                    Error::new(
                        Kind::Bind,
                        format!("cannot listen on 127.0.0.1:{port} ({first}) nor on any port: {e}"),
                    )
                })?;
                let me = Self::from_listener(l)?;
                progress.report(&Event::PortFallback {
                    wanted: port,
                    port: me.port,
                });
                Ok(me)
            }
            Err(e) => Err(Error::new(
                Kind::Bind,
                format!("cannot listen on a loopback port: {e}"),
            )),
        }
    }

    fn from_listener(listener: TcpListener) -> Result<Self> {
        let port = listener
            .local_addr()
            .map_err(|e| Error::new(Kind::Bind, format!("loopback listener: {e}")))?
            .port();
        Ok(Self { listener, port })
    }

    /// The port in use.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT/callback`.
    pub fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}/callback", self.port)
    }

    /// Waits for the redirect carrying `state`, from the browser or pasted into `paste`, until
    /// `timeout`. The browser is answered with a 303 to `success_url`.
    ///
    /// # Errors
    /// Timeout, access denied, or an I/O error of the listener.
    ///
    /// # Cancel safety
    /// Dropping the future closes nothing but this wait; the listener stays bound until dropped.
    pub async fn wait_for_code(
        &self,
        check: &CallbackCheck,
        success_url: &str,
        mut paste: Option<&mut mpsc::UnboundedReceiver<String>>,
        timeout: Duration,
        progress: &dyn Progress,
    ) -> Result<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        // Each connection is served on its own task: a browser's idle pre-connection must not
        // hold up the real redirect.
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Result<String>>();
        loop {
            let pasted = async {
                match paste.as_deref_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                accepted = self.listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let (tx, check, success) = (done_tx.clone(), check.clone(), success_url.to_owned());
                    tokio::spawn(async move {
                        if let Some(result) = handle_connection(stream, &check, &success).await {
                            let _ = tx.send(result);
                        }
                    });
                }
                Some(result) = done_rx.recv() => return result,
                line = pasted => {
                    match line {
                        None => { paste = None; }
                        Some(line) => {
                            let line = line.trim();
                            if line.is_empty() { continue; }
                            let reason = match check.classify(line) {
                                CallbackOutcome::Code(code) => return Ok(code),
                                CallbackOutcome::Denied { error, description } => {
                                    return Err(denied(&error, description.as_deref()));
                                }
                                CallbackOutcome::StateMismatch => "the state in that URL does not match this login",
                                CallbackOutcome::IssuerMismatch => "that URL comes from another server (iss mismatch)",
                                CallbackOutcome::NotACallback => "expected the full URL the browser ended on (http://127.0.0.1:…/callback?code=…&state=…)",
                            };
                            progress.report(&Event::PasteRejected { reason: reason.into() });
                        }
                    }
                }
                () = tokio::time::sleep_until(deadline) => {
                    return Err(Error::new(
                        Kind::Timeout,
                        format!("timed out after {} waiting for the browser sign-in", humantime::format_duration(timeout)),
                    ));
                }
            }
        }
    }
}

fn denied(error: &str, description: Option<&str>) -> Error {
    let text = description.map_or_else(|| error.to_owned(), |d| format!("{d} ({error})"));
    let kind = if error == "access_denied" {
        Kind::AccessDenied
    } else {
        Kind::Server
    };
    Error::new(kind, format!("sign-in was not completed: {text}"))
}

/// Serves one HTTP request on the loopback; `Some` when it ended the wait.
async fn handle_connection(
    mut stream: TcpStream,
    check: &CallbackCheck,
    success_url: &str,
) -> Option<Result<String>> {
    let mut buf = Vec::with_capacity(1024);
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        let mut chunk = [0u8; 1024];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            }
        }
    })
    .await;
    if read.is_err() {
        return None;
    }
    let head = String::from_utf8_lossy(&buf);
    let mut parts = head.lines().next().unwrap_or_default().split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method != "GET" {
        respond(
            &mut stream,
            "405 Method Not Allowed",
            None,
            "Method not allowed",
        )
        .await;
        return None;
    }
    match check.classify(target) {
        CallbackOutcome::Code(code) => {
            respond(
                &mut stream,
                "303 See Other",
                Some(success_url),
                "Login Successful!",
            )
            .await;
            Some(Ok(code))
        }
        CallbackOutcome::Denied { error, description } => {
            respond(
                &mut stream,
                "200 OK",
                None,
                "Sign-in was not completed. You can close this window and return to the terminal.",
            )
            .await;
            Some(Err(denied(&error, description.as_deref())))
        }
        CallbackOutcome::StateMismatch | CallbackOutcome::IssuerMismatch => {
            respond(
                &mut stream,
                "400 Bad Request",
                None,
                "This sign-in response does not belong to the waiting login.",
            )
            .await;
            None
        }
        CallbackOutcome::NotACallback => {
            respond(&mut stream, "404 Not Found", None, "Not found").await;
            None
        }
    }
}

async fn respond(stream: &mut TcpStream, status: &str, location: Option<&str>, text: &str) {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{text}</title></head><body><p>{text}</p></body></html>"
    );
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(loc) = location {
        head.push_str(&format!("Location: {loc}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// The browser entry URL: `<server>/cli-login?response_type=code&…`.
#[derive(Debug, Clone)]
pub struct AuthorizeRequest<'a> {
    /// `<server>/cli-login`.
    pub cli_login: &'a Url,
    /// OAuth client id.
    pub client_id: &'a str,
    /// Loopback redirect.
    pub redirect_uri: &'a str,
    /// S256 challenge.
    pub code_challenge: &'a str,
    /// CSRF state.
    pub state: &'a str,
    /// Scopes.
    pub scope: &'a str,
    /// `login_hint`.
    pub login_hint: Option<&'a str>,
    /// Device id.
    pub device_id: &'a str,
    /// Device name.
    pub device_name: &'a str,
}

impl AuthorizeRequest<'_> {
    /// The URL to open.
    pub fn url(&self) -> Url {
        let mut u = self.cli_login.clone();
        {
            let mut q = u.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", self.client_id)
                .append_pair("redirect_uri", self.redirect_uri)
                .append_pair("code_challenge", self.code_challenge)
                .append_pair("code_challenge_method", "S256")
                .append_pair("state", self.state)
                .append_pair("scope", self.scope);
            if let Some(h) = self.login_hint {
                q.append_pair("login_hint", h);
            }
            q.append_pair("device_id", self.device_id)
                .append_pair("device_name", self.device_name);
        }
        u
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;

    #[test]
    fn rfc7636_appendix_b_vector() {
        let p = Pkce::from_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into());
        assert_eq!(p.challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        assert_eq!(Pkce::generate().verifier.expose().len(), 43);
    }

    #[test]
    fn callback_classification() {
        assert_eq!(
            parse_callback("/callback?code=abc&state=s1", "s1"),
            CallbackOutcome::Code("abc".into())
        );
        assert_eq!(
            parse_callback("http://127.0.0.1:9876/callback?code=abc&state=s1", "s1"),
            CallbackOutcome::Code("abc".into())
        );
        assert_eq!(
            parse_callback("/callback?code=abc&state=other", "s1"),
            CallbackOutcome::StateMismatch
        );
        assert_eq!(
            parse_callback("/callback?code=abc", "s1"),
            CallbackOutcome::StateMismatch
        );
        assert_eq!(
            parse_callback("/callback?error=access_denied&state=s1", "s1"),
            CallbackOutcome::Denied {
                error: "access_denied".into(),
                description: None
            }
        );
        assert_eq!(
            parse_callback("/favicon.ico", "s1"),
            CallbackOutcome::NotACallback
        );
        assert_eq!(
            parse_callback("garbage", "s1"),
            CallbackOutcome::NotACallback
        );
    }

    #[tokio::test]
    async fn loopback_answers_303_and_falls_back_when_port_taken() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let taken = held.local_addr().unwrap().port();
        let events = std::sync::Mutex::new(Vec::new());
        let progress = |e: &Event| events.lock().unwrap().push(e.clone());
        let lb = Loopback::bind(taken, &progress).await.unwrap();
        assert_ne!(lb.port(), taken);
        assert!(matches!(
            events.lock().unwrap()[0],
            Event::PortFallback { wanted, .. } if wanted == taken
        ));
        let port = lb.port();
        let browser = tokio::spawn(async move {
            let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            s.write_all(b"GET /callback?code=c0de&state=st HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        });
        let code = lb
            .wait_for_code(
                &CallbackCheck::state("st"),
                "http://srv/cli-login/success",
                None,
                Duration::from_secs(5),
                &Silent,
            )
            .await
            .unwrap();
        assert_eq!(code, "c0de");
        let answer = browser.await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 303"));
        assert!(answer.contains("Location: http://srv/cli-login/success"));
    }

    #[tokio::test]
    async fn pasted_url_is_accepted_and_wrong_state_rejected() {
        let lb = Loopback::bind(0, &Silent).await.unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        tx.send("not a url".into()).unwrap();
        tx.send("http://127.0.0.1:1/callback?code=x&state=wrong".into())
            .unwrap();
        tx.send("http://127.0.0.1:1/callback?code=good&state=st".into())
            .unwrap();
        let rejected = std::sync::Mutex::new(0);
        let progress = |e: &Event| {
            if matches!(e, Event::PasteRejected { .. }) {
                *rejected.lock().unwrap() += 1;
            }
        };
        let code = lb
            .wait_for_code(
                &CallbackCheck::state("st"),
                "http://srv/",
                Some(&mut rx),
                Duration::from_secs(5),
                &progress,
            )
            .await
            .unwrap();
        assert_eq!(code, "good");
        assert_eq!(*rejected.lock().unwrap(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn times_out() {
        let lb = Loopback::bind(0, &Silent).await.unwrap();
        let err = lb
            .wait_for_code(
                &CallbackCheck::state("st"),
                "http://srv/",
                None,
                Duration::from_secs(300),
                &Silent,
            )
            .await
            .unwrap_err();
        assert!(err.is_timeout());
    }

    #[test]
    fn issuer_is_checked_when_known() {
        let check = CallbackCheck {
            state: "s1".into(),
            issuer: Some("http://127.0.0.1:8080".into()),
            issuer_required: true,
        };
        assert_eq!(
            check.classify("/callback?code=c&state=s1&iss=http%3A%2F%2F127.0.0.1%3A8080"),
            CallbackOutcome::Code("c".into())
        );
        assert_eq!(
            check.classify("/callback?code=c&state=s1&iss=https%3A%2F%2Fevil.example"),
            CallbackOutcome::IssuerMismatch
        );
        assert_eq!(
            check.classify("/callback?code=c&state=s1"),
            CallbackOutcome::IssuerMismatch
        );
        assert_eq!(
            check.classify("/callback?code=c&state=s2&iss=x"),
            CallbackOutcome::StateMismatch
        );
        assert!(matches!(
            check.classify("/callback?error=access_denied&state=s1"),
            CallbackOutcome::Denied { .. }
        ));
        let lenient = CallbackCheck {
            issuer_required: false,
            ..check
        };
        assert_eq!(
            lenient.classify("/callback?code=c&state=s1"),
            CallbackOutcome::Code("c".into())
        );
    }

    #[test]
    fn authorize_url_has_all_parameters() {
        let base = Url::parse("http://127.0.0.1:8080/cli-login").unwrap();
        let u = AuthorizeRequest {
            cli_login: &base,
            client_id: "ward-cli",
            redirect_uri: "http://127.0.0.1:9876/callback",
            code_challenge: "ch",
            state: "st",
            scope: "openid offline_access",
            login_hint: Some("a@b.c"),
            device_id: "dev",
            device_name: "host",
        }
        .url();
        let q: std::collections::HashMap<_, _> = u.query_pairs().into_owned().collect();
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["redirect_uri"], "http://127.0.0.1:9876/callback");
        assert_eq!(q["login_hint"], "a@b.c");
        assert_eq!(q["scope"], "openid offline_access");
    }
}
