//! `ward password`: change your password (SPEC §3.1). On a terminal it asks for the current
//! password and the new one twice, without echo; without a terminal it never asks, and
//! `--password-stdin` reads the current and the new password from the first two lines.

use std::io::{BufRead, IsTerminal};

use ward_proto::{ChangePasswordRequest, ChangePasswordResponse};

use super::{call_api, decode, print_json, to_body, CliError, CliResult, Ctx};

const PATH: &str = "/api/account/password";

#[derive(clap::Args, Debug)]
pub struct PasswordArgs {
    /// Read the current password from the first line of stdin and the new one from the second.
    #[arg(long)]
    pub password_stdin: bool,
}

fn from_stdin() -> CliResult<(String, String)> {
    let mut lines = std::io::stdin().lock().lines();
    let mut next = |what: &str| -> CliResult<String> {
        match lines.next() {
            Some(Ok(line)) => Ok(line.trim_end_matches('\r').to_owned()),
            Some(Err(e)) => Err(CliError::new(format!("cannot read {what} from stdin: {e}"))),
            None => Err(
                CliError::usage(format!("--password-stdin: stdin ended before {what}")).hint(
                    "Give the current password on the first line and the new one on the second.",
                ),
            ),
        }
    };
    let current = next("the current password")?;
    let new = next("the new password")?;
    Ok((current, new))
}

fn from_terminal() -> CliResult<(String, String)> {
    let ask = |prompt: &str| {
        rpassword::prompt_password(prompt)
            .map_err(|e| CliError::new(format!("cannot read the password: {e}")))
    };
    let current = ask("Current password: ")?;
    let new = ask("New password: ")?;
    if ask("New password again: ")? != new {
        return Err(CliError::new(
            "the two new passwords differ; nothing was changed",
        ));
    }
    Ok((current, new))
}

pub async fn run(ctx: &Ctx, args: PasswordArgs) -> CliResult {
    let (current, new) = if args.password_stdin {
        from_stdin()?
    } else if std::io::stdin().is_terminal() {
        from_terminal()?
    } else {
        return Err(
            CliError::usage("`ward password` asks on a terminal, and there is none")
                .hint("Pipe the current and the new password on two lines with --password-stdin."),
        );
    };
    let body = ChangePasswordRequest {
        current_password: current,
        new_password: new,
    };
    let v = call_api(ctx, "POST", PATH, Some(to_body(&body))).await?;
    if ctx.json() {
        print_json(&v);
        return Ok(());
    }
    let changed: ChangePasswordResponse = decode(PATH, v)?;
    match changed.sessions_revoked {
        0 => eprintln!("Password changed."),
        1 => eprintln!("Password changed. 1 other session was signed out."),
        n => eprintln!("Password changed. {n} other sessions were signed out."),
    }
    Ok(())
}
