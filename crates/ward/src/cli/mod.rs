//! The user CLI (`ward login`, `ward status`, …), built on ward-client. Human messages go to
//! stderr, results (status lines, tokens, JSON) to stdout; errors are one `Error:` line plus a
//! hint; exit 0 on success, 1 on failure, 2 on usage errors.

mod admin;
mod api;
mod approve;
mod auth;
mod clients;
pub mod credential;
mod env;
mod events;
pub mod examples;
mod login;
mod logout;
mod mfa;
mod password;
mod profiles;
mod progress;
mod reauth;
mod service_accounts;
mod sessions;
mod ssh;
mod status;
mod token;
mod tokens;
mod tunnel;

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Subcommand, ValueEnum};
use ward_client::{Client, Params};
use ward_proto::ErrorBody;

/// Flags accepted by every user command.
#[derive(clap::Args, Debug, Clone)]
pub struct GlobalArgs {
    /// Profile to use [env: WARD_PROFILE]; default: the one a `.ward-profile` file in this
    /// directory or a parent names, else the current profile.
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// Use this API token instead of stored credentials [env: WARD_TOKEN].
    #[arg(long, global = true, value_name = "TOKEN")]
    pub api_token: Option<String>,
    /// Server URL [env: WARD_URL]; default: the profile's.
    #[arg(long, global = true, value_name = "URL")]
    pub url: Option<String>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// `--output`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Human-readable text.
    Text,
    /// JSON on stdout.
    Json,
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Sign in to a ward server and store the session in a profile.
    Login(login::LoginArgs),
    /// Show who is signed in (exit 1 when not signed in).
    #[command(visible_alias = "whoami")]
    Status,
    /// Revoke the session on the server and forget its secret (the profile is kept).
    Logout(logout::LogoutArgs),
    /// Change your password (asked twice, without echo); other sessions are signed out.
    Password(password::PasswordArgs),
    /// Print a valid access token for scripts, refreshing it when near expiry.
    Token,
    /// List profiles, switch the current one, or remove one.
    Profiles {
        #[command(subcommand)]
        command: Option<profiles::ProfilesCommand>,
    },
    /// Make NAME the current profile (as `ward profiles use NAME`).
    Switch {
        /// The profile to use from now on.
        name: String,
    },
    /// Call the gateway's API with the profile's credentials.
    Api(api::ApiArgs),
    /// Your API tokens: create, list, revoke.
    Tokens {
        #[command(subcommand)]
        command: Option<tokens::TokensCommand>,
    },
    /// Your sessions: list, revoke.
    Sessions {
        #[command(subcommand)]
        command: Option<sessions::SessionsCommand>,
    },
    /// Two-step verification: status, enable (QR code), disable, backup codes.
    Mfa {
        #[command(subcommand)]
        command: Option<mfa::MfaCommand>,
    },
    /// Lock a resource behind a fresh MFA code for every new connection.
    Lock(mfa::ResourceArgs),
    /// Remove a resource's MFA lock.
    Unlock(mfa::ResourceArgs),
    /// Get a single-use ticket to open one connection to a locked resource (without --code:
    /// approve it on another device).
    Verify(mfa::ResourceArgs),
    /// Standard input and output over a TCP route (for ssh's ProxyCommand).
    Tunnel(tunnel::TunnelArgs),
    /// Sign in to a host with OpenSSH and a short-lived certificate from ward.
    Ssh(ssh::SshArgs),
    /// Admin views and actions: users, sessions, audit log.
    Admin {
        #[command(subcommand)]
        command: admin::AdminCommand,
    },
    /// Credential helpers that kubectl, git and docker run (see `ward auth setup-git`).
    Credential {
        #[command(subcommand)]
        command: credential::CredentialCommand,
    },
    /// Print the server URL and a valid token as environment variables (WARD_URL, WARD_TOKEN).
    Env(env::EnvArgs),
    /// Set up other tools to use ward's credentials: setup-git.
    Auth {
        #[command(subcommand)]
        command: auth::AuthCommand,
    },
}

/// A failure: the message, an optional hint, and whether it was a usage error (exit 2).
#[derive(Debug)]
pub struct CliError {
    message: String,
    hint: Option<String>,
    usage: bool,
    /// The server's error code (`invalid_code`, …) when the API refused the call.
    api_error: Option<String>,
}

impl CliError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: None,
            usage: false,
            api_error: None,
        }
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            usage: true,
            ..Self::new(message)
        }
    }
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl From<ward_client::Error> for CliError {
    fn from(e: ward_client::Error) -> Self {
        Self {
            message: e.to_string(),
            hint: e.hint().map(str::to_owned),
            usage: e.is_usage(),
            api_error: None,
        }
    }
}

pub type CliResult<T = ()> = Result<T, CliError>;

/// Everything a command needs.
pub struct Ctx {
    pub global: GlobalArgs,
    pub progress: Arc<progress::TermProgress>,
}

impl Ctx {
    /// A client with the global token override (`--api-token` > `WARD_TOKEN`).
    pub fn client(&self) -> Client {
        self.bare_client()
            .with_token_override(self.global.api_token.clone())
            .with_env_token()
    }

    /// A client that always uses stored credentials.
    pub fn bare_client(&self) -> Client {
        Client::new(Params::default()).with_progress(self.progress.clone())
    }

    pub fn json(&self) -> bool {
        self.global.output == Output::Json
    }
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer_pretty(&mut out, value);
    let _ = writeln!(out);
}

/// Reads an API answer as its wire type (ward-proto); an answer of another shape is a clear
/// error naming the path, never a field silently read as empty.
pub fn decode<T: serde::de::DeserializeOwned>(
    path: &str,
    value: serde_json::Value,
) -> CliResult<T> {
    serde_json::from_value(value).map_err(|e| {
        CliError::new(format!(
            "the server's answer to {path} was not understood ({e}); is the server a different ward version?"
        ))
    })
}

/// A request body as JSON.
pub fn to_body(body: &impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(body).unwrap_or_default()
}

/// An error answer's body, when it has ward's (RFC 6749 §5.2) shape.
fn error_body(bytes: &[u8]) -> Option<ErrorBody> {
    serde_json::from_slice(bytes).ok()
}

/// Calls the gateway's API with the profile's credentials and returns the JSON answer (null
/// for an empty one); an error answer becomes the server's `error_description`.
pub async fn call_api(
    ctx: &Ctx,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> CliResult<serde_json::Value> {
    let client = ctx.client();
    let alias = client.resolve_alias(ctx.global.profile.as_deref())?;
    let body = body.map(|b| b.to_string().into_bytes());
    let (mut status, mut bytes) = client
        .api(
            &alias,
            ctx.global.url.as_deref(),
            method,
            path,
            body.clone(),
        )
        .await?;
    // Account security on a session last verified too long ago: confirm it's you, then retry.
    if status == 401 {
        if let Some(refusal) = error_body(&bytes).filter(|e| e.error == reauth::REAUTH_REQUIRED) {
            Box::pin(reauth::confirm(ctx, &refusal)).await?;
            (status, bytes) = client
                .api(&alias, ctx.global.url.as_deref(), method, path, body)
                .await?;
        }
    }
    if status < 400 {
        return Ok(serde_json::from_slice(&bytes).unwrap_or_default());
    }
    let refusal = error_body(&bytes);
    let message = refusal
        .as_ref()
        .map(|e| e.error_description.clone())
        .unwrap_or_else(|| format!("{method} {path} answered HTTP {status}"));
    let mut error = CliError::new(message);
    error.api_error = refusal.map(|e| e.error);
    Err(match status {
        401 => match client.token_override_source() {
            Some(source) => token_refused(source, &error.message),
            None => error.hint(format!("Please run: ward login {alias}")),
        },
        403 if path.starts_with("/api/admin") => error.hint(
            "The admin commands need an admin signed in with `ward login` (not an API token).",
        ),
        _ => error,
    })
}

/// One answer for a profile that does not exist, whatever the command (a usage error, exit 2):
/// when it was named (`--profile`, `WARD_PROFILE`) or other profiles exist. Not for `login`
/// (which creates it), `profiles` (which says it itself) or a token override (no profile needed).
fn check_profile(ctx: &Ctx, command: &UserCommand) -> CliResult {
    match command {
        UserCommand::Login(_) | UserCommand::Profiles { .. } | UserCommand::Switch { .. } => {
            return Ok(())
        }
        UserCommand::Logout(args) if args.all => return Ok(()),
        _ => {}
    }
    let client = ctx.client();
    if client.has_token_override() {
        return Ok(());
    }
    let (alias, source) = client.resolve_alias_with_source(ctx.global.profile.as_deref())?;
    let config = client.load_config()?;
    if config.profiles.contains_key(&alias) || (!source.is_named() && config.profiles.is_empty()) {
        return Ok(());
    }
    let mut error = CliError::from(client.unknown_profile(&alias)?);
    if let ward_client::AliasSource::Directory(file) = source {
        error.message = format!("{} (named by {})", error.message, file.display());
    }
    Err(error)
}

/// The server refused the `--api-token` / `WARD_TOKEN` override: logging in cannot help while
/// it wins, so say so instead of suggesting `ward login`.
pub fn token_refused(source: &str, reason: &str) -> CliError {
    CliError::new(format!("the token from {source} was refused: {reason}")).hint(format!(
        "{source} takes precedence over stored credentials: give a valid token, or do without it to use the profile's"
    ))
}

/// Prints rows under headers in aligned columns (the last column is not padded).
pub fn print_table(headers: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.trim_end().to_owned()
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", line(headers.to_vec()));
    for row in &rows {
        let _ = writeln!(out, "{}", line(row.iter().map(String::as_str).collect()));
    }
}

/// `2026-11-25T10:31:00Z` → `2026-11-25 10:31 UTC`; anything else as it is.
pub fn short_time(rfc3339: &str) -> String {
    match (rfc3339.get(..10), rfc3339.get(11..16)) {
        (Some(day), Some(hm)) if rfc3339.len() >= 20 => format!("{day} {hm} UTC"),
        _ => rfc3339.to_owned(),
    }
}

pub fn main(global: GlobalArgs, command: UserCommand) -> ExitCode {
    let ctx = Ctx {
        global,
        progress: Arc::new(progress::TermProgress::new()),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        check_profile(&ctx, &command)?;
        match command {
            UserCommand::Login(args) => login::run(&ctx, args).await,
            UserCommand::Status => status::run(&ctx).await,
            UserCommand::Logout(args) => logout::run(&ctx, args).await,
            UserCommand::Token => token::run(&ctx).await,
            UserCommand::Password(args) => password::run(&ctx, args).await,
            UserCommand::Profiles { command } => profiles::run(&ctx, command).await,
            UserCommand::Switch { name } => {
                profiles::run(&ctx, Some(profiles::ProfilesCommand::Use { name })).await
            }
            UserCommand::Api(args) => api::run(&ctx, args).await,
            UserCommand::Tokens { command } => tokens::run(&ctx, command).await,
            UserCommand::Sessions { command } => sessions::run(&ctx, command).await,
            UserCommand::Admin { command } => admin::run(&ctx, command).await,
            UserCommand::Mfa { command } => mfa::run(&ctx, command).await,
            UserCommand::Lock(args) => mfa::resource(&ctx, "lock", args).await,
            UserCommand::Unlock(args) => mfa::resource(&ctx, "unlock", args).await,
            UserCommand::Verify(args) => mfa::resource(&ctx, "verify", args).await,
            UserCommand::Tunnel(args) => tunnel::run(&ctx, args).await,
            UserCommand::Ssh(args) => ssh::run(&ctx, args).await,
            UserCommand::Credential { command } => credential::run(&ctx, command).await,
            UserCommand::Env(args) => env::run(&ctx, args).await,
            UserCommand::Auth { command } => auth::run(&ctx, command).await,
        }
    });
    ctx.progress.finish();
    // Do not wait for a stdin reader or a keyring thread that may still be blocked.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {}", e.message);
            if let Some(h) = e.hint {
                eprintln!("{h}");
            }
            if e.usage {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
