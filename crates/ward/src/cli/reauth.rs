//! Re-authentication when the server answers `reauth_required` (SPEC §2.11): on a terminal the
//! CLI asks for a code from the authenticator (or, for an account without MFA, the password,
//! without echo) and retries once; without a terminal it says what to do.

use std::io::IsTerminal;

use serde_json::json;

use super::{CliError, CliResult, Ctx};

pub const REAUTH_REQUIRED: &str = "reauth_required";

/// Confirms the session with `POST /api/auth/reauth`, asking on the terminal.
pub async fn confirm(ctx: &Ctx, refusal: &serde_json::Value) -> CliResult {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        let said = refusal["error_description"]
            .as_str()
            .unwrap_or("this needs a recent second factor");
        return Err(CliError::new(format!(
            "the server wants you to confirm it's you first: {said}"
        ))
        .hint("Run the command on a terminal to be asked for a code, or sign in again with `ward login`."));
    }
    let mfa = super::call_api(ctx, "GET", "/api/mfa", None).await?;
    let body = if mfa["enabled"].as_bool().unwrap_or(false) {
        if !mfa["methods"]
            .as_array()
            .is_some_and(|m| m.iter().any(|x| x == "totp"))
        {
            return Err(CliError::new(
                "confirming it's you needs your security key, which the CLI cannot use",
            )
            .hint("Sign in again with `ward login` (the browser asks for the key)."));
        }
        eprintln!("Confirm it's you: enter a code from your authenticator app (or a backup code).");
        json!({ "code": read_line("Code: ")? })
    } else {
        eprintln!("Confirm it's you: enter your password.");
        let password = rpassword::prompt_password("Password: ")
            .map_err(|e| CliError::new(format!("cannot read the password: {e}")))?;
        json!({ "password": password })
    };
    super::call_api(ctx, "POST", "/api/auth/reauth", Some(body)).await?;
    Ok(())
}

fn read_line(prompt: &str) -> CliResult<String> {
    use std::io::{BufRead, Write};
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::new(format!("cannot read the code: {e}")))?;
    Ok(line.trim().to_owned())
}
