//! Test fixtures: a real `ward server` per test (temp SQLite data dir, port 0, started by the
//! test kit's launcher) and the real `ward` CLI run with a private config dir, the file
//! credential store, and a `$BROWSER` that only records the URLs it is asked to open (the test
//! then plays the user in [`Browser`]).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use ward_testkit::process::{Launcher, Process};

pub const WARD: &str = env!("CARGO_BIN_EXE_ward");
pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple 42";

pub struct Server {
    pub url: String,
    pub admin_email: String,
    pub admin_password: String,
    process: Process,
    /// Its configuration, data and logs, removed after the process is gone.
    #[allow(dead_code)]
    pub dir: tempfile::TempDir,
}

impl Server {
    pub fn start() -> Self {
        Self::start_with("")
    }

    /// Starts a server with extra `ward.toml` lines.
    pub fn start_with(toml: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("ward.toml");
        std::fs::write(
            &config,
            format!(
                "bootstrap_admin_email = \"{ADMIN_EMAIL}\"\nbootstrap_admin_password = \"{ADMIN_PASSWORD}\"\n{toml}\n"
            ),
        )
        .unwrap();
        let process = Launcher::new(WARD, dir.path())
            .args(["server", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .env("WARD_BOOTSTRAP_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("WARD_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .start();
        // The bootstrap admin from the environment; if the server generated one instead, it
        // printed the credentials once to stderr.
        let log = process.log();
        let printed = |key: &str| {
            log.lines()
                .find_map(|l| l.trim().strip_prefix(key).map(|v| v.trim().to_owned()))
        };
        let (admin_email, admin_password) = match (printed("email:"), printed("password:")) {
            (Some(e), Some(p)) => (e, p),
            _ => (ADMIN_EMAIL.to_owned(), ADMIN_PASSWORD.to_owned()),
        };
        Self {
            url: process.url.clone(),
            admin_email,
            admin_password,
            process,
            dir,
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// A user who knows the admin's password.
    pub fn user(&self) -> crate::browser::Browser {
        crate::browser::Browser::new(&self.admin_email, &self.admin_password)
    }

    /// The server's log (its stderr).
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// How many requests to `path` the server logged with `status` (one log line per request,
    /// SPEC §2.1).
    pub fn logged_requests(&self, method: &str, path: &str, status: u16) -> usize {
        let mut plain = String::new();
        let log = self.log();
        let mut chars = log.chars();
        // Drop ANSI color sequences.
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                plain.push(c);
            }
        }
        plain
            .lines()
            .filter(|l| {
                l.contains(&format!("method={method} "))
                    && l.contains(&format!("path={path} "))
                    && l.contains(&format!("status={status} "))
            })
            .count()
    }

    pub fn http() -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap()
    }

    /// Presents `refresh_token` at the token endpoint; returns the status and body.
    pub async fn refresh(&self, refresh_token: &str) -> (u16, serde_json::Value) {
        let r = Self::http()
            .post(format!("{}/oauth/token", self.url))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", "ward-cli"),
            ])
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }
}

#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub struct Cli {
    pub dir: tempfile::TempDir,
    /// Set `WARD_CREDENTIAL_STORE=file` (otherwise the CLI chooses: no session bus here, so the
    /// file, with a notice).
    force_file_store: bool,
}

impl Cli {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("browser.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\n",
                dir.path().join("browser-urls.txt").display()
            ),
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        Self {
            dir,
            force_file_store: true,
        }
    }

    /// A CLI that picks its credential store itself.
    pub fn with_auto_store() -> Self {
        Self {
            force_file_store: false,
            ..Self::new()
        }
    }

    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(WARD);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("WARD_CONFIG_DIR", self.config_dir())
            .env("BROWSER", self.dir.path().join("browser.sh"))
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if self.force_file_store {
            cmd.env("WARD_CREDENTIAL_STORE", "file");
        }
        cmd
    }

    pub async fn run(&self, args: &[&str]) -> Out {
        self.run_env(args, &[]).await
    }

    pub async fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Out {
        let mut cmd = self.command(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
            .await
            .expect("ward timed out")
            .unwrap();
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Starts `ward` with stdin piped, collecting its output as it comes.
    pub fn spawn(&self, args: &[&str]) -> Running {
        self.spawn_command(self.command(args))
    }

    /// Starts `ward` on a pseudo-terminal (util-linux `script`), as a person at a terminal would
    /// run it: what it prints (stdout and stderr) arrives as the running command's stdout, and
    /// typed lines reach its terminal.
    pub fn spawn_on_terminal(&self, args: &[&str]) -> Running {
        let line = std::iter::once(WARD)
            .chain(args.iter().copied())
            .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
            .collect::<Vec<_>>()
            .join(" ");
        let template = self.command(&[]);
        let mut script = tokio::process::Command::new("script");
        script.args(["-qefc", &line, "/dev/null"]).env_clear();
        for (k, v) in template.as_std().get_envs() {
            if let Some(v) = v {
                script.env(k, v);
            }
        }
        script
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        self.spawn_command(script)
    }

    fn spawn_command(&self, mut cmd: tokio::process::Command) -> Running {
        cmd.stdin(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        collect(child.stdout.take().unwrap(), stdout.clone());
        collect(child.stderr.take().unwrap(), stderr.clone());
        Running {
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
        }
    }

    /// The URLs `$BROWSER` was asked to open so far.
    pub fn browser_urls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("browser-urls.txt"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Waits until `$BROWSER` was asked to open a URL containing `needle`.
    pub async fn wait_browser_url(&self, needle: &str, timeout: Duration) -> String {
        self.wait_new_browser_url(needle, 0, timeout).await
    }

    /// As [`Cli::wait_browser_url`], ignoring the first `skip` URLs opened.
    pub async fn wait_new_browser_url(
        &self,
        needle: &str,
        skip: usize,
        timeout: Duration,
    ) -> String {
        let start = Instant::now();
        loop {
            if let Some(u) = self
                .browser_urls()
                .into_iter()
                .skip(skip)
                .find(|u| u.contains(needle))
            {
                return u;
            }
            assert!(
                start.elapsed() < timeout,
                "no browser URL containing {needle:?}; got {:?}",
                self.browser_urls()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn config_path(&self) -> PathBuf {
        self.config_dir().join("config.json")
    }

    pub fn config(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.config_path()).unwrap()).unwrap()
    }

    pub fn credentials_path(&self) -> PathBuf {
        self.config_dir().join("credentials.json")
    }

    pub fn credentials(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.credentials_path()).unwrap()).unwrap()
    }

    pub fn write_credentials(&self, v: &serde_json::Value) {
        std::fs::write(self.credentials_path(), serde_json::to_vec(v).unwrap()).unwrap();
    }
}

fn collect(mut r: impl tokio::io::AsyncRead + Unpin + Send + 'static, into: Arc<Mutex<String>>) {
    tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        loop {
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => into
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
    });
}

pub struct Running {
    child: tokio::process::Child,
    stdin: Option<tokio::process::ChildStdin>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Running {
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until stdout contains `needle`; returns all of stdout.
    pub async fn wait_stdout(&self, needle: &str, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            let s = self.stdout.lock().unwrap().clone();
            if s.contains(needle) {
                return s;
            }
            assert!(
                start.elapsed() < timeout,
                "stdout never contained {needle:?}:\n{s}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until stderr contains `needle`; returns all of stderr.
    pub async fn wait_stderr(&self, needle: &str, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            let s = self.stderr();
            if s.contains(needle) {
                return s;
            }
            assert!(
                start.elapsed() < timeout,
                "stderr never contained {needle:?}:\n{s}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        stdin.flush().await.unwrap();
    }

    pub async fn finish(mut self, timeout: Duration) -> Out {
        let status = tokio::time::timeout(timeout, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("ward did not exit; stderr:\n{}", self.stderr()))
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        Out {
            code: status.code().unwrap_or(-1),
            stdout: self.stdout.lock().unwrap().clone(),
            stderr: self.stderr.lock().unwrap().clone(),
        }
    }
}

/// The URL's query parameter `name`.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[cfg(unix)]
pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}
