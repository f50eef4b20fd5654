//! `ward auth setup-git [--host H]`: makes git ask `ward credential git` for the server's host
//! (or H) in the user's global git config, as `gh auth setup-git` does: an empty
//! `credential.<url>.helper` first (so helpers configured for every host, such as a password
//! store, are not asked for this one), then ward's.

use clap::Subcommand;

use super::credential::{current_exe, Hosts, Target};
use super::{CliError, CliResult, Ctx};

#[derive(Subcommand, Debug)]
pub enum AuthCommand {
    /// Configure git to use ward's credentials for the server's host (or --host).
    SetupGit(SetupGitArgs),
}

#[derive(clap::Args, Debug)]
pub struct SetupGitArgs {
    /// The git host to set up (host[:port] or a URL), when it is not the ward server itself
    /// (e.g. a git server behind nginx using ward's forward-auth).
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
}

pub async fn run(ctx: &Ctx, command: AuthCommand) -> CliResult {
    match command {
        AuthCommand::SetupGit(args) => setup_git(ctx, args),
    }
}

/// Single-quoted for the shell git runs `!` helpers with.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn setup_git(ctx: &Ctx, args: SetupGitArgs) -> CliResult {
    let target = Target::resolve(ctx)?;
    let hosts: Vec<String> = args.host.iter().cloned().collect();
    let url = Hosts::new(&target.url, &hosts)?.first_url(target.url.scheme());
    let mut helper = format!("!{} credential git", sh_quote(&current_exe()?));
    // The profile is pinned only when asked for by --profile, so `.ward-profile` can still
    // pick the account per directory (decision 132).
    if let Some(p) = &ctx.global.profile {
        helper.push_str(&format!(" --profile {}", sh_quote(p)));
    }
    if let Some(h) = &args.host {
        helper.push_str(&format!(" --host {}", sh_quote(h)));
    }
    let key = format!("credential.{url}.helper");
    git_config(&["--replace-all", &key, ""])?;
    git_config(&["--add", &key, &helper])?;
    println!("Configured git to use ward for {url} ({key}).");
    Ok(())
}

fn git_config(args: &[&str]) -> CliResult {
    let out = std::process::Command::new("git")
        .arg("config")
        .arg("--global")
        .args(args)
        .output()
        .map_err(|e| {
            CliError::new(format!("cannot run git: {e}")).hint("Install git, then run this again")
        })?;
    if out.status.success() {
        return Ok(());
    }
    Err(CliError::new(format!(
        "git config failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}
