//! End-to-end tests: the real `ward` CLI against a real `ward server` (one per test, temp SQLite
//! data dir, port 0). `$BROWSER` records the URLs the CLI opens and the test plays the user
//! through the server's HTML pages with [`browser::Browser`].

// Test fixtures outside #[test] functions may unwrap and panic: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod accounts_cli;
mod admin_cli;
mod browser;
mod durability;
mod events;
mod faults;
mod first_hour;
#[path = "../../../ward-server/tests/it/receiver.rs"]
mod receiver;
mod ssh_cli;
mod stepup_cli;
mod terminal_login;
// Shared with ward-server's tests, which use all of it.
#[allow(dead_code)]
#[path = "../../../ward-server/tests/it/sshd.rs"]
mod sshd;
mod support;
mod toolchain;
// The browser is the test kit's (`ward_testkit::browser`); this path stays for branches that
// still name `crate::webdriver`.
#[allow(unused_imports)]
mod webdriver {
    pub use ward_testkit::browser::*;
}

use std::time::Duration;

use browser::Stop;
use support::{query_param, Cli, Out, Server, ADMIN_PASSWORD};

const WAIT: Duration = Duration::from_secs(60);

fn assert_ok(out: &Out) {
    assert_eq!(
        out.code, 0,
        "ward failed:\nstdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
}

/// `ward login default URL --auth-flow pkce`, completed by the user in the browser.
async fn login_pkce(server: &Server, cli: &Cli) -> Out {
    let opened_before = cli.browser_urls().len();
    let running = cli.spawn(&[
        "login",
        "default",
        &server.url,
        "--auth-flow",
        "pkce",
        "--port",
        "0",
        "--timeout",
        "60s",
    ]);
    let url = cli
        .wait_new_browser_url("/cli-login", opened_before, WAIT)
        .await;
    match server.user().visit(&url, false).await {
        Ok(Stop::Page(_, body)) => assert!(body.contains("Login Successful!")),
        other => panic!(
            "browser: {other:?}\nward: {}\nserver: {}",
            running.stderr(),
            server.log()
        ),
    }
    let out = running.finish(WAIT).await;
    assert_ok(&out);
    out
}

fn is_utc_timestamp(s: &str) -> bool {
    // YYYY-MM-DD HH:MM:SS UTC
    let b = s.as_bytes();
    s.len() == 23
        && s.ends_with(" UTC")
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ',
            13 | 16 => *c == b':',
            19..=22 => true,
            _ => c.is_ascii_digit(),
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pkce_login_through_browser_then_status_and_token() {
    let server = Server::start();
    let cli = Cli::new();
    let out = login_pkce(&server, &cli).await;
    assert!(out.stdout.contains("Login Successful!"), "{}", out.stdout);
    assert!(
        out.stderr.contains("Open this URL in a browser to sign in"),
        "{}",
        out.stderr
    );

    // The URL carried everything SPEC §3 / the server contract needs.
    let url = &cli.browser_urls()[0];
    assert_eq!(query_param(url, "client_id").as_deref(), Some("ward-cli"));
    assert_eq!(
        query_param(url, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert!(query_param(url, "redirect_uri")
        .unwrap()
        .starts_with("http://127.0.0.1:"));
    assert!(query_param(url, "device_id").is_some());

    let status = cli.run(&["status"]).await;
    assert_ok(&status);
    let lines: Vec<&str> = status.stdout.lines().collect();
    assert_eq!(lines[0], format!("Authenticated as {}", server.admin_email));
    assert!(
        lines[1].starts_with("Role: ") && lines[1].contains("admin"),
        "{lines:?}"
    );
    let expires = lines[2].strip_prefix("Session expires: ").unwrap();
    assert!(is_utc_timestamp(expires), "{expires:?}");
    assert!(status.stdout.contains("Profile: default"));
    assert!(status.stdout.contains(&format!("URL: {}", server.url)));
    assert!(status.stdout.contains("Credential store: file"));
    // `ward api` calls the gateway with the profile's credentials.
    let api = cli.run(&["api", "/api/profile"]).await;
    assert_ok(&api);
    let v: serde_json::Value = serde_json::from_str(&api.stdout).unwrap();
    assert_eq!(v["email"], server.admin_email.as_str());
    let missing = cli.run(&["api", "/api/nope"]).await;
    assert_eq!(missing.code, 1, "{missing:?}");
    assert!(missing.stderr.contains("HTTP 404"), "{}", missing.stderr);
    // --output json, for scripts.
    let json = cli.run(&["status", "--output", "json"]).await;
    assert_ok(&json);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["authenticated"], true);
    assert_eq!(v["email"], server.admin_email.as_str());
    assert_eq!(v["profile"], "default");
    // `whoami` is the same command.
    assert_eq!(cli.run(&["whoami"]).await.stdout, status.stdout);

    // Config: the exact shape, 0700/0600, no secret in it.
    let config = cli.config();
    assert_eq!(config["current"], "default");
    let p = &config["profiles"]["default"];
    assert_eq!(p["email"], server.admin_email.as_str());
    assert_eq!(p["credential_store"], "file");
    assert!(p["session_id"].is_string() && p["device_id"].is_string());
    let raw = std::fs::read_to_string(cli.config_path()).unwrap();
    assert!(!raw.contains("ward_rt_") && !raw.contains("eyJ"));
    #[cfg(unix)]
    {
        assert_eq!(support::mode(&cli.config_dir()), 0o700);
        assert_eq!(support::mode(&cli.config_path()), 0o600);
        assert_eq!(support::mode(&cli.credentials_path()), 0o600);
    }

    // SPEC §2.16: the session is bound to the profile's key (decision 153), so the stored
    // tokens alone are useless: `ward api` above signed, a copied access token is refused, a
    // copied refresh token too, and `ward token` says what to use instead.
    let creds = cli.credentials();
    // The server lists EdDSA, so the key is Ed25519 (decision 181).
    assert!(creds["default"]["dpop_key"]
        .as_str()
        .is_some_and(|k| k.starts_with("ed25519:")));
    let copied = creds["default"]["access_token"].as_str().unwrap();
    let r = Server::http()
        .get(format!("{}/api/profile", server.url))
        .bearer_auth(copied)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let (status, body) = server
        .refresh(creds["default"]["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_dpop_proof"))
    );
    let token = cli.run(&["token"]).await;
    assert_eq!(token.code, 2, "{token:?}");
    assert!(
        token
            .stderr
            .contains("Error: profile default's session is bound to a key (DPoP)")
            && token.stderr.contains("ward api")
            && token.stderr.contains("ward env"),
        "{}",
        token.stderr
    );
    // The session is intact after both attempts.
    assert_ok(&cli.run(&["api", "/api/profile"]).await);
}

/// `[dpop] cli_bearer = true`: `ward token` prints a short-lived bearer for scripts, not the
/// stored (bound) token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ward_token_prints_a_short_bearer_when_the_server_allows_it() {
    let server = Server::start_with("[dpop]\ncli_bearer = true");
    let cli = Cli::new();
    login_pkce(&server, &cli).await;
    let json = cli.run(&["--output", "json", "token"]).await;
    assert_ok(&json);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let bearer = v["access_token"].as_str().unwrap();
    assert!(bearer.starts_with("ey"));
    assert!(v["expires_at"].as_str().unwrap().ends_with('Z'));
    assert_ne!(
        bearer,
        cli.credentials()["default"]["access_token"]
            .as_str()
            .unwrap()
    );
    let r = Server::http()
        .get(format!("{}/api/profile", server.url))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_flow_approved_through_the_device_page() {
    let server = Server::start();
    // No WARD_CREDENTIAL_STORE and no D-Bus session bus: the keyring is skipped (not waited
    // for) and the 0600 file is used, with a notice shown once.
    let cli = Cli::with_auto_store();
    let running = cli.spawn(&[
        "login",
        "default",
        &server.url,
        "--auth-flow",
        "device_code",
        "--timeout",
        "60s",
    ]);
    let url = cli.wait_browser_url("/device", WAIT).await;
    let code = query_param(&url, "user_code").unwrap();
    assert_eq!(code.len(), 9, "{code}");
    assert_eq!(&code[4..5], "-");
    let stderr = running.wait_stderr(&code, WAIT).await;
    assert!(stderr.contains("/device"), "{stderr}");
    match server.user().visit(&url, false).await {
        Ok(Stop::Page(_, body)) => assert!(body.contains("Device approved"), "{body}"),
        other => panic!("browser: {other:?}\n{}", server.log()),
    }
    let out = running.finish(WAIT).await;
    assert_ok(&out);
    assert!(
        out.stderr
            .contains("Notice: no OS keyring is available; credentials are stored in"),
        "{}",
        out.stderr
    );
    assert_eq!(
        cli.config()["profiles"]["default"]["credential_store"],
        "file"
    );
    let status = cli.run(&["status"]).await;
    assert_ok(&status);
    assert!(status
        .stdout
        .starts_with(&format!("Authenticated as {}\n", server.admin_email)));
    assert!(
        status.stdout.contains("Credential store: file "),
        "{}",
        status.stdout
    );
    // The notice is one-time.
    let again = login_pkce(&server, &cli).await;
    assert!(!again.stderr.contains("Notice:"), "{}", again.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_9876_taken_uses_another_port() {
    let server = Server::start();
    let cli = Cli::new();
    // Hold 9876 (if something else already holds it, it is just as taken).
    let _held = std::net::TcpListener::bind("127.0.0.1:9876");
    let running = cli.spawn(&["login", "default", &server.url, "--auth-flow", "pkce"]);
    let url = cli.wait_browser_url("/cli-login", WAIT).await;
    let redirect = query_param(&url, "redirect_uri").unwrap();
    assert!(redirect.starts_with("http://127.0.0.1:"), "{redirect}");
    assert!(!redirect.contains(":9876/"), "{redirect}");
    assert!(
        running.stderr().contains("Port 9876 is in use"),
        "{}",
        running.stderr()
    );
    assert!(matches!(
        server.user().visit(&url, false).await,
        Ok(Stop::Page(..))
    ));
    assert_ok(&running.finish(WAIT).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pkce_timeout_falls_back_to_device_flow() {
    let server = Server::start();
    let cli = Cli::new();
    // The user ignores the browser tab; `auto` gives up on PKCE and opens the device page.
    // (The timeout also bounds the device flow, whose first poll is after 5 s: 15 s leaves
    // room for a slow CI machine.)
    let running = cli.spawn(&[
        "login",
        "default",
        &server.url,
        "--port",
        "0",
        "--timeout",
        "15s",
    ]);
    cli.wait_browser_url("/cli-login", WAIT).await;
    let url = cli.wait_browser_url("/device", WAIT).await;
    let stderr = running.stderr();
    assert!(
        stderr.contains("switching to the device code flow"),
        "{stderr}"
    );
    assert!(matches!(
        server.user().visit(&url, false).await,
        Ok(Stop::Page(..))
    ));
    assert_ok(&running.finish(WAIT).await);
    assert_ok(&cli.run(&["status"]).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pasted_redirect_url_completes_login() {
    let server = Server::start();
    let cli = Cli::new();
    let mut running = cli.spawn(&[
        "login",
        "default",
        &server.url,
        "--auth-flow",
        "pkce",
        "--no-browser",
        "--port",
        "0",
    ]);
    let stderr = running.wait_stderr("/cli-login?", WAIT).await;
    assert!(
        cli.browser_urls().is_empty(),
        "--no-browser opened a browser"
    );
    let url = stderr
        .split_whitespace()
        .find(|w| w.contains("/cli-login?"))
        .unwrap()
        .to_owned();
    // The browser is "on another machine": it ends on the loopback URL, which the user pastes.
    let Ok(Stop::Loopback(redirect)) = server.user().visit(&url, true).await else {
        panic!("browser did not reach the loopback redirect");
    };
    running.type_line("this is not it").await;
    running.type_line(&redirect).await;
    let out = running.finish(WAIT).await;
    assert_ok(&out);
    assert!(
        out.stderr.contains("That is not the sign-in redirect"),
        "{}",
        out.stderr
    );
    assert_ok(&cli.run(&["status"]).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_with_a_bad_api_token_fails_and_stores_nothing() {
    let server = Server::start();
    let cli = Cli::new();
    let out = cli
        .run(&[
            "login",
            "ci",
            &server.url,
            "--token",
            "ward_0000000000000000000000000000000000000",
        ])
        .await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.starts_with("Error: "), "{}", out.stderr);
    assert!(
        out.stderr.contains("the server rejected the API token"),
        "{}",
        out.stderr
    );
    assert!(!cli.config_path().exists() || cli.config()["profiles"].get("ci").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_with_a_good_api_token_is_stored() {
    let server = Server::start();
    let cli = Cli::new();
    login_pkce(&server, &cli).await;
    let created = cli
        .run(&[
            "api",
            "-X",
            "POST",
            "/api/tokens",
            "-d",
            r#"{"name":"ci","scopes":["containers:read"]}"#,
        ])
        .await;
    assert_ok(&created);
    let v: serde_json::Value = serde_json::from_str(&created.stdout).unwrap();
    let secret = v["token"]
        .as_str()
        .or(v["secret"].as_str())
        .unwrap()
        .to_owned();
    let ci = Cli::new();
    assert_ok(
        &ci.run(&["login", "ci", &server.url, "--token", &secret])
            .await,
    );
    assert_eq!(ci.credentials()["ci"]["token"], secret.as_str());
    let token = ci.run(&["token"]).await;
    assert_eq!(token.stdout.trim(), secret);
    let status = ci.run(&["status"]).await;
    assert_ok(&status);
    assert!(
        status.stdout.contains("Session expires: never (API token)"),
        "{}",
        status.stdout
    );
    // Logging out forgets the token locally.
    assert_ok(&ci.run(&["logout"]).await);
    assert_eq!(ci.run(&["token"]).await.code, 1);
    assert!(status
        .stdout
        .contains(&format!("Authenticated as {}", server.admin_email)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_precedence_flag_over_env_over_file() {
    let server = Server::start();
    let cli = Cli::new();
    login_pkce(&server, &cli).await;
    let dead = "http://127.0.0.1:9";

    // URL: WARD_URL beats the profile; --url beats WARD_URL.
    let out = cli.run_env(&["status"], &[("WARD_URL", dead)]).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("cannot reach"), "{}", out.stderr);
    assert_ok(
        &cli.run_env(&["status", "--url", &server.url], &[("WARD_URL", dead)])
            .await,
    );

    // Proxies: HTTP_PROXY is honoured, NO_PROXY exempts hosts from it.
    let out = cli.run_env(&["status"], &[("HTTP_PROXY", dead)]).await;
    assert_eq!(out.code, 1, "{out:?}");
    let out = cli
        .run_env(
            &["status"],
            &[("HTTP_PROXY", dead), ("NO_PROXY", "127.0.0.1")],
        )
        .await;
    assert_ok(&out);

    // Profile: WARD_PROFILE beats the config's current; --profile beats WARD_PROFILE.
    let out = cli.run_env(&["status"], &[("WARD_PROFILE", "other")]).await;
    assert_eq!(out.code, 2, "an unknown profile is a usage error: {out:?}");
    assert!(
        out.stderr.starts_with("Error: no profile named other\n"),
        "{}",
        out.stderr
    );
    assert_ok(
        &cli.run_env(
            &["status", "--profile", "default"],
            &[("WARD_PROFILE", "other")],
        )
        .await,
    );

    // Token: WARD_TOKEN beats stored credentials; --api-token beats WARD_TOKEN.
    // A bearer for another process: the bound session's tool token (`ward env`).
    let env = cli.run(&["env", "--format", "json"]).await;
    assert_ok(&env);
    let env: serde_json::Value = serde_json::from_str(&env.stdout).unwrap();
    let good = env["WARD_TOKEN"].as_str().unwrap().to_owned();
    let out = cli
        .run_env(&["status"], &[("WARD_TOKEN", "ward_garbage")])
        .await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr
            .contains("Error: the token from WARD_TOKEN was refused"),
        "{}",
        out.stderr
    );
    let out = cli
        .run_env(
            &["status", "--api-token", &good],
            &[("WARD_TOKEN", "ward_garbage")],
        )
        .await;
    assert_ok(&out);
    assert_eq!(
        cli.run_env(&["token"], &[("WARD_TOKEN", "ward_x")])
            .await
            .stdout
            .trim(),
        "ward_x"
    );

    // Profiles: list, use, remove.
    let list = cli.run(&["profiles", "list"]).await;
    assert!(list.stdout.contains("* default"), "{}", list.stdout);
    let out = cli.run(&["profiles", "use", "nope"]).await;
    assert_eq!(out.code, 2, "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_concurrent_token_calls_at_refresh_time_rotate_once() {
    let server = Server::start();
    let cli = Cli::new();
    login_pkce(&server, &cli).await;
    let mut creds = cli.credentials();
    let old_access = creds["default"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let old_refresh = creds["default"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Time passes: the access token is now due for refresh.
    creds["default"]["access_expires_at"] = 0.into();
    cli.write_credentials(&creds);

    let token_calls_before = server.logged_requests("POST", "/oauth/token", 200);
    assert_eq!(token_calls_before, 1, "the login's code exchange");
    // Ten processes at once, all started before any finishes.
    let handles: Vec<_> = (0..10)
        .map(|_| {
            let mut cmd = cli.command(&["api", "/api/profile"]);
            tokio::spawn(async move { cmd.output().await.unwrap() })
        })
        .collect();
    let mut outs = Vec::new();
    for h in handles {
        let o = h.await.unwrap();
        outs.push(Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        });
    }
    for o in &outs {
        assert_ok(o);
    }
    // (Each process signs its own request: the bound access token is never printed.)
    let new_access = cli.credentials()["default"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_access, old_access);
    let new_refresh = cli.credentials()["default"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_refresh, old_refresh);
    // The server saw exactly one refresh, and no failed one.
    assert_eq!(
        server.logged_requests("POST", "/oauth/token", 200),
        token_calls_before + 1,
        "{}",
        server.log()
    );
    assert_eq!(server.logged_requests("POST", "/oauth/token", 400), 0);
    // Had a second process presented the rotated refresh token, the server would have revoked the
    // whole session (reuse detection); it is still good.
    assert_ok(&cli.run(&["status"]).await);
    // The old refresh token alone cannot even be tried: it is bound to the profile's key
    // (checked before rotation, decision 155). That it rotated is shown above.
    let (status, body) = server.refresh(&old_refresh).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_dpop_proof");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_revokes_on_the_server_and_keeps_the_profile() {
    let server = Server::start();
    let cli = Cli::new();
    login_pkce(&server, &cli).await;
    let refresh = cli.credentials()["default"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Signing in again revokes the previous session of the profile.
    login_pkce(&server, &cli).await;
    let (status, _) = server.refresh(&refresh).await;
    assert_eq!(status, 400, "the replaced session still works");
    let refresh = cli.credentials()["default"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = cli.run(&["logout"]).await;
    assert_ok(&out);
    assert!(out.stderr.contains("Logged out"), "{}", out.stderr);
    assert!(cli.credentials().get("default").is_none());
    let config = cli.config();
    assert_eq!(
        config["profiles"]["default"]["url"]
            .as_str()
            .unwrap()
            .trim_end_matches('/'),
        server.url
    );
    // The server no longer accepts the session's refresh token.
    let (status, body) = server.refresh(&refresh).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    // --all is idempotent.
    assert_ok(&cli.run(&["logout", "--all"]).await);
    let status = cli.run(&["status"]).await;
    assert_eq!(status.code, 1);
    assert_eq!(
        status.stderr,
        format!(
            "Error: signed out of profile default\nPlease run: ward login default {}\n",
            server.url
        )
    );
}

#[tokio::test]
async fn not_signed_in_status_exits_1_with_hint() {
    let cli = Cli::new();
    let out = cli.run(&["status"]).await;
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr,
        "Error: session expired or invalid\nPlease run: ward login default <url>\n"
    );
    let out = cli.run(&["login", "--auth-flow", "nope", "x"]).await;
    assert_eq!(out.code, 2, "{out:?}");
}

#[cfg(unix)]
#[tokio::test]
async fn loose_config_permissions_are_repaired_with_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let cli = Cli::new();
    std::fs::create_dir_all(cli.config_dir()).unwrap();
    std::fs::write(
        cli.config_path(),
        r#"{"current":"default","profiles":{"default":{"url":"http://127.0.0.1:9/"}}}"#,
    )
    .unwrap();
    std::fs::set_permissions(cli.config_path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(cli.config_dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = cli.run(&["profiles", "list"]).await;
    assert_ok(&out);
    assert!(out.stderr.contains("Warning: "), "{}", out.stderr);
    assert!(
        out.stderr.contains("(mode 644); changed to 600"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.contains("* default"), "{}", out.stdout);
    assert_eq!(support::mode(&cli.config_path()), 0o600);
    assert_eq!(support::mode(&cli.config_dir()), 0o700);
}

#[tokio::test]
async fn corrupt_config_names_the_file_and_the_reset() {
    let cli = Cli::new();
    std::fs::create_dir_all(cli.config_dir()).unwrap();
    std::fs::write(cli.config_path(), "{\"profiles\": [oops").unwrap();
    for args in [&["status"][..], &["profiles"][..], &["token"][..]] {
        let out = cli.run(args).await;
        assert_eq!(out.code, 1, "{out:?}");
        let path = cli.config_path().display().to_string();
        assert!(
            out.stderr.starts_with("Error: config file "),
            "{}",
            out.stderr
        );
        assert!(out.stderr.contains(&path), "{}", out.stderr);
        assert!(out.stderr.contains(&format!("rm {path}")), "{}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_flow_switched_off_means_no_fallback_and_says_why() {
    let server = Server::start_with("device_flow = false");
    let cli = Cli::new();
    let out = cli
        .run(&[
            "login",
            "default",
            &server.url,
            "--port",
            "0",
            "--timeout",
            "2s",
        ])
        .await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("switched it off"), "{}", out.stderr);
    assert!(!cli.browser_urls().iter().any(|u| u.contains("/device")));
    let out = cli
        .run(&[
            "login",
            "default",
            &server.url,
            "--auth-flow",
            "device_code",
        ])
        .await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("switched the device flow off"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denying_in_the_browser_fails_the_login_with_a_hint() {
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
    ]);
    let url = cli.wait_browser_url("/cli-login", WAIT).await;
    let mut user = server.user();
    user.decision = "deny";
    // The loopback answers the denied redirect with a plain page (no form to fill).
    let _ = user.visit(&url, false).await;
    let out = running.finish(WAIT).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("Error: sign-in was not completed"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("access_denied"), "{}", out.stderr);
    assert!(out.stderr.contains("ward login default"), "{}", out.stderr);
    assert!(!cli.credentials_path().exists());
}

/// SPEC §2.11: `ward tokens create` on a session verified longer ago than
/// `security.reauth_window` (1 s here) asks for the password on a terminal (no MFA enrolled),
/// re-authenticates and creates the token; without a terminal it says what to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_create_on_a_stale_session_reauthenticates() {
    let server = Server::start_with("[security]\nreauth_window = \"1s\"");
    let cli = Cli::new();
    login_pkce(&server, &cli).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let args = [
        "tokens",
        "create",
        "--name",
        "laptop",
        "--scope",
        "containers:read",
    ];
    let out = cli.run(&args).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr
            .starts_with("Error: the server wants you to confirm it's you first"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("on a terminal"), "{}", out.stderr);
    let mut running = cli.spawn_on_terminal(&args);
    running.wait_stdout("Password:", WAIT).await;
    running.type_line(ADMIN_PASSWORD).await;
    let out = running.finish(WAIT).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("Created API token laptop"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains(ADMIN_PASSWORD),
        "the password is not echoed: {}",
        out.stdout
    );
    let list = cli.run(&["tokens", "list"]).await;
    assert_ok(&list);
    assert!(list.stdout.contains("laptop"), "{}", list.stdout);
}
