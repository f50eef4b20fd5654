//! `ward login [ALIAS] [URL]`.

use std::io::{BufRead, Read};
use std::time::Duration;

use serde_json::json;
use tokio::sync::mpsc;
use ward_client::{oauth::parse_server_url, AuthFlow, LoginOptions, LoginOutcome};

use super::{print_json, CliError, CliResult, Ctx};

#[derive(clap::Args, Debug)]
pub struct LoginArgs {
    /// Profile name (default: --profile, WARD_PROFILE, the current profile, or `default`).
    /// A URL here is taken as the server URL.
    pub alias: Option<String>,
    /// Server URL (default: --url, WARD_URL, or the profile's).
    pub server: Option<String>,
    /// Sign-in flow. `password` types the password (and code) here, where the server allows
    /// it (`terminal_sign_in = true`): for a box with no browser anywhere.
    #[arg(long, value_name = "FLOW", default_value = "auto", value_parser = ["auto", "pkce", "device_code", "password"])]
    pub auth_flow: String,
    /// Store this API token instead of signing in (checked with the server first; `-` reads it
    /// from stdin).
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Email to pre-fill on the sign-in page.
    #[arg(long)]
    pub email: Option<String>,
    /// Do not open a browser; print the URL only.
    #[arg(long)]
    pub no_browser: bool,
    /// Loopback callback port (any free port when taken; 0 for any).
    #[arg(long, default_value_t = 9876)]
    pub port: u16,
    /// How long to wait for the sign-in (e.g. 90s, 5m).
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// A scope to ask for besides `openid offline_access`, e.g. containers:read (repeatable;
    /// the server grants only what the CLI client and your role allow).
    #[arg(long = "scope", value_name = "SCOPE", conflicts_with = "token")]
    pub scopes: Vec<String>,
}

/// The scopes a sign-in asks for: the CLI's own, then `extra` (in order, without repeats).
fn requested_scope(default: &str, extra: &[String]) -> Option<String> {
    if extra.is_empty() {
        return None;
    }
    let mut all: Vec<&str> = default.split_whitespace().collect();
    for s in extra.iter().flat_map(|s| s.split_whitespace()) {
        if !all.contains(&s) {
            all.push(s);
        }
    }
    Some(all.join(" "))
}

pub async fn run(ctx: &Ctx, mut args: LoginArgs) -> CliResult {
    // `ward login https://ward.example.com` : the only positional is a URL.
    if args.server.is_none() && args.alias.as_deref().is_some_and(|a| a.contains("://")) {
        args.server = args.alias.take();
    }
    let client = ctx.bare_client();
    let alias = client.resolve_alias(args.alias.as_deref().or(ctx.global.profile.as_deref()))?;
    let url = match args.server.as_deref() {
        Some(u) => parse_server_url(u)?,
        None => client
            .resolve_url(&alias, ctx.global.url.as_deref())
            .map_err(|e| {
                if e.is_not_signed_in() {
                    CliError::usage(format!("no server URL for profile {alias}"))
                        .hint(format!("Please run: ward login {alias} <url>"))
                } else {
                    e.into()
                }
            })?,
    };
    // What to run to try again: the URL too unless the profile already knows it.
    let known = client.load_config()?.profiles.contains_key(&alias);
    let again = if known && args.server.is_none() {
        format!("ward login {alias}")
    } else {
        format!("ward login {alias} {}", url.as_str().trim_end_matches('/'))
    };
    let outcome = match args.token.as_deref() {
        Some(token) => {
            let token = if token == "-" {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .map_err(|e| CliError::new(format!("cannot read the token from stdin: {e}")))?;
                s.trim().to_owned()
            } else {
                token.to_owned()
            };
            if token.is_empty() {
                return Err(CliError::usage("the API token is empty"));
            }
            client.login_with_api_token(&alias, &url, &token).await?
        }
        None => {
            let flow: AuthFlow = args.auth_flow.parse()?;
            if args.email.is_none() && flow != AuthFlow::Password {
                let stored = client
                    .load_config()?
                    .profiles
                    .get(&alias)
                    .and_then(|p| p.email.clone());
                if stored.is_none() {
                    args.email = ask_email()?;
                }
            }
            // Typed lines go to the pasted-URL reader only where a browser flow may run.
            let paste = matches!(flow, AuthFlow::Auto | AuthFlow::Pkce).then(stdin_lines);
            let scope = requested_scope(&client.params().scope, &args.scopes);
            client
                .login(LoginOptions {
                    alias: alias.clone(),
                    url,
                    flow,
                    email: args.email,
                    no_browser: args.no_browser,
                    port: args.port,
                    timeout: args.timeout,
                    paste,
                    scope,
                    prompt: Some(std::sync::Arc::new(TerminalAsker)),
                })
                .await
                .map_err(|e| login_error(e, flow, &again))?
        }
    };
    ctx.progress.finish();
    report(ctx, &outcome);
    Ok(())
}

/// On a terminal, asks for the email first (SPEC §3.1, the seed CLI's behaviour): its domain
/// picks the company's identity provider at the sign-in page (`login_hint`). Empty means
/// "choose in the browser". Without a terminal nothing is asked.
fn ask_email() -> CliResult<Option<String>> {
    use std::io::{IsTerminal, Write};
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Ok(None);
    }
    eprint!("Email (Enter to choose in the browser): ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::new(format!("cannot read the email: {e}")))?;
    let email = line.trim();
    if email.is_empty() {
        return Ok(None);
    }
    if !email.contains('@') || email.contains(char::is_whitespace) {
        return Err(
            CliError::usage(format!("{email:?} is not an email address"))
                .hint("Type your work email, or press Enter to choose in the browser."),
        );
    }
    Ok(Some(email.to_owned()))
}

/// Asks at the terminal for `--auth-flow password` (no echo for the password); never without
/// one (SPEC §3: a non-interactive run prints what to do instead).
struct TerminalAsker;

impl TerminalAsker {
    fn interactive() -> ward_client::Result<()> {
        use std::io::IsTerminal;
        if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
            Ok(())
        } else {
            Err(ward_client::Error::usage(
                "--auth-flow password asks for the password on a terminal, and there is none here",
            ))
        }
    }

    fn read_line(prompt: &str, what: &str) -> ward_client::Result<String> {
        use std::io::Write;
        Self::interactive()?;
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| ward_client::Error::input(format!("cannot read the {what}: {e}")))?;
        Ok(line.trim().to_owned())
    }
}

impl ward_client::TerminalPrompt for TerminalAsker {
    fn email(&self) -> ward_client::Result<String> {
        let email = Self::read_line("Email: ", "email")?;
        if !email.contains('@') || email.contains(char::is_whitespace) {
            return Err(ward_client::Error::usage(format!(
                "{email:?} is not an email address"
            )));
        }
        Ok(email)
    }

    fn password(&self, email: &str) -> ward_client::Result<ward_client::Secret> {
        Self::interactive()?;
        rpassword::prompt_password(format!("Password for {email}: "))
            .map(ward_client::Secret::new)
            .map_err(|e| ward_client::Error::input(format!("cannot read the password: {e}")))
    }

    fn code(&self, _email: &str, retry: Option<&str>) -> ward_client::Result<String> {
        if let Some(why) = retry {
            eprintln!("That code was refused: {why}");
        }
        Self::read_line(
            "Code from your authenticator app (or a backup code): ",
            "code",
        )
    }
}

/// Adds what to try next to a failed interactive sign-in.
fn login_error(e: ward_client::Error, flow: AuthFlow, again: &str) -> CliError {
    let hint = match () {
        _ if e.hint().is_some() => None,
        _ if e.is_timeout() && flow == AuthFlow::Pkce => Some(format!(
            "Run `{again}` again with a longer --timeout, or use --auth-flow device_code where no browser can reach this machine"
        )),
        _ if e.is_timeout() => Some(format!("Run `{again}` again to get a new code")),
        _ if e.is_access_denied() && flow == AuthFlow::Password => Some(format!(
            "Run `{again} --auth-flow password` to try again"
        )),
        _ if e.is_access_denied() => Some(format!(
            "The request was denied in the browser; run `{again}` again to retry"
        )),
        _ => None,
    };
    let err = CliError::from(e);
    match hint {
        Some(h) => err.hint(h),
        None => err,
    }
}

/// Lines typed (or piped) on stdin, read on a thread so the wait never blocks on it. Reading is
/// not prompting: without a TTY nothing is asked, and an empty stdin just ends the stream.
fn stdin_lines() -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn report(ctx: &Ctx, o: &LoginOutcome) {
    let email = o.profile.email.as_deref().unwrap_or("(unknown)");
    if ctx.json() {
        print_json(&json!({
            "profile": o.alias,
            "url": o.profile.url,
            "email": o.profile.email,
            "user_id": o.profile.user_id,
            "session_id": o.profile.session_id,
            "expires_at": o.profile.expires_at,
            "credential_store": o.profile.credential_store,
        }));
        return;
    }
    println!("Login Successful!");
    println!(
        "Logged in to {} as {email} (profile {}).",
        o.profile.url.trim_end_matches('/'),
        o.alias
    );
    println!("Credentials stored in {}.", o.store);
}
