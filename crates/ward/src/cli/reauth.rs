//! Re-authentication when the server answers `reauth_required` (SPEC §2.11): on a terminal the
//! CLI asks for a code from the authenticator (or, for an account without MFA, the password,
//! without echo) and retries once; without a terminal it says what to do.

use std::io::IsTerminal;

use ward_proto::{ErrorBody, MfaStatus, ReauthRequest};

use super::{CliError, CliResult, Ctx};

pub const REAUTH_REQUIRED: &str = "reauth_required";

/// Confirms the session with `POST /api/auth/reauth`, asking on the terminal.
pub async fn confirm(ctx: &Ctx, refusal: &ErrorBody) -> CliResult {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        let said = &refusal.error_description;
        return Err(CliError::new(format!(
            "the server wants you to confirm it's you first: {said}"
        ))
        .hint("Run the command on a terminal to be asked for a code, or sign in again with `ward login`."));
    }
    let mfa: MfaStatus = super::decode(
        "/api/mfa",
        super::call_api(ctx, "GET", "/api/mfa", None).await?,
    )?;
    let body = if mfa.enabled {
        if !mfa.methods.iter().any(|m| m == "totp") {
            return Err(CliError::new(
                "confirming it's you needs your security key, which the CLI cannot use",
            )
            .hint("Sign in again with `ward login` (the browser asks for the key)."));
        }
        eprintln!("Confirm it's you: enter a code from your authenticator app (or a backup code).");
        ReauthRequest {
            code: Some(read_line("Code: ")?),
            password: None,
        }
    } else {
        eprintln!("Confirm it's you: enter your password.");
        let password = rpassword::prompt_password("Password: ")
            .map_err(|e| CliError::new(format!("cannot read the password: {e}")))?;
        ReauthRequest {
            code: None,
            password: Some(password),
        }
    };
    super::call_api(ctx, "POST", "/api/auth/reauth", Some(super::to_body(&body))).await?;
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
