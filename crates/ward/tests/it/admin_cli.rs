//! `ward tokens`, `ward sessions` and `ward admin …` against a real server, signed in with
//! `ward login` (PKCE, completed in the test's browser).

use serde_json::Value;

use super::support::{Cli, Server};
use super::{assert_ok, login_pkce};

fn json_of(out: &super::support::Out) -> Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", out.stdout, out.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_create_list_revoke() {
    let server = Server::start();
    let cli = Cli::new();
    login_pkce(&server, &cli).await;

    let created = cli
        .run(&[
            "tokens",
            "create",
            "--name",
            "ci",
            "--scope",
            "containers:read",
            "--scope",
            "agent:read",
            "--expires",
            "90d",
        ])
        .await;
    assert_ok(&created);
    let secret = created.stdout.trim().to_owned();
    assert!(
        secret.starts_with("ward_") && secret.len() == 43,
        "{secret}"
    );
    assert!(created.stderr.contains("Copy it now"), "{}", created.stderr);

    // The new token works on its own.
    let ci = Cli::new();
    let status = ci
        .run_env(
            &["status"],
            &[("WARD_TOKEN", &secret), ("WARD_URL", &server.url)],
        )
        .await;
    assert_ok(&status);

    let list = cli.run(&["tokens", "list"]).await;
    assert_ok(&list);
    assert!(list.stdout.starts_with("ID"), "{}", list.stdout);
    assert!(
        list.stdout.contains("containers:read,agent:read"),
        "{}",
        list.stdout
    );
    assert!(!list.stdout.contains(&secret));
    let listed = json_of(&cli.run(&["tokens", "list", "--output", "json"]).await);
    let id = listed["tokens"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(listed["tokens"][0]["name"], "ci");
    assert!(listed["tokens"][0]["token"].is_null(), "never the secret");

    let revoked = cli.run(&["tokens", "revoke", &id]).await;
    assert_ok(&revoked);
    assert_eq!(revoked.stdout.trim(), format!("Revoked API token {id}"));
    let again = cli.run(&["tokens", "revoke", &id]).await;
    assert_eq!(again.code, 1);
    assert!(
        again
            .stderr
            .starts_with("Error: no such live API token of yours"),
        "{}",
        again.stderr
    );
    let status = ci
        .run_env(
            &["status"],
            &[("WARD_TOKEN", &secret), ("WARD_URL", &server.url)],
        )
        .await;
    assert_eq!(status.code, 1);

    // Usage errors exit 2.
    let usage = cli.run(&["tokens", "create", "--name", "x"]).await;
    assert_eq!(usage.code, 2, "{}", usage.stderr);
    let usage = cli
        .run(&[
            "tokens",
            "create",
            "--name",
            "x",
            "--scope",
            "agent:read",
            "--expires",
            "soon",
        ])
        .await;
    assert_eq!(usage.code, 2, "{}", usage.stderr);
    assert!(
        usage.stderr.starts_with("Error: --expires"),
        "{}",
        usage.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_and_admin_commands() {
    let server = Server::start();
    let cli = Cli::new();
    login_pkce(&server, &cli).await;

    // Own sessions: the CLI's (current) and the browser's web session.
    let list = cli.run(&["sessions"]).await;
    assert_ok(&list);
    assert!(
        list.stdout.lines().any(|l| l.starts_with('*')),
        "{}",
        list.stdout
    );
    let sessions = json_of(&cli.run(&["sessions", "list", "--output", "json"]).await);
    let sessions = sessions["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    let current = sessions.iter().find(|s| s["current"] == true).unwrap();
    assert_eq!(current["channel"], "cli");
    let web = sessions.iter().find(|s| s["current"] == false).unwrap();
    let web_id = web["id"].as_str().unwrap();
    let revoked = cli.run(&["sessions", "revoke", web_id]).await;
    assert_ok(&revoked);
    let after = json_of(&cli.run(&["sessions", "--output", "json"]).await);
    assert_eq!(after["sessions"].as_array().unwrap().len(), 1);

    // Users.
    let created = cli
        .run(&[
            "admin",
            "users",
            "create",
            "dev@example.com",
            "--role",
            "user",
            "--name",
            "Dev",
        ])
        .await;
    assert_ok(&created);
    assert!(
        created.stdout.starts_with("Created user dev@example.com ("),
        "{}",
        created.stdout
    );
    let set = cli
        .run(&["admin", "users", "set-role", "dev@example.com", "admin"])
        .await;
    assert_ok(&set);
    assert!(set.stdout.contains("role admin"), "{}", set.stdout);
    let disabled = cli
        .run(&["admin", "users", "disable", "dev@example.com"])
        .await;
    assert_ok(&disabled);
    assert!(
        disabled.stdout.ends_with(", disabled\n"),
        "{}",
        disabled.stdout
    );
    let users = cli.run(&["admin", "users"]).await;
    assert_ok(&users);
    assert!(
        users
            .stdout
            .lines()
            .any(|l| l.contains("dev@example.com") && l.contains("disabled")),
        "{}",
        users.stdout
    );
    assert_ok(
        &cli.run(&["admin", "users", "enable", "dev@example.com"])
            .await,
    );
    let bad = cli
        .run(&["admin", "users", "set-role", "dev@example.com", "wizard"])
        .await;
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr.starts_with("Error: unknown role \"wizard\""),
        "{}",
        bad.stderr
    );
    let nobody = cli
        .run(&["admin", "users", "disable", "nobody@example.com"])
        .await;
    assert_eq!(nobody.code, 1);
    assert!(nobody
        .stderr
        .contains("no user with email nobody@example.com"));

    // Everyone's sessions, filtered by user.
    let all = cli
        .run(&["admin", "sessions", "list", "--user", &server.admin_email])
        .await;
    assert_ok(&all);
    assert!(all.stdout.contains("USER"), "{}", all.stdout);
    assert!(all.stdout.contains(&server.admin_email));
    let listed = json_of(&cli.run(&["admin", "sessions", "--output", "json"]).await);
    assert_eq!(listed["sessions"].as_array().unwrap().len(), 1);

    // The audit log, by type and by user.
    let audit = cli.run(&["admin", "audit", "--type", "role.changed"]).await;
    assert_ok(&audit);
    assert!(audit.stdout.contains("role.changed"), "{}", audit.stdout);
    assert!(
        audit.stdout.contains("from=user to=admin"),
        "{}",
        audit.stdout
    );
    let about_dev = json_of(
        &cli.run(&[
            "admin",
            "audit",
            "--user",
            "dev@example.com",
            "--limit",
            "10",
            "--output",
            "json",
        ])
        .await,
    );
    let types: Vec<&str> = about_dev["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "user.enabled",
            "user.disabled",
            "role.changed",
            "user.created"
        ]
    );
    let revokes = json_of(
        &cli.run(&[
            "admin",
            "audit",
            "--type",
            "session.revoked",
            "--output",
            "json",
        ])
        .await,
    );
    assert_eq!(revokes["events"][0]["detail"]["via"], "user");

    // An API token is not enough for the admin commands.
    let token = cli
        .run(&["tokens", "create", "--name", "ci", "--scope", "agent:read"])
        .await;
    assert_ok(&token);
    let refused = cli
        .run_env(
            &["admin", "users"],
            &[
                ("WARD_TOKEN", token.stdout.trim()),
                ("WARD_URL", &server.url),
            ],
        )
        .await;
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.starts_with("Error: permission denied"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("ward login"), "{}", refused.stderr);

    // The admin revokes the CLI's own session: the CLI is signed out.
    let sid = current["id"].as_str().unwrap();
    assert_ok(&cli.run(&["admin", "sessions", "revoke", sid]).await);
    let status = cli.run(&["status"]).await;
    assert_eq!(status.code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_accounts_commands() {
    let server = Server::start();
    let cli = Cli::new();
    login_pkce(&server, &cli).await;

    let created = cli
        .run(&[
            "admin",
            "service-accounts",
            "create",
            "ci-deploy",
            "--role",
            "user",
        ])
        .await;
    assert_ok(&created);
    eprintln!(
        "$ ward admin service-accounts create ci-deploy --role user\n{}",
        created.stdout
    );
    assert!(
        created
            .stdout
            .starts_with("Created service account ci-deploy (sa_"),
        "{}",
        created.stdout
    );
    let again = cli
        .run(&[
            "admin",
            "service-accounts",
            "create",
            "ci-deploy",
            "--role",
            "user",
        ])
        .await;
    assert_eq!(again.code, 1);
    eprintln!("{}", again.stderr);
    assert!(
        again
            .stderr
            .contains("a service account named ci-deploy exists already"),
        "{}",
        again.stderr
    );

    let token = cli
        .run(&[
            "admin",
            "service-accounts",
            "token",
            "ci-deploy",
            "--name",
            "github-actions",
            "--scope",
            "containers:read",
            "--expires",
            "30d",
        ])
        .await;
    assert_ok(&token);
    eprintln!("{}{}", token.stderr, token.stdout);
    let secret = token.stdout.trim().to_owned();
    assert!(secret.starts_with("ward_"), "{secret}");
    assert!(token.stderr.contains("Copy it now"), "{}", token.stderr);
    // A scope outside the role is refused, naming it.
    let wide = cli
        .run(&[
            "admin",
            "service-accounts",
            "token",
            "ci-deploy",
            "--name",
            "x",
            "--scope",
            "admin:write",
        ])
        .await;
    assert_eq!(wide.code, 1);
    eprintln!("{}", wide.stderr);
    assert!(
        wide.stderr
            .contains("admin:write is not granted by the service account's role user"),
        "{}",
        wide.stderr
    );

    // The token works on its own, as the service account.
    let machine = Cli::new();
    let env = [
        ("WARD_TOKEN", secret.as_str()),
        ("WARD_URL", server.url.as_str()),
    ];
    let profile = machine.run_env(&["api", "/api/profile"], &env).await;
    assert_ok(&profile);
    assert!(profile.stdout.contains("\"user\""), "{}", profile.stdout);

    let list = cli.run(&["admin", "service-accounts"]).await;
    assert_ok(&list);
    eprintln!("$ ward admin service-accounts\n{}", list.stdout);
    assert!(list.stdout.starts_with("ID"), "{}", list.stdout);
    assert!(list.stdout.contains("ci-deploy"), "{}", list.stdout);
    assert!(!list.stdout.contains(&secret));
    let listed = json_of(
        &cli.run(&["admin", "service-accounts", "list", "--output", "json"])
            .await,
    );
    assert_eq!(
        listed["service_accounts"][0]["tokens"][0]["name"],
        "github-actions"
    );

    let deleted = cli
        .run(&["admin", "service-accounts", "delete", "ci-deploy"])
        .await;
    assert_ok(&deleted);
    eprintln!(
        "$ ward admin service-accounts delete ci-deploy\n{}",
        deleted.stderr
    );
    let after = machine.run_env(&["api", "/api/profile"], &env).await;
    assert_eq!(after.code, 1, "{}", after.stdout);
    let missing = cli
        .run(&["admin", "service-accounts", "delete", "ci-deploy"])
        .await;
    assert_eq!(missing.code, 1);
    assert!(
        missing
            .stderr
            .contains("no service account with id or name ci-deploy"),
        "{}",
        missing.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_commands_list_and_remove_a_registered_client() {
    let server = Server::start_with("[registration]\nmode = \"open\"");
    let cli = Cli::new();
    login_pkce(&server, &cli).await;
    // An agent registers itself (RFC 7591).
    let registered: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/oauth/register", server.url))
        .json(&serde_json::json!({
            "client_name": "Notes agent",
            "redirect_uris": ["http://127.0.0.1:8976/callback"],
            "token_endpoint_auth_method": "none",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = registered["client_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("reg_"), "{registered}");

    let list = cli.run(&["admin", "clients", "list"]).await;
    assert_ok(&list);
    eprintln!("$ ward admin clients list\n{}", list.stdout);
    let row = list
        .stdout
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("{id} not listed: {}", list.stdout));
    assert!(
        row.contains("registered") && row.contains("Notes agent") && row.contains("public"),
        "{row}"
    );
    assert!(list
        .stdout
        .lines()
        .any(|l| l.starts_with("ward-cli") && l.contains("configured")));

    // A configured client cannot be removed; the refusal says why.
    let refused = cli.run(&["admin", "clients", "delete", "ward-cli"]).await;
    assert_eq!(refused.code, 1);
    assert!(refused.stderr.contains("Error:"), "{}", refused.stderr);

    let removed = cli.run(&["admin", "clients", "delete", &id]).await;
    assert_ok(&removed);
    let list = cli
        .run(&["admin", "clients", "list", "--output", "json"])
        .await;
    assert_ok(&list);
    assert!(!list.stdout.contains(&id), "{}", list.stdout);
}
