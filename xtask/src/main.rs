//! `cargo xtask test [CARGO TEST ARGS…]`: the README's test command. It makes the machine ready
//! for the tests and then runs them, so a fresh Debian machine with only the Rust toolchain
//! passes — or stops saying exactly what is missing. Nothing is skipped silently.
//!
//! 1. The programs the tests drive (Chromium, nginx, Caddy, Apache, Python, Node…): installed
//!    by `.ci/packages.sh` when this runs as root with `apt-get`; otherwise only checked, and
//!    each missing one is named with its package.
//! 2. PostgreSQL: `WARD_TEST_PG_URL` when set; else `127.0.0.1:5432` when it answers; else, as
//!    root, `.ci/postgres.sh` installs and starts the system's; else a throwaway cluster under
//!    the target directory (Debian's `initdb`), stopped at the end.
//! 3. `cargo test --workspace --locked`, or `cargo test --locked ARGS…` when arguments narrow
//!    the run; then, for the whole run only, Schemathesis against a real server
//!    (`.ci/schemathesis.sh`).
//!
//! Hand-written (no crate): it only runs the repository's own scripts and cargo in order.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("test") => test(args.collect()),
        _ => {
            eprintln!("usage: cargo xtask test [ARGS FOR cargo test…]");
            std::process::exit(2);
        }
    }
}

fn root() -> Result<PathBuf> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map(Path::to_path_buf)
        .context("xtask lives inside the workspace")
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn has(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `cargo` as if typed in the shell. `cargo xtask` runs this program with the variables cargo
/// sets for a package (`CARGO_MANIFEST_DIR`, `CARGO_PKG_NAME`, …); passed on, they differ from
/// a plain `cargo build` (and, in CI, from one clone's path to the next), and build scripts that
/// watch them (ring's does) rebuild, taking every crate above them along.
fn cargo_command(cargo: &str) -> Command {
    let mut command = Command::new(cargo);
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        let set_for_a_package = name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_MANIFEST_")
            || matches!(
                name,
                "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_RUSTC_CURRENT_DIR"
                    | "OUT_DIR"
            );
        if set_for_a_package {
            command.env_remove(name);
        }
    }
    command
}

fn run(what: &str, command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot run {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

fn test(cargo_args: Vec<String>) -> Result<()> {
    let root = root()?;
    let can_install = is_root() && has("apt-get");
    eprintln!("== what the tests drive");
    let mut packages = Command::new("bash");
    packages
        .arg(root.join(".ci/packages.sh"))
        .current_dir(&root);
    if !can_install {
        packages.arg("--check");
    }
    run(".ci/packages.sh", &mut packages)?;

    eprintln!("== PostgreSQL");
    let cluster = postgres(&root, can_install)?;

    eprintln!("== cargo test");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut tests = cargo_command(&cargo);
    tests.args(["test", "--locked"]);
    if cargo_args.is_empty() {
        tests.arg("--workspace");
    }
    tests.args(&cargo_args).current_dir(&root);
    if let Some(c) = &cluster {
        tests.env("WARD_TEST_PG_URL", &c.url);
    }
    let result = run("cargo test", &mut tests).and_then(|()| {
        if !cargo_args.is_empty() {
            return Ok(());
        }
        eprintln!("== Schemathesis against /api/openapi.json");
        run(
            "cargo build -p ward",
            cargo_command(&cargo)
                .args(["build", "-p", "ward", "--locked"])
                .current_dir(&root),
        )?;
        run(
            ".ci/schemathesis.sh",
            Command::new("bash")
                .arg(root.join(".ci/schemathesis.sh"))
                .current_dir(&root),
        )
    });
    drop(cluster);
    result
}

/// A throwaway PostgreSQL cluster this run started; stopped when dropped.
struct Cluster {
    url: String,
    data: PathBuf,
    pg_ctl: PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(&self.pg_ctl)
            .args(["stop", "-m", "fast", "-D"])
            .arg(&self.data)
            .status();
    }
}

fn answers(addr: &str) -> bool {
    addr.parse::<SocketAddr>()
        .is_ok_and(|a| TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_ok())
}

fn postgres(root: &Path, can_install: bool) -> Result<Option<Cluster>> {
    if std::env::var_os("WARD_TEST_PG_URL").is_some() {
        eprintln!("using WARD_TEST_PG_URL");
        return Ok(None);
    }
    if can_install {
        run(
            ".ci/postgres.sh",
            Command::new("bash")
                .arg(root.join(".ci/postgres.sh"))
                .current_dir(root),
        )?;
        return Ok(None);
    }
    if answers("127.0.0.1:5432") {
        eprintln!("PostgreSQL answers on 127.0.0.1:5432");
        return Ok(None);
    }
    let bin = postgres_bin().context(
        "no PostgreSQL on 127.0.0.1:5432 and no initdb to start one: install Debian's `postgresql` \
         (apt-get install -y postgresql) or set WARD_TEST_PG_URL",
    )?;
    let data = target_dir(root).join("xtask-postgres");
    let _ = std::fs::remove_dir_all(&data);
    run(
        "initdb",
        Command::new(bin.join("initdb"))
            .args(["-A", "trust", "-U", "postgres", "-D"])
            .arg(&data)
            .stdout(std::process::Stdio::null()),
    )?;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").context("a free port")?;
        l.local_addr().context("a free port")?.port()
    };
    let pg_ctl = bin.join("pg_ctl");
    run(
        "pg_ctl start",
        Command::new(&pg_ctl)
            .args(["start", "-w", "-l"])
            .arg(data.join("log"))
            .arg("-D")
            .arg(&data)
            .arg("-o")
            .arg(format!("-p {port} -k {} -h 127.0.0.1", data.display())),
    )?;
    eprintln!("started a throwaway PostgreSQL on 127.0.0.1:{port}");
    Ok(Some(Cluster {
        url: format!("postgres://postgres@127.0.0.1:{port}"),
        data,
        pg_ctl,
    }))
}

/// Debian keeps the server programs under /usr/lib/postgresql/<version>/bin; take the newest.
fn postgres_bin() -> Option<PathBuf> {
    if has("initdb") && has("pg_ctl") {
        let out = Command::new("sh")
            .args(["-c", "dirname \"$(command -v initdb)\""])
            .output()
            .ok()?;
        return Some(PathBuf::from(
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        ));
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop()
}
