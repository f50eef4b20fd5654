//! `ward logout [--all]`.

use super::{CliResult, Ctx};

#[derive(clap::Args, Debug)]
pub struct LogoutArgs {
    /// Log out of every profile.
    #[arg(long)]
    pub all: bool,
}

pub async fn run(ctx: &Ctx, args: LogoutArgs) -> CliResult {
    let client = ctx.bare_client();
    let config = client.load_config()?;
    let aliases: Vec<String> = if args.all {
        config.profiles.keys().cloned().collect()
    } else if config.profiles.is_empty() {
        // Not signed in anywhere: nothing to do is not an error (SPEC §3.1).
        eprintln!("Not logged in: there are no profiles.");
        return Ok(());
    } else {
        let alias = client.resolve_alias(ctx.global.profile.as_deref())?;
        client.require_profile(&alias)?;
        vec![alias]
    };
    if aliases.is_empty() {
        eprintln!("Not logged in: there are no profiles.");
        return Ok(());
    }
    for alias in aliases {
        let url = config
            .profiles
            .get(&alias)
            .map(|p| p.url.trim_end_matches('/').to_owned())
            .unwrap_or_default();
        if client.logout(&alias).await? {
            eprintln!("Logged out of {url} (profile {alias}).");
        } else {
            eprintln!("Not logged in to {url} (profile {alias}): nothing to do.");
        }
    }
    Ok(())
}
