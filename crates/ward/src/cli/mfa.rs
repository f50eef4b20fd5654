//! `ward mfa [status | enable | disable | backup-codes]` and `ward lock|unlock|verify KIND ID`.
//! A code comes from `--code`, or is asked for when standard input is a terminal; without a
//! terminal and without `--code` the command says what to pass instead of prompting.

use std::io::{BufRead, IsTerminal, Write};

use clap::{Args, Subcommand};
use serde_json::json;
use ward_proto::{BackupCodes, CodeBody, LockStatus, MfaStatus, Ticket, TotpSetup};

use super::progress::qr_text;
use super::sessions::segment;
use super::{call_api, decode, print_json, to_body, CliError, CliResult, Ctx};

#[derive(Args, Debug)]
pub struct CodeArg {
    /// The 6-digit code from your authenticator app, or a backup code.
    #[arg(long)]
    code: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum MfaCommand {
    /// Whether two-step verification is on, and how many backup codes are left.
    Status,
    /// Turn on an authenticator app: shows a QR code, asks for a code, prints backup codes once.
    Enable(CodeArg),
    /// Turn two-step verification off (needs a code).
    Disable(CodeArg),
    /// Replace your backup codes with a new set of 10 (needs a code).
    BackupCodes(CodeArg),
}

#[derive(Args, Debug)]
pub struct ResourceArgs {
    /// The kind of resource (e.g. terminal, container, agent).
    kind: String,
    /// The resource id.
    id: String,
    #[command(flatten)]
    code: CodeArg,
}

/// Codes asked for by `ward mfa enable` on a terminal before giving up.
const ENABLE_TRIES: u32 = 3;

fn code(arg: &CodeArg, what: &str) -> CliResult<String> {
    if let Some(c) = &arg.code {
        return Ok(c.trim().to_owned());
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::usage(format!("{what} needs a code"))
            .hint("Pass --code CODE (no terminal to ask on)."));
    }
    eprint!("Code: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::new(format!("cannot read the code: {e}")))?;
    Ok(line.trim().to_owned())
}

fn print_codes(ctx: &Ctx, path: &str, v: serde_json::Value) -> CliResult {
    if ctx.json() {
        print_json(&v);
        return Ok(());
    }
    let codes: BackupCodes = decode(path, v)?;
    println!("Backup codes (each works once; they are shown only now):");
    for c in codes.backup_codes {
        println!("  {c}");
    }
    Ok(())
}

/// A one-time code as a request body.
fn code_body(code: String) -> Option<serde_json::Value> {
    Some(to_body(&CodeBody { code }))
}

pub async fn run(ctx: &Ctx, command: Option<MfaCommand>) -> CliResult {
    match command.unwrap_or(MfaCommand::Status) {
        MfaCommand::Status => {
            let v = call_api(ctx, "GET", "/api/mfa", None).await?;
            if ctx.json() {
                print_json(&v);
                return Ok(());
            }
            let status: MfaStatus = decode("/api/mfa", v)?;
            if status.enabled {
                println!("Two-step verification: on ({})", status.methods.join(", "));
                println!("Backup codes remaining: {}", status.backup_codes_remaining);
            } else {
                println!("Two-step verification: off");
                println!("Turn it on with: ward mfa enable");
            }
            Ok(())
        }
        MfaCommand::Enable(arg) => {
            let setup = call_api(ctx, "POST", "/api/mfa/totp/setup", Some(json!({}))).await?;
            let setup: TotpSetup = decode("/api/mfa/totp/setup", setup)?;
            if !ctx.json() {
                if std::io::stderr().is_terminal() {
                    if let Some(qr) = qr_text(&setup.otpauth_url) {
                        eprintln!("{qr}");
                    }
                }
                eprintln!(
                    "Scan the QR code with your authenticator app, or enter this key: {}",
                    setup.secret
                );
            }
            // On a terminal a mistyped code is asked again (the secret stays the same); the
            // server's own lockout (5 failures) is never reached.
            let asking = arg.code.is_none();
            let mut tries = 0;
            let v = loop {
                tries += 1;
                let code = code(&arg, "ward mfa enable")?;
                match call_api(ctx, "POST", "/api/mfa/totp/confirm", code_body(code)).await {
                    Ok(v) => break v,
                    Err(e)
                        if asking
                            && tries < ENABLE_TRIES
                            && e.api_error.as_deref() == Some("invalid_code") =>
                    {
                        let left = ENABLE_TRIES - tries;
                        eprintln!(
                            "That code was not accepted ({}). Try again ({left} {} left).",
                            e.message,
                            if left == 1 { "try" } else { "tries" }
                        );
                    }
                    Err(e) => return Err(e),
                }
            };
            if !ctx.json() {
                println!("Two-step verification is on.");
            }
            print_codes(ctx, "/api/mfa/totp/confirm", v)
        }
        MfaCommand::Disable(arg) => {
            let code = code(&arg, "ward mfa disable")?;
            let v = call_api(ctx, "POST", "/api/mfa/disable", code_body(code)).await?;
            if ctx.json() {
                print_json(&v);
            } else {
                println!("Two-step verification is off.");
            }
            Ok(())
        }
        MfaCommand::BackupCodes(arg) => {
            let code = code(&arg, "ward mfa backup-codes")?;
            let v = call_api(ctx, "POST", "/api/mfa/backup-codes", code_body(code)).await?;
            print_codes(ctx, "/api/mfa/backup-codes", v)
        }
    }
}

/// `ward lock|unlock|verify KIND ID`.
pub async fn resource(ctx: &Ctx, action: &str, args: ResourceArgs) -> CliResult {
    let what = format!("ward {action} {} {}", args.kind, args.id);
    let state_path = format!(
        "/api/security/{}/{}",
        segment(&args.kind),
        segment(&args.id)
    );
    // A ticket is only needed for a locked resource: never spend a code (perhaps a backup
    // code) on one that is not.
    if action == "verify" {
        let state: LockStatus =
            decode(&state_path, call_api(ctx, "GET", &state_path, None).await?)?;
        if !state.locked {
            return Err(CliError::new(format!(
                "{}/{} is not locked: it needs no ticket, and no code was used",
                args.kind, args.id
            ))
            .hint(format!(
                "Connect to it directly; to require a code for it, run: ward lock {} {}",
                args.kind, args.id
            )));
        }
    }
    if action == "verify" && args.code.code.is_none() {
        let target = format!("{}/{}", args.kind, args.id);
        return super::approve::verify_by_approval(ctx, &state_path, &target).await;
    }
    let code = code(&args.code, &what)?;
    let endpoint = match action {
        "lock" => "mfa-lock",
        "unlock" => "mfa-unlock",
        _ => "verify",
    };
    let path = format!("{state_path}/{endpoint}");
    let v = call_api(ctx, "POST", &path, code_body(code)).await?;
    if ctx.json() {
        print_json(&v);
        return Ok(());
    }
    match action {
        "lock" => println!(
            "Locked {}/{}: every new connection now needs a fresh code.",
            args.kind, args.id
        ),
        "unlock" => println!("Unlocked {}/{}.", args.kind, args.id),
        _ => {
            let ticket: Ticket = decode(&path, v)?;
            println!("{}", ticket.ticket);
            eprintln!(
                "Ticket for one connection to {}/{}, valid {} s.",
                args.kind, args.id, ticket.expires_in
            );
        }
    }
    Ok(())
}
