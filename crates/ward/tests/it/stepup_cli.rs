//! `ward verify KIND ID` without `--code` end to end (SPEC §2.17, §3.1): the real CLI asks for
//! approval and prints the URL (and a QR code) on its stderr; a second "device" (a cookie-keeping
//! HTTP client playing the pages) signs in as the same account with a backup code and approves
//! with another; the CLI prints the ticket, which opens the locked resource once.

use std::time::Duration;

use crate::support::{Cli, Server};
use crate::{assert_ok, login_pkce};
use ward_testkit::browser::{find_browser, Driver};
use ward_testkit::html::input_value as hidden;

const WAIT: Duration = Duration::from_secs(60);

struct Device {
    http: reqwest::Client,
    base: String,
}

impl Device {
    fn new(base: &str) -> Device {
        Device {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .build()
                .unwrap(),
            base: base.to_owned(),
        }
    }

    fn abs(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    async fn get(&self, path: &str) -> (u16, String, String) {
        let r = self.http.get(self.abs(path)).send().await.unwrap();
        let loc = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (r.status().as_u16(), loc, r.text().await.unwrap())
    }

    /// POSTs `fields` plus the page's CSRF token and `return_to` to `action`.
    async fn post(
        &self,
        page: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> (u16, String, String) {
        let mut form: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for name in ["csrf_token", "return_to"] {
            if let Some(v) = hidden(page, name) {
                form.push((name.into(), v));
            }
        }
        let r = self
            .http
            .post(self.abs(action))
            .form(&form)
            .send()
            .await
            .unwrap();
        let loc = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (r.status().as_u16(), loc, r.text().await.unwrap())
    }
}

/// Signs the CLI's account in to TOTP through the API; returns the backup codes.
async fn enable_totp(cli: &Cli) -> Vec<String> {
    let setup = cli
        .run(&["api", "-X", "POST", "/api/mfa/totp/setup", "-d", "{}"])
        .await;
    assert_ok(&setup);
    let v: serde_json::Value = serde_json::from_str(&setup.stdout).unwrap();
    let code = crate::first_hour::totp_now(v["secret"].as_str().unwrap());
    let confirmed = cli
        .run(&[
            "api",
            "-X",
            "POST",
            "/api/mfa/totp/confirm",
            "-d",
            &format!(r#"{{"code":"{code}"}}"#),
        ])
        .await;
    assert_ok(&confirmed);
    let v: serde_json::Value = serde_json::from_str(&confirmed.stdout).unwrap();
    v["backup_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

/// Whether `ticket` opens terminal/t1 (forward-auth's status), with `ward env`'s bearer.
async fn admit(server: &Server, cli: &Cli, ticket: &str) -> u16 {
    let url = format!(
        "{}/api/auth/validate?lock_kind=terminal&resource=t1",
        server.url
    );
    // What a script uses: `ward env`'s short-lived bearer (the session itself is DPoP-bound,
    // so `ward token` prints nothing by default).
    let env = cli.run(&["env"]).await.stdout;
    let token = env
        .lines()
        .find_map(|l| l.strip_prefix("WARD_TOKEN="))
        .expect("ward env prints WARD_TOKEN")
        .trim_matches('\'')
        .to_owned();
    Server::http()
        .get(url)
        .bearer_auth(token)
        .header("x-ward-ticket", ticket)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_without_code_is_approved_on_another_device() {
    let server = Server::start();
    let cli = Cli::new();
    login_pkce(&server, &cli).await;
    // Two-step verification on, through the API (TOTP confirmed with the current code).
    let backup = enable_totp(&cli).await;
    assert_ok(
        &cli.run(&["lock", "terminal", "t1", "--code", &backup[0]])
            .await,
    );

    // The CLI asks for approval and waits.
    let running = cli.spawn(&["verify", "terminal", "t1"]);
    let shown = running.wait_stderr("Waiting for the approval", WAIT).await;
    let url = shown
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("http") && l.contains("/approve/vr_"))
        .unwrap_or_else(|| panic!("no approve URL in:\n{shown}"))
        .to_owned();
    assert!(
        shown.contains('█') || shown.contains('▀'),
        "a QR code is drawn:\n{shown}"
    );

    // The other device: sign in (password, then a backup code), come back, approve.
    let device = Device::new(&server.url);
    let (status, login, _) = device.get(&url).await;
    assert_eq!(status, 303);
    let (_, _, page) = device.get(&login).await;
    let (status, _, page) = device
        .post(&page, "/login", &[("email", &server.admin_email)])
        .await;
    assert_eq!(status, 200, "{page}");
    let (status, next, _) = device
        .post(
            &page,
            "/login/password",
            &[
                ("email", &server.admin_email),
                ("password", &server.admin_password),
            ],
        )
        .await;
    assert_eq!((status, next.as_str()), (303, "/login/mfa"));
    let (_, _, page) = device.get("/login/mfa").await;
    let (status, back, _) = device
        .post(&page, "/login/mfa", &[("code", &backup[1])])
        .await;
    assert_eq!(status, 303);
    assert!(url.ends_with(&back), "{back} vs {url}");
    let (status, _, page) = device.get(&url).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("terminal/t1"), "{page}");
    let (status, _, page) = device
        .post(&page, &url, &[("code", &backup[2]), ("decision", "allow")])
        .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Approved"), "{page}");

    // The CLI prints the ticket (only the ticket on stdout).
    let out = running.finish(WAIT).await;
    assert_ok(&out);
    let ticket = out.stdout.trim();
    assert!(
        !ticket.is_empty() && !ticket.contains(' '),
        "{}",
        out.stdout
    );
    assert!(out
        .stderr
        .contains("Approved. Ticket for one connection to terminal/t1"));
    // It opens the locked resource once.
    assert_eq!(admit(&server, &cli, ticket).await, 200);
    assert_eq!(admit(&server, &cli, ticket).await, 403, "single use");
}

/// `ward verify` on a real terminal (a pty, util-linux `script`), approved by a person in
/// headless Chromium: the approver signs in (password, then a backup code), lands on the
/// approve page the CLI printed, approves with another backup code; the CLI exits 0 with the
/// ticket, which opens the resource once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_in_a_terminal_is_approved_in_chromium() {
    let Some((chromium, chromedriver)) = find_browser() else {
        // A missing component fails the test unless skipping was asked for.
        ward_testkit::missing_component(
            "verify_in_a_terminal_is_approved_in_chromium",
            "Debian's chromium and chromium-driver",
        );
        return;
    };
    let server = Server::start();
    let cli = Cli::new();
    login_pkce(&server, &cli).await;
    let backup = enable_totp(&cli).await;
    assert_ok(
        &cli.run(&["lock", "terminal", "t1", "--code", &backup[0]])
            .await,
    );

    let running = cli.spawn_on_terminal(&["verify", "terminal", "t1"]);
    // On a terminal stdout and stderr are one stream.
    let shown = running.wait_stdout("Waiting for the approval", WAIT).await;
    let url = shown
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("http") && l.contains("/approve/vr_"))
        .unwrap_or_else(|| panic!("no approve URL in:\n{shown}"))
        .to_owned();

    let browser = Driver::start(&chromium, &chromedriver).await;
    browser.goto(&url).await;
    browser.wait_path("/login").await;
    browser.type_into("#email", &server.admin_email).await;
    browser.click("button[type=submit]").await;
    browser.type_into("#password", &server.admin_password).await;
    browser.click("button[type=submit]").await;
    browser.wait_path("/login/mfa").await;
    browser.type_into("#code", &backup[1]).await;
    browser.click("button[type=submit]").await;
    browser.wait_source("Approve access").await;
    assert!(browser
        .current_url()
        .await
        .ends_with(url.rsplit_once("/approve/").map(|(_, id)| id).unwrap()));
    assert!(browser.source().await.contains("terminal/t1"));
    browser.type_into("#code", &backup[2]).await;
    browser.click("button[name=decision][value=allow]").await;
    browser.wait_source("Approved").await;
    browser.quit().await;

    let out = running.finish(WAIT).await;
    assert_ok(&out);
    assert!(
        out.stdout
            .contains("Approved. Ticket for one connection to terminal/t1"),
        "{}",
        out.stdout
    );
    // The ticket is the line before that message.
    let lines: Vec<&str> = out.stdout.lines().map(str::trim).collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("Approved. Ticket"))
        .unwrap();
    let ticket = lines[..at]
        .iter()
        .rev()
        .find(|l| !l.is_empty())
        .unwrap()
        .to_string();
    assert!(!ticket.contains(' '), "{ticket}");
    assert_eq!(admit(&server, &cli, &ticket).await, 200);
    assert_eq!(admit(&server, &cli, &ticket).await, 403, "single use");
}
