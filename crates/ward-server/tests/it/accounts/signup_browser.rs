//! Invitations and approval through the pages in a real headless Chromium (SPEC §2.14), with
//! mail read off the wire of a real SMTP server (aiosmtpd, STARTTLS), on SQLite and
//! PostgreSQL. Each step is saved as a PNG under the artifacts directory.

use reqwest::StatusCode;
use serde_json::json;
use ward_server::config::{RawConfig, RawSignup};

use super::smtp::{free_port, link_in, Pki, Smtp};
use super::*;
use crate::on_both_backends;
use crate::webdriver::{find_browser, Driver};

fn with_smtp(raw: &mut RawConfig, port: u16, pki: &Pki) {
    raw.smtp.url = Some(format!("smtp://127.0.0.1:{port}"));
    raw.smtp.from = Some("ward <noreply@test.example>".into());
    raw.smtp.ca_file = Some(pki.ca_file.display().to_string());
}

async fn sign_in_admin(d: &Driver, base: &str, path: &str) {
    d.goto(&format!("{base}{path}")).await;
    d.sign_in_with_password(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    d.wait_path(path).await;
}

async fn invitation_in_chromium(b: Backend) {
    let Some((chromium, chromedriver)) = find_browser() else {
        missing_component(
            "invitation_in_chromium",
            "Chromium and chromedriver (apt-get install -y chromium chromium-driver)",
        );
        return;
    };
    let pki = Pki::new();
    let port = free_port();
    let Some(smtp) = Smtp::start(port, &pki).await else {
        return;
    };
    let server = TestServer::start_with(b, |raw| {
        with_smtp(raw, port, &pki);
        raw.signup = RawSignup::Mode("invite".into());
    })
    .await;
    let port = reqwest::Url::parse(&server.url).unwrap().port().unwrap();
    let base = format!("http://localhost:{port}");
    let tag = format!("{b:?}").to_lowercase();
    let d = Driver::start(&chromium, &chromedriver).await;
    let mut shots = Vec::new();
    let shot = |name: &str| format!("signup-invite-{tag}-{name}");
    let invitee = "ines@test.example";

    // Without an invitation, sign-up says how to get one.
    d.goto(&format!("{base}/signup")).await;
    d.wait_source("By invitation only").await;
    shots.push(d.screenshot(&shot("01-by-invitation-only")).await);

    // The admin invites from the Invitations page.
    sign_in_admin(&d, &base, "/admin/invitations").await;
    d.type_into("#invite-email", invitee).await;
    d.click("form[action='/admin/invitations'] button[type=submit]")
        .await;
    d.wait_text("#invitation-h", invitee).await;
    let shown = d.value("#invitation-url").await;
    assert!(shown.contains("/invite?token="), "{shown}");
    assert!(d.text("#invitation").await.contains("It was mailed"));
    shots.push(d.screenshot(&shot("02-admin-invited")).await);

    // The mail carries the same link; the invitee opens it in their own browser.
    let mail = smtp.wait_for(1).await;
    assert_eq!(mail["to"], json!([invitee]));
    assert_eq!(mail["tls"], true);
    assert!(
        mail["subject"].as_str().unwrap().contains("invited"),
        "{mail}"
    );
    let link = link_in(&mail, "/invite?token=");
    assert_eq!(link, shown);
    d.delete_cookies().await;
    d.goto(&link.replace(&server.url, &base)).await;
    d.wait_text("#invited-email", invitee).await;
    shots.push(d.screenshot(&shot("03-invitation-form")).await);
    d.type_into("#name", "Ines").await;
    d.type_into("#new_password", "qwerty123456").await;
    d.type_into("#confirm_password", "qwerty123456").await;
    d.click("form[action='/invite'] button[type=submit]").await;
    d.wait_text("p.error", "too easy to guess").await;
    shots.push(d.screenshot(&shot("04-weak-password")).await);
    d.type_into("#name", "Ines").await;
    d.type_into("#new_password", NEW_PASSWORD).await;
    d.type_into("#confirm_password", NEW_PASSWORD).await;
    d.click("form[action='/invite'] button[type=submit]").await;
    d.wait_path("/account").await;
    d.wait_text("#email", invitee).await;
    assert!(d.text("#email").await.contains("verified"));
    shots.push(d.screenshot(&shot("05-signed-in")).await);

    // The link again: used.
    d.goto(&link.replace(&server.url, &base)).await;
    d.wait_source("This link was already used").await;
    shots.push(d.screenshot(&shot("06-used")).await);

    d.quit().await;
    for s in &shots {
        eprintln!("screenshot: {}", s.display());
    }
}

async fn approval_in_chromium(b: Backend) {
    let Some((chromium, chromedriver)) = find_browser() else {
        missing_component(
            "approval_in_chromium",
            "Chromium and chromedriver (apt-get install -y chromium chromium-driver)",
        );
        return;
    };
    let pki = Pki::new();
    let port = free_port();
    let Some(smtp) = Smtp::start(port, &pki).await else {
        return;
    };
    let server = TestServer::start_with(b, |raw| {
        with_smtp(raw, port, &pki);
        raw.signup = RawSignup::Mode("approval".into());
    })
    .await;
    let port = reqwest::Url::parse(&server.url).unwrap().port().unwrap();
    let base = format!("http://localhost:{port}");
    let tag = format!("{b:?}").to_lowercase();
    let d = Driver::start(&chromium, &chromedriver).await;
    let mut shots = Vec::new();
    let shot = |name: &str| format!("signup-approval-{tag}-{name}");
    let asker = "asker@example.org";

    // Request access from the sign-in page.
    d.goto(&format!("{base}/login")).await;
    d.click("a[href^='/signup']").await;
    d.wait_path("/signup").await;
    d.wait_source("Request access").await;
    d.type_into("#email", asker).await;
    d.type_into("#password", USER_PASSWORD).await;
    shots.push(d.screenshot(&shot("01-request-form")).await);
    d.click("form[action='/signup'] button[type=submit]").await;
    d.wait_source("Waiting for approval").await;
    shots.push(d.screenshot(&shot("02-request-received")).await);
    // The verification mail for the address.
    let verify = smtp.wait_for(1).await;
    assert_eq!(verify["to"], json!([asker]));

    // Signing in while waiting: a clear page, no session.
    d.goto(&format!("{base}/login")).await;
    d.sign_in_with_password(asker, USER_PASSWORD).await;
    d.wait_source("waits for an administrator").await;
    shots.push(d.screenshot(&shot("03-sign-in-waits")).await);

    // The admin approves on the Invitations page.
    d.delete_cookies().await;
    sign_in_admin(&d, &base, "/admin/invitations").await;
    let user = server
        .state
        .store
        .user_by_email(asker)
        .await
        .unwrap()
        .unwrap();
    d.find(&format!("#pending-{}", user.id)).await;
    shots.push(d.screenshot(&shot("04-admin-pending")).await);
    d.click(&format!(
        "form[action='/admin/requests/{}/approve'] button",
        user.id
    ))
    .await;
    d.wait_text("p.ok", "approved").await;
    assert!(!d.exists(&format!("#pending-{}", user.id)).await);
    let approved = smtp.wait_for(2).await;
    assert_eq!(approved["to"], json!([asker]));
    assert!(
        approved["subject"].as_str().unwrap().contains("is ready"),
        "{approved}"
    );

    // Now the person signs in.
    d.delete_cookies().await;
    d.goto(&format!("{base}/login")).await;
    d.sign_in_with_password(asker, USER_PASSWORD).await;
    d.wait_path("/account").await;
    assert!(d.text("#profile").await.contains(asker));
    shots.push(d.screenshot(&shot("05-approved-signed-in")).await);
    let (_, status, _) = password_sign_in(&server, asker, USER_PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    d.quit().await;
    for s in &shots {
        eprintln!("screenshot: {}", s.display());
    }
}

on_both_backends!(invitation_in_chromium, approval_in_chromium);
