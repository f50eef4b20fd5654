//! `ward ssh [USER@]HOST [--via ROUTE] [-- SSH_ARGS…]` (SPEC §3.1): a fresh Ed25519 key pair, a
//! certificate for it from `POST /api/ssh/certificates`, then OpenSSH with that identity. The
//! key and certificate live in a private temporary directory only while ssh runs. `--via ROUTE`
//! reaches the host through a TCP route (`ward tunnel ROUTE` as the `ProxyCommand`).

use std::path::{Path, PathBuf};

use clap::Args;
use ssh_key::private::Ed25519Keypair;
use ssh_key::{LineEnding, PrivateKey};
use ward_core::Random;
use ward_proto::{CertificateBody, CertificateIssued};

use super::{call_api, decode, to_body, CliError, CliResult, Ctx};

const CERTIFICATES: &str = "/api/ssh/certificates";

#[derive(Args, Debug)]
pub struct SshArgs {
    /// `host` or `user@host`; without a user, the certificate's first principal.
    pub destination: String,
    /// Reach the host through this TCP route (its path, e.g. /tcp/ssh).
    #[arg(long)]
    pub via: Option<String>,
    /// A ticket for a locked host (from `ward verify KIND HOST`).
    #[arg(long)]
    pub ticket: Option<String>,
    /// The ssh program to run.
    #[arg(long, default_value = "ssh")]
    pub ssh_program: String,
    /// Passed to ssh after `--` (options, then a remote command).
    #[arg(last = true)]
    pub ssh_args: Vec<String>,
}

/// A directory only the user can read, removed when dropped.
struct PrivateDir(PathBuf);

impl PrivateDir {
    fn new() -> CliResult<PrivateDir> {
        let mut name = [0u8; 12];
        ward_server::OsRandom.fill(&mut name);
        let hex: String = name.iter().map(|b| format!("{b:02x}")).collect();
        let dir = std::env::temp_dir().join(format!("ward-ssh-{hex}"));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder
            .create(&dir)
            .map_err(|e| CliError::new(format!("cannot create {}: {e}", dir.display())))?;
        Ok(PrivateDir(dir))
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write_private(path: &Path, contents: &[u8]) -> CliResult {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    options
        .open(path)
        .and_then(|mut f| f.write_all(contents))
        .map_err(|e| CliError::new(format!("cannot write {}: {e}", path.display())))
}

pub async fn run(ctx: &Ctx, args: SshArgs) -> CliResult {
    let (user, host) = match args.destination.rsplit_once('@') {
        Some((u, h)) => (Some(u.to_owned()), h.to_owned()),
        None => (None, args.destination.clone()),
    };
    if host.is_empty() || host.starts_with('-') {
        return Err(CliError::usage(format!(
            "{:?} is not a host: expected HOST or USER@HOST",
            args.destination
        )));
    }
    let mut seed = [0u8; 32];
    ward_server::OsRandom.fill(&mut seed);
    let key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    let public = key
        .public_key()
        .to_openssh()
        .map_err(|e| CliError::new(format!("cannot encode the key: {e}")))?;
    let body = CertificateBody {
        public_key: public,
        principals: user.clone().map(|u| vec![u]),
        host: Some(host.clone()),
        ticket: args.ticket.clone(),
    };
    let issued = call_api(ctx, "POST", CERTIFICATES, Some(to_body(&body))).await?;
    let issued: CertificateIssued = decode(CERTIFICATES, issued)?;
    let certificate = issued.certificate;
    let login = match user {
        Some(u) => u,
        None => issued
            .principals
            .first()
            .cloned()
            .ok_or_else(|| CliError::new("the certificate names no principal"))?,
    };
    let dir = PrivateDir::new()?;
    let key_path = dir.0.join("id_ed25519");
    let private = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| CliError::new(format!("cannot encode the key: {e}")))?;
    write_private(&key_path, private.as_bytes())?;
    write_private(&dir.0.join("id_ed25519-cert.pub"), certificate.as_bytes())?;
    let mut command = tokio::process::Command::new(&args.ssh_program);
    command
        .arg("-i")
        .arg(&key_path)
        .arg("-o")
        .arg(format!(
            "CertificateFile={}",
            dir.0.join("id_ed25519-cert.pub").display()
        ))
        .args(["-o", "IdentitiesOnly=yes"]);
    if let Some(route) = &args.via {
        let exe = std::env::current_exe()
            .map_err(|e| CliError::new(format!("cannot find the ward binary: {e}")))?;
        let mut proxy = format!("'{}'", exe.display());
        if let Some(p) = &ctx.global.profile {
            proxy.push_str(&format!(" --profile '{p}'"));
        }
        proxy.push_str(&format!(" tunnel '{route}'"));
        command.arg("-o").arg(format!("ProxyCommand={proxy}"));
    }
    // OpenSSH reads options after the destination too, so `-- -p 2222 uptime` works.
    command.arg(format!("{login}@{host}"));
    command.args(&args.ssh_args);
    let status = command
        .status()
        .await
        .map_err(|e| CliError::new(format!("cannot run {}: {e}", args.ssh_program)))?;
    drop(dir);
    if status.success() {
        Ok(())
    } else {
        Err(CliError::new(format!(
            "{} exited with {}",
            args.ssh_program,
            status
                .code()
                .map_or("a signal".to_owned(), |c| format!("status {c}"))
        )))
    }
}
