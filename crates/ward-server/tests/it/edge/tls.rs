//! https upstreams: a CA file, a client certificate, a wrong CA; HTTP and WebSocket.

use super::*;
use crate::on_both_backends;

/// Warnings and errors of every server in this test process, for tests that check a log line.
fn log_capture() -> std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
    static CAPTURE: std::sync::OnceLock<std::sync::Arc<std::sync::Mutex<Vec<u8>>>> =
        std::sync::OnceLock::new();
    CAPTURE
        .get_or_init(|| {
            struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
            impl std::io::Write for Sink {
                fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                    self.0.lock().unwrap().extend_from_slice(b);
                    Ok(b.len())
                }
                fn flush(&mut self) -> std::io::Result<()> {
                    Ok(())
                }
            }
            let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            let writer = buffer.clone();
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::WARN)
                .with_ansi(false)
                .with_writer(move || Sink(writer.clone()))
                .try_init()
                .expect("no other test installs a global subscriber");
            buffer
        })
        .clone()
}

/// A CA and what it signs, all generated here.
struct Pki {
    ca_cert: rcgen::Certificate,
    ca_key: rcgen::KeyPair,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let ca_cert = params.self_signed(&ca_key).unwrap();
        Pki { ca_cert, ca_key }
    }

    /// (certificate PEM, key PEM) for a server at 127.0.0.1, or a client.
    fn issue(&self, server: bool) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let names = if server {
            vec!["127.0.0.1".to_string(), "localhost".to_string()]
        } else {
            Vec::new()
        };
        let mut params = rcgen::CertificateParams::new(names).unwrap();
        params.extended_key_usages = vec![if server {
            rcgen::ExtendedKeyUsagePurpose::ServerAuth
        } else {
            rcgen::ExtendedKeyUsagePurpose::ClientAuth
        }];
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            if server { "upstream" } else { "ward" },
        );
        let cert = params.signed_by(&key, &self.ca_cert, &self.ca_key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn ca_pem(&self) -> String {
        self.ca_cert.pem()
    }
}

struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            // A refused handshake (wrong CA, no client certificate) is the test's point.
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// The echo backend over TLS with `cert`, requiring a client certificate from `client_ca`
/// when given. Returns `https://127.0.0.1:<port>`.
async fn spawn_tls_echo_backend(cert: &(String, String), client_ca: Option<&str>) -> String {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert.0.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(cert.1.as_bytes()).unwrap();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let config = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                roots.add(c.unwrap()).unwrap();
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                std::sync::Arc::new(roots),
                provider,
            )
            .build()
            .unwrap();
            builder
                .with_client_cert_verifier(verifier)
                .with_single_cert(chain, key)
                .unwrap()
        }
        None => builder
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap(),
    };
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    let listener = TlsListener {
        tcp,
        acceptor: tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)),
    };
    let app = axum::Router::new().fallback(|r: Request| echo(r, true));
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("https://127.0.0.1:{port}")
}

async fn https_upstreams_with_a_ca_file_and_a_client_certificate(b: Backend) {
    let logs = log_capture();
    let (pki, other) = (Pki::new("upstream CA"), Pki::new("some other CA"));
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, pem: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).unwrap();
        path.display().to_string()
    };
    let ca_file = write("ca.pem", &pki.ca_pem());
    let wrong_ca_file = write("wrong-ca.pem", &other.ca_pem());
    let (client_cert, client_key) = pki.issue(false);
    let (cert_file, key_file) = (
        write("client.pem", &client_cert),
        write("client.key", &client_key),
    );
    let server_cert = pki.issue(true);
    let open = spawn_tls_echo_backend(&server_cert, None).await;
    let mutual = spawn_tls_echo_backend(&server_cert, Some(&pki.ca_pem())).await;

    let s = setup_with(b, |c| {
        let tls_route = |prefix: &str, upstream: &str, ca: &str| {
            let mut r = route(prefix, upstream, "containers:read");
            r.ca_file = Some(ca.to_string());
            r.websocket = true;
            r
        };
        let mut with_cert = tls_route("/tls-mutual", &mutual, &ca_file);
        with_cert.cert_file = Some(cert_file.clone());
        with_cert.key_file = Some(key_file.clone());
        c.routes.extend([
            tls_route("/tls", &open, &ca_file),
            with_cert,
            tls_route("/tls-no-cert", &mutual, &ca_file),
            tls_route("/tls-wrong", &open, &wrong_ca_file),
        ]);
    })
    .await;
    let api = s.server.api();
    let get = |path: &str| api.get(s.server.url(path)).bearer_auth(&s.access).send();

    // HTTP over TLS, with identity headers, to the CA of ca_file.
    let r = get("/tls/x?y=1").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let seen: Value = r.json().await.unwrap();
    assert_eq!(seen["tls"], true);
    assert_eq!(seen["target"], "/tls/x?y=1");
    assert_eq!(seen["headers"]["x-ward-email"], ADMIN_EMAIL);
    // An upstream that requires a client certificate: with cert_file/key_file it answers,
    // without it refuses the handshake (502).
    let r = get("/tls-mutual/x").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["tls"], true);
    let r = get("/tls-no-cert/x").await.unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::BAD_GATEWAY, "upstream_unavailable".into())
    );
    // The wrong CA: 502 and a log line that says why.
    let r = get("/tls-wrong/x").await.unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::BAD_GATEWAY, "upstream_unavailable".into())
    );
    let logged = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    let line = logged
        .lines()
        .find(|l| l.contains("route=/tls-wrong") && l.contains("upstream TLS connection failed"))
        .unwrap_or_else(|| panic!("no log line for /tls-wrong in:\n{logged}"));
    assert!(
        line.contains("invalid peer certificate") && line.contains("UnknownIssuer"),
        "{line}"
    );

    // WebSocket over TLS (wss://), plain and with the client certificate.
    for path in ["/tls/term", "/tls-mutual/term"] {
        let url = format!(
            "{}?token={}",
            s.server.url(path).replacen("http://", "ws://", 1),
            s.access
        );
        let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .unwrap();
        let hello = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let Message::Text(text) = hello else {
            panic!("{path}: expected the upstream's hello, got {hello:?}")
        };
        let hello: Value = serde_json::from_str(text.as_str()).unwrap();
        assert_eq!(hello["tls"], true, "{path}");
        assert_eq!(hello["target"], path);
        futures::SinkExt::send(&mut ws, Message::text("over tls"))
            .await
            .unwrap();
        let echoed = ws.next().await.unwrap().unwrap();
        assert_eq!(echoed, Message::text("over tls"));
    }
}

on_both_backends!(https_upstreams_with_a_ca_file_and_a_client_certificate,);
