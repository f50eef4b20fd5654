//! The kit's own promises: a process that never says where it listens fails the test with its
//! log, a restart comes back on the same command, and a test that panics with Chromium open
//! leaves a screenshot of the page.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ward_testkit::browser::{artifacts_dir, Driver};
use ward_testkit::process::Launcher;

fn panic_message(e: Box<dyn std::any::Any + Send>) -> String {
    match e.downcast::<String>() {
        Ok(s) => *s,
        Err(e) => e
            .downcast::<&str>()
            .map(|s| s.to_string())
            .unwrap_or_default(),
    }
}

#[test]
fn a_process_that_exits_before_listening_fails_with_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let launcher =
        Launcher::new("sh", dir.path()).args(["-c", "echo 'bad config: nope' >&2; exit 3"]);
    let failed = std::panic::catch_unwind(|| launcher.start())
        .map(|_| ())
        .unwrap_err();
    let message = panic_message(failed);
    assert!(message.contains("exited"), "{message}");
    assert!(message.contains("bad config: nope"), "{message}");
}

#[test]
fn the_address_comes_from_the_listening_line_and_a_restart_reuses_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let launcher = Launcher::new("sh", dir.path())
        .args([
            "-c",
            "echo started >&2; echo \"listening on http://127.0.0.1:$PORT\"; exec sleep 60",
        ])
        .env("PORT", "4321");
    let first = launcher.start();
    assert_eq!(first.url, "http://127.0.0.1:4321");
    let pid = first.pid();
    let second = first.restart_after_kill_9();
    assert_ne!(second.pid(), pid);
    assert_eq!(second.url, "http://127.0.0.1:4321");
    // The log is appended to across runs.
    assert_eq!(second.log().matches("started").count(), 2);
    second.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_browser_test_leaves_a_screenshot() {
    // The screenshot is named after the thread that panicked (a test's own thread is named
    // after the test; here, the runtime's worker running the task).
    let thread = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let seen = thread.clone();
    let failed = tokio::spawn(async move {
        let Some(d) = Driver::launch("a_failing_browser_test_leaves_a_screenshot").await else {
            return;
        };
        d.goto("data:text/html,<h1 id=t>hello</h1>").await;
        d.wait_text("#t", "hello").await;
        let name = std::thread::current()
            .name()
            .unwrap_or("test")
            .replace("::", "-");
        let shot = artifacts_dir().join(format!("failure-{name}.png"));
        let _ = std::fs::remove_file(&shot);
        *seen.lock().unwrap() = shot.display().to_string();
        panic!("on purpose, with the browser open");
    })
    .await;
    if failed.is_ok() {
        // Skipped (WARD_TEST_ALLOW_SKIP=1 without Chromium): said so on stderr already.
        return;
    }
    let shot = thread.lock().unwrap().clone();
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("{shot}: {e}"));
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
}
