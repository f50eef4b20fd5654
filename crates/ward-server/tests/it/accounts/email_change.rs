//! Changing the email (SPEC §2.14) through the pages in a real headless Chromium, with the
//! mail read off the wire of a real SMTP server, on SQLite and PostgreSQL: the new address is
//! unverified (`email_verified` false in ID tokens and userinfo) until the link mailed to it is
//! followed; the old address gets a notice; a wrong password or a taken address is refused.

use reqwest::StatusCode;
use serde_json::json;
use ward_server::config::RawConfig;

use super::mail::claims;
use super::smtp::{free_port, link_in, Pki, Smtp};
use super::*;
use crate::on_both_backends;
use crate::webdriver::{find_browser, Driver};

const OLD: &str = "mover@test.example";
const NEW: &str = "mover@example.org";

fn with_smtp(raw: &mut RawConfig, port: u16, pki: &Pki) {
    raw.smtp.url = Some(format!("smtp://127.0.0.1:{port}"));
    raw.smtp.from = Some("ward <noreply@test.example>".into());
    raw.smtp.ca_file = Some(pki.ca_file.display().to_string());
}

async fn email_change_in_chromium(b: Backend) {
    let Some((chromium, chromedriver)) = find_browser() else {
        missing_component(
            "email_change_in_chromium",
            "Chromium and chromedriver (apt-get install -y chromium chromium-driver)",
        );
        return;
    };
    let pki = Pki::new();
    let port = free_port();
    let Some(smtp) = Smtp::start(port, &pki).await else {
        return;
    };
    let server = TestServer::start_with(b, |raw| with_smtp(raw, port, &pki)).await;
    let admin = admin_token(&server).await;
    create_user(&server, &admin, OLD, "user").await;
    let tokens = cli_tokens_of(&server, OLD, USER_PASSWORD).await;
    assert_eq!(
        claims(tokens["id_token"].as_str().unwrap())["email_verified"],
        true
    );
    let bearer = access(&tokens);

    // Refusals through the API: a wrong password, a taken address, the same address.
    let (status, v) = call(
        &server,
        &bearer,
        "POST",
        "/api/account/email",
        Some(json!({"email": NEW, "current_password": "not it"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"], "invalid_password");
    let (status, v) = call(
        &server,
        &bearer,
        "POST",
        "/api/account/email",
        Some(json!({"email": ADMIN_EMAIL, "current_password": USER_PASSWORD})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    let (status, v) = call(
        &server,
        &bearer,
        "POST",
        "/api/account/email",
        Some(json!({"email": OLD, "current_password": USER_PASSWORD})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");

    // The change through the pages.
    let base = format!(
        "http://localhost:{}",
        reqwest::Url::parse(&server.url).unwrap().port().unwrap()
    );
    let tag = format!("{b:?}").to_lowercase();
    let d = Driver::start(&chromium, &chromedriver).await;
    let mut shots = Vec::new();
    let shot = |name: &str| format!("email-change-{tag}-{name}");
    d.goto(&format!("{base}/account")).await;
    d.sign_in_with_password(OLD, USER_PASSWORD).await;
    d.wait_path("/account").await;
    d.click("#change-email").await;
    d.wait_path("/account/email").await;
    d.type_into("#new_email", NEW).await;
    d.type_into("#current_password", USER_PASSWORD).await;
    shots.push(d.screenshot(&shot("01-form")).await);
    d.click("form[action='/account/email'] button[type=submit]")
        .await;
    d.wait_text("p.ok", "Your address is now").await;
    shots.push(d.screenshot(&shot("02-changed")).await);
    d.goto(&format!("{base}/account")).await;
    d.wait_text("#email", NEW).await;
    assert!(d.text("#email").await.contains("not verified"));

    // Unverified in userinfo and in a new ID token.
    let (_, info) = call(&server, &bearer, "GET", "/oauth/userinfo", None).await;
    assert_eq!(info["email"], NEW, "{info}");
    assert_eq!(info["email_verified"], false, "{info}");
    let fresh = cli_tokens_of(&server, NEW, USER_PASSWORD).await;
    let id = claims(fresh["id_token"].as_str().unwrap());
    assert_eq!(
        (id["email"].as_str(), &id["email_verified"]),
        (Some(NEW), &json!(false))
    );
    let (_, status, _) = password_sign_in(&server, OLD, USER_PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the old address no longer signs in"
    );

    // The link to the new address, the notice to the old one (which also got a notice of the
    // browser's sign-in from a new device).
    smtp.wait_for(3).await;
    let mails = smtp.received();
    let to_new = mails
        .iter()
        .find(|m| m["to"] == json!([NEW]))
        .expect("mail to the new address");
    let to_old = mails
        .iter()
        .find(|m| {
            m["to"] == json!([OLD]) && m["subject"].as_str().unwrap().contains("email address")
        })
        .expect("notice to the old address");
    assert!(to_old["text"].as_str().unwrap().contains(NEW), "{to_old}");
    assert!(to_old["subject"]
        .as_str()
        .unwrap()
        .contains("email address was changed"));
    let link = link_in(to_new, "/verify-email?token=").replace(&server.url, &base);
    d.goto(&link).await;
    d.wait_source("Email verified").await;
    shots.push(d.screenshot(&shot("03-verified")).await);
    d.goto(&format!("{base}/account")).await;
    d.wait_text("#email", "verified").await;
    assert!(!d.text("#email").await.contains("not verified"));
    shots.push(d.screenshot(&shot("04-account")).await);

    let (_, info) = call(&server, &bearer, "GET", "/oauth/userinfo", None).await;
    assert_eq!(info["email_verified"], true, "{info}");
    let fresh = cli_tokens_of(&server, NEW, USER_PASSWORD).await;
    assert_eq!(
        claims(fresh["id_token"].as_str().unwrap())["email_verified"],
        true
    );
    assert!(!audit_events(&server, &admin, "email.changed")
        .await
        .is_empty());

    d.quit().await;
    for s in &shots {
        eprintln!("screenshot: {}", s.display());
    }
}

on_both_backends!(email_change_in_chromium);
