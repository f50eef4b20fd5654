//! Events end to end with the real binary (SPEC §2.18): webhooks survive the receiver being
//! down and `kill -9` of ward (SQLite and PostgreSQL), a subscriber that never reads does not
//! grow the server's memory, and `ward admin events` prints the stream.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::receiver::{Receiver, SECRET};
use crate::support::{Cli, Server, ADMIN_EMAIL, ADMIN_PASSWORD, WARD};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `ward server` with `config` on `data` and `port`; returns the child and its URL.
fn start(config: &Path, data: &Path, port: u16) -> (Child, String) {
    let mut child = Command::new(WARD)
        .args([
            "server",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--config",
        ])
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .env("WARD_BOOTSTRAP_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("WARD_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("no ready line: {line:?}"))
        .to_string();
    (child, url)
}

fn kill_9(child: &mut Child) {
    Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status()
        .unwrap();
    let _ = child.wait();
}

/// A fresh PostgreSQL database (`createdb`, from postgresql-client).
fn fresh_postgres() -> String {
    let name = format!("ward_events_{}", std::process::id());
    let base = std::env::var("WARD_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let status = Command::new("psql")
        .arg(format!("{base}/postgres"))
        .args(["-q", "-c", &format!("DROP DATABASE IF EXISTS {name}")])
        .args(["-c", &format!("CREATE DATABASE {name}")])
        .status()
        .expect("psql (postgresql-client, .ci/packages.sh)");
    assert!(status.success());
    format!("{base}/{name}")
}

/// A JWT's `sub`.
fn subject(jwt: &str) -> String {
    use base64::Engine;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(jwt.split('.').nth(1).unwrap())
        .unwrap();
    serde_json::from_slice::<Value>(&payload).unwrap()["sub"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Starts `n` guest sessions (each one `guest.created` event); returns their user ids.
async fn guests(url: &str, n: usize) -> Vec<String> {
    let http = Server::http();
    let mut ids = Vec::new();
    for _ in 0..n {
        let r = http
            .post(format!("{url}/api/auth/guest"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        ids.push(subject(v["access_token"].as_str().unwrap()));
    }
    ids
}

async fn wait_for(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The receiver answers 503 for a while, then is not there at all; meanwhile ward is killed
/// with `kill -9` and started again. Once the receiver is back, every event has arrived at
/// least once, and every message kept its `webhook-id` across attempts and the restart.
async fn webhooks_survive_the_receiver_down_and_kill_9(database_url: Option<String>) {
    let mut receiver = Receiver::start(0);
    receiver.answer(false);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("ward.toml");
    let db = database_url
        .map(|u| format!("database_url = \"{u}\"\n"))
        .unwrap_or_default();
    std::fs::write(
        &config,
        format!(
            "{db}[sessions]\nguests = true\n[rate_limits]\nguests_per_ip = 100000\n\
             [events]\nretry_first = \"1s\"\nretry_max = \"2s\"\nwebhook_timeout = \"2s\"\n\
             [[webhooks]]\nurl = \"{}\"\nsecret = \"{SECRET}\"\nevents = [\"guest.created\"]\n",
            receiver.url()
        ),
    )
    .unwrap();
    let port = free_port();
    let (mut ward, url) = start(&config, &data, port);
    let mut users = guests(&url, 10).await;
    // Attempts fail with 503 and are recorded (with their ids) by the receiver.
    wait_for(Duration::from_secs(20), "failed attempts", || {
        let ids: HashSet<String> = receiver
            .records()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect();
        ids.len() == 10
    })
    .await;
    let first_ids: HashMap<String, String> = receiver
        .records()
        .iter()
        .map(|r| {
            (
                r["body"]["data"]["actor"].as_str().unwrap().to_string(),
                r["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // Now the receiver is gone (connections refused), and ward dies without warning.
    receiver.stop();
    users.extend(guests(&url, 5).await);
    kill_9(&mut ward);
    let (mut ward, url) = start(&config, &data, port);
    users.extend(guests(&url, 5).await);
    tokio::time::sleep(Duration::from_secs(2)).await;
    receiver.restart();
    receiver.answer(true);
    wait_for(Duration::from_secs(60), "every event delivered", || {
        let delivered: HashSet<String> = receiver
            .delivered()
            .iter()
            .map(|r| r["body"]["data"]["actor"].as_str().unwrap().to_string())
            .collect();
        users.iter().all(|u| delivered.contains(u))
    })
    .await;
    let records = receiver.records();
    for r in &records {
        assert_eq!(r["sig_ok"], true, "{r}");
        let skew = (r["received_at"].as_f64().unwrap() - r["ts"].as_f64().unwrap()).abs();
        assert!(
            skew < 300.0,
            "a fresh webhook-timestamp on every attempt: {r}"
        );
        let actor = r["body"]["data"]["actor"].as_str().unwrap();
        if let Some(id) = first_ids.get(actor) {
            assert_eq!(r["id"], id.as_str(), "the webhook-id is stable: {r}");
        }
    }
    let per_event: HashSet<&str> = records
        .iter()
        .map(|r| r["body"]["data"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        per_event.len(),
        users.len(),
        "one message per event, none extra"
    );
    kill_9(&mut ward);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_webhooks_survive_the_receiver_down_and_kill_9() {
    webhooks_survive_the_receiver_down_and_kill_9(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_webhooks_survive_the_receiver_down_and_kill_9() {
    webhooks_survive_the_receiver_down_and_kill_9(Some(fresh_postgres())).await;
}

fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Subscribers that never read (their sockets' receive buffers as small as Linux allows) while
/// thousands of events happen: the server's resident memory stays within a bound, and the
/// subscribers are dropped rather than buffered for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_that_never_read_do_not_grow_the_servers_memory() {
    let server = Server::start_with(
        "[sessions]\nguests = true\n[rate_limits]\nguests_per_ip = 100000\n[events]\nstream_buffer = 64",
    );
    let cli = Cli::new();
    crate::login_pkce(&server, &cli).await;
    let env = cli.run(&["env", "--format", "json"]).await;
    let token = serde_json::from_str::<serde_json::Value>(&env.stdout).unwrap()["WARD_TOKEN"]
        .as_str()
        .unwrap()
        .to_string();
    let addr: std::net::SocketAddr = server
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    guests(&server.url, 200).await;
    let before = vm_rss_kib(server.pid());
    const SUBSCRIBERS: usize = 8;
    let mut sockets = Vec::new();
    for _ in 0..SUBSCRIBERS {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(2048).unwrap();
        let mut stream = socket.connect(addr).await.unwrap();
        stream
            .write_all(
                format!(
                    "GET /api/admin/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n"
                )
                .as_bytes(),
            )
            .await
            .unwrap();
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"HTTP/1.1 200");
        sockets.push(stream); // and never read again
    }
    const EVENTS: usize = 3000;
    let mut jobs = Vec::new();
    for _ in 0..4 {
        let url = server.url.clone();
        jobs.push(tokio::spawn(async move { guests(&url, EVENTS / 4).await }));
    }
    for j in jobs {
        j.await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = vm_rss_kib(server.pid());
    eprintln!(
        "MEASURED: VmRSS {before} KiB before, {after} KiB after {EVENTS} events with \
         {SUBSCRIBERS} subscribers that never read (growth {} KiB)",
        after.saturating_sub(before)
    );
    assert!(
        after.saturating_sub(before) < 32 * 1024,
        "VmRSS grew from {before} KiB to {after} KiB"
    );
    // The subscribers are still served: reading one now, it gets what the sockets held, then
    // either the rest or (once it fell a whole buffer behind) the final `dropped` event.
    let mut stream = sockets.remove(0);
    let mut seen = Vec::new();
    let mut buf = vec![0u8; 65536];
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let n = stream.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    let text = String::from_utf8_lossy(&seen);
    let received = text.matches("event: guest.created").count();
    let dropped = text.contains("event: dropped");
    eprintln!("MEASURED: a non-reading subscriber, read afterwards, got {received} events (dropped: {dropped})");
    assert!(received > 0 && received <= EVENTS, "{received}");
    drop(sockets);
}

/// `ward admin events` replays after `--last-event-id` and prints JSON lines or text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ward_admin_events_prints_the_stream() {
    let server = Server::start();
    let cli = Cli::new();
    crate::login_pkce(&server, &cli).await;
    let ok = |o: &crate::support::Out| assert_eq!(o.code, 0, "{o:?}");
    ok(&cli
        .run(&["admin", "users", "create", "a@test.example"])
        .await);
    let audit = cli
        .run(&["admin", "audit", "--output", "json", "--limit", "1"])
        .await;
    ok(&audit);
    let v: Value = serde_json::from_str(&audit.stdout).unwrap();
    let mark = v["events"][0]["id"].as_str().unwrap().to_string();
    ok(&cli
        .run(&["admin", "users", "create", "b@test.example"])
        .await);
    ok(&cli
        .run(&["admin", "users", "create", "c@test.example"])
        .await);
    let out = cli
        .run(&[
            "admin",
            "events",
            "--last-event-id",
            &mark,
            "--type",
            "user.created",
            "--count",
            "2",
            "--output",
            "json",
        ])
        .await;
    ok(&out);
    let lines: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    for (line, email) in lines.iter().zip(["b@test.example", "c@test.example"]) {
        assert_eq!(line["type"], "user.created");
        assert_eq!(line["data"]["detail"]["email"], email, "{line}");
    }
    let text = cli
        .run(&["admin", "events", "--last-event-id", &mark, "--count", "1"])
        .await;
    ok(&text);
    assert!(
        text.stdout.contains("  user.created  ok  "),
        "{}",
        text.stdout
    );
    let bad = cli
        .run(&["admin", "events", "--last-event-id", "nope"])
        .await;
    assert_eq!(bad.code, 1, "{bad:?}");
    assert!(
        bad.stderr.starts_with("Error: unknown Last-Event-ID"),
        "{}",
        bad.stderr
    );
}
