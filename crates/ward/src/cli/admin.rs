//! `ward admin users|sessions|service-accounts|audit|events …`: the admin API from the terminal. Needs an admin signed
//! in (`ward login`); the server refuses API tokens here.

use std::io::BufRead;

use clap::Subcommand;
use serde_json::{json, Value};

use super::sessions::{print_sessions, segment};
use super::{call_api, print_json, print_table, short_time, CliError, CliResult, Ctx};

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Users: list, create, change role, disable, enable, recover, reset MFA, delete.
    Users {
        #[command(subcommand)]
        command: Option<UsersCommand>,
    },
    /// Everyone's live sessions: list, revoke.
    Sessions {
        #[command(subcommand)]
        command: Option<AdminSessionsCommand>,
    },
    /// Service accounts (non-human identities with a role, for CI jobs and agents): list,
    /// create, delete, issue a token.
    ServiceAccounts {
        #[command(subcommand)]
        command: Option<super::service_accounts::ServiceAccountsCommand>,
    },
    /// The audit log, newest first.
    Audit(AuditArgs),
    /// Follow the live event stream (every audit event as it happens); reconnects and resumes
    /// where it left off. `--output json` prints one JSON object per line.
    Events(super::events::EventsArgs),
}

#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// List every user.
    List,
    /// Create a user.
    Create {
        email: String,
        /// Role (default: the server's default role).
        #[arg(long)]
        role: Option<String>,
        /// Display name (default: the part of the email before the @).
        #[arg(long)]
        name: Option<String>,
        /// Read a password from the first line of stdin (without one: no password sign-in).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change a user's role.
    SetRole {
        /// User id or email.
        user: String,
        role: String,
    },
    /// Disable a user: their sessions and API tokens are revoked at once.
    Disable {
        /// User id or email.
        user: String,
    },
    /// Enable a disabled user.
    Enable {
        /// User id or email.
        user: String,
    },
    /// Make a single-use recovery link (24 h): it sets a new password, removes the user's
    /// second factors and sessions, and has them enrol MFA again. Send it to them yourself.
    Recover {
        /// User id or email.
        user: String,
    },
    /// Remove every second factor of a user (authenticator app, backup codes, security keys)
    /// and sign out their sessions.
    ResetMfa {
        /// User id or email.
        user: String,
    },
    /// Delete a user with their sessions, API tokens and factors (audit events stay).
    Delete {
        /// User id or email.
        user: String,
        /// Do not ask for confirmation (needed without a terminal).
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum AdminSessionsCommand {
    /// List live sessions.
    List {
        /// Only this user's (id or email).
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke anyone's session.
    Revoke { id: String },
}

#[derive(clap::Args, Debug)]
pub struct AuditArgs {
    /// Events by or about this user (id or email).
    #[arg(long)]
    user: Option<String>,
    /// Only this event type, e.g. session.revoked.
    #[arg(long = "type", value_name = "TYPE")]
    event_type: Option<String>,
    /// How many events (1 to 500).
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Events older than this cursor (printed after a full page).
    #[arg(long)]
    before: Option<String>,
}

pub(super) fn query(pairs: &[(&str, Option<&str>)]) -> String {
    let encoded: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}={}", segment(v))))
        .collect();
    if encoded.is_empty() {
        String::new()
    } else {
        format!("?{}", encoded.join("&"))
    }
}

/// A user id from an id or an email.
async fn user_id(ctx: &Ctx, user: &str) -> CliResult<String> {
    if !user.contains('@') {
        return Ok(user.to_owned());
    }
    let path = format!("/api/admin/users{}", query(&[("email", Some(user))]));
    let v = call_api(ctx, "GET", &path, None).await?;
    v["users"]
        .as_array()
        .and_then(|users| {
            users.iter().find(|u| {
                u["email"]
                    .as_str()
                    .is_some_and(|e| e.eq_ignore_ascii_case(user))
            })
        })
        .and_then(|u| u["id"].as_str())
        .map(str::to_owned)
        .ok_or_else(|| CliError::new(format!("no user with email {user}")))
}

/// Every user, following the API's pages (`next` → `after`), as one `{"users": [...]}`.
async fn all_users(ctx: &Ctx) -> CliResult<Value> {
    let mut users = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = format!(
            "/api/admin/users{}",
            query(&[("limit", Some("1000")), ("after", after.as_deref())])
        );
        let v = call_api(ctx, "GET", &path, None).await?;
        if let Some(page) = v["users"].as_array() {
            users.extend(page.iter().cloned());
        }
        match v["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => return Ok(json!({ "users": users })),
        }
    }
}

fn print_user(ctx: &Ctx, v: &Value, what: &str) {
    if ctx.json() {
        print_json(v);
        return;
    }
    println!(
        "{what} {} ({}), role {}{}",
        v["email"].as_str().unwrap_or_default(),
        v["id"].as_str().unwrap_or_default(),
        v["role"].as_str().unwrap_or_default(),
        if v["disabled"] == true {
            ", disabled"
        } else {
            ""
        }
    );
}

pub async fn run(ctx: &Ctx, command: AdminCommand) -> CliResult {
    match command {
        AdminCommand::Users { command } => users(ctx, command.unwrap_or(UsersCommand::List)).await,
        AdminCommand::Sessions { command } => {
            sessions(
                ctx,
                command.unwrap_or(AdminSessionsCommand::List { user: None }),
            )
            .await
        }
        AdminCommand::ServiceAccounts { command } => {
            super::service_accounts::run(
                ctx,
                command.unwrap_or(super::service_accounts::ServiceAccountsCommand::List),
            )
            .await
        }
        AdminCommand::Audit(args) => audit(ctx, args).await,
        AdminCommand::Events(args) => super::events::follow(ctx, args).await,
    }
}

async fn sessions(ctx: &Ctx, command: AdminSessionsCommand) -> CliResult {
    match command {
        AdminSessionsCommand::List { user } => {
            let path = format!("/api/admin/sessions{}", query(&[("user", user.as_deref())]));
            let v = call_api(ctx, "GET", &path, None).await?;
            if ctx.json() {
                print_json(&v);
            } else {
                print_sessions(&v, true);
            }
            Ok(())
        }
        AdminSessionsCommand::Revoke { id } => {
            let path = format!("/api/admin/sessions/{}", segment(&id));
            call_api(ctx, "DELETE", &path, None).await?;
            if ctx.json() {
                print_json(&json!({"revoked": id}));
            } else {
                println!("Revoked session {id}");
            }
            Ok(())
        }
    }
}

async fn users(ctx: &Ctx, command: UsersCommand) -> CliResult {
    match command {
        UsersCommand::List => {
            let v = all_users(ctx).await?;
            if ctx.json() {
                print_json(&v);
                return Ok(());
            }
            let empty = Vec::new();
            let rows = v["users"]
                .as_array()
                .unwrap_or(&empty)
                .iter()
                .map(|u| {
                    vec![
                        u["id"].as_str().unwrap_or("-").to_owned(),
                        u["email"].as_str().unwrap_or("-").to_owned(),
                        u["role"].as_str().unwrap_or("-").to_owned(),
                        if u["disabled"] == true {
                            "disabled"
                        } else {
                            "active"
                        }
                        .to_owned(),
                        short_time(u["created_at"].as_str().unwrap_or("-")),
                    ]
                })
                .collect();
            print_table(&["ID", "EMAIL", "ROLE", "STATUS", "CREATED"], rows);
            Ok(())
        }
        UsersCommand::Create {
            email,
            role,
            name,
            password_stdin,
        } => {
            let mut body = json!({ "email": email });
            if let Some(r) = role {
                body["role"] = json!(r);
            }
            if let Some(n) = name {
                body["name"] = json!(n);
            }
            if password_stdin {
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line).map_err(|e| {
                    CliError::new(format!("cannot read the password from stdin: {e}"))
                })?;
                let password = line.trim_end_matches(['\r', '\n']);
                if password.is_empty() {
                    return Err(CliError::usage("--password-stdin: stdin had no password"));
                }
                body["password"] = json!(password);
            }
            let v = call_api(ctx, "POST", "/api/admin/users", Some(body)).await?;
            print_user(ctx, &v, "Created user");
            Ok(())
        }
        UsersCommand::SetRole { user, role } => {
            let id = user_id(ctx, &user).await?;
            let path = format!("/api/admin/users/{}", segment(&id));
            let v = call_api(ctx, "PATCH", &path, Some(json!({ "role": role }))).await?;
            print_user(ctx, &v, "Updated user");
            Ok(())
        }
        UsersCommand::Disable { user } => set_disabled(ctx, &user, true).await,
        UsersCommand::Enable { user } => set_disabled(ctx, &user, false).await,
        UsersCommand::Recover { user } => {
            let id = user_id(ctx, &user).await?;
            let path = format!("/api/admin/users/{}/recovery", segment(&id));
            let v = call_api(ctx, "POST", &path, None).await?;
            if ctx.json() {
                print_json(&v);
            } else {
                println!(
                    "Recovery link for {user} (works once, until {}):",
                    short_time(v["expires_at"].as_str().unwrap_or("-"))
                );
                println!("  {}", v["url"].as_str().unwrap_or_default());
                eprintln!("Send it to them yourself. Using it sets a new password, removes their second factors and signs out their sessions.");
            }
            Ok(())
        }
        UsersCommand::ResetMfa { user } => {
            let id = user_id(ctx, &user).await?;
            let path = format!("/api/admin/users/{}/mfa/reset", segment(&id));
            call_api(ctx, "POST", &path, None).await?;
            eprintln!("Removed every second factor of {user} and signed out their sessions.");
            Ok(())
        }
        UsersCommand::Delete { user, yes } => {
            let id = user_id(ctx, &user).await?;
            if !yes {
                confirm_delete(&user)?;
            }
            let path = format!("/api/admin/users/{}", segment(&id));
            call_api(ctx, "DELETE", &path, None).await?;
            eprintln!("Deleted {user} with their sessions, API tokens and factors.");
            Ok(())
        }
    }
}

/// Asks on a terminal; without one, `--yes` is required.
fn confirm_delete(user: &str) -> CliResult {
    use std::io::{IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        return Err(
            CliError::usage(format!("deleting {user} needs confirmation"))
                .hint("Pass --yes (no terminal to ask on)."),
        );
    }
    eprint!(
        "Delete {user}, their sessions, API tokens and factors? Type the email or id to confirm: "
    );
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::new(format!("cannot read the answer: {e}")))?;
    if line.trim() == user {
        Ok(())
    } else {
        Err(CliError::new("not deleted: the answer did not match"))
    }
}

async fn set_disabled(ctx: &Ctx, user: &str, disabled: bool) -> CliResult {
    let id = user_id(ctx, user).await?;
    let path = format!("/api/admin/users/{}", segment(&id));
    let v = call_api(ctx, "PATCH", &path, Some(json!({ "disabled": disabled }))).await?;
    let what = if disabled {
        "Disabled user"
    } else {
        "Enabled user"
    };
    print_user(ctx, &v, what);
    Ok(())
}

async fn audit(ctx: &Ctx, args: AuditArgs) -> CliResult {
    let user = match args.user.as_deref() {
        Some(u) => Some(user_id(ctx, u).await?),
        None => None,
    };
    let limit = args.limit.to_string();
    let path = format!(
        "/api/admin/audit{}",
        query(&[
            ("user", user.as_deref()),
            ("type", args.event_type.as_deref()),
            ("limit", Some(&limit)),
            ("before", args.before.as_deref()),
        ])
    );
    let v = call_api(ctx, "GET", &path, None).await?;
    if ctx.json() {
        print_json(&v);
        return Ok(());
    }
    let empty = Vec::new();
    let events = v["events"].as_array().unwrap_or(&empty);
    if events.is_empty() {
        eprintln!("No events match.");
        return Ok(());
    }
    let rows = events
        .iter()
        .map(|e| {
            let text = |k: &str| e[k].as_str().unwrap_or("-").to_owned();
            let detail = e["detail"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| match v {
                            Value::String(s) => format!("{k}={s}"),
                            other => format!("{k}={other}"),
                        })
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            vec![
                short_time(e["time"].as_str().unwrap_or("-")),
                text("type"),
                text("outcome"),
                text("actor"),
                text("ip"),
                text("target"),
                detail,
            ]
        })
        .collect();
    print_table(
        &["TIME", "TYPE", "OUTCOME", "ACTOR", "IP", "TARGET", "DETAIL"],
        rows,
    );
    if let Some(next) = v["next"].as_str() {
        eprintln!("More: ward admin audit --before {next}");
    }
    Ok(())
}
