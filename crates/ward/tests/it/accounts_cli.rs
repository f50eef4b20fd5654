//! `ward password` (SPEC §3.1) on a real terminal and from stdin, and the admin's account
//! commands `ward admin users recover|reset-mfa|delete` (SPEC §2.14).

use super::support::{Cli, Server, ADMIN_PASSWORD};
use super::{assert_ok, login_pkce, WAIT};

const NEW_PASSWORD: &str = "violet anchor drizzle 31";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_on_a_terminal_and_from_stdin() {
    let server = Server::start();
    let cli = Cli::new();
    login_pkce(&server, &cli).await;
    let other = Cli::new();
    login_pkce(&server, &other).await;

    // No terminal, no --password-stdin: never asks.
    let out = cli.run(&["password"]).await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.starts_with("Error: "), "{}", out.stderr);
    assert!(out.stderr.contains("--password-stdin"), "{}", out.stderr);

    // On a terminal: asked without echo; the server's rule is the error.
    let mut running = cli.spawn_on_terminal(&["password"]);
    running.wait_stdout("Current password: ", WAIT).await;
    running.type_line(ADMIN_PASSWORD).await;
    running.wait_stdout("New password: ", WAIT).await;
    running.type_line("password1234").await;
    running.wait_stdout("New password again: ", WAIT).await;
    running.type_line("password1234").await;
    let out = running.finish(WAIT).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stdout
            .contains("Error: the new password is too easy to guess"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains(ADMIN_PASSWORD), "no echo");

    let mut running = cli.spawn_on_terminal(&["password"]);
    running.wait_stdout("Current password: ", WAIT).await;
    running.type_line(ADMIN_PASSWORD).await;
    running.wait_stdout("New password: ", WAIT).await;
    running.type_line(NEW_PASSWORD).await;
    running.wait_stdout("New password again: ", WAIT).await;
    running.type_line(NEW_PASSWORD).await;
    let out = running.finish(WAIT).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("Password changed."), "{}", out.stdout);
    assert!(!out.stdout.contains(NEW_PASSWORD), "no echo");

    // This profile lives; the other one was signed out.
    assert_ok(&cli.run(&["status"]).await);
    let out = other.run(&["status"]).await;
    assert_eq!(out.code, 1, "{out:?}");

    // From stdin: the current password, then the new one.
    let mut running = cli.spawn(&["password", "--password-stdin"]);
    running.type_line(NEW_PASSWORD).await;
    running.type_line(NEW_PASSWORD).await;
    let out = running.finish(WAIT).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr
            .contains("Error: the new password is the same as the current one"),
        "{}",
        out.stderr
    );
    let mut running = cli.spawn(&["password", "--password-stdin"]);
    running.type_line(NEW_PASSWORD).await;
    running.type_line("another fine passphrase 9").await;
    let out = running.finish(WAIT).await;
    assert_ok(&out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_recovers_resets_and_deletes_users() {
    let server = Server::start();
    let cli = Cli::new();
    login_pkce(&server, &cli).await;
    for email in ["dev@example.com", "ops@example.com"] {
        let mut running = cli.spawn(&["admin", "users", "create", email, "--password-stdin"]);
        running.type_line("user-password-123").await;
        assert_ok(&running.finish(WAIT).await);
    }

    let out = cli
        .run(&["admin", "users", "recover", "dev@example.com"])
        .await;
    assert_ok(&out);
    let url = out
        .stdout
        .split_whitespace()
        .find(|w| w.contains("/recover?token="))
        .unwrap_or_else(|| panic!("{}", out.stdout))
        .to_owned();
    let page = Server::http().get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Recover your account"));

    let out = cli
        .run(&["admin", "users", "reset-mfa", "dev@example.com"])
        .await;
    assert_ok(&out);
    assert!(
        out.stderr.contains("Removed every second factor"),
        "{}",
        out.stderr
    );

    // Deleting asks; without a terminal it needs --yes.
    let out = cli
        .run(&["admin", "users", "delete", "dev@example.com"])
        .await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("--yes"), "{}", out.stderr);
    let out = cli
        .run(&["admin", "users", "delete", "dev@example.com", "--yes"])
        .await;
    assert_ok(&out);
    let mut running = cli.spawn_on_terminal(&["admin", "users", "delete", "ops@example.com"]);
    running.wait_stdout("to confirm: ", WAIT).await;
    running.type_line("ops@example.com").await;
    assert_ok(&running.finish(WAIT).await);
    let list = cli.run(&["admin", "users", "list"]).await;
    assert_ok(&list);
    assert!(!list.stdout.contains("dev@example.com"), "{}", list.stdout);
    assert!(!list.stdout.contains("ops@example.com"), "{}", list.stdout);
    let audit = cli.run(&["admin", "audit", "--type", "user.deleted"]).await;
    assert_eq!(
        audit.stdout.matches("user.deleted").count(),
        2,
        "{}",
        audit.stdout
    );
    // The link of a deleted user is gone with them.
    let page = Server::http().get(&url).send().await.unwrap();
    assert_eq!(page.status(), 404);
}

/// SPEC §3.1: `ward login` on a terminal asks for the email first, and its domain picks the
/// company's identity provider (the sign-in page sends the browser straight there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_asks_for_the_email_on_a_terminal_and_routes_to_the_idp() {
    let authorize = "http://127.0.0.1:9/login/oauth/authorize";
    let server = Server::start_with(&format!(
        "[[idp]]\nname = \"corp\"\nkind = \"github\"\nclient_id = \"ward-test\"\n\
         client_secret = \"not-a-secret-0123\"\ndomains = [\"corp.example\"]\n\
         authorize_url = \"{authorize}\"\ntoken_url = \"http://127.0.0.1:9/token\"\n\
         api_url = \"http://127.0.0.1:9/api\"\n"
    ));
    let cli = Cli::new();
    let running = cli.spawn_on_terminal(&[
        "login",
        "default",
        &server.url,
        "--auth-flow",
        "pkce",
        "--port",
        "0",
        "--timeout",
        "30s",
    ]);
    let mut running = running;
    running
        .wait_stdout("Email (Enter to choose in the browser): ", WAIT)
        .await;
    running.type_line("alice@corp.example").await;
    let url = cli.wait_browser_url("/cli-login", WAIT).await;
    assert!(url.contains("login_hint=alice%40corp.example"), "{url}");

    // The browser: /cli-login → /login with the hint → the company's IdP.
    let http = Server::http();
    let r = http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let login = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(login.contains("login_hint=alice%40corp.example"), "{login}");
    let r = http
        .get(format!("{}{login}", server.url.trim_end_matches('/')))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let idp = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(idp.starts_with(authorize), "routed to the IdP: {idp}");
    drop(running);

    // Without a terminal nothing is asked (the other login tests run that way).
}
