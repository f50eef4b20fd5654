//! The webhook receiver the events tests run: `webhook_receiver.py`, a real HTTP server that
//! checks the Standard Webhooks signature with Python's own HMAC and records what it got.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// A Standard Webhooks secret for the tests (24 random-looking bytes).
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

pub struct Receiver {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    delay_ms: u64,
}

fn script() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../ward-server/tests/it/webhook_receiver.py"
    ))
}

impl Receiver {
    /// Starts a receiver on a free port; with `delay_ms`, each answer takes that long.
    pub fn start(delay_ms: u64) -> Receiver {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Receiver {
            child: None,
            port: 0,
            dir,
            delay_ms,
        };
        r.spawn(0);
        r
    }

    fn spawn(&mut self, port: u16) {
        let mut child = Command::new("python3")
            .arg(script())
            .env("SECRET", SECRET)
            .env("LOG", self.dir.path().join("log.jsonl"))
            .env("CONTROL", self.dir.path().join("control"))
            .env("DELAY_MS", self.delay_ms.to_string())
            .env("PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("python3 must be installed (.ci/packages.sh): {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        self.port = line.trim().parse().expect("the receiver prints its port");
        self.child = Some(child);
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks", self.port)
    }

    /// Makes the receiver answer 503 (`false`) or 200 (`true`).
    #[allow(dead_code)]
    pub fn answer(&self, up: bool) {
        std::fs::write(
            self.dir.path().join("control"),
            if up { "up" } else { "down" },
        )
        .unwrap();
    }

    /// Stops the process: connections are refused until [`Receiver::restart`].
    #[allow(dead_code)]
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts again on the same port.
    #[allow(dead_code)]
    pub fn restart(&mut self) {
        let port = self.port;
        self.spawn(port);
    }

    /// Every request received so far, in order.
    pub fn records(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.path().join("log.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The records answered 200.
    pub fn delivered(&self) -> Vec<serde_json::Value> {
        self.records()
            .into_iter()
            .filter(|r| r["status"] == 200)
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}
