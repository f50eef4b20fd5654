//! Proxy benchmark (not a test): wrk against the example backend directly and through ward's
//! proxy, same run, same concurrency. Run it with a release build:
//!
//! ```text
//! cargo run --release -p ward-server --example proxy_bench -- [SECONDS] [CONNECTIONS] [THREADS]
//! ```
//!
//! ward runs as it does in production (SQLite, system clock, request logging to a file at
//! `info`) with one `[[routes]]` entry. Two credentials of the bootstrap admin are measured, each
//! checked on every request: an API token made through `POST /api/tokens` (checksum, hash
//! lookup, owner's role ∩ scopes) and a JWT access token (signature, session row, user row). The
//! backend runs in its own runtime; wrk is a separate process.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::field_reassign_with_default
)]

use std::process::Command;

/// The allocator the `ward` binary uses, so the proxy is measured as it runs in production.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;

use ward_core::clock::SystemClock;
use ward_core::model::Channel;
use ward_core::random::OsRandom;
use ward_core::Clock;
use ward_server::config::RawConfig;
use ward_server::issue::{start_token_session, SessionRequest};
use ward_server::proxy::config::RawRoute;

struct WrkResult {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn parse_ms(s: &str) -> f64 {
    let s = s.trim();
    if let Some(v) = s.strip_suffix("us") {
        v.parse::<f64>().unwrap() / 1000.0
    } else if let Some(v) = s.strip_suffix("ms") {
        v.parse().unwrap()
    } else if let Some(v) = s.strip_suffix('s') {
        v.parse::<f64>().unwrap() * 1000.0
    } else {
        panic!("unknown latency {s}")
    }
}

fn wrk(url: &str, header: Option<&str>, secs: u32, conns: u32, threads: u32) -> WrkResult {
    let mut cmd = Command::new("wrk");
    cmd.arg(format!("-t{threads}"))
        .arg(format!("-c{conns}"))
        .arg(format!("-d{secs}s"))
        .arg("--latency");
    if let Some(h) = header {
        cmd.arg("-H").arg(h);
    }
    cmd.arg(url);
    let out = cmd.output().expect("wrk runs (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut rps = 0.0;
    let (mut p50, mut p99) = (0.0, 0.0);
    for line in text.lines() {
        let t = line.trim();
        if let Some(v) = t.strip_prefix("Requests/sec:") {
            rps = v.trim().parse().unwrap();
        } else if let Some(v) = t.strip_prefix("50%") {
            p50 = parse_ms(v);
        } else if let Some(v) = t.strip_prefix("99%") {
            p99 = parse_ms(v);
        } else if t.starts_with("Non-2xx") {
            panic!("wrk saw errors: {t}\n{text}");
        }
    }
    WrkResult {
        rps,
        p50_ms: p50,
        p99_ms: p99,
    }
}

/// CPU time (user + system, in clock ticks of 10 ms) spent so far by this process's threads
/// named `name`: read from `/proc/self/task/*/stat`, so the cost per request can be told apart
/// from throughput, which the machine's other load also moves.
fn thread_cpu_ticks(name: &str) -> u64 {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state …`: fields after the closing parenthesis; utime and stime are the
        // 14th and 15th fields of the whole line.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        if !head.ends_with(&format!("({name}")) {
            continue;
        }
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let tick = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        total += tick(11) + tick(12);
    }
    total
}

fn main() {
    let args: Vec<u32> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers"))
        .collect();
    let secs = args.first().copied().unwrap_or(10);
    let conns = args.get(1).copied().unwrap_or(32);
    let threads = args.get(2).copied().unwrap_or(1);

    // The backend in its own runtime, as it would be its own process.
    let backend_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("backend")
        .enable_all()
        .build()
        .unwrap();
    let backend = backend_rt
        .block_on(ward_example_backend::spawn(
            "127.0.0.1:0",
            ward_example_backend::Counters::default(),
        ))
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let log = std::fs::File::create(dir.path().join("ward.log")).unwrap();
    // As in production by default; PROXY_BENCH_LOG=warn shows what the request log costs.
    let filter = std::env::var("PROXY_BENCH_LOG").unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::sync::Mutex::new(log))
        .with_ansi(false)
        .init();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("ward")
        .enable_all()
        .build()
        .unwrap();
    let (ward_url, token) = rt.block_on(async {
        let mut raw = RawConfig::default();
        raw.listen = "127.0.0.1:0".into();
        raw.data_dir = dir.path().display().to_string();
        raw.bootstrap_admin_email = Some("bench@example.com".into());
        raw.bootstrap_admin_password = Some("bench password 0123456789".into());
        let route = |prefix: &str| RawRoute {
            prefix: prefix.into(),
            upstream: format!("http://{backend}"),
            permissions: Default::default(),
            permission: Some("containers:read".into()),
            websocket: false,
            tcp: None,
            lock_kind: None,
            timeout: None,
            ca_file: None,
            cert_file: None,
            key_file: None,
        };
        raw.routes = vec![route("/api/containers"), route("/work")];
        let config = raw.validate().unwrap();
        let prepared = ward_server::prepare(config, Arc::new(SystemClock), Arc::new(OsRandom))
            .await
            .unwrap();
        let state = prepared.state.clone();
        let url = state.issuer.clone();
        tokio::spawn(prepared.serve(std::future::pending()));
        let user = state
            .store
            .user_by_email("bench@example.com")
            .await
            .unwrap()
            .unwrap();
        let issued = start_token_session(
            &state,
            &user,
            &SessionRequest {
                client_id: "ward-cli".into(),
                channel: Channel::Cli,
                scope: "openid".into(),
                device_id: None,
                device_name: Some("bench".into()),
                ip: None,
                user_agent: None,
                amr: vec!["pwd".into()],
                auth_time: SystemClock.now(),
                nonce: None,
            },
            false,
            None,
            None,
        )
        .await
        .unwrap();
        (url, issued.response.access_token)
    });

    let api_token = rt.block_on(async {
        let created: serde_json::Value = reqwest::Client::new()
            .post(format!("{ward_url}/api/tokens"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"name": "bench", "scopes": ["containers:read"]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        created["token"].as_str().unwrap().to_string()
    });

    let auth = format!("Authorization: Bearer {token}");
    let api_auth = format!("Authorization: Bearer {api_token}");
    let peers: Vec<(&str, Peer)> = [
        (
            "nginx proxy_pass, no auth (peer)",
            Peer::nginx(&backend.to_string()),
        ),
        (
            "Caddy reverse_proxy, no auth (peer)",
            Peer::caddy(&backend.to_string()),
        ),
    ]
    .into_iter()
    .filter_map(|(name, peer)| peer.map(|p| (name, p)))
    .collect();
    let work_rounds: u32 = std::env::var("PROXY_BENCH_WORK_ROUNDS")
        .ok()
        .map(|v| v.parse().expect("PROXY_BENCH_WORK_ROUNDS is a number"))
        .unwrap_or(2000);
    let work_path = format!("/work?rounds={work_rounds}");
    println!("wrk -t{threads} -c{conns} -d{secs}s --latency; ward on SQLite, info logging");
    for (scenario, path) in [
        ("backend echoes the request (no work)", "/api/containers/c1"),
        ("backend spends CPU per request", work_path.as_str()),
    ] {
        println!("\n### GET {path}: {scenario}\n");
        let direct_url = format!("http://{backend}{path}");
        let ward = format!("{ward_url}{path}");
        let mut targets: Vec<(&str, String, Option<&str>)> = vec![
            ("backend direct", direct_url, None),
            (
                "through ward (API token)",
                ward.clone(),
                Some(api_auth.as_str()),
            ),
            ("through ward (access token)", ward, Some(auth.as_str())),
        ];
        for (name, peer) in &peers {
            targets.push((name, format!("{}{path}", peer.url), None));
        }
        for (_, url, header) in &targets {
            wrk(url, *header, 2, conns, threads); // warm-up
        }
        println!(
            "| path | requests/s | p50 | p99 | of direct | added p50 | added p99 | ward CPU per request |"
        );
        println!("|---|---|---|---|---|---|---|---|");
        let mut direct: Option<WrkResult> = None;
        let mut rates: Vec<(&str, f64)> = Vec::new();
        for (name, url, header) in &targets {
            let before = thread_cpu_ticks("ward");
            let r = wrk(url, *header, secs, conns, threads);
            let ticks = thread_cpu_ticks("ward") - before;
            let cpu = if name.starts_with("through ward") {
                let micros = ticks as f64 * 10_000.0 / (r.rps * f64::from(secs));
                format!("{micros:.1} µs")
            } else {
                "-".to_string()
            };
            let base = direct.as_ref().unwrap_or(&r);
            println!(
                "| {name} | {:.0} | {:.2} ms | {:.2} ms | {:.0}% | {:+.2} ms | {:+.2} ms | {cpu} |",
                r.rps,
                r.p50_ms,
                r.p99_ms,
                100.0 * r.rps / base.rps,
                r.p50_ms - base.p50_ms,
                r.p99_ms - base.p99_ms
            );
            rates.push((name, r.rps));
            if direct.is_none() {
                direct = Some(r);
            }
        }
        let rate = |prefix: &str| {
            rates
                .iter()
                .find(|(n, _)| n.starts_with(prefix))
                .map(|(_, r)| *r)
        };
        if let Some(ward) = rate("through ward (API token)") {
            for peer in ["nginx", "Caddy"] {
                if let Some(p) = rate(peer) {
                    println!("\nward (API token) / {peer}: {:.2}", ward / p);
                }
            }
        }
    }
    drop(peers);
    println!();
    if std::env::var_os("PROXY_BENCH_BREAKDOWN").is_some() {
        println!("### ward alone (no upstream)\n");
        println!("| path | requests/s | p50 | p99 |");
        println!("|---|---|---|---|");
        for (name, url, h) in [
            (
                "ward /healthz (no auth)",
                format!("{ward_url}/healthz"),
                None,
            ),
            (
                "ward /api/auth/validate (API token, auth only)",
                format!("{ward_url}/api/auth/validate"),
                Some(api_auth.as_str()),
            ),
            (
                "ward /api/auth/validate (access token, auth only)",
                format!("{ward_url}/api/auth/validate"),
                Some(auth.as_str()),
            ),
        ] {
            let r = wrk(&url, h, secs, conns, threads);
            println!(
                "| {name} | {:.0} | {:.2} ms | {:.2} ms |",
                r.rps, r.p50_ms, r.p99_ms
            );
        }
    }
    drop(rt);
    drop(backend_rt);
}

/// A peer proxy in its own process (nginx or Caddy), a plain reverse proxy to the backend with no
/// authentication: what one proxy hop costs on this machine. `None` when it is not installed.
/// Each gets as many workers as ward has threads (2), so the comparison is core for core.
struct Peer {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

fn installed(candidates: &[&'static str]) -> Option<&'static str> {
    candidates
        .iter()
        .copied()
        .find(|p| std::path::Path::new(p).exists())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Peer {
    /// nginx with keep-alive to the upstream, no access log.
    fn nginx(backend: &str) -> Option<Peer> {
        let binary = installed(&["/usr/sbin/nginx", "/usr/bin/nginx"])?;
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let d = dir.path().display();
        let conf = format!(
            "daemon off; worker_processes 2; pid {d}/nginx.pid;
error_log {d}/error.log warn; events {{ worker_connections 1024; }}
http {{ access_log off; client_body_temp_path {d}/b; proxy_temp_path {d}/p;
fastcgi_temp_path {d}/f; uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;
upstream backend {{ server {backend}; keepalive 64; }}
server {{ listen 127.0.0.1:{port};
location / {{ proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_pass http://backend; }} }} }}"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        let child = Command::new(binary)
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .spawn()
            .unwrap();
        Some(Peer::ready(child, port, dir))
    }

    /// Caddy's `reverse_proxy` (keep-alive by default), no admin endpoint, no access log.
    fn caddy(backend: &str) -> Option<Peer> {
        let binary = installed(&["/usr/bin/caddy", "/usr/local/bin/caddy"])?;
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let conf = format!(
            "{{\n\tadmin off\n\tauto_https off\n}}\n\
             http://127.0.0.1:{port} {{\n\treverse_proxy {backend}\n}}\n"
        );
        let file = dir.path().join("Caddyfile");
        std::fs::write(&file, conf).unwrap();
        let child = Command::new(binary)
            .arg("run")
            .arg("--adapter")
            .arg("caddyfile")
            .arg("--config")
            .arg(&file)
            .env("GOMAXPROCS", "2")
            .env("HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path())
            .env("XDG_CONFIG_HOME", dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        Some(Peer::ready(child, port, dir))
    }

    fn ready(child: std::process::Child, port: u16, dir: tempfile::TempDir) -> Peer {
        for _ in 0..500 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            // Waiting for another process to listen: no clock to step here.
            #[allow(clippy::disallowed_methods)]
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Peer {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        // SIGTERM first: nginx's master then stops its workers (SIGKILL would orphan them).
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..300 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            #[allow(clippy::disallowed_methods)]
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
