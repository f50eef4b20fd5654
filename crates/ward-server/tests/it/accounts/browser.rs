//! The account flows through the pages in a real headless Chromium (SPEC §2.14), on SQLite and
//! PostgreSQL: change a password (the other sessions die, this one lives); an admin makes a
//! recovery link, the user opens it in a fresh browser, sets a password and enrols MFA as the
//! policy requires; a used or altered link says so; an admin resets a user's MFA and deletes
//! the user. Each step is saved as a PNG under the artifacts directory.

use reqwest::StatusCode;

use super::*;
use crate::mfa::python_totp;
use crate::on_both_backends;
use crate::webdriver::{find_browser, Driver};

const DEV: &str = "dev@test.example";

async fn account_flows_in_chromium(b: Backend) {
    let Some((chromium, chromedriver)) = find_browser() else {
        missing_component(
            "account_flows_in_chromium",
            "Chromium and chromedriver (apt-get install -y chromium chromium-driver)",
        );
        return;
    };
    let server = TestServer::start_with(b, |raw| {
        raw.mfa.required_roles = vec!["user".into()];
    })
    .await;
    let port = reqwest::Url::parse(&server.url).unwrap().port().unwrap();
    let base = format!("http://localhost:{port}");
    let tag = format!("{b:?}").to_lowercase();
    let d = Driver::start(&chromium, &chromedriver).await;
    let mut shots = Vec::new();
    let shot = |name: &str| format!("accounts-{tag}-{name}");

    // The admin signs in here; another session of theirs is a CLI sign-in.
    let other = cli_tokens(&server).await;
    d.goto(&format!("{base}/account")).await;
    d.sign_in_with_password(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    d.wait_path("/account").await;

    // Change the password: a weak one is refused with the rule, then a good one.
    d.click("#change-password").await;
    d.wait_path("/account/password").await;
    d.type_into("#current_password", ADMIN_PASSWORD).await;
    d.type_into("#new_password", "password1234").await;
    d.type_into("#confirm_password", "password1234").await;
    d.click("form[action='/account/password'] button[type=submit]")
        .await;
    d.wait_text("p.error", "too easy to guess").await;
    shots.push(d.screenshot(&shot("01-password-too-weak")).await);
    d.type_into("#current_password", ADMIN_PASSWORD).await;
    d.type_into("#new_password", NEW_PASSWORD).await;
    d.type_into("#confirm_password", NEW_PASSWORD).await;
    d.click("form[action='/account/password'] button[type=submit]")
        .await;
    d.wait_text("p.ok", "Your password was changed").await;
    shots.push(d.screenshot(&shot("02-password-changed")).await);
    assert_eq!(
        profile_status(&server, other["access_token"].as_str().unwrap()).await,
        StatusCode::UNAUTHORIZED,
        "the other session died"
    );
    d.goto(&format!("{base}/account")).await;
    d.find("#profile").await;
    assert_eq!(
        d.text("tr.current .badge").await,
        "This device",
        "this one lives"
    );

    // The admin creates a user and makes a recovery link for them.
    d.goto(&format!("{base}/admin/users")).await;
    d.type_into("#new-email", DEV).await;
    d.type_into("#new-password", USER_PASSWORD).await;
    d.click("form[action='/admin/users'] button[type=submit]")
        .await;
    d.wait_text("p.ok", "created").await;
    let store = server.state.store.clone();
    let dev = store.user_by_email(DEV).await.unwrap().unwrap();
    d.click(&format!(
        "form[action='/admin/users/{}/recovery'] button",
        dev.id
    ))
    .await;
    let url = d.value("#recovery-url").await;
    assert!(url.contains("/recover?token="), "{url}");
    shots.push(d.screenshot(&shot("03-admin-recovery-link")).await);
    d.click(&format!(
        "form[action='/admin/users/{}/mfa-reset'] button",
        dev.id
    ))
    .await;
    d.wait_text("p.ok", "second factors were removed").await;

    // The user opens the link in their own browser (no cookies of the admin's).
    d.delete_cookies().await;
    let link = url.replace(&server.url, &base);
    d.goto(&link).await;
    d.find("#new_password").await;
    shots.push(d.screenshot(&shot("04-recovery-form")).await);
    d.type_into("#new_password", "qwerty123456").await;
    d.type_into("#confirm_password", "qwerty123456").await;
    d.click("form[action='/recover'] button[type=submit]").await;
    d.wait_text("p.error", "too easy to guess").await;
    let dev_password = "lantern orbit pepper 58";
    d.type_into("#new_password", dev_password).await;
    d.type_into("#confirm_password", dev_password).await;
    d.click("form[action='/recover'] button[type=submit]").await;
    // The policy asks for a second factor before any session.
    d.wait_path("/login/mfa/enrol").await;
    shots.push(d.screenshot(&shot("05-recovery-enrol-mfa")).await);
    let secret = d.text("main p.muted code").await;
    d.type_into("#code", &python_totp(&secret, server.clock_now()))
        .await;
    d.click("form[action='/login/mfa/enrol'] button[type=submit]")
        .await;
    d.wait_source("Save your backup codes").await;
    d.goto(&format!("{base}/account")).await;
    d.find("#profile").await;
    assert!(d.text("#profile").await.contains(DEV));
    shots.push(d.screenshot(&shot("06-recovered-account")).await);

    // The link again: used. Altered: not valid.
    d.goto(&link).await;
    d.wait_source("This link was already used").await;
    shots.push(d.screenshot(&shot("07-link-used")).await);
    d.goto(&format!("{link}x")).await;
    d.wait_source("This link is not valid").await;
    shots.push(d.screenshot(&shot("08-link-altered")).await);

    // The admin deletes the user.
    d.delete_cookies().await;
    d.goto(&format!("{base}/admin/users")).await;
    d.sign_in_with_password(ADMIN_EMAIL, NEW_PASSWORD).await;
    d.wait_path("/admin/users").await;
    d.click(&format!("#delete-{} summary", dev.id)).await;
    d.click(&format!("#delete-{} input[name=confirm]", dev.id))
        .await;
    shots.push(d.screenshot(&shot("09-admin-delete")).await);
    d.click(&format!("#delete-{} button[type=submit]", dev.id))
        .await;
    d.wait_text("p.ok", "was deleted").await;
    assert!(store.user_by_id(&dev.id).await.unwrap().is_none());
    assert!(!d.source().await.contains(DEV));
    d.goto(&format!("{base}/admin/audit")).await;
    let audit = d.source().await;
    for event in [
        "user.deleted",
        "user.recovered",
        "user.recovery_link",
        "mfa.reset",
        "password.changed",
    ] {
        assert!(audit.contains(event), "{event} in the audit page");
    }
    shots.push(d.screenshot(&shot("10-audit")).await);

    d.quit().await;
    for s in &shots {
        eprintln!("screenshot: {}", s.display());
    }
}

/// "Forgot password?" in Chromium: the mail is read off the wire of a real SMTP server
/// (STARTTLS) and its link followed in the browser.
async fn forgot_password_by_mail_in_chromium(b: Backend) {
    use super::smtp::{free_port, link_in, Pki, Smtp};
    let Some((chromium, chromedriver)) = find_browser() else {
        missing_component(
            "forgot_password_by_mail_in_chromium",
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
        raw.smtp.url = Some(format!("smtp://127.0.0.1:{port}"));
        raw.smtp.from = Some("ward <noreply@test.example>".into());
        raw.smtp.ca_file = Some(pki.ca_file.display().to_string());
    })
    .await;
    let admin = admin_token(&server).await;
    create_user(&server, &admin, DEV, "user").await;
    let port = reqwest::Url::parse(&server.url).unwrap().port().unwrap();
    let base = format!("http://localhost:{port}");
    let tag = format!("{b:?}").to_lowercase();
    let d = Driver::start(&chromium, &chromedriver).await;
    let mut shots = Vec::new();
    let shot = |name: &str| format!("accounts-mail-{tag}-{name}");

    d.goto(&format!("{base}/login")).await;
    d.type_into("#email", DEV).await;
    d.click("form[action='/login'] button[type=submit]").await;
    d.find("#password").await;
    d.click("a[href^='/login/forgot']").await;
    d.wait_path("/login/forgot").await;
    assert_eq!(d.value("#email").await, DEV, "the address is carried over");
    d.click("form[action='/login/forgot'] button[type=submit]")
        .await;
    d.wait_source("Check your mail").await;
    shots.push(d.screenshot(&shot("01-check-your-mail")).await);

    let mail = smtp.wait_for(1).await;
    assert_eq!(mail["tls"], true);
    let link = link_in(&mail, "/reset?token=").replace(&server.url, &base);
    d.goto(&link).await;
    d.find("#new_password").await;
    shots.push(d.screenshot(&shot("02-reset-form")).await);
    let chosen = "marble canyon whistle 77";
    d.type_into("#new_password", chosen).await;
    d.type_into("#confirm_password", chosen).await;
    d.click("form[action='/reset'] button[type=submit]").await;
    d.wait_path("/account").await;
    assert!(d.text("#profile").await.contains(DEV));
    shots.push(d.screenshot(&shot("03-signed-in")).await);
    let (_, status, _) = password_sign_in(&server, DEV, chosen).await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    d.quit().await;
    for s in &shots {
        eprintln!("screenshot: {}", s.display());
    }
}

on_both_backends!(
    account_flows_in_chromium,
    forgot_password_by_mail_in_chromium
);
