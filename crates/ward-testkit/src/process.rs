//! One launcher for the `ward` binary: spawn it with arguments and environment, learn its address
//! from the `listening on URL` line it prints, stop it (SIGTERM), `kill -9` it, start it again
//! with the same command, and keep its output for failure messages.
//!
//! Output goes to files in the launcher's log directory, appended to across restarts:
//! `server.log` (stderr: the tracing log, and a generated admin's credentials) and `server.out`
//! (stdout). When a test fails while a process is running, the end of its log is printed.

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a start may take before the test fails with the log.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How many lines of the log a failing test prints.
const LOG_TAIL: usize = 60;

/// A free TCP port on 127.0.0.1 (for a server that must come back at the same address).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// How to start a process: program, arguments, environment, working directory, log directory.
#[derive(Debug, Clone)]
pub struct Launcher {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    env_remove: Vec<OsString>,
    current_dir: Option<PathBuf>,
    log_dir: PathBuf,
}

impl Launcher {
    /// `program`, logging into `log_dir` (which must exist). Proxy variables are removed, so
    /// a client the server starts never sends loopback traffic elsewhere.
    pub fn new(program: impl AsRef<OsStr>, log_dir: &Path) -> Launcher {
        Launcher {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env: Vec::new(),
            env_remove: ["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"]
                .map(OsString::from)
                .to_vec(),
            current_dir: None,
            log_dir: log_dir.to_owned(),
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Launcher {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Launcher
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Launcher {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    pub fn current_dir(mut self, dir: &Path) -> Launcher {
        self.current_dir = Some(dir.to_owned());
        self
    }

    /// The stderr log (`server.log`).
    pub fn log_path(&self) -> PathBuf {
        self.log_dir.join("server.log")
    }

    /// The stdout log (`server.out`).
    pub fn out_path(&self) -> PathBuf {
        self.log_dir.join("server.out")
    }

    /// Starts the process and waits (up to 60 s) for its `listening on URL` line; a process that
    /// exits or stays silent fails the test with its log.
    pub fn start(&self) -> Process {
        let append = |path: PathBuf| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
        };
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(append(self.log_path()));
        for key in &self.env_remove {
            cmd.env_remove(key);
        }
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        if let Some(dir) = &self.current_dir {
            cmd.current_dir(dir);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", self.program));
        // Everything it prints goes to server.out, read on a thread for the process's life.
        let stdout = child.stdout.take().expect("piped stdout");
        let mut out = append(self.out_path());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.trim().strip_prefix("listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
                let _ = writeln!(out, "{line}");
            }
        });
        let started = Instant::now();
        let url = loop {
            use std::sync::mpsc::RecvTimeoutError;
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(url) => break url,
                // Its stdout closed without the line: it exited (or is about to).
                Err(RecvTimeoutError::Disconnected) => {
                    let _ = child.kill();
                    let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
                    panic!(
                        "{:?} exited ({status}) before listening:\n{}",
                        self.program,
                        self.logs()
                    );
                }
                Err(RecvTimeoutError::Timeout) if started.elapsed() < START_TIMEOUT => {}
                Err(RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "{:?} did not say where it listens within {START_TIMEOUT:?}:\n{}",
                        self.program,
                        self.logs()
                    );
                }
            }
        };
        Process {
            child,
            url,
            launcher: self.clone(),
        }
    }

    /// The stderr log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Both logs, for a failure message.
    pub fn logs(&self) -> String {
        let out = std::fs::read_to_string(self.out_path()).unwrap_or_default();
        format!("--- stdout ---\n{out}--- stderr ---\n{}", self.log())
    }
}

/// A running process started by a [`Launcher`]; killed when dropped.
pub struct Process {
    child: Child,
    /// What it printed after `listening on `.
    pub url: String,
    launcher: Launcher,
}

impl Process {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The stderr log so far (all runs of this launcher).
    pub fn log(&self) -> String {
        self.launcher.log()
    }

    pub fn log_path(&self) -> PathBuf {
        self.launcher.log_path()
    }

    pub fn launcher(&self) -> &Launcher {
        &self.launcher
    }

    /// SIGTERM, then waits (10 s at most, then SIGKILL) for it to exit.
    // A real process exits in real time: there is no test clock to step here.
    #[allow(clippy::disallowed_methods)]
    pub fn stop(mut self) {
        self.signal("-TERM");
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// `kill -9`: no graceful shutdown, no flush.
    pub fn kill_9(mut self) {
        self.signal("-9");
        let _ = self.child.wait();
    }

    /// `kill -9`, then the same command again (same port if it was given one).
    pub fn restart_after_kill_9(self) -> Process {
        let launcher = self.launcher.clone();
        self.kill_9();
        launcher.start()
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill(1)");
        assert!(status.success(), "kill {signal} {} failed", self.child.id());
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(LOG_TAIL)..].join("\n");
            eprintln!(
                "--- the last {LOG_TAIL} lines of {} ---\n{tail}",
                self.log_path().display()
            );
        }
    }
}
