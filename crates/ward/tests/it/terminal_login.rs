//! Issue 18, item 18 (tsh's `login` with local users): `ward login --auth-flow password` takes the
//! password and the code in a real terminal (a pty), for a box with no browser anywhere, when
//! the server allows it (`terminal_sign_in = true`, decision 164).

use crate::first_hour::totp_now;
use crate::support::{Cli, Server, ADMIN_EMAIL, ADMIN_PASSWORD};
use crate::{assert_ok, WAIT};

fn password_login<'a>(server: &'a Server, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["login", "default", &server.url, "--auth-flow", "password"];
    args.extend_from_slice(extra);
    args
}

/// Turns TOTP on for the signed-in profile; returns its secret.
async fn enable_totp(cli: &Cli) -> String {
    let setup = cli
        .run(&["api", "-X", "POST", "/api/mfa/totp/setup", "-d", "{}"])
        .await;
    assert_ok(&setup);
    let v: serde_json::Value = serde_json::from_str(&setup.stdout).unwrap();
    let secret = v["secret"].as_str().unwrap().to_owned();
    let body = format!(r#"{{"code":"{}"}}"#, totp_now(&secret));
    assert_ok(
        &cli.run(&["api", "-X", "POST", "/api/mfa/totp/confirm", "-d", &body])
            .await,
    );
    secret
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_and_code_typed_in_the_terminal() {
    let server = Server::start_with("terminal_sign_in = true");
    let cli = Cli::new();

    // Email asked, then the password without echo: signed in, no browser opened.
    let mut running = cli.spawn_on_terminal(&password_login(&server, &[]));
    running.wait_stdout("Email: ", WAIT).await;
    running.type_line(ADMIN_EMAIL).await;
    running
        .wait_stdout(&format!("Password for {ADMIN_EMAIL}: "), WAIT)
        .await;
    running.type_line(ADMIN_PASSWORD).await;
    let out = running.finish(WAIT).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("Login Successful!"), "{}", out.stdout);
    assert!(
        !out.stdout.contains(ADMIN_PASSWORD),
        "the password was echoed"
    );
    assert!(cli.browser_urls().is_empty(), "{:?}", cli.browser_urls());
    let status = cli.run(&["status"]).await;
    assert_ok(&status);
    assert!(status
        .stdout
        .contains(&format!("Authenticated as {ADMIN_EMAIL}")));

    // With two-step verification: the code is asked for; a mistyped one is asked again.
    let secret = enable_totp(&cli).await;
    // The code used to confirm enrolment may not be used again: wait for the next step.
    let step = || {
        use ward_core::clock::Clock;
        ward_core::mfa::step_of(ward_core::clock::SystemClock.now())
    };
    let enrolled = step();
    while step() == enrolled {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let mut running = cli.spawn_on_terminal(&password_login(&server, &["--email", ADMIN_EMAIL]));
    running.wait_stdout("Password for", WAIT).await;
    running.type_line(ADMIN_PASSWORD).await;
    running.wait_stdout("(or a backup code): ", WAIT).await;
    running.type_line("000000").await;
    running.wait_stdout("That code was refused: ", WAIT).await;
    running.type_line(&totp_now(&secret)).await;
    let out = running.finish(WAIT).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("Login Successful!"), "{}", out.stdout);
    let mfa = cli.run(&["api", "/api/mfa"]).await;
    assert_ok(&mfa);
    let v: serde_json::Value = serde_json::from_str(&mfa.stdout).unwrap();
    assert_eq!(v["session_verified"], true, "{v}");

    // A wrong password: one clear line, exit 1, the profile untouched.
    let mut running = cli.spawn_on_terminal(&password_login(&server, &["--email", ADMIN_EMAIL]));
    running.wait_stdout("Password for", WAIT).await;
    running.type_line("not the password").await;
    let out = running.finish(WAIT).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stdout
            .contains("Error: incorrect email or password; 9 attempts left"),
        "{}",
        out.stdout
    );
    assert_ok(&cli.run(&["status"]).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_where_the_server_does_not_allow_it_or_nobody_can_type() {
    let server = Server::start();
    let cli = Cli::new();
    let out = cli
        .run(&password_login(&server, &["--email", ADMIN_EMAIL]))
        .await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr
            .contains("does not allow signing in with a password in the terminal"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("ward login default"), "{}", out.stderr);

    // No terminal: never prompted, a usage error saying why.
    let server = Server::start_with("terminal_sign_in = true");
    let out = cli
        .run(&password_login(&server, &["--email", ADMIN_EMAIL]))
        .await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("there is none here"), "{}", out.stderr);
}
