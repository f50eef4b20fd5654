//! `ward admin clients list|delete` (SPEC §2.15): the OAuth clients ward knows, configured
//! (`[[clients]]`, `ward-cli`) and registered (RFC 7591); registered ones can be removed.

use clap::Subcommand;
use serde_json::json;
use ward_proto::registration::ClientList;

use super::sessions::segment;
use super::{call_api, decode, print_json, print_table, short_time, CliResult, Ctx};

const CLIENTS: &str = "/api/admin/clients";

#[derive(Subcommand, Debug)]
pub enum ClientsCommand {
    /// List every client: configured ones and those registered through RFC 7591.
    List,
    /// Remove a registered client: its sessions end and its refresh tokens stop working.
    Delete {
        /// The client id (`reg_…`, from `ward admin clients list`).
        client_id: String,
    },
}

pub async fn run(ctx: &Ctx, command: ClientsCommand) -> CliResult {
    match command {
        ClientsCommand::List => {
            let v = call_api(ctx, "GET", CLIENTS, None).await?;
            if ctx.json() {
                print_json(&v);
                return Ok(());
            }
            let list: ClientList = decode(CLIENTS, v)?;
            let rows = list
                .clients
                .into_iter()
                .map(|c| {
                    vec![
                        c.client_id,
                        c.kind,
                        c.client_name.unwrap_or_else(|| "-".into()),
                        if c.public { "public" } else { "confidential" }.to_owned(),
                        c.scopes.join(" "),
                        c.created_at
                            .as_deref()
                            .map(short_time)
                            .unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect();
            print_table(
                &["ID", "KIND", "NAME", "TYPE", "SCOPES", "REGISTERED"],
                rows,
            );
            Ok(())
        }
        ClientsCommand::Delete { client_id } => {
            let path = format!("{CLIENTS}/{}", segment(&client_id));
            call_api(ctx, "DELETE", &path, None).await?;
            if ctx.json() {
                print_json(&json!({ "removed": client_id }));
            } else {
                eprintln!("Removed client {client_id}; its sessions are signed out.");
            }
            Ok(())
        }
    }
}
