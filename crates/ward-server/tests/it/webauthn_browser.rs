//! WebAuthn registration, second factor and passwordless sign-in in real headless Chromium
//! with a virtual authenticator. The pages are served as http://localhost:PORT: an IP address
//! cannot be a WebAuthn RP ID.

use crate::harness::*;
use crate::on_both_backends;
use crate::webdriver::{find_browser, Driver};

async fn security_key_and_passkey_in_chromium(b: Backend) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = TestServer::start_with(b, |c| {
        c.listen = format!("127.0.0.1:{port}");
        c.public_url = Some(format!("http://localhost:{port}"));
    })
    .await;
    assert!(server.state.webauthn.is_some());
    let Some((chromium, chromedriver)) = find_browser() else {
        eprintln!("SKIPPED: needs Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)");
        return;
    };
    let browser = Driver::start(&chromium, &chromedriver).await;
    let authenticator = browser.add_virtual_authenticator().await;
    let url = |p: &str| format!("http://localhost:{port}{p}");

    // Password sign-in.
    browser.goto(&url("/login")).await;
    browser.type_into("#email", ADMIN_EMAIL).await;
    browser.click("button[type=submit]").await;
    browser.type_into("#password", ADMIN_PASSWORD).await;
    browser.click("button[type=submit]").await;
    browser.wait_source("You are signed in as").await;

    // Register a security key from the account page.
    browser.goto(&url("/account/mfa")).await;
    browser.replace_text("#key-name", "Test key").await;
    browser.click("button[data-webauthn=register]").await;
    browser.wait_source("Test key").await;
    browser.screenshot(&format!("account-mfa-{b:?}")).await;
    let creds = browser.authenticator_credentials(&authenticator).await;
    assert_eq!(creds.len(), 1, "one credential on the authenticator");
    assert_eq!(creds[0]["isResidentCredential"], true);

    // Second factor at sign-in: the password alone is no longer enough.
    browser.delete_cookies().await;
    browser.goto(&url("/login")).await;
    browser.type_into("#email", ADMIN_EMAIL).await;
    browser.click("button[type=submit]").await;
    browser.type_into("#password", ADMIN_PASSWORD).await;
    browser.click("button[type=submit]").await;
    browser.wait_source("Use your security key").await;
    assert!(browser.current_url().await.ends_with("/login/mfa"));
    browser.screenshot(&format!("signin-mfa-{b:?}")).await;
    browser.click("button[data-webauthn=mfa]").await;
    browser.wait_source("You are signed in as").await;

    // Passwordless: the passkey alone.
    browser.delete_cookies().await;
    browser.goto(&url("/login")).await;
    browser.screenshot(&format!("signin-{b:?}")).await;
    browser.click("button[data-webauthn=signin]").await;
    browser.wait_source("You are signed in as").await;

    let user = server
        .state
        .store
        .user_by_email(ADMIN_EMAIL)
        .await
        .unwrap()
        .unwrap();
    let stored = server
        .state
        .store
        .webauthn_credentials_of_user(&user.id)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert!(stored[0].last_used_at.is_some());
    let sessions = server.state.store.sessions_of_user(&user.id).await.unwrap();
    let amrs: Vec<Vec<String>> = sessions.iter().map(|s| s.amr.clone()).collect();
    assert!(
        amrs.iter()
            .any(|a| a.contains(&"hwk".to_string()) && a.contains(&"pwd".to_string())),
        "{amrs:?}"
    );
    assert!(
        amrs.iter()
            .any(|a| a.contains(&"hwk".to_string()) && !a.contains(&"pwd".to_string())),
        "{amrs:?}"
    );
    assert!(sessions
        .iter()
        .filter(|s| s.amr.contains(&"hwk".to_string()))
        .all(|s| s.mfa_verified));
    browser.quit().await;
}

on_both_backends!(security_key_and_passkey_in_chromium);
