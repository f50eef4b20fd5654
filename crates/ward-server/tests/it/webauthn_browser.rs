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
        missing_component(
            "security_key_and_passkey_in_chromium",
            "Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)",
        );
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
    browser.wait_source("Your account").await;

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
    browser.wait_source("Your account").await;

    // Passwordless: the passkey alone.
    browser.delete_cookies().await;
    browser.goto(&url("/login")).await;
    browser.screenshot(&format!("signin-{b:?}")).await;
    browser.click("button[data-webauthn=signin]").await;
    browser.wait_source("Your account").await;

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

/// The attack of issue 14: a read-only API token (`snippets:read`, leaked from CI) registers a
/// passkey for its owner from a page of the origin, then signs in passwordless as the owner with
/// a fully MFA-verified session. Registration must be refused before any ceremony starts.
const REGISTER_WITH_BEARER: &str = r#"
const token = arguments[0], done = arguments[arguments.length - 1];
const enc = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const dec = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4)), (c) => c.charCodeAt(0));
(async () => {
  const h = {"content-type": "application/json", "authorization": "Bearer " + token};
  const r = await fetch("/api/mfa/webauthn/register/start", {method: "POST", headers: h, body: JSON.stringify({name: "evil"})});
  const start = await r.json();
  if (!r.ok) return done({stage: "start", status: r.status, body: start});
  const pk = start.options.publicKey;
  pk.challenge = dec(pk.challenge); pk.user.id = dec(pk.user.id);
  (pk.excludeCredentials || []).forEach((c) => (c.id = dec(c.id)));
  const cred = await navigator.credentials.create({publicKey: pk});
  const f = await fetch("/api/mfa/webauthn/register/finish", {method: "POST", headers: h, body: JSON.stringify({
    ceremony: start.ceremony, name: "evil",
    credential: {id: cred.id, rawId: enc(cred.rawId), type: cred.type, extensions: {}, response: {
      attestationObject: enc(cred.response.attestationObject), clientDataJSON: enc(cred.response.clientDataJSON)}}})});
  done({stage: "finish", status: f.status});
})().catch((e) => done({stage: "error", message: String(e)}));
"#;

async fn readonly_api_token_cannot_plant_a_passkey(b: Backend) {
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
    let cli = cli_tokens(&server).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let leaked = crate::authority::api_token(&server, &cli, &["snippets:read"]).await;
    let Some((chromium, chromedriver)) = find_browser() else {
        missing_component(
            "readonly_api_token_cannot_plant_a_passkey",
            "Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)",
        );
        return;
    };
    let browser = Driver::start(&chromium, &chromedriver).await;
    let authenticator = browser.add_virtual_authenticator().await;
    browser
        .goto(&format!("http://localhost:{port}/login"))
        .await;
    let outcome = browser
        .execute_async(REGISTER_WITH_BEARER, vec![serde_json::json!(leaked)])
        .await;
    assert_eq!(outcome["stage"], "start", "{outcome}");
    assert_eq!(outcome["status"], 403, "{outcome}");
    assert!(
        outcome["body"]["error_description"]
            .as_str()
            .unwrap()
            .contains("not an API token"),
        "{outcome}"
    );
    assert!(browser
        .authenticator_credentials(&authenticator)
        .await
        .is_empty());
    let user = server
        .state
        .store
        .user_by_email(ADMIN_EMAIL)
        .await
        .unwrap()
        .unwrap();
    assert!(server
        .state
        .store
        .webauthn_credentials_of_user(&user.id)
        .await
        .unwrap()
        .is_empty());
    browser.quit().await;
}

/// Issue 16: a domain routed to the company's identity provider signs in there, passkey or not.
/// Carol (break-glass `local_login`) registers a passkey; once the flag is taken away her passkey
/// sign-in in Chromium is refused with a message naming the IdP, and the refusal is audited.
async fn passkey_sign_in_refused_for_a_routed_domain(b: Backend) {
    use crate::idp::{audit_events, ward_with_provider};
    use serde_json::{json, Value};
    let Some((chromium, chromedriver)) = find_browser() else {
        missing_component(
            "passkey_sign_in_refused_for_a_routed_domain",
            "Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)",
        );
        return;
    };
    let (server, _provider) = ward_with_provider(b, |c, _| {
        let port = c.listen.rsplit(':').next().unwrap().to_string();
        c.public_url = Some(format!("http://localhost:{port}"));
    })
    .await;
    let url = |p: &str| server.url(p).replace("127.0.0.1", "localhost");
    let admin = cli_tokens(&server).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let password = "carol's break-glass password";
    let r = server
        .api()
        .post(server.url("/api/admin/users"))
        .bearer_auth(&admin)
        .json(&json!({"email": "carol@corp.example", "password": password, "role": "user"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let carol = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let local_login = |on: bool| {
        let (server, admin, carol) = (&server, admin.clone(), carol.clone());
        async move {
            let r = server
                .api()
                .patch(server.url(&format!("/api/admin/users/{carol}")))
                .bearer_auth(admin)
                .json(&json!({"local_login": on}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
    };
    local_login(true).await;

    let browser = Driver::start(&chromium, &chromedriver).await;
    let authenticator = browser.add_virtual_authenticator().await;
    browser.goto(&url("/login")).await;
    browser.type_into("#email", "carol@corp.example").await;
    browser.click("button[type=submit]").await;
    browser.type_into("#password", password).await;
    browser.click("button[type=submit]").await;
    browser.wait_source("Your account").await;
    browser.goto(&url("/account/mfa")).await;
    browser.replace_text("#key-name", "Carol's key").await;
    browser.click("button[data-webauthn=register]").await;
    browser.wait_source("Carol's key").await;
    assert_eq!(
        browser
            .authenticator_credentials(&authenticator)
            .await
            .len(),
        1
    );

    // Break-glass ends: the passkey no longer signs Carol in here.
    local_login(false).await;
    browser.delete_cookies().await;
    browser.goto(&url("/login")).await;
    browser.click("button[data-webauthn=signin]").await;
    browser
        .wait_source("accounts at this email domain sign in with corp")
        .await;
    browser
        .screenshot(&format!("passkey-routed-domain-{b:?}"))
        .await;
    assert!(browser.current_url().await.contains("/login"));
    let events = audit_events(&server, "signin").await;
    assert_eq!(events[0].0, "denied", "{events:?}");
    assert_eq!(events[0].1["method"], "passkey");
    assert_eq!(events[0].1["reason"], "routed_to_idp");
    assert_eq!(events[0].1["idp"], "corp");
    browser.quit().await;
}

on_both_backends!(
    security_key_and_passkey_in_chromium,
    readonly_api_token_cannot_plant_a_passkey,
    passkey_sign_in_refused_for_a_routed_domain
);
