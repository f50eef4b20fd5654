//! `ward credential docker get|list|store|erase|version`: docker's credential-helper protocol
//! (github.com/docker/docker-credential-helpers). docker runs `docker-credential-<name>` with
//! the operation as the argument and the request on stdin; ward answers for its server's host
//! (or the `--host` ones) with the access token as the secret, which the proxy accepts as the
//! HTTP Basic password. The binary also answers when called as `docker-credential-ward` (a
//! link to it), which is what `"credHelpers": {"registry.example.com": "ward"}` runs.
//!
//! Failures follow the protocol: the message goes to stdout (docker shows what the helper
//! printed there), with the usual `Error:` line on stderr, and the exit status is 1; an unknown
//! host is `credentials not found in native keychain`, which docker takes as "no credentials".

use std::io::Write;

use serde::Deserialize;
use serde_json::json;

use super::{read_stdin, Hosts, Target};
use crate::cli::{CliError, CliResult, Ctx};

/// docker's "no credentials here" answer (credentials.errCredentialsNotFoundMessage).
const NOT_FOUND: &str = "credentials not found in native keychain";
const USERNAME: &str = "ward";

#[derive(clap::Args, Debug)]
pub struct DockerArgs {
    /// Answer for this registry host (host[:port] or a URL) instead of the ward server's own;
    /// repeatable.
    #[arg(long = "host", value_name = "HOST")]
    pub hosts: Vec<String>,
    /// What docker asks: get, list, store, erase or version.
    pub operation: String,
}

/// `store`'s request.
#[derive(Deserialize)]
#[allow(dead_code)]
struct StoreRequest {
    #[serde(rename = "ServerURL")]
    server_url: String,
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// A registry as docker names it (`registry.example.com`, `https://host:5000/v1/`): the
/// scheme when given and `host[:port]`.
fn split_server_url(server: &str) -> (Option<&str>, &str) {
    let server = server.trim();
    let (scheme, rest) = match server.split_once("://") {
        Some((s, rest)) => (Some(s), rest),
        None => (None, server),
    };
    (scheme, rest.split('/').next().unwrap_or_default())
}

fn answer(text: &str) -> CliResult {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(|e| CliError::new(format!("cannot answer docker: {e}")))
}

/// The protocol's failure: the message on stdout for docker, the `Error:` line on stderr.
fn fail(e: CliError) -> CliResult {
    let _ = answer(&e.message);
    Err(e)
}

pub async fn run(ctx: &Ctx, args: DockerArgs) -> CliResult {
    match args.operation.as_str() {
        "version" => answer(&format!(
            "docker-credential-ward (ward) {}",
            env!("CARGO_PKG_VERSION")
        )),
        "get" => get(ctx, &args.hosts).await,
        "list" => list(ctx, &args.hosts),
        "store" => store(),
        "erase" => {
            let _ = read_stdin()?;
            eprintln!("ward: nothing to erase; to sign out, run: ward logout");
            Ok(())
        }
        other => fail(CliError::usage(format!(
            "unknown docker credential operation {other:?} (expected get, list, store, erase or version)"
        ))),
    }
}

async fn get(ctx: &Ctx, hosts: &[String]) -> CliResult {
    let server = read_stdin()?;
    let server = server.trim();
    let target = match Target::resolve(ctx) {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    let (scheme, authority) = split_server_url(server);
    if !Hosts::new(&target.url, hosts)?.matches(scheme, authority) {
        let _ = answer(NOT_FOUND);
        return Err(CliError::new(format!(
            "ward has no credentials for {server} (profile {} is for {})",
            target.alias,
            target.origin()
        )));
    }
    let token = match target.token().await {
        Ok(t) => t,
        Err(e) => return fail(e.into()),
    };
    answer(
        &json!({
            "ServerURL": server,
            "Username": USERNAME,
            "Secret": token.token.expose(),
        })
        .to_string(),
    )
}

/// The hosts ward has credentials for: its server's, or the `--host` ones.
fn list(ctx: &Ctx, hosts: &[String]) -> CliResult {
    let target = match Target::resolve(ctx) {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    let mut map = serde_json::Map::new();
    if hosts.is_empty() {
        map.insert(target.origin(), json!(USERNAME));
    }
    for h in hosts {
        map.insert(h.clone(), json!(USERNAME));
    }
    answer(&serde_json::Value::Object(map).to_string())
}

/// `docker login` hands over what the user typed: ward keeps nothing, its session is the
/// credential (decision 134).
fn store() -> CliResult {
    let raw = read_stdin()?;
    let req: StoreRequest = match serde_json::from_str(&raw) {
        Ok(r) => r,
        Err(e) => {
            return fail(CliError::new(format!(
                "docker sent no credentials to store: {e}"
            )))
        }
    };
    eprintln!(
        "ward: not storing credentials for {}: ward sends its own token (sign in with: ward login)",
        req.server_url
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_as_docker_writes_them() {
        assert_eq!(
            split_server_url("registry.example.com"),
            (None, "registry.example.com")
        );
        assert_eq!(
            split_server_url("https://registry.example.com:5000/v1/\n"),
            (Some("https"), "registry.example.com:5000")
        );
        assert_eq!(
            split_server_url("localhost:5000/x"),
            (None, "localhost:5000")
        );
    }
}
