//! `ward profiles [list | use NAME | remove NAME]`.

use clap::Subcommand;
use serde_json::json;

use super::{print_json, CliResult, Ctx};

#[derive(Subcommand, Debug)]
pub enum ProfilesCommand {
    /// List the profiles; `*` marks the current one.
    List,
    /// Make NAME the current profile.
    Use { name: String },
    /// Log out of NAME and forget it.
    Remove { name: String },
}

pub async fn run(ctx: &Ctx, command: Option<ProfilesCommand>) -> CliResult {
    let client = ctx.bare_client();
    match command.unwrap_or(ProfilesCommand::List) {
        ProfilesCommand::List => {
            let config = client.load_config()?;
            if ctx.json() {
                let profiles: Vec<_> = config
                    .profiles
                    .iter()
                    .map(|(alias, p)| {
                        json!({
                            "alias": alias,
                            "current": config.current.as_deref() == Some(alias.as_str()),
                            "url": p.url,
                            "email": p.email,
                            "expires_at": p.expires_at,
                            "credential_store": p.credential_store,
                            "signed_in": p.credential_store.is_some(),
                        })
                    })
                    .collect();
                print_json(&json!({ "current": config.current, "profiles": profiles }));
                return Ok(());
            }
            if config.profiles.is_empty() {
                eprintln!("No profiles. Sign in with: ward login <alias> <url>");
                return Ok(());
            }
            let w = config
                .profiles
                .keys()
                .map(String::len)
                .max()
                .unwrap_or(5)
                .max(5);
            println!("  {:w$}  {:30}  {:25}  STATUS", "NAME", "URL", "EMAIL");
            for (alias, p) in &config.profiles {
                let mark = if config.current.as_deref() == Some(alias.as_str()) {
                    '*'
                } else {
                    ' '
                };
                let status = if p.credential_store.is_some() {
                    "signed in"
                } else {
                    "signed out"
                };
                println!(
                    "{mark} {alias:w$}  {:30}  {:25}  {status}",
                    p.url.trim_end_matches('/'),
                    p.email.as_deref().unwrap_or("-"),
                );
            }
        }
        ProfilesCommand::Use { name } => {
            client.use_profile(&name)?;
            eprintln!("Now using profile {name}.");
        }
        ProfilesCommand::Remove { name } => {
            client.remove_profile(&name).await?;
            eprintln!("Removed profile {name}.");
        }
    }
    Ok(())
}
