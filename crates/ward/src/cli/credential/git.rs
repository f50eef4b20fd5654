//! `ward credential git get|store|erase`: git's credential-helper protocol (gitcredentials(7),
//! git-credential(1)). git writes `key=value` lines on stdin; for the profile's host (or the
//! `--host` ones) `get` answers `username`, `password` (the access token, which the proxy and
//! forward-auth accept as the HTTP Basic password) and `password_expiry_utc`; for any other
//! host it answers nothing, so git asks the next helper. `store` keeps nothing (ward's session
//! is the credential); `erase` (git saw the token refused) says why and what to run, and drops
//! the cached access token so the next `get` refreshes it.

use std::collections::BTreeMap;
use std::io::Write;

use super::{read_stdin, Hosts, Target};
use crate::cli::{CliError, CliResult, Ctx};

#[derive(clap::Args, Debug)]
pub struct GitArgs {
    /// Answer for this host (host[:port] or a URL) instead of the ward server's own; repeatable.
    #[arg(long = "host", value_name = "HOST")]
    pub hosts: Vec<String>,
    /// What git asks: get, store or erase (others are ignored, as the protocol says).
    pub operation: String,
}

/// The username ward answers with: git and the proxy need one, the proxy ignores it.
const USERNAME: &str = "ward";

/// git's request: `key=value` lines up to a blank line or the end.
fn parse_request(input: &str) -> BTreeMap<String, String> {
    input
        .lines()
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

pub async fn run(ctx: &Ctx, args: GitArgs) -> CliResult {
    let op = args.operation.as_str();
    if !matches!(op, "get" | "store" | "erase") {
        return Ok(());
    }
    let request = parse_request(&read_stdin()?);
    if op == "store" {
        return Ok(());
    }
    let target = Target::resolve(ctx)?;
    let hosts = Hosts::new(&target.url, &args.hosts)?;
    let Some(host) = request.get("host") else {
        return Ok(());
    };
    if !hosts.matches(request.get("protocol").map(String::as_str), host) {
        return Ok(());
    }
    if op == "erase" {
        return erase(&target, host, request.get("password")).await;
    }
    let token = target.token().await?;
    let username = request
        .get("username")
        .map(String::as_str)
        .unwrap_or(USERNAME);
    let mut answer = format!("username={username}\npassword={}\n", token.token.expose());
    if let Some(exp) = token.expires_at {
        // git ≥ 2.41 does not reuse a credential past this (another helper's cache included).
        answer.push_str(&format!("password_expiry_utc={exp}\n"));
    }
    let mut out = std::io::stdout().lock();
    out.write_all(answer.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| CliError::new(format!("cannot answer git: {e}")))
}

/// git reports the token refused: ask the server why, so the user reads it beside git's
/// "Authentication failed", and stop handing out that token.
async fn erase(target: &Target, host: &str, password: Option<&String>) -> CliResult {
    let Some(password) = password.filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    if target.client.has_token_override() {
        return Err(crate::cli::token_refused(
            target
                .client
                .token_override_source()
                .unwrap_or("WARD_TOKEN"),
            &format!("{host} answered 401"),
        ));
    }
    target
        .client
        .discard_access_token(&target.alias, password)
        .await?;
    let reason = match target.client.token_refusal(&target.url, password).await {
        Ok(Some(reason)) => reason,
        // The server takes the token: the refusal was the repository's, not ward's.
        Ok(None) => return Ok(()),
        Err(e) => format!("(the server could not be asked why: {e})"),
    };
    Err(CliError::new(format!(
        "{host} refused the token of profile {}: {reason}",
        target.alias
    ))
    .hint(format!(
        "Please run: ward login {} {}",
        target.alias,
        target.url.as_str().trim_end_matches('/')
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_stops_at_the_blank_line() {
        let r = parse_request(
            "protocol=https\nhost=git.example.com\nwwwauth[]=Basic realm=\"ward\"\n\nignored=1\n",
        );
        assert_eq!(r["protocol"], "https");
        assert_eq!(r["host"], "git.example.com");
        assert_eq!(r["wwwauth[]"], "Basic realm=\"ward\"");
        assert!(!r.contains_key("ignored"));
    }
}
