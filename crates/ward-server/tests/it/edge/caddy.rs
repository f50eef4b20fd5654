//! Forward-auth behind a real Caddy (Debian's `caddy`), with docs/proxy.md's Caddyfile:
//! identity headers copied, spoofed ones removed, route permissions and locks enforced on the
//! normalised path, exactly as behind nginx.

use super::*;
use crate::on_both_backends;

fn caddy_binary() -> std::path::PathBuf {
    ["/usr/bin/caddy", "/usr/local/bin/caddy"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())
        .expect("caddy is installed (bash .ci/packages.sh)")
}

struct Caddy {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Caddy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// docs/proxy.md's site block, with the addresses filled in.
pub fn caddy_site(ward: &str, backend: &str) -> String {
    let ward = ward.trim_start_matches("http://");
    let backend = backend.trim_start_matches("http://");
    format!(
        r#"
    route {{
        # Whatever the client sent in ward's name never reaches the backend.
        request_header -X-Ward-*
        forward_auth {ward} {{
            uri /api/auth/validate
            copy_headers X-Ward-User-Id X-Ward-Email X-Ward-Roles X-Ward-Session-Id X-Ward-Scopes X-Ward-Credential X-Ward-Client-Id
        }}
        reverse_proxy {backend} {{
            # The backend never sees the credential.
            header_up -Authorization
        }}
    }}
"#
    )
}

/// Caddy on 127.0.0.1 with `site` as its only site, without its admin API or automatic HTTPS.
async fn start_caddy(site: &str) -> Caddy {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let d = dir.path().display();
    let conf = format!(
        "{{\n    admin off\n    auto_https off\n    storage file_system {d}/data\n}}\nhttp://127.0.0.1:{port} {{\n{site}\n}}\n"
    );
    let file = dir.path().join("Caddyfile");
    std::fs::write(&file, conf).unwrap();
    let child = std::process::Command::new(caddy_binary())
        .arg("run")
        .arg("--adapter")
        .arg("caddyfile")
        .arg("--config")
        .arg(&file)
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("caddy.log")).unwrap())
        .spawn()
        .expect("caddy starts");
    let caddy = Caddy {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        let log = std::fs::read_to_string(caddy._dir.path().join("caddy.log")).unwrap_or_default();
        assert!(Instant::now() < deadline, "caddy did not start: {log}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    caddy
}

async fn forward_auth_behind_caddy_enforces_permissions_and_locks(b: Backend) {
    let s = setup_with(b, |_| {}).await;
    let caddy = start_caddy(&caddy_site(&s.server.url, &s.backend)).await;
    let bearer = format!("Bearer {}", s.access);
    let auth = [("Authorization", bearer.as_str())];

    // No credential, or a bad one: 401 from ward, passed on by Caddy.
    let r = raw_request(&caddy.url, "GET", "/api/containers/c1", &[]).await;
    assert_eq!(r.status, 401, "{}", r.body);
    let r = raw_request(
        &caddy.url,
        "GET",
        "/api/containers/c1",
        &[("Authorization", "Bearer ward_bogus")],
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.body);

    // The identity reaches the backend; the spoofed headers and the credential do not.
    let r = raw_request(
        &caddy.url,
        "GET",
        "/api/containers/c1?all=1",
        &[
            ("Authorization", bearer.as_str()),
            ("X-Ward-Email", "root@evil.example"),
            ("X-Ward-Roles", "ops"),
            ("X-Ward-Mfa-Ticket", "forged"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = r.json();
    assert_eq!(seen["target"], "/api/containers/c1?all=1");
    assert_eq!(seen["headers"]["x-ward-email"], ADMIN_EMAIL);
    assert_eq!(seen["headers"]["x-ward-roles"], "admin");
    assert_eq!(seen["headers"]["x-ward-credential"], "session");
    assert!(seen["headers"]["x-ward-session-id"].is_string(), "{seen}");
    assert!(seen["headers"].get("x-ward-mfa-ticket").is_none(), "{seen}");
    assert!(seen["headers"].get("authorization").is_none(), "{seen}");

    // Route permissions, whatever the spelling of the path.
    for target in [
        "/api/containers/c1",
        "/api/%63ontainers/c1",
        "/api/containers/./c1",
    ] {
        let r = raw_request(&caddy.url, "DELETE", target, &auth).await;
        assert_eq!(r.status, 403, "DELETE {target}: {}", r.body);
    }
    // The terminal's lock, whatever the spelling.
    lock_terminal_t1(&s).await;
    for target in [
        "/api/terminal/t1",
        "/api/termin%61l/t1",
        "/api/terminal/./t1",
    ] {
        let r = raw_request(&caddy.url, "GET", target, &auth).await;
        assert_eq!(r.status, 403, "GET {target}: {}", r.body);
    }
    let r = raw_request(&caddy.url, "GET", "/api/terminal/t2", &auth).await;
    assert_eq!(r.status, 200, "an unlocked terminal: {}", r.body);
    // A path no route describes, and one ward refuses to interpret.
    for target in ["/elsewhere", "/api/containers/a%2Fb"] {
        let r = raw_request(&caddy.url, "GET", target, &auth).await;
        assert_eq!(r.status, 403, "GET {target}: {}", r.body);
    }
    // A foreign origin is refused as behind nginx.
    let r = raw_request(
        &caddy.url,
        "GET",
        "/api/containers/c1",
        &[
            ("Authorization", bearer.as_str()),
            ("Origin", "https://evil.example"),
        ],
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
}

on_both_backends!(forward_auth_behind_caddy_enforces_permissions_and_locks);
