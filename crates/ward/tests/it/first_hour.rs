//! Issue 18, "The first hour": every CLI message true. Each test goes through the real binary
//! against a real server and failed before its fix.

use crate::support::{mode, Cli, Out, Server, ADMIN_EMAIL, ADMIN_PASSWORD, WARD};
use crate::{assert_ok, login_pkce, WAIT};

/// `ward tokens create` as JSON: `(id, secret, expires_at)`.
async fn create_token(cli: &Cli, extra: &[&str]) -> (String, String, serde_json::Value) {
    let mut args = vec![
        "tokens",
        "create",
        "--name",
        "script",
        "--scope",
        "containers:read",
        "--output",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = cli.run(&args).await;
    assert_ok(&out);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    (
        v["id"].as_str().unwrap().to_owned(),
        v["token"].as_str().unwrap().to_owned(),
        v["expires_at"].clone(),
    )
}

fn line<'a>(out: &'a Out, prefix: &str) -> &'a str {
    out.stdout
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{}", out.stdout))
}

/// Item 1: a refused `WARD_TOKEN` is named as the culprit, with the server's reason; logging in
/// is not suggested while the token wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_ward_token_is_named_with_the_reason() {
    let server = Server::start();
    let cli = Cli::new();
    login_pkce(&server, &cli).await;
    let (id, secret, _) = create_token(&cli, &[]).await;
    assert_ok(&cli.run(&["tokens", "revoke", &id]).await);

    let out = cli.run_env(&["status"], &[("WARD_TOKEN", &secret)]).await;
    assert_eq!(out.code, 1, "{out:?}");
    let first = out.stderr.lines().next().unwrap();
    assert!(
        first.starts_with("Error: the token from WARD_TOKEN was refused: "),
        "{}",
        out.stderr
    );
    assert!(first.contains("revoked"), "{}", out.stderr);
    assert!(!out.stderr.contains("ward login"), "{}", out.stderr);
    assert!(out.stderr.contains("unset WARD_TOKEN"), "{}", out.stderr);

    let out = cli
        .run_env(&["status"], &[("WARD_TOKEN", "ward_garbage")])
        .await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr
            .starts_with("Error: the token from WARD_TOKEN was refused: "),
        "{}",
        out.stderr
    );
    // --api-token is named as such.
    let out = cli.run(&["status", "--api-token", "ward_garbage"]).await;
    assert!(
        out.stderr
            .starts_with("Error: the token from --api-token was refused: "),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("drop --api-token"), "{}", out.stderr);
    // Other commands do not suggest logging in either.
    let out = cli
        .run_env(&["api", "/api/profile"], &[("WARD_TOKEN", "ward_garbage")])
        .await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("WARD_TOKEN was refused"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("ward login"), "{}", out.stderr);
}

/// Item 2: with `WARD_TOKEN` set, status shows the API token's expiry, not the profile's
/// session expiry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ward_token_status_shows_the_tokens_expiry() {
    let server = Server::start();
    let cli = Cli::new();
    login_pkce(&server, &cli).await;
    let (_, never, _) = create_token(&cli, &["--expires", "never"]).await;
    let out = cli.run_env(&["status"], &[("WARD_TOKEN", &never)]).await;
    assert_ok(&out);
    assert_eq!(
        line(&out, "Session expires: "),
        "Session expires: never (API token)"
    );
    let (_, dated, expires_at) = create_token(&cli, &["--expires", "30d"]).await;
    let day = &expires_at.as_str().unwrap()[..10];
    let out = cli.run_env(&["status"], &[("WARD_TOKEN", &dated)]).await;
    assert_ok(&out);
    let l = line(&out, "Session expires: ");
    assert!(l.starts_with(&format!("Session expires: {day} ")), "{l}");
    // The profile's own session is unchanged.
    let own = cli.run(&["status"]).await;
    assert_ok(&own);
    assert_ne!(line(&own, "Session expires: "), l);
}

/// Item 3: an unknown profile gets one message from every command, as a usage error (exit 2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_profile_is_one_usage_error_everywhere() {
    let server = Server::start();
    let cli = Cli::new();
    login_pkce(&server, &cli).await;
    let want = "Error: no profile named prod\n\
                Profiles: default. Sign in to a new one with: ward login prod <url>\n";
    for args in [
        &["status", "--profile", "prod"][..],
        &["token", "--profile", "prod"],
        &["api", "/api/profile", "--profile", "prod"],
        &["tokens", "list", "--profile", "prod"],
        &["sessions", "list", "--profile", "prod"],
        &["mfa", "status", "--profile", "prod"],
        &["logout", "--profile", "prod"],
        &["profiles", "use", "prod"],
        &["profiles", "remove", "prod"],
    ] {
        let out = cli.run(args).await;
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert_eq!(out.stderr, want, "{args:?}");
    }
    let out = cli.run_env(&["status"], &[("WARD_PROFILE", "prod")]).await;
    assert_eq!((out.code, out.stderr.as_str()), (2, want));
}

/// Item 4: the hint after a denied sign-in names a command that works: with the URL when the
/// profile does not exist yet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_login_hint_is_a_working_command() {
    let server = Server::start();
    let cli = Cli::new();
    let running = cli.spawn(&[
        "login",
        "scratch",
        &server.url,
        "--auth-flow",
        "pkce",
        "--port",
        "0",
    ]);
    let url = cli.wait_browser_url("/cli-login", WAIT).await;
    let mut user = server.user();
    user.decision = "deny";
    let _ = user.visit(&url, false).await;
    let out = running.finish(WAIT).await;
    assert_eq!(out.code, 1, "{out:?}");
    let again = format!("run `ward login scratch {}` again", server.url);
    assert!(out.stderr.contains(&again), "{}", out.stderr);
}

/// Item 5: after `ward logout`, status says "signed out" (exit 1), in JSON too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_after_logout_says_signed_out() {
    let server = Server::start();
    let cli = Cli::new();
    login_pkce(&server, &cli).await;
    assert_ok(&cli.run(&["logout"]).await);
    let out = cli.run(&["status"]).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(
        out.stderr,
        format!(
            "Error: signed out of profile default\nPlease run: ward login default {}\n",
            server.url
        )
    );
    let out = cli.run(&["status", "--output", "json"]).await;
    assert_eq!(out.code, 1, "{out:?}");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["authenticated"], false);
    assert_eq!(v["state"], "signed_out");
    assert_eq!(v["profile"], "default");
}

/// Item 6: a loopback address without a scheme is plain HTTP; refused connections, TLS
/// failures and DNS failures read differently, with `http://` suggested for a TLS failure on
/// a loopback address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemeless_loopback_url_and_network_errors_told_apart() {
    let server = Server::start();
    let cli = Cli::new();
    login_pkce(&server, &cli).await;
    let (_, secret, _) = create_token(&cli, &[]).await;
    let hostport = server.url.trim_start_matches("http://").to_owned();
    let other = Cli::new();
    let out = other
        .run(&["login", "ci", &hostport, "--token", &secret])
        .await;
    assert_ok(&out);
    assert_eq!(
        other.config()["profiles"]["ci"]["url"],
        format!("{}/", server.url)
    );
    let port = hostport.rsplit(':').next().unwrap();
    let localhost = format!("localhost:{port}");
    let out = cli
        .run_env(&["status", "--url", &localhost], &[("WARD_TOKEN", &secret)])
        .await;
    assert_ok(&out);

    let tls = format!("https://{hostport}");
    let out = cli.run(&["status", "--url", &tls]).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("the TLS handshake failed"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!("try {}", server.url)),
        "{}",
        out.stderr
    );

    let out = cli.run(&["status", "--url", "http://127.0.0.1:9"]).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("connection refused"), "{}", out.stderr);

    let out = cli
        .run(&["status", "--url", "https://no-such-host.invalid"])
        .await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("the host name does not resolve"),
        "{}",
        out.stderr
    );
}

/// Item 7: `WARD_CREDENTIAL_STORE=keyring` without a keyring (no session bus here) fails
/// instead of writing the plaintext file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forced_keyring_without_one_fails_clearly() {
    let server = Server::start();
    let cli = Cli::new();
    login_pkce(&server, &cli).await;
    let (_, secret, _) = create_token(&cli, &[]).await;
    let other = Cli::new();
    let out = other
        .run_env(
            &["login", "ci", &server.url, "--token", &secret],
            &[
                ("WARD_CREDENTIAL_STORE", "keyring"),
                ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent"),
            ],
        )
        .await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr
            .starts_with("Error: WARD_CREDENTIAL_STORE=keyring, but the keyring cannot be used: "),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("WARD_CREDENTIAL_STORE=file"),
        "{}",
        out.stderr
    );
    assert!(!other.credentials_path().exists());
    assert!(!other.config_path().exists() || other.config()["profiles"]["ci"].is_null());
}

/// Item 8: a credentials file found looser than 0600 is repaired with a warning.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loose_credentials_file_is_repaired_with_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let server = Server::start();
    let cli = Cli::new();
    login_pkce(&server, &cli).await;
    let path = cli.credentials_path();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = cli.run(&["status"]).await;
    assert_ok(&out);
    assert!(
        out.stderr.contains(&format!(
            "Warning: {} was accessible by other users (mode 644); changed to 600.",
            path.display()
        )),
        "{}",
        out.stderr
    );
    assert_eq!(mode(&path), 0o600);
}

/// RFC 4648 base32 (no padding), as the server shows TOTP secrets.
fn base32_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut value, mut out) = (0u32, 0u32, Vec::new());
    for c in s.trim().trim_end_matches('=').bytes() {
        let v = ALPHABET
            .iter()
            .position(|a| *a == c.to_ascii_uppercase())
            .unwrap();
        value = (value << 5) | u32::try_from(v).unwrap();
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((value >> bits) & 0xff).unwrap());
        }
    }
    out
}

/// The current TOTP code for a base32 secret.
pub fn totp_now(secret_base32: &str) -> String {
    use ward_core::clock::Clock;
    let step = ward_core::mfa::step_of(ward_core::clock::SystemClock.now());
    ward_core::mfa::code_at_step(&base32_decode(secret_base32), step).unwrap()
}

/// Item 9: on a terminal, a mistyped code during `ward mfa enable` is asked again (3 tries),
/// with the same secret, instead of aborting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mfa_enable_asks_again_after_a_mistyped_code() {
    let server = Server::start();
    let cli = Cli::new();
    login_pkce(&server, &cli).await;
    // Three wrong codes end it, with the server's message (4 failures in all here: below the
    // server's lockout of 5).
    let mut running = cli.spawn_on_terminal(&["mfa", "enable"]);
    running.wait_stdout("Code: ", WAIT).await;
    running.type_line("000000").await;
    running.wait_stdout("Try again (2 tries left).", WAIT).await;
    running.type_line("111111").await;
    running.wait_stdout("Try again (1 try left).", WAIT).await;
    running.type_line("222222").await;
    let out = running.finish(WAIT).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("Error: "), "{}", out.stdout);

    let mut running = cli.spawn_on_terminal(&["mfa", "enable"]);
    let shown = running.wait_stdout("Code: ", WAIT).await;
    let secret = shown
        .split("enter this key: ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    running.type_line("000000").await;
    running.wait_stdout("Try again (2 tries left).", WAIT).await;
    running.type_line(&totp_now(&secret)).await;
    let out = running.finish(WAIT).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("Two-step verification is on."),
        "{}",
        out.stdout
    );
    // Asked again with the same secret: it was shown once.
    assert_eq!(out.stdout.matches("enter this key: ").count(), 1);
    let status = cli.run(&["mfa", "status"]).await;
    assert!(status.stdout.starts_with("Two-step verification: on"));
}

/// Item 10: `ward verify` on a resource that is not locked says so and spends no code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_on_an_unlocked_resource_spends_no_code() {
    let server = Server::start();
    let cli = Cli::new();
    login_pkce(&server, &cli).await;
    let setup = cli
        .run(&["api", "-X", "POST", "/api/mfa/totp/setup", "-d", "{}"])
        .await;
    assert_ok(&setup);
    let v: serde_json::Value = serde_json::from_str(&setup.stdout).unwrap();
    let code = totp_now(v["secret"].as_str().unwrap());
    let body = format!(r#"{{"code":"{code}"}}"#);
    let confirmed = cli
        .run(&["api", "-X", "POST", "/api/mfa/totp/confirm", "-d", &body])
        .await;
    assert_ok(&confirmed);
    let v: serde_json::Value = serde_json::from_str(&confirmed.stdout).unwrap();
    let backup: Vec<String> = v["backup_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();

    let out = cli
        .run(&["verify", "terminal", "t1", "--code", &backup[0]])
        .await;
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(
        out.stderr,
        "Error: terminal/t1 is not locked: it needs no ticket, and no code was used\n\
         Connect to it directly; to require a code for it, run: ward lock terminal t1\n"
    );
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    let status = cli.run(&["mfa", "status"]).await;
    assert!(
        status.stdout.contains("Backup codes remaining: 10"),
        "{}",
        status.stdout
    );
    // Locked, the same command gives a ticket.
    assert_ok(
        &cli.run(&["lock", "terminal", "t1", "--code", &backup[0]])
            .await,
    );
    let out = cli
        .run(&["verify", "terminal", "t1", "--code", &backup[1]])
        .await;
    assert_ok(&out);
    assert!(!out.stdout.trim().is_empty());
}

/// Item 11: with no browser, `ward login` says why it uses the device flow, and that the
/// approving device must reach a loopback URL (with the SSH port-forwarding command).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_without_a_browser_says_why_and_warns_about_loopback() {
    let server = Server::start();
    let cli = Cli::new();
    let port = server.url.rsplit(':').next().unwrap().to_owned();
    let out = cli
        .run_env(
            &["login", "default", &server.url, "--timeout", "2s"],
            &[
                ("BROWSER", ""),
                ("SSH_CONNECTION", "10.0.0.2 50000 10.0.0.1 22"),
            ],
        )
        .await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains(
            "Signing in with the device code flow because no browser can be opened here: this is an SSH session."
        ),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!(
            "Note: {} is an address of this machine only",
            server.url
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .lines()
            .any(|l| l == format!("From another computer, forward the port first: ssh -L {port}:127.0.0.1:{port} <this machine>")),
        "{}",
        out.stderr
    );
    let out = cli
        .run(&[
            "login",
            "default",
            &server.url,
            "--no-browser",
            "--timeout",
            "1s",
        ])
        .await;
    assert!(
        out.stderr
            .contains("because no browser can be opened here: --no-browser was given"),
        "{}",
        out.stderr
    );
}

/// Item 12: `ward server --help` lists only server flags; a busy port is one clear error line
/// (the OS error once) with a hint; the absolute data directory is printed at start-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_help_busy_port_and_data_directory() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let help = Command::new(WARD)
        .args(["server", "--help"])
        .output()
        .unwrap();
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in ["--listen", "--data-dir", "--config", "--dev"] {
        assert!(help.contains(flag), "{help}");
    }
    for flag in ["--profile", "--api-token", "--url", "--output"] {
        assert!(!help.contains(flag), "{flag} in:\n{help}");
    }
    let out = Command::new(WARD)
        .args(["server", "--profile", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    let server = Server::start();
    let busy = server.url.trim_start_matches("http://");
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(WARD)
        .args(["server", "--listen", busy, "--data-dir"])
        .arg(dir.path().join("data"))
        .env("WARD_BOOTSTRAP_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("WARD_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("Error:")).collect();
    assert_eq!(
        errors,
        [format!(
            "Error: cannot listen on {busy}: Address already in use (os error 98)"
        )],
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("Address already in use").count(),
        1,
        "{stderr}"
    );
    assert!(
        stderr.contains("pass --listen with another port"),
        "{stderr}"
    );

    // A relative --data-dir is shown resolved against the directory ward started in.
    let mut child = Command::new(WARD)
        .args([
            "server",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            "./ward-data",
        ])
        .current_dir(dir.path())
        .env("WARD_BOOTSTRAP_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("WARD_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // stdout's first line is still the ready line; the data directory is told on stderr.
    let ready = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        ready.starts_with("listening on http://127.0.0.1:"),
        "{ready}"
    );
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let want = std::path::absolute(dir.path().join("./ward-data")).unwrap();
    assert_eq!(
        stderr.lines().find(|l| l.contains("data directory")),
        Some(format!("ward: data directory {}", want.display()).as_str()),
        "{stderr}"
    );
    assert!(want.is_absolute());
}

/// Item 13: new API tokens expire after 90 days by default, on the CLI as on the web page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_api_tokens_expire_in_90_days_by_default() {
    let server = Server::start();
    let cli = Cli::new();
    login_pkce(&server, &cli).await;
    let (_, _, expires_at) = create_token(&cli, &[]).await;
    let at = ward_client::parse_rfc3339(expires_at.as_str().unwrap()).unwrap();
    use ward_core::clock::Clock;
    let now = u64::try_from(ward_core::clock::SystemClock.now().secs()).unwrap();
    let days = (at - now) as f64 / 86_400.0;
    assert!((89.9..=90.1).contains(&days), "{days} days");
    let out = cli
        .run(&[
            "tokens",
            "create",
            "--name",
            "t",
            "--scope",
            "containers:read",
        ])
        .await;
    assert_ok(&out);
    assert!(out.stderr.contains("expires: 20"), "{}", out.stderr);
    let help = cli.run(&["tokens", "create", "--help"]).await;
    assert!(help.stdout.contains("[default: 90d]"), "{}", help.stdout);
}

/// Item 18 (part): `ward status` shows the credential's effective scopes (an API token's own,
/// not its owner's role), and `ward switch NAME` is `ward profiles use NAME`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_scopes_and_switch_changes_profile() {
    let server = Server::start();
    let cli = Cli::new();
    login_pkce(&server, &cli).await;
    let own = cli.run(&["status"]).await;
    assert_ok(&own);
    let admin_scopes = line(&own, "Scopes: ").to_owned();
    assert!(admin_scopes.contains("containers:read"), "{admin_scopes}");
    let (_, secret, _) = create_token(&cli, &[]).await;
    let out = cli.run_env(&["status"], &[("WARD_TOKEN", &secret)]).await;
    assert_ok(&out);
    assert_eq!(line(&out, "Scopes: "), "Scopes: containers:read");
    let out = cli
        .run_env(&["status", "--output", "json"], &[("WARD_TOKEN", &secret)])
        .await;
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["scopes"], serde_json::json!(["containers:read"]));

    assert_ok(
        &cli.run(&["login", "ci", &server.url, "--token", &secret])
            .await,
    );
    assert_eq!(cli.config()["current"], "ci");
    let out = cli.run(&["switch", "default"]).await;
    assert_ok(&out);
    assert_eq!(out.stderr, "Now using profile default.\n");
    assert_eq!(cli.config()["current"], "default");
    let out = cli.run(&["switch", "prod"]).await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.starts_with("Error: no profile named prod\n"));
}

/// `ward logout` when not signed in is informational and exits 0 (SPEC §3.1): with no profiles
/// at all, and again after a logout (the profile is kept, its session is gone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_when_not_signed_in_exits_zero() {
    let cli = Cli::new();
    let out = cli.run(&["logout"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stderr, "Not logged in: there are no profiles.\n");

    let server = Server::start();
    login_pkce(&server, &cli).await;
    let out = cli.run(&["logout"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stderr,
        format!("Logged out of {} (profile default).\n", server.url)
    );
    let out = cli.run(&["logout"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stderr,
        format!(
            "Not logged in to {} (profile default): nothing to do.\n",
            server.url
        )
    );
    let out = cli.run(&["logout", "--all"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("nothing to do"), "{out:?}");
}

/// The subcommands listed under `Commands:` in a `--help` page (without clap's own `help`).
fn listed_subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| l.trim_end() != "Commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(|name| name.trim_end_matches(',').to_owned())
        .collect()
}

/// Issue 18 item 18: every command's `--help`, found by walking `ward --help` and each
/// command's own `Commands:` list, ends with an "Examples:" block of `ward` command lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_has_help_with_examples() {
    let cli = Cli::new();
    let mut pending: Vec<Vec<String>> = vec![vec![]];
    let mut seen = Vec::new();
    let mut missing = Vec::new();
    while let Some(path) = pending.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let out = cli.run(&args).await;
        assert_eq!(out.code, 0, "ward {}: {out:?}", args.join(" "));
        let examples = out
            .stdout
            .split_once("\nExamples:\n")
            .map(|(_, e)| e.to_owned())
            .unwrap_or_default();
        let lines: Vec<&str> = examples.lines().collect();
        if lines.is_empty()
            || !lines.iter().all(|l| l.starts_with("  $ "))
            || !lines.iter().any(|l| l.contains("ward "))
        {
            missing.push(path.join(" "));
        }
        for sub in listed_subcommands(&out.stdout) {
            let mut next = path.clone();
            next.push(sub);
            pending.push(next);
        }
        seen.push(path.join(" "));
    }
    assert!(missing.is_empty(), "no examples in --help of: {missing:?}");
    // The walk reached the nested commands (and `server`, parsed on its own).
    for expected in [
        "server rotate-keys",
        "tokens create",
        "admin users set-role",
        "switch",
    ] {
        assert!(seen.iter().any(|s| s == expected), "{expected}: {seen:?}");
    }
}

/// Issue 18 item 18: `ward login --scope S` asks `/cli-login` for S besides the CLI's own
/// scopes (each once), and the session holds those scopes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_asks_for_extra_scopes() {
    let server = Server::start();
    let cli = Cli::new();
    let running = cli.spawn(&[
        "login",
        "default",
        &server.url,
        "--auth-flow",
        "pkce",
        "--port",
        "0",
        "--scope",
        "containers:read",
        "--scope",
        "offline_access",
    ]);
    let url = cli.wait_new_browser_url("/cli-login", 0, WAIT).await;
    assert_eq!(
        crate::support::query_param(&url, "scope").as_deref(),
        Some("openid offline_access containers:read"),
        "{url}"
    );
    let page = server.user().visit(&url, false).await;
    assert!(
        matches!(&page, Ok(crate::browser::Stop::Page(_, body)) if body.contains("Login Successful!")),
        "{page:?}\nward: {}\nserver: {}",
        running.stderr(),
        server.log()
    );
    assert_ok(&running.finish(WAIT).await);
    // The session holds what was asked for: here narrower than the admin role.
    let status = cli.run(&["status"]).await;
    assert_ok(&status);
    assert_eq!(line(&status, "Scopes:"), "Scopes: containers:read");
    let out = cli.run(&["login", "--token", "x", "--scope", "a:b"]).await;
    assert_eq!(out.code, 2, "--scope is for interactive sign-ins: {out:?}");
}
