//! `ward sessions [list | revoke ID]`: the signed-in user's sessions.

use clap::Subcommand;

use ward_proto::SessionList;

use super::{call_api, decode, print_json, print_table, short_time, CliResult, Ctx};

#[derive(Subcommand, Debug)]
pub enum SessionsCommand {
    /// List your live sessions; `*` marks the one this profile uses.
    List,
    /// Revoke one of your sessions: that device is signed out at once.
    Revoke {
        /// The session id (from `ward sessions list`).
        id: String,
    },
}

pub async fn run(ctx: &Ctx, command: Option<SessionsCommand>) -> CliResult {
    match command.unwrap_or(SessionsCommand::List) {
        SessionsCommand::List => {
            let v = call_api(ctx, "GET", "/api/sessions", None).await?;
            if ctx.json() {
                print_json(&v);
            } else {
                print_sessions(&decode("/api/sessions", v)?, false);
            }
            Ok(())
        }
        SessionsCommand::Revoke { id } => {
            call_api(
                ctx,
                "DELETE",
                &format!("/api/sessions/{}", segment(&id)),
                None,
            )
            .await?;
            if ctx.json() {
                print_json(&serde_json::json!({"revoked": id}));
            } else {
                println!("Revoked session {id}");
            }
            Ok(())
        }
    }
}

/// Percent-encodes one path segment or query value.
pub fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~@".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Prints sessions as a table; with the user column for the admin view.
pub fn print_sessions(list: &SessionList, with_user: bool) {
    if list.sessions.is_empty() {
        eprintln!("No live sessions.");
        return;
    }
    let mut headers = vec!["", "ID"];
    if with_user {
        headers.push("USER");
    }
    headers.extend(["CHANNEL", "DEVICE", "IP", "LAST ACTIVE", "EXPIRES"]);
    let rows = list
        .sessions
        .iter()
        .map(|s| {
            let mut row = vec![if s.current { "*" } else { "" }.to_owned(), s.id.clone()];
            if with_user {
                row.push(s.email.clone().unwrap_or_else(|| s.user_id.clone()));
            }
            let device = s
                .device_name
                .as_deref()
                .or(s.user_agent.as_deref())
                .unwrap_or(&s.client_id);
            row.extend([
                s.channel.clone(),
                device.chars().take(32).collect(),
                s.ip.clone().unwrap_or_else(|| "-".into()),
                short_time(&s.last_seen_at),
                short_time(&s.expires_at),
            ]);
            row
        })
        .collect();
    print_table(&headers, rows);
}
