//! `ward credential kube|git|docker`: credential helpers that kubectl, git and docker run on
//! every command (SPEC §3.1). Each writes nothing to stdout but its protocol's answer, takes the
//! token from ward-client's token source (refreshing under the cross-process lock, so parallel
//! invocations rotate the refresh token once), and fails with an `Error:` line on stderr when
//! it cannot help.

mod docker;
mod git;
mod kube;

use std::io::Read;

use clap::Subcommand;
use url::Url;
use ward_client::{AccessToken, Client};

use super::{CliError, CliResult, Ctx};

#[derive(Subcommand, Debug)]
pub enum CredentialCommand {
    /// kubectl exec plugin: prints an ExecCredential with the token and its expiry.
    Kube(kube::KubeArgs),
    /// git credential helper (get, store, erase) for the profile's host.
    Git(git::GitArgs),
    /// docker credential helper (get, list, store, erase).
    Docker(docker::DockerArgs),
}

pub async fn run(ctx: &Ctx, command: CredentialCommand) -> CliResult {
    match command {
        CredentialCommand::Kube(args) => kube::run(ctx, args).await,
        CredentialCommand::Git(args) => git::run(ctx, args).await,
        CredentialCommand::Docker(args) => docker::run(ctx, args).await,
    }
}

/// The profile a helper serves and its server URL.
pub struct Target {
    pub client: Client,
    pub alias: String,
    pub url: Url,
}

impl Target {
    /// The profile (flag > `WARD_PROFILE` > `.ward-profile` > current > `default`) and its URL
    /// (`--url` > `WARD_URL` > the profile's).
    pub fn resolve(ctx: &Ctx) -> CliResult<Target> {
        let client = ctx.client();
        let alias = client.resolve_alias(ctx.global.profile.as_deref())?;
        let url = client.resolve_url(&alias, ctx.global.url.as_deref())?;
        Ok(Target { client, alias, url })
    }

    /// A token the tool can send as it is: the profile's bearer, or for a DPoP-bound session a
    /// short-lived bearer exchanged with the key (decision 153).
    pub async fn token(&self) -> ward_client::Result<AccessToken> {
        self.client.tool_token(&self.alias).await
    }

    /// `scheme://host[:port]` of the server.
    pub fn origin(&self) -> String {
        self.url.origin().ascii_serialization()
    }
}

/// The hosts a git or docker helper answers for: the profile's server, or the `--host` ones.
pub struct Hosts(Vec<HostPattern>);

struct HostPattern {
    /// `None`: any scheme.
    scheme: Option<String>,
    /// `host[:port]`, lower case, without the scheme's default port.
    authority: String,
}

impl Hosts {
    /// `--host` values (a URL, or `host[:port]` for any scheme), else the server's own.
    pub fn new(server: &Url, hosts: &[String]) -> CliResult<Hosts> {
        if hosts.is_empty() {
            return Ok(Hosts(vec![HostPattern {
                scheme: Some(server.scheme().to_owned()),
                authority: authority_of(server),
            }]));
        }
        let mut out = Vec::new();
        for h in hosts {
            out.push(parse_host(h)?);
        }
        Ok(Hosts(out))
    }

    /// Whether `authority` (`host[:port]`) reached over `scheme` (`None`: unknown) is served.
    pub fn matches(&self, scheme: Option<&str>, authority: &str) -> bool {
        let authority = normalize_authority(scheme, authority);
        self.0.iter().any(|p| {
            p.authority == authority
                && match (&p.scheme, scheme) {
                    (Some(want), Some(got)) => want.eq_ignore_ascii_case(got),
                    _ => true,
                }
        })
    }

    /// `scheme://authority` of the first host, for configuration keys.
    pub fn first_url(&self, default_scheme: &str) -> String {
        let p = &self.0[0];
        format!(
            "{}://{}",
            p.scheme.as_deref().unwrap_or(default_scheme),
            p.authority
        )
    }
}

fn parse_host(h: &str) -> CliResult<HostPattern> {
    let h = h.trim();
    if h.contains("://") {
        let url = Url::parse(h).map_err(|e| CliError::usage(format!("--host {h:?}: {e}")))?;
        if url.host_str().is_none() {
            return Err(CliError::usage(format!("--host {h:?} names no host")));
        }
        return Ok(HostPattern {
            scheme: Some(url.scheme().to_owned()),
            authority: authority_of(&url),
        });
    }
    if h.is_empty() || h.contains(['/', '@', ' ']) {
        return Err(CliError::usage(format!(
            "--host {h:?} is not a host name (give host[:port] or a URL)"
        )));
    }
    Ok(HostPattern {
        scheme: None,
        authority: h.to_ascii_lowercase(),
    })
}

fn authority_of(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host,
    }
}

/// `host:443` over https is `host` (as [`Url`] writes it).
fn normalize_authority(scheme: Option<&str>, authority: &str) -> String {
    let authority = authority.trim().to_ascii_lowercase();
    let default = match scheme {
        Some(s) if s.eq_ignore_ascii_case("https") => ":443",
        Some(s) if s.eq_ignore_ascii_case("http") => ":80",
        _ => return authority,
    };
    authority
        .strip_suffix(default)
        .map(str::to_owned)
        .unwrap_or(authority)
}

/// All of stdin (helpers get their request there).
pub fn read_stdin() -> CliResult<String> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .map_err(|e| CliError::new(format!("cannot read the request on stdin: {e}")))?;
    Ok(s)
}

/// The path of this executable, for commands other tools run (`!'/usr/bin/ward' credential git`).
pub fn current_exe() -> CliResult<String> {
    std::env::current_exe()
        .map(|p| p.display().to_string())
        .map_err(|e| CliError::new(format!("cannot find the ward executable: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_match_scheme_and_port() {
        let server = Url::parse("https://ward.example.com/").unwrap();
        let own = Hosts::new(&server, &[]).unwrap();
        assert!(own.matches(Some("https"), "ward.example.com"));
        assert!(own.matches(Some("https"), "WARD.example.com:443"));
        assert!(!own.matches(Some("http"), "ward.example.com"));
        assert!(!own.matches(Some("https"), "ward.example.com:8443"));
        assert!(!own.matches(Some("https"), "github.com"));
        let dev = Url::parse("http://127.0.0.1:8080").unwrap();
        let dev = Hosts::new(&dev, &[]).unwrap();
        assert!(dev.matches(Some("http"), "127.0.0.1:8080"));
        assert!(!dev.matches(Some("http"), "127.0.0.1"));
        let named = Hosts::new(
            &server,
            &["git.example.com".into(), "http://10.0.0.1:3000".into()],
        )
        .unwrap();
        assert!(named.matches(Some("https"), "git.example.com"));
        assert!(named.matches(None, "git.example.com"));
        assert!(named.matches(Some("http"), "10.0.0.1:3000"));
        assert!(!named.matches(Some("https"), "ward.example.com"));
        assert_eq!(named.first_url("https"), "https://git.example.com");
        assert!(Hosts::new(&server, &["a/b".into()]).is_err());
    }
}
