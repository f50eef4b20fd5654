//! `ward admin service-accounts list|create|delete|token` (SPEC §2.15): non-human identities
//! with their own role, for CI jobs and agents. A token's secret is printed once, on stdout.

use clap::Subcommand;
use serde_json::{json, Value};
use ward_client::{Clock, SystemClock};

use super::sessions::segment;
use super::{call_api, print_json, print_table, short_time, CliError, CliResult, Ctx};

#[derive(Subcommand, Debug)]
pub enum ServiceAccountsCommand {
    /// List service accounts and their tokens (never the secrets).
    List,
    /// Create a service account with a role.
    Create {
        /// Unique name: letters, digits, '.', '_' and '-', e.g. ci-deploy.
        name: String,
        /// The role its tokens act within.
        #[arg(long)]
        role: String,
    },
    /// Delete a service account: every token of it stops working at once.
    Delete {
        /// Service account id or name.
        account: String,
    },
    /// Issue a token of a service account; its secret is printed once, on stdout.
    Token {
        /// Service account id or name.
        account: String,
        /// A name to recognize the token by, e.g. github-actions.
        #[arg(long)]
        name: String,
        /// A permission the token may use, `resource:action`, granted by the account's role
        /// (repeatable).
        #[arg(long = "scope", value_name = "SCOPE", required = true, num_args = 1..)]
        scopes: Vec<String>,
        /// When it expires: a duration from now (90d, 12h), an RFC 3339 time, or `never`.
        #[arg(long, default_value = "90d")]
        expires: String,
    },
}

/// The service account with this id or name.
async fn find(ctx: &Ctx, account: &str) -> CliResult<Value> {
    let v = call_api(ctx, "GET", "/api/admin/service-accounts", None).await?;
    v["service_accounts"]
        .as_array()
        .and_then(|list| {
            list.iter()
                .find(|a| a["id"] == account || a["name"] == account)
        })
        .cloned()
        .ok_or_else(|| {
            CliError::new(format!("no service account with id or name {account}"))
                .hint("List them: ward admin service-accounts list")
        })
}

pub async fn run(ctx: &Ctx, command: ServiceAccountsCommand) -> CliResult {
    match command {
        ServiceAccountsCommand::List => {
            let v = call_api(ctx, "GET", "/api/admin/service-accounts", None).await?;
            if ctx.json() {
                print_json(&v);
                return Ok(());
            }
            let empty = Vec::new();
            let accounts = v["service_accounts"].as_array().unwrap_or(&empty);
            if accounts.is_empty() {
                eprintln!("No service accounts. Create one: ward admin service-accounts create NAME --role ROLE");
                return Ok(());
            }
            let text = |x: &Value| x.as_str().unwrap_or("-").to_owned();
            let rows = accounts
                .iter()
                .map(|a| {
                    let tokens = a["tokens"].as_array().unwrap_or(&empty);
                    let live = tokens.iter().filter(|t| t["revoked"] != true).count();
                    vec![
                        text(&a["id"]),
                        text(&a["name"]),
                        text(&a["role"]),
                        live.to_string(),
                        short_time(a["created_at"].as_str().unwrap_or("-")),
                    ]
                })
                .collect();
            print_table(&["ID", "NAME", "ROLE", "TOKENS", "CREATED"], rows);
            Ok(())
        }
        ServiceAccountsCommand::Create { name, role } => {
            let body = json!({"name": name, "role": role});
            let v = call_api(ctx, "POST", "/api/admin/service-accounts", Some(body)).await?;
            if ctx.json() {
                print_json(&v);
            } else {
                println!(
                    "Created service account {} ({}), role {}",
                    v["name"].as_str().unwrap_or_default(),
                    v["id"].as_str().unwrap_or_default(),
                    v["role"].as_str().unwrap_or_default(),
                );
            }
            Ok(())
        }
        ServiceAccountsCommand::Delete { account } => {
            let found = find(ctx, &account).await?;
            let id = found["id"].as_str().unwrap_or_default();
            let path = format!("/api/admin/service-accounts/{}", segment(id));
            call_api(ctx, "DELETE", &path, None).await?;
            eprintln!(
                "Deleted service account {} ({id}); its tokens no longer work.",
                found["name"].as_str().unwrap_or_default()
            );
            Ok(())
        }
        ServiceAccountsCommand::Token {
            account,
            name,
            scopes,
            expires,
        } => {
            let found = find(ctx, &account).await?;
            let id = found["id"].as_str().unwrap_or_default();
            let mut body = json!({"name": name, "scopes": scopes});
            if let Some(at) = super::tokens::expires_at(&expires, SystemClock.unix())? {
                body["expires_at"] = json!(at);
            }
            let path = format!("/api/admin/service-accounts/{}/tokens", segment(id));
            let v = call_api(ctx, "POST", &path, Some(body)).await?;
            if ctx.json() {
                print_json(&v);
                return Ok(());
            }
            let expiry = v["expires_at"]
                .as_str()
                .map(short_time)
                .unwrap_or_else(|| "never".to_owned());
            eprintln!(
                "Created token {} ({}) of service account {}, expires: {expiry}. Copy it now: it is not shown again.",
                v["name"].as_str().unwrap_or_default(),
                v["id"].as_str().unwrap_or_default(),
                found["name"].as_str().unwrap_or_default(),
            );
            println!("{}", v["token"].as_str().unwrap_or_default());
            Ok(())
        }
    }
}
