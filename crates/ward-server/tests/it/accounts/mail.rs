//! Mail against a real SMTP server (aiosmtpd, STARTTLS required, certificate made in the test):
//! "Forgot password?" by mail (an unknown address gets the same answer), email verification at
//! sign-up (`email_verified` false before, true after, in ID tokens and userinfo), security
//! notices, and a mail server that is down never blocking a sign-in (the outbox retries).

use reqwest::StatusCode;
use serde_json::json;
use ward_server::config::RawConfig;

use super::smtp::{free_port, link_in, Pki, Smtp};
use super::*;
use crate::on_both_backends;

const DEV: &str = "dev@test.example";

fn with_smtp(raw: &mut RawConfig, port: u16, pki: &Pki) {
    raw.smtp.url = Some(format!("smtp://127.0.0.1:{port}"));
    raw.smtp.from = Some("ward <noreply@test.example>".into());
    raw.smtp.ca_file = Some(pki.ca_file.display().to_string());
}

/// Submits "Forgot password?" for `email`; returns the answer page.
async fn forgot(server: &TestServer, email: &str) -> String {
    let browser = server.browser();
    let (status, page, _) = browser.get("/login/forgot").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let r = browser.submit_form(&page, &[("email", email)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.text().await.unwrap()
}

pub fn claims(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

async fn forgot_password_by_mail(b: Backend) {
    let pki = Pki::new();
    let port = free_port();
    let Some(smtp) = Smtp::start(port, &pki).await else {
        return;
    };
    let server = TestServer::start_with(b, |raw| with_smtp(raw, port, &pki)).await;
    let admin = admin_token(&server).await;
    create_user(&server, &admin, DEV, "user").await;

    // The same answer for a known and an unknown address; only the known one gets mail.
    let known = forgot(&server, DEV).await;
    let unknown = forgot(&server, "nobody@test.example").await;
    assert!(known.contains("Check your mail"), "{known}");
    assert_eq!(
        known.replace(DEV, "X"),
        unknown.replace("nobody@test.example", "X")
    );
    let mail = smtp.wait_for(1).await;
    assert_eq!(mail["to"], json!([DEV]));
    assert_eq!(mail["from"], "noreply@test.example");
    assert_eq!(mail["tls"], true, "STARTTLS");
    assert_eq!(mail["content_type"], "multipart/alternative");
    assert!(mail["subject"]
        .as_str()
        .unwrap()
        .contains("new ward password"));
    let link = link_in(&mail, "/reset?token=");
    assert!(mail["html"]
        .as_str()
        .unwrap()
        .contains(&link.replace('&', "&amp;")));
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(smtp.received().len(), 1, "no mail for the unknown address");

    // Following the link sets the password; MFA stays; the old password is gone.
    let browser = server.browser();
    let (status, page, _) = browser.get(&link).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Choose a new password"), "{page}");
    let r = browser
        .submit_form(
            &page,
            &[
                ("token", &input_value(&page, "token").unwrap()),
                ("new_password", NEW_PASSWORD),
                ("confirm_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location_of(&r), "/account");
    let (_, status, _) = password_sign_in(&server, DEV, USER_PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, status, _) = password_sign_in(&server, DEV, NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, page, _) = browser.get(&link).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(page.contains("already used"), "{page}");

    let notice = smtp.wait_for(2).await;
    assert_eq!(notice["subject"], "Your ward password was changed");

    // A reset link lives 30 minutes.
    forgot(&server, DEV).await;
    let late = link_in(&smtp.wait_for(3).await, "/reset?token=");
    server.clock.advance(31 * 60);
    let (status, page, _) = server.browser().get(&late).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(page.contains("This link has expired"), "{page}");
    assert!(page.contains("Forgot password?"), "says what to do: {page}");
}

async fn mail_server_down_never_blocks_sign_in(b: Backend) {
    let pki = Pki::new();
    let port = free_port();
    let server = TestServer::start_with(b, |raw| with_smtp(raw, port, &pki)).await;
    let admin = admin_token(&server).await;
    create_user(&server, &admin, DEV, "user").await;
    let started = std::time::Instant::now();
    forgot(&server, DEV).await;
    let (_, status, _) = password_sign_in(&server, DEV, USER_PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "sign-in works without the mail server"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));

    // The mail waits in the outbox, sealed, and the admin page shows it with its error.
    let store = server.state.store.clone();
    let mut waiting = Vec::new();
    for _ in 0..100 {
        waiting = store.undelivered_mail(10).await.unwrap();
        if waiting.iter().any(|m| m.attempts > 0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert!(waiting[0].attempts >= 1, "{waiting:?}");
    assert!(
        !waiting[0].body_enc.contains("token="),
        "the link is sealed"
    );
    let cookie = server.browser();
    cookie.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (status, page, _) = cookie.get("/admin/mail").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(DEV) && page.contains("Choose a new ward password"),
        "{page}"
    );
    assert!(page.contains("Undelivered mail"), "{page}");

    // The mail server comes back: the next try delivers it.
    let Some(smtp) = Smtp::start(port, &pki).await else {
        return;
    };
    server.clock.advance(3600);
    let mail = smtp.wait_for(1).await;
    assert_eq!(mail["to"], json!([DEV]));
    let (_, page, _) = cookie.get("/admin/mail").await;
    assert!(page.contains("Every mail was delivered"), "{page}");
}

async fn verification_mail_on_sign_up(b: Backend) {
    let pki = Pki::new();
    let port = free_port();
    let Some(smtp) = Smtp::start(port, &pki).await else {
        return;
    };
    let server = TestServer::start_with(b, |raw| {
        with_smtp(raw, port, &pki);
        raw.signup = true.into();
    })
    .await;
    let email = "new@example.org";
    let browser = server.browser();
    let (_, page, _) = browser.get("/signup").await;
    let r = browser
        .submit_form(&page, &[("email", email), ("password", NEW_PASSWORD)])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let tokens = cli_tokens_of(&server, email, NEW_PASSWORD).await;
    assert_eq!(
        claims(tokens["id_token"].as_str().unwrap())["email_verified"],
        false
    );
    let (_, info) = call(&server, &access(&tokens), "GET", "/oauth/userinfo", None).await;
    assert_eq!(info["email_verified"], false, "{info}");

    let mail = smtp.wait_for(1).await;
    assert_eq!(mail["to"], json!([email]));
    let link = link_in(&mail, "/verify-email?token=");
    let (status, page, _) = server.browser().get(&link).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Email verified"), "{page}");

    let (_, info) = call(&server, &access(&tokens), "GET", "/oauth/userinfo", None).await;
    assert_eq!(info["email_verified"], true, "{info}");
    let tokens = cli_tokens_of(&server, email, NEW_PASSWORD).await;
    assert_eq!(
        claims(tokens["id_token"].as_str().unwrap())["email_verified"],
        true
    );
    let (status, page, _) = server.browser().get(&link).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(page.contains("already used"), "{page}");
}

async fn security_notices(b: Backend) {
    let pki = Pki::new();
    let port = free_port();
    let Some(smtp) = Smtp::start(port, &pki).await else {
        return;
    };
    let server = TestServer::start_with(b, |raw| with_smtp(raw, port, &pki)).await;
    let admin = admin_token(&server).await;
    create_user(&server, &admin, DEV, "user").await;
    // The first sign-in of an account is not news; one from another device is.
    let laptop = server.browser_with_agent("Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0");
    assert_eq!(
        laptop.sign_in(DEV, USER_PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    let phone = server.browser_with_agent("Mozilla/5.0 (iPhone) Safari/605.1");
    assert_eq!(
        phone.sign_in(DEV, USER_PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    let mail = smtp.wait_for(1).await;
    assert!(
        mail["subject"].as_str().unwrap().contains("New sign-in"),
        "{mail}"
    );
    assert!(
        mail["text"].as_str().unwrap().contains("Safari on iOS"),
        "{mail}"
    );
    // The laptop again, in a new browser session: not a new device.
    let again = server.browser_with_agent("Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0");
    assert_eq!(
        again.sign_in(DEV, USER_PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );

    let dev = access(&cli_tokens_of(&server, DEV, USER_PASSWORD).await);
    let (status, _) = call(
        &server,
        &dev,
        "POST",
        "/api/tokens",
        Some(json!({"name": "ci", "scopes": ["containers:read"]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, codes) = crate::mfa::enrol(&server, &dev).await;
    let (status, v) = call(
        &server,
        &dev,
        "POST",
        "/api/mfa/disable",
        Some(json!({"code": codes[0]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, v) = call(
        &server,
        &dev,
        "POST",
        "/api/account/password",
        Some(json!({"current_password": USER_PASSWORD, "new_password": NEW_PASSWORD})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    smtp.wait_for(5).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let subjects: Vec<String> = smtp
        .received()
        .iter()
        .map(|m| m["subject"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        subjects,
        [
            "New sign-in to your ward account",
            "New sign-in to your ward account",
            "A new ward API token was created",
            "Two-step verification was turned off for ward",
            "Your ward password was changed",
        ],
        "the phone and the CLI's browser are new devices; the laptop's second sign-in is not"
    );
    assert!(
        smtp.received()[1]["text"]
            .as_str()
            .unwrap()
            .contains("an unknown program"),
        "{:?}",
        smtp.received()[1]
    );
}

on_both_backends!(
    forgot_password_by_mail,
    mail_server_down_never_blocks_sign_in,
    verification_mail_on_sign_up,
    security_notices,
);
