//! `ward tokens [create --name N --scope S… [--expires 90d] | list | revoke ID]`: API tokens
//! for scripts and CI. The secret is printed once, on stdout, when it is created.

use clap::Subcommand;
use serde_json::json;
use ward_client::{format_rfc3339, parse_rfc3339, Clock, SystemClock};
use ward_proto::{CreateToken, CreatedToken, TokenInfo, TokenList};

use super::sessions::segment;
use super::{
    call_api, decode, print_json, print_table, short_time, to_body, CliError, CliResult, Ctx,
};

#[derive(Subcommand, Debug)]
pub enum TokensCommand {
    /// Create a token; its secret is printed once, on stdout.
    Create {
        /// A name to recognize the token by, e.g. ci-deploy.
        #[arg(long)]
        name: String,
        /// A permission the token may use, `resource:action` (repeatable).
        #[arg(long = "scope", value_name = "SCOPE", required = true, num_args = 1..)]
        scopes: Vec<String>,
        /// When it expires: a duration from now (90d, 12h), an RFC 3339 time, or `never`. The
        /// default, 90 days, is the web page's too.
        #[arg(long, default_value = "90d")]
        expires: String,
    },
    /// List your live tokens (never their secrets).
    List,
    /// Revoke a token: it stops working at once.
    Revoke {
        /// The token id (from `ward tokens list`).
        id: String,
    },
}

/// `--expires` as an RFC 3339 time, or `None` for `never`.
pub(super) fn expires_at(text: &str, now: u64) -> Result<Option<String>, CliError> {
    if text.eq_ignore_ascii_case("never") {
        return Ok(None);
    }
    if let Some(t) = parse_rfc3339(text) {
        return Ok(Some(format_rfc3339(t)));
    }
    let d = humantime::parse_duration(text).map_err(|_| {
        CliError::usage(format!(
            "--expires {text:?} is not a duration (90d, 12h), an RFC 3339 time or never"
        ))
    })?;
    Ok(Some(format_rfc3339(now.saturating_add(d.as_secs()))))
}

pub async fn run(ctx: &Ctx, command: Option<TokensCommand>) -> CliResult {
    match command.unwrap_or(TokensCommand::List) {
        TokensCommand::Create {
            name,
            scopes,
            expires,
        } => {
            let body = CreateToken {
                name,
                scopes,
                expires_at: expires_at(&expires, SystemClock.unix())?,
            };
            let v = call_api(ctx, "POST", "/api/tokens", Some(to_body(&body))).await?;
            if ctx.json() {
                print_json(&v);
                return Ok(());
            }
            let created: CreatedToken = decode("/api/tokens", v)?;
            let expiry = created
                .info
                .expires_at
                .as_deref()
                .map(short_time)
                .unwrap_or_else(|| "never".to_owned());
            eprintln!(
                "Created API token {} ({}), expires: {expiry}. Copy it now: it is not shown again.",
                created.info.name, created.info.id,
            );
            println!("{}", created.token);
            Ok(())
        }
        TokensCommand::List => {
            let v = call_api(ctx, "GET", "/api/tokens", None).await?;
            if ctx.json() {
                print_json(&v);
                return Ok(());
            }
            let list: TokenList = decode("/api/tokens", v)?;
            let tokens: Vec<TokenInfo> = list.tokens.into_iter().filter(|t| !t.revoked).collect();
            if tokens.is_empty() {
                eprintln!(
                    "No API tokens. Create one with: ward tokens create --name NAME --scope containers:read"
                );
                return Ok(());
            }
            let rows = tokens
                .iter()
                .map(|t| {
                    let time = |v: &Option<String>| {
                        v.as_deref()
                            .map(short_time)
                            .unwrap_or_else(|| "never".into())
                    };
                    vec![
                        t.id.clone(),
                        t.name.clone(),
                        t.scopes.join(","),
                        short_time(&t.created_at),
                        time(&t.expires_at),
                        time(&t.last_used_at),
                    ]
                })
                .collect();
            print_table(
                &["ID", "NAME", "SCOPES", "CREATED", "EXPIRES", "LAST USED"],
                rows,
            );
            Ok(())
        }
        TokensCommand::Revoke { id } => {
            call_api(
                ctx,
                "DELETE",
                &format!("/api/tokens/{}", segment(&id)),
                None,
            )
            .await?;
            if ctx.json() {
                print_json(&json!({"revoked": id}));
            } else {
                println!("Revoked API token {id}");
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_forms() {
        assert_eq!(expires_at("never", 0).ok(), Some(None));
        assert_eq!(
            expires_at("90d", 0).ok().flatten().as_deref(),
            Some("1970-04-01T00:00:00Z")
        );
        assert_eq!(
            expires_at("2027-01-31T00:00:00Z", 0)
                .ok()
                .flatten()
                .as_deref(),
            Some("2027-01-31T00:00:00Z")
        );
        assert!(expires_at("soon", 0).is_err());
    }
}
