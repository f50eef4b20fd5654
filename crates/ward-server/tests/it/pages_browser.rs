//! The account and admin pages in a real headless Chromium (driven over WebDriver): sign in,
//! create and revoke an API token, revoke another session, create a user and change their
//! role, the admin sessions and audit pages, and guest mode. Each page is saved as a PNG under
//! the artifacts directory (`$WARD_ARTIFACTS`, default `<target>/artifacts`).
//!
//! Skipped, with a message, when Chromium or chromedriver is not installed:
//! `apt-get install -y chromium chromium-driver`.

use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::*;
use crate::webdriver::{find_browser, Driver};

fn sid_of(tokens: &Value) -> String {
    use base64::Engine;
    let jwt = tokens["access_token"].as_str().unwrap();
    let payload = jwt.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    claims["sid"].as_str().unwrap().to_string()
}

async fn validate_status(server: &TestServer, token: &str) -> StatusCode {
    server
        .api()
        .get(server.url("/api/tokens/validate"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn account_and_admin_pages_in_chromium() {
    let Some((chromium, chromedriver)) = find_browser() else {
        missing_component(
            "account_and_admin_pages_in_chromium",
            "Chromium and chromedriver (apt-get install -y chromium chromium-driver)",
        );
        return;
    };
    let server = TestServer::start(Backend::Sqlite).await;
    let port = reqwest::Url::parse(&server.url).unwrap().port().unwrap();
    let base = format!("http://localhost:{port}");
    let d = Driver::start(&chromium, &chromedriver).await;
    let mut shots = Vec::new();

    // Signing in, coming back to the account page.
    d.goto(&format!("{base}/account")).await;
    d.wait_path("/login").await;
    assert!(d.exists("form[action='/login/guest'] button").await);
    shots.push(d.screenshot("01-sign-in").await);
    d.sign_in_with_password(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    d.wait_path("/account").await;
    assert_eq!(d.text("tr.current .badge").await, "This device");

    // Creating an API token shows its secret once; it works until revoked.
    d.type_into("#token-name", "ci-deploy").await;
    d.click("input[name='scope.containers:read']").await;
    d.click("input[name='scope.containers:write']").await;
    d.click("form[action='/account/tokens'] button[type=submit]")
        .await;
    let secret = d.value("#new-token").await;
    assert!(
        secret.starts_with("ward_") && secret.len() == 43,
        "{secret}"
    );
    shots.push(d.screenshot("02-account-token-created").await);
    assert_eq!(validate_status(&server, &secret).await, StatusCode::OK);
    d.goto(&format!("{base}/account")).await;
    d.find("#tokens").await;
    assert!(!d.exists("#new-token").await);
    assert!(
        !d.source().await.contains(&secret),
        "secret shown once only"
    );
    d.click("form[action^='/account/tokens/'][action$='/revoke'] button")
        .await;
    d.wait_text("p.ok", "revoked").await;
    assert_eq!(
        validate_status(&server, &secret).await,
        StatusCode::UNAUTHORIZED
    );

    // Another session of the same user (a CLI sign-in), revoked from this page.
    let other = cli_tokens(&server).await;
    let other_sid = sid_of(&other);
    d.goto(&format!("{base}/account")).await;
    d.type_into("#token-name", "kept").await;
    d.click("input[name='scope.agent:read']").await;
    d.click("form[action='/account/tokens'] button[type=submit]")
        .await;
    d.find("#new-token").await;
    d.goto(&format!("{base}/account#sessions")).await;
    assert!(d.source().await.contains("test-laptop"));
    shots.push(d.screenshot("03-account").await);
    d.click(&format!(
        "form[action='/account/sessions/{other_sid}/revoke'] button"
    ))
    .await;
    d.wait_text("p.ok", "signed out").await;
    assert!(!d.source().await.contains(&other_sid));
    assert_eq!(
        profile_status(&server, other["access_token"].as_str().unwrap()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(d.text("tr.current .badge").await, "This device");

    // Admin: create a user, then change their role.
    d.goto(&format!("{base}/admin/users")).await;
    d.type_into("#new-email", "dev@test.example").await;
    d.type_into("#new-name", "Dev Eloper").await;
    d.type_into("#new-password", "dev-password-123").await;
    d.click("form[action='/admin/users'] button[type=submit]")
        .await;
    d.wait_text("p.ok", "created").await;
    let store = server.state.store.clone();
    let dev = store
        .user_by_email("dev@test.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(dev.role, "user");
    d.click(&format!("select#role-{} option[value='admin']", dev.id))
        .await;
    d.click(&format!(
        "form[action='/admin/users/{}/role'] button",
        dev.id
    ))
    .await;
    d.wait_text("p.ok", "role was changed").await;
    assert_eq!(
        store.user_by_id(&dev.id).await.unwrap().unwrap().role,
        "admin"
    );
    shots.push(d.screenshot("04-admin-users").await);
    // Every badge on a line is the same size, whatever its colour ("you" beside "Active": the
    // green one once took the padding of the green notice box).
    let heights = d
        .execute_async(
            "const done = arguments[arguments.length - 1];
             done([...document.querySelectorAll('.badge')].map(b => [b.className, b.getBoundingClientRect().height]));",
            vec![],
        )
        .await;
    let heights: Vec<(String, f64)> = serde_json::from_value(heights).unwrap();
    let kinds: std::collections::BTreeSet<&str> = heights.iter().map(|(c, _)| c.as_str()).collect();
    assert!(
        kinds.len() >= 2,
        "badges of several kinds to compare: {heights:?}"
    );
    let (low, high) = heights
        .iter()
        .fold((f64::MAX, 0.0_f64), |(l, h), (_, v)| (l.min(*v), h.max(*v)));
    assert!(high - low < 1.0, "badge heights differ: {heights:?}");

    d.goto(&format!("{base}/admin/sessions")).await;
    d.find("tr.current").await;
    shots.push(d.screenshot("05-admin-sessions").await);

    d.goto(&format!("{base}/admin/audit")).await;
    let audit = d.source().await;
    for event in [
        "role.changed",
        "user.created",
        "session.revoked",
        "token.revoked",
        "token.created",
        "signin",
    ] {
        assert!(audit.contains(event), "{event} in the audit page");
    }
    shots.push(d.screenshot("06-admin-audit").await);
    d.type_into("#filter-type", "role.changed").await;
    d.click("form.filters button[type=submit]").await;
    d.wait_url_contains("type=role.changed").await;
    d.find("table.audit").await;
    let filtered = d.source().await;
    assert_eq!(filtered.matches("<tr>").count(), 2, "header + one event");

    d.goto(&format!("{base}/")).await;
    d.find(".home-links").await;
    shots.push(d.screenshot("07-home").await);

    // Sign out, then try ward as a guest.
    d.click("main form[action='/logout'] button").await;
    // The signed-out home page links to the sign-in page.
    d.find("main a[href='/login']").await;
    d.goto(&format!("{base}/login")).await;
    d.click("form[action='/login/guest'] button").await;
    // A sign-in without a return_to lands on the account page (SPEC §2.12).
    d.find("#profile").await;
    assert!(d.text("main").await.contains("guest"));
    d.goto(&format!("{base}/account")).await;
    d.find("#sessions").await;
    assert!(!d.exists("#tokens").await, "no API tokens for guests");
    assert!(d.text("#profile").await.contains("containers: 5"));
    shots.push(d.screenshot("08-account-guest").await);
    d.goto(&format!("{base}/admin/users")).await;
    assert!(d.source().await.contains("permission denied"));

    d.quit().await;
    for s in &shots {
        eprintln!("screenshot: {}", s.display());
    }
}
