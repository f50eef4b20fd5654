//! `ward admin users|sessions|service-accounts|audit|events …`: the admin API from the terminal. Needs an admin signed
//! in (`ward login`); the server refuses API tokens here.

use std::io::BufRead;

use clap::Subcommand;
use serde_json::{json, Value};
use ward_proto::{AuditPage, CreateUser, PatchUser, RecoveryLink, UserInfo, UserList};

use super::sessions::{print_sessions, segment};
use super::{
    call_api, decode, print_json, print_table, short_time, to_body, CliError, CliResult, Ctx,
};

const USERS: &str = "/api/admin/users";

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
    /// OAuth clients, configured and registered (RFC 7591): list, delete a registered one.
    Clients {
        #[command(subcommand)]
        command: Option<super::clients::ClientsCommand>,
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
    let path = format!("{USERS}{}", query(&[("email", Some(user))]));
    let list: UserList = decode(&path, call_api(ctx, "GET", &path, None).await?)?;
    list.users
        .into_iter()
        .find(|u| u.email.eq_ignore_ascii_case(user))
        .map(|u| u.id)
        .ok_or_else(|| CliError::new(format!("no user with email {user}")))
}

/// Every user, following the API's pages (`next` → `after`).
async fn all_users(ctx: &Ctx) -> CliResult<UserList> {
    let mut users = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = format!(
            "{USERS}{}",
            query(&[("limit", Some("1000")), ("after", after.as_deref())])
        );
        let page: UserList = decode(&path, call_api(ctx, "GET", &path, None).await?)?;
        users.extend(page.users);
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(UserList { users, next: None }),
        }
    }
}

fn print_user(ctx: &Ctx, path: &str, v: Value, what: &str) -> CliResult {
    if ctx.json() {
        print_json(&v);
        return Ok(());
    }
    let u: UserInfo = decode(path, v)?;
    println!(
        "{what} {} ({}), role {}{}",
        u.email,
        u.id,
        u.role,
        if u.disabled { ", disabled" } else { "" }
    );
    Ok(())
}

/// `PATCH /api/admin/users/{id}` with `patch`, printed as `what`.
async fn patch_user(ctx: &Ctx, id: &str, patch: PatchUser, what: &str) -> CliResult {
    let path = format!("{USERS}/{}", segment(id));
    let v = call_api(ctx, "PATCH", &path, Some(to_body(&patch))).await?;
    print_user(ctx, &path, v, what)
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
        AdminCommand::Clients { command } => {
            super::clients::run(ctx, command.unwrap_or(super::clients::ClientsCommand::List)).await
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
                print_sessions(&decode(&path, v)?, true);
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
            let list = all_users(ctx).await?;
            if ctx.json() {
                print_json(&to_body(&list));
                return Ok(());
            }
            let rows = list
                .users
                .into_iter()
                .map(|u| {
                    let status = if u.disabled { "disabled" } else { "active" };
                    vec![
                        u.id,
                        u.email,
                        u.role,
                        status.to_owned(),
                        short_time(&u.created_at),
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
            let mut body = CreateUser {
                email,
                password: None,
                role,
                name,
            };
            if password_stdin {
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line).map_err(|e| {
                    CliError::new(format!("cannot read the password from stdin: {e}"))
                })?;
                let password = line.trim_end_matches(['\r', '\n']);
                if password.is_empty() {
                    return Err(CliError::usage("--password-stdin: stdin had no password"));
                }
                body.password = Some(password.to_owned());
            }
            let v = call_api(ctx, "POST", USERS, Some(to_body(&body))).await?;
            print_user(ctx, USERS, v, "Created user")
        }
        UsersCommand::SetRole { user, role } => {
            let id = user_id(ctx, &user).await?;
            let patch = PatchUser {
                role: Some(role),
                ..PatchUser::default()
            };
            patch_user(ctx, &id, patch, "Updated user").await
        }
        UsersCommand::Disable { user } => set_disabled(ctx, &user, true).await,
        UsersCommand::Enable { user } => set_disabled(ctx, &user, false).await,
        UsersCommand::Recover { user } => {
            let id = user_id(ctx, &user).await?;
            let path = format!("{USERS}/{}/recovery", segment(&id));
            let v = call_api(ctx, "POST", &path, None).await?;
            if ctx.json() {
                print_json(&v);
            } else {
                let link: RecoveryLink = decode(&path, v)?;
                println!(
                    "Recovery link for {user} (works once, until {}):",
                    short_time(&link.expires_at)
                );
                println!("  {}", link.url);
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
    let what = if disabled {
        "Disabled user"
    } else {
        "Enabled user"
    };
    let patch = PatchUser {
        disabled: Some(disabled),
        ..PatchUser::default()
    };
    patch_user(ctx, &id, patch, what).await
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
    let page: AuditPage = decode(&path, v)?;
    if page.events.is_empty() {
        eprintln!("No events match.");
        return Ok(());
    }
    let rows = page
        .events
        .iter()
        .map(|e| {
            let text = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
            let detail = e
                .detail
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
                short_time(&e.time),
                e.event_type.clone(),
                e.outcome.clone(),
                text(&e.actor),
                text(&e.ip),
                text(&e.target),
                detail,
            ]
        })
        .collect();
    print_table(
        &["TIME", "TYPE", "OUTCOME", "ACTOR", "IP", "TARGET", "DETAIL"],
        rows,
    );
    if let Some(next) = &page.next {
        eprintln!("More: ward admin audit --before {next}");
    }
    Ok(())
}
