//! `ward admin service-accounts list|create|delete|token` (SPEC §2.15): non-human identities
//! with their own role, for CI jobs and agents. A token's secret is printed once, on stdout.

use clap::Subcommand;
use ward_client::{Clock, SystemClock};
use ward_proto::{
    CreatedServiceAccountToken, ServiceAccount, ServiceAccountList, ServiceAccountRequest,
    ServiceAccountTokenRequest,
};

use super::sessions::segment;
use super::{
    call_api, decode, print_json, print_table, short_time, to_body, CliError, CliResult, Ctx,
};

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

const LIST: &str = "/api/admin/service-accounts";

/// The service account with this id or name.
async fn find(ctx: &Ctx, account: &str) -> CliResult<ServiceAccount> {
    let list: ServiceAccountList = decode(LIST, call_api(ctx, "GET", LIST, None).await?)?;
    list.service_accounts
        .into_iter()
        .find(|a| a.id == account || a.name == account)
        .ok_or_else(|| {
            CliError::new(format!("no service account with id or name {account}"))
                .hint("List them: ward admin service-accounts list")
        })
}

pub async fn run(ctx: &Ctx, command: ServiceAccountsCommand) -> CliResult {
    match command {
        ServiceAccountsCommand::List => {
            let v = call_api(ctx, "GET", LIST, None).await?;
            if ctx.json() {
                print_json(&v);
                return Ok(());
            }
            let list: ServiceAccountList = decode(LIST, v)?;
            if list.service_accounts.is_empty() {
                eprintln!("No service accounts. Create one: ward admin service-accounts create NAME --role ROLE");
                return Ok(());
            }
            let rows = list
                .service_accounts
                .iter()
                .map(|a| {
                    let live = a.tokens.iter().filter(|t| !t.revoked).count();
                    vec![
                        a.id.clone(),
                        a.name.clone(),
                        a.role.clone(),
                        live.to_string(),
                        short_time(&a.created_at),
                    ]
                })
                .collect();
            print_table(&["ID", "NAME", "ROLE", "TOKENS", "CREATED"], rows);
            Ok(())
        }
        ServiceAccountsCommand::Create { name, role } => {
            let body = to_body(&ServiceAccountRequest { name, role });
            let v = call_api(ctx, "POST", LIST, Some(body)).await?;
            if ctx.json() {
                print_json(&v);
            } else {
                let a: ServiceAccount = decode(LIST, v)?;
                println!(
                    "Created service account {} ({}), role {}",
                    a.name, a.id, a.role
                );
            }
            Ok(())
        }
        ServiceAccountsCommand::Delete { account } => {
            let found = find(ctx, &account).await?;
            let path = format!("{LIST}/{}", segment(&found.id));
            call_api(ctx, "DELETE", &path, None).await?;
            eprintln!(
                "Deleted service account {} ({}); its tokens no longer work.",
                found.name, found.id
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
            let body = ServiceAccountTokenRequest {
                name,
                scopes,
                expires_at: super::tokens::expires_at(&expires, SystemClock.unix())?,
            };
            let path = format!("{LIST}/{}/tokens", segment(&found.id));
            let v = call_api(ctx, "POST", &path, Some(to_body(&body))).await?;
            if ctx.json() {
                print_json(&v);
                return Ok(());
            }
            let created: CreatedServiceAccountToken = decode(&path, v)?;
            let expiry = created
                .info
                .expires_at
                .as_deref()
                .map(short_time)
                .unwrap_or_else(|| "never".to_owned());
            eprintln!(
                "Created token {} ({}) of service account {}, expires: {expiry}. Copy it now: it is not shown again.",
                created.info.name, created.info.id, found.name,
            );
            println!("{}", created.token);
            Ok(())
        }
    }
}
