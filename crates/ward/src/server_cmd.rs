//! `ward server`: configuration → store → HTTP server. The binary's edge: anyhow lives here.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use ward_server::config::{self, FlagOverrides, LogFormat};
use ward_server::Bootstrap;

#[derive(Args, Debug)]
pub struct ServerArgs {
    /// Configuration file (default: ./ward.toml when it exists).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8080 (0 as the port picks a free one).
    #[arg(long, global = true)]
    listen: Option<String>,
    /// Directory for the SQLite database and the master key file.
    #[arg(long, global = true)]
    data_dir: Option<String>,
    /// Development mode: human-readable debug logs.
    #[arg(long, global = true)]
    dev: bool,
    #[command(subcommand)]
    action: Option<ServerAction>,
}

#[derive(Subcommand, Debug)]
enum ServerAction {
    /// Generate a new signing key; old keys stay published until their tokens expire.
    RotateKeys,
    /// Generate a new SSH user CA key; the old one stays published for `ssh.ttl`.
    RotateSshCa,
}

pub fn main(args: ServerArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {}", one_line(&e));
            if let Some(hint) = hint(&e) {
                eprintln!("{hint}");
            }
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, leaving out a cause the message already quotes (the
/// OS error would otherwise appear twice).
fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// What to do about a start-up failure, where a cause says.
fn hint(e: &anyhow::Error) -> Option<&'static str> {
    let io = e.chain().find_map(|c| c.downcast_ref::<std::io::Error>())?;
    match io.kind() {
        std::io::ErrorKind::AddrInUse => Some(
            "Another program (perhaps another ward) uses that port: stop it, or pass --listen with another port",
        ),
        std::io::ErrorKind::PermissionDenied => {
            Some("Check the permissions, or pick a port above 1024 with --listen")
        }
        _ => None,
    }
}

fn init_logging(format: LogFormat, dev: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WARD_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(if dev {
            "debug,sqlx=warn,hyper=info"
        } else {
            "info,sqlx=warn"
        })
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn run(args: ServerArgs) -> anyhow::Result<()> {
    let flags = FlagOverrides {
        listen: args.listen.clone(),
        data_dir: args.data_dir.clone(),
        dev: args.dev.then_some(true),
    };
    let (raw, warnings) = config::load(args.config.as_deref(), &flags)?;
    let config = raw.validate()?;
    init_logging(config.log_format, config.dev);
    for w in warnings {
        tracing::warn!("{w}");
    }
    let clock = Arc::new(ward_server::SystemClock);
    let random = Arc::new(ward_server::OsRandom);
    if let Some(ServerAction::RotateKeys) = args.action {
        let kid = ward_server::rotate_keys(&config, clock, random).await?;
        println!("new signing key {kid}; earlier keys stay published until their tokens expire");
        return Ok(());
    }
    if let Some(ServerAction::RotateSshCa) = args.action {
        let id = ward_server::rotate_ssh_ca(&config, clock, random).await?;
        println!(
            "new SSH user CA key {id}; the old one stays in GET /api/ssh/ca for ssh.ttl: refresh every host's TrustedUserCAKeys file from it"
        );
        return Ok(());
    }
    // A relative data directory depends on where ward was started: say which one is used.
    let data_dir = std::path::absolute(&config.data_dir).unwrap_or(config.data_dir.clone());
    // On stderr: stdout's first line stays the `listening on …` ready line scripts wait for.
    eprintln!("ward: data directory {}", data_dir.display());
    let started = std::time::Instant::now();
    let prepared = ward_server::prepare(config, clock, random).await?;
    match &prepared.bootstrap {
        Bootstrap::Generated { email, password } => {
            eprintln!(
                "ward: created the first admin account (shown once, change it after signing in):"
            );
            eprintln!("  email:    {email}");
            eprintln!("  password: {password}");
        }
        Bootstrap::Configured { email } => tracing::info!(%email, "created the bootstrap admin"),
        Bootstrap::Existing => {}
    }
    let addr = prepared.local_addr().context("reading the bound address")?;
    tracing::info!(%addr, issuer = %prepared.state.issuer, ready_ms = started.elapsed().as_millis() as u64, "ward is ready");
    println!("listening on http://{addr}");
    prepared
        .serve(shutdown_signal())
        .await
        .context("serving HTTP")?;
    tracing::info!("shut down");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
