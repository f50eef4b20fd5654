//! `[branding]` (SPEC §2.14): with `product_name = "Rexec"`, a logo, an accent colour and a
//! support link, a real headless Chromium walks every page, signed out and signed in as an
//! admin, and finds the product's name in each title and no "ward" in any visible text; the
//! mails say "Rexec" too. On SQLite and PostgreSQL; the branded sign-in page is a screenshot.

use serde_json::{json, Value};
use ward_server::config::{RawConfig, RawSignup};

use super::smtp::{free_port, link_in, Pki, Smtp};
use super::*;
use crate::on_both_backends;
use crate::webdriver::{find_browser, Driver};

const LOGO: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="132" height="32" viewBox="0 0 132 32"><rect width="32" height="32" rx="8" fill="#0f766e"/><path d="M10 22V10h7a4 4 0 0 1 0 8h-7m7 0 5 4" stroke="#fff" stroke-width="2.5" fill="none"/><text x="40" y="23" font-family="sans-serif" font-size="20" font-weight="700" fill="#0f766e">Rexec</text></svg>"##;

fn branded(raw: &mut RawConfig, logo: &std::path::Path, smtp: Option<(u16, &Pki)>) {
    raw.branding.product_name = Some("Rexec".into());
    raw.branding.logo_file = Some(logo.display().to_string());
    raw.branding.accent_color = Some("#0f766e".into());
    raw.branding.support_url = Some("https://support.rexec.example/".into());
    raw.signup = RawSignup::Mode("approval".into());
    if let Some((port, pki)) = smtp {
        raw.smtp.url = Some(format!("smtp://127.0.0.1:{port}"));
        raw.smtp.from = Some("Rexec <noreply@test.example>".into());
        raw.smtp.ca_file = Some(pki.ca_file.display().to_string());
    }
}

/// Whether `text` names ward as a word ("forward" and "toward" are fine).
fn names_ward(text: &str) -> bool {
    let lower = text.to_lowercase();
    lower.match_indices("ward").any(|(i, _)| {
        let before = lower[..i].chars().next_back();
        let after = lower[i + 4..].chars().next();
        !before.is_some_and(|c| c.is_alphanumeric()) && !after.is_some_and(|c| c.is_alphanumeric())
    })
}

/// The page's title and visible text.
async fn visible(d: &Driver) -> String {
    let v: Value = d
        .execute_async(
            "arguments[arguments.length - 1](document.title + '\\n' + document.body.innerText)",
            vec![],
        )
        .await;
    v.as_str().unwrap_or_default().to_string()
}

/// Opens `url` (or takes the page shown when `url` is empty) and checks it.
async fn check(d: &Driver, base: &str, url: &str, seen: &mut Vec<String>) {
    if !url.is_empty() {
        d.goto(&format!("{base}{url}")).await;
    }
    let text = visible(d).await;
    let title = text.lines().next().unwrap_or_default().to_string();
    let at = d.current_url().await;
    assert!(
        title.contains("Rexec"),
        "{at}: the title names the product: {title:?}"
    );
    assert!(
        !names_ward(&text),
        "{at} names ward in its visible text:\n{text}"
    );
    assert!(
        text.contains("Contact support"),
        "{at}: the support link:\n{text}"
    );
    seen.push(at);
}

/// The first mail whose text holds `needle`, waiting up to 30 s for it.
async fn wait_for_mail(smtp: &Smtp, needle: &str) -> Value {
    for _ in 0..300 {
        if let Some(m) = smtp
            .received()
            .into_iter()
            .find(|m| m["text"].as_str().unwrap_or_default().contains(needle))
        {
            return m;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no mail with {needle}: {:?}", smtp.received());
}

async fn branding_on_every_page(b: Backend) {
    let Some((chromium, chromedriver)) = find_browser() else {
        missing_component(
            "branding_on_every_page",
            "Chromium and chromedriver (apt-get install -y chromium chromium-driver)",
        );
        return;
    };
    assert!(names_ward("Sign in to ward.") && names_ward("WARD") && !names_ward("forward toward"));
    let dir = tempfile::tempdir().unwrap();
    let logo = dir.path().join("rexec.svg");
    std::fs::write(&logo, LOGO).unwrap();
    let pki = Pki::new();
    let smtp_port = free_port();
    let Some(smtp) = Smtp::start(smtp_port, &pki).await else {
        return;
    };
    let server =
        TestServer::start_with(b, |raw| branded(raw, &logo, Some((smtp_port, &pki)))).await;
    let port = reqwest::Url::parse(&server.url).unwrap().port().unwrap();
    let base = format!("http://localhost:{port}");
    let tag = format!("{b:?}").to_lowercase();
    let d = Driver::start(&chromium, &chromedriver).await;
    let mut seen = Vec::new();

    // Signed out.
    check(&d, &base, "/login", &mut seen).await;
    assert!(d.exists("img.logo").await, "the logo");
    let shot = d.screenshot(&format!("branding-{tag}-sign-in")).await;
    eprintln!("screenshot: {}", shot.display());
    d.type_into("#email", ADMIN_EMAIL).await;
    d.click("form[action='/login'] button[type=submit]").await;
    d.find("#password").await;
    check(&d, &base, "", &mut seen).await;
    d.type_into("#password", "not the password").await;
    d.click("form[action='/login/password'] button[type=submit]")
        .await;
    d.wait_text("p.error", "Incorrect").await;
    check(&d, &base, "", &mut seen).await;
    for path in [
        "/",
        "/login/forgot",
        "/signup",
        "/invite?token=altered",
        "/invite",
        "/recover?token=altered",
        "/reset?token=altered",
        "/verify-email?token=altered",
        "/idp/nobody/callback",
    ] {
        check(&d, &base, path, &mut seen).await;
    }
    d.goto(&format!("{base}/login/forgot")).await;
    d.type_into("#email", ADMIN_EMAIL).await;
    d.click("form[action='/login/forgot'] button[type=submit]")
        .await;
    d.wait_source("Check your mail").await;
    check(&d, &base, "", &mut seen).await;
    d.goto(&format!("{base}/signup")).await;
    d.type_into("#email", "asker@example.org").await;
    d.type_into("#password", USER_PASSWORD).await;
    d.click("form[action='/signup'] button[type=submit]").await;
    d.wait_source("Waiting for approval").await;
    check(&d, &base, "", &mut seen).await;

    // Signed in as the admin: every account and admin page.
    d.goto(&format!("{base}/account")).await;
    d.sign_in_with_password(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    d.wait_path("/account").await;
    for path in [
        "/",
        "/account",
        "/account/password",
        "/account/email",
        "/account/mfa",
        "/reauth",
        "/device",
        "/admin/users",
        "/admin/sessions",
        "/admin/audit",
        "/admin/webhooks",
        "/admin/mail",
        "/admin/invitations",
    ] {
        check(&d, &base, path, &mut seen).await;
    }
    // The invitation page an invitee sees.
    let admin = admin_token(&server).await;
    let (_, v) = call(
        &server,
        &admin,
        "POST",
        "/api/admin/invitations",
        Some(json!({"email": "guest-of-rexec@example.org"})),
    )
    .await;
    let invite = v["url"].as_str().unwrap().replace(&server.url, &base);
    check(&d, &base, &invite.replace(&base, ""), &mut seen).await;
    // The CLI's consent page.
    let (_, challenge) = pkce_pair();
    let consent = reqwest::Url::parse_with_params(
        &format!("{base}/cli-login"),
        &[
            ("response_type", "code"),
            ("client_id", "ward-cli"),
            ("redirect_uri", LOOPBACK),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("scope", "openid offline_access"),
        ],
    )
    .unwrap();
    check(&d, &base, &consent.as_str().replace(&base, ""), &mut seen).await;
    eprintln!("pages checked: {}", seen.len());

    // The mails: the reset link ("Forgot password?" above), the verification of the asker,
    // the invitation.
    let reset = wait_for_mail(&smtp, "/reset?token=").await;
    wait_for_mail(&smtp, "/invite?token=").await;
    wait_for_mail(&smtp, "/verify-email?token=").await;
    for mail in smtp.received() {
        let subject = mail["subject"].as_str().unwrap();
        assert!(subject.contains("Rexec"), "{subject}");
        for part in ["subject", "text", "html"] {
            let body = mail[part].as_str().unwrap();
            assert!(
                !names_ward(body),
                "{part} of {subject:?} names ward:\n{body}"
            );
        }
        assert!(mail["text"]
            .as_str()
            .unwrap()
            .contains("https://support.rexec.example/"));
        assert!(
            mail["html"].as_str().unwrap().contains("#0f766e"),
            "the accent colour"
        );
    }
    let link = link_in(&reset, "/reset?token=").replace(&server.url, &base);
    check(&d, &base, &link.replace(&base, ""), &mut seen).await;

    // The logo and the accent colour are served.
    let r = server
        .api()
        .get(server.url("/static/logo"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "image/svg+xml");
    let css = server
        .api()
        .get(server.url("/static/brand.css"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(css.contains("--accent: #0f766e"), "{css}");
    d.quit().await;
}

/// A bad `[branding]` value stops start-up with a message naming the key.
#[test]
fn bad_branding_is_refused_at_start_up() {
    let mut raw = RawConfig::default();
    raw.branding.accent_color = Some("red;}body{display:none".into());
    let e = raw.validate().unwrap_err().to_string();
    assert!(e.contains("branding.accent_color"), "{e}");
    let mut raw = RawConfig::default();
    raw.branding.support_url = Some("javascript:alert(1)".into());
    let e = raw.validate().unwrap_err().to_string();
    assert!(e.contains("branding.support_url"), "{e}");
    let mut raw = RawConfig::default();
    raw.signup = RawSignup::Mode("sometimes".into());
    let e = raw.validate().unwrap_err().to_string();
    assert!(e.contains("\"invite\""), "{e}");
}

on_both_backends!(branding_on_every_page);
