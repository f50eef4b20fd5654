//! Durability: a session acknowledged to a client survives `kill -9` of the server (SQLite WAL
//! with synchronous = FULL), and bad configuration stops start-up with one clear message.

use std::process::Command;
use std::time::Duration;

use ward_testkit::process::{free_port, Launcher};

use crate::support::{Cli, ADMIN_EMAIL, ADMIN_PASSWORD, WARD};

/// `ward server` on a fixed port (a restart answers at the same URL), its data in `data`.
fn launcher(data: &std::path::Path, port: u16) -> Launcher {
    let dir = data.parent().unwrap();
    Launcher::new(WARD, dir)
        .args([
            "server",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data)
        .env("WARD_BOOTSTRAP_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("WARD_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .current_dir(dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_survives_kill_9_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = launcher(&data, free_port()).start();
    let url = server.url.clone();
    let cli = Cli::new();
    // Sign in through the device flow, approved in the pages like a user would.
    let running = cli.spawn(&[
        "login",
        "default",
        &url,
        "--auth-flow",
        "device_code",
        "--timeout",
        "60s",
    ]);
    let verify = cli
        .wait_browser_url("/device", Duration::from_secs(60))
        .await;
    match crate::browser::Browser::new(ADMIN_EMAIL, ADMIN_PASSWORD)
        .visit(&verify, false)
        .await
    {
        Ok(crate::browser::Stop::Page(_, body)) => {
            assert!(body.contains("Device approved"), "{body}")
        }
        other => panic!("browser: {other:?}"),
    }
    let out = running.finish(Duration::from_secs(60)).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    // kill -9 right after the session was acknowledged: no graceful shutdown, no flush.
    let _server = server.restart_after_kill_9();
    // The session is still there: the CLI's credentials work against the restarted server.
    let profile = cli.run(&["api", "/api/profile"]).await;
    assert_eq!(profile.code, 0, "{}", profile.stderr);
    assert!(profile.stdout.contains(ADMIN_EMAIL), "{}", profile.stdout);
}

#[test]
fn bad_configuration_stops_start_up_with_one_message() {
    let out = Command::new(WARD)
        .args(["server", "--listen", "nonsense"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim(),
        "Error: invalid configuration: listen = \"nonsense\": expected an address such as 127.0.0.1:8080"
    );
}

/// `ward mfa`, `ward lock|unlock|verify`: the commands reach the API, and never prompt without a
/// terminal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mfa_and_lock_commands() {
    let server = crate::support::Server::start();
    let cli = Cli::new();
    crate::login_pkce(&server, &cli).await;
    let status = cli.run(&["mfa", "status"]).await;
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert!(
        status.stdout.starts_with("Two-step verification: off"),
        "{}",
        status.stdout
    );
    // No terminal and no --code: a usage error that says what to pass, not a prompt.
    let out = cli.run(&["mfa", "disable"]).await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .starts_with("Error: ward mfa disable needs a code"),
        "{}",
        out.stderr
    );
    let out = cli.run(&["lock", "terminal", "t1"]).await;
    assert_eq!(out.code, 2);
    // A wrong code reaches the server and is refused with its message.
    let out = cli
        .run(&["lock", "terminal", "t1", "--code", "000000"])
        .await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("Error: multi-factor authentication is not enabled"),
        "{}",
        out.stderr
    );
}
