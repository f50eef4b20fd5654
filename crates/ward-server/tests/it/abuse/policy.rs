//! Policy holes (SPEC §2.13): locks by users without the route permission, guests approving
//! CLI or device sign-ins, lock-out of a confidential client by wrong secrets, `return_to` with
//! control characters, device-code phishing.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};
use ward_server::config::RawConfig;

use super::*;
use crate::mfa::{enrol, post, python_totp};
use crate::on_both_backends;

async fn locks_need_the_route_permission(b: Backend) {
    let mut config = RawConfig::default();
    with_terminal_route(&mut config).await;
    let server = TestServer::start_with(b, |c| {
        c.routes = config.routes;
        c.roles.insert(
            "viewer".into(),
            ward_server::config::RawRole {
                permissions: vec!["containers:read".into()],
                limits: Default::default(),
            },
        );
    })
    .await;
    let admin = admin_token(&server).await;
    let admin_id = server
        .state
        .store
        .user_by_email(ADMIN_EMAIL)
        .await
        .unwrap()
        .unwrap()
        .id;
    let (secret, _) = enrol(&server, &admin).await;
    let r = post(
        &server,
        &admin,
        "/api/security/terminal/t1/mfa-lock",
        json!({ "code": python_totp(&secret, server.clock_now()) }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let status = |browser: &Browser| {
        browser
            .http
            .get(server.url("/api/security/terminal/t1"))
            .send()
    };
    let (viewer, _) = member(&server, &admin, "viewer@test.example", "viewer").await;
    let (user, _) = member(&server, &admin, "user@test.example", "user").await;

    // Without the terminal route's permission (containers:write): no lock state, no lock, no
    // unlock, whatever the code.
    assert_eq!(
        error_code(status(&viewer).await.unwrap()).await,
        (StatusCode::FORBIDDEN, "forbidden".into())
    );
    for path in [
        "/api/security/terminal/t1/mfa-unlock",
        "/api/security/terminal/t2/mfa-lock",
    ] {
        let r = viewer
            .http
            .post(server.url(path))
            .json(&json!({"code": "000000"}))
            .send()
            .await
            .unwrap();
        let (code, error) = error_code(r).await;
        assert_eq!(
            (code, error.as_str()),
            (StatusCode::FORBIDDEN, "forbidden"),
            "{path}"
        );
    }
    // With it: the state, without who locked it.
    let r = status(&user).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["locked"], true);
    assert_eq!(body["locked_by"], Value::Null);
    // An admin sees who locked it.
    let r = server
        .api()
        .get(server.url("/api/security/terminal/t1"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["locked_by"], admin_id.as_str());
}

/// A guest's browser, and a CSRF token for it.
async fn guest_browser(server: &TestServer) -> (Browser, String) {
    let guest = server.browser();
    let (_, page, _) = guest.get("/login").await;
    let csrf = input_value(&page, "csrf_token").unwrap();
    let r = guest
        .http
        .post(server.url("/login/guest"))
        .form(&[("csrf_token", csrf.as_str()), ("return_to", "/account")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // The CSRF token is bound to the session (SPEC §2.12): a signed-in page gives the new one.
    let (_, page, _) = guest.get("/account").await;
    let csrf = input_value(&page, "csrf_token").unwrap();
    (guest, csrf)
}

async fn assert_guest_refused(r: reqwest::Response) {
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let page = r.text().await.unwrap();
    assert!(page.contains("Guests cannot sign in devices"), "{page}");
    assert!(page.contains("signed in as a guest"), "{page}");
}

async fn guests_cannot_approve_cli_or_device_sign_ins(b: Backend) {
    let server = TestServer::start(b).await;
    let (guest, csrf) = guest_browser(&server).await;

    // The CLI's PKCE flow: no consent page, and a forged decision is refused.
    let (_, challenge) = pkce_pair();
    let query = reqwest::Url::parse_with_params(
        "http://x/",
        &[
            ("response_type", "code"),
            ("client_id", "ward-cli"),
            ("redirect_uri", LOOPBACK),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("state", "st4te"),
            ("scope", "openid offline_access"),
        ],
    )
    .unwrap()
    .query()
    .unwrap()
    .to_string();
    let r = guest
        .http
        .get(server.url(&format!("/cli-login?{query}")))
        .send()
        .await
        .unwrap();
    assert_guest_refused(r).await;
    let r = guest
        .http
        .post(server.url("/oauth/authorize/decision"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("request", query.as_str()),
            ("decision", "allow"),
        ])
        .send()
        .await
        .unwrap();
    assert_guest_refused(r).await;

    // The device flow: neither the entry nor a decision.
    let user_code = device_user_code(&server).await;
    let r = guest
        .http
        .get(server.url(&format!("/device?user_code={user_code}")))
        .send()
        .await
        .unwrap();
    assert_guest_refused(r).await;
    for (path, decision) in [("/device", None), ("/device/decision", Some("allow"))] {
        let mut form = vec![
            ("csrf_token", csrf.clone()),
            ("user_code", user_code.clone()),
        ];
        if let Some(d) = decision {
            form.push(("decision", d.to_string()));
        }
        let r = guest
            .http
            .post(server.url(path))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_guest_refused(r).await;
    }
    // The grant is still pending: an account can approve it.
    let browser = server.browser();
    assert_eq!(
        browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    let (_, page, _) = browser.get("/device").await;
    let consent = browser
        .submit_form(&page, &[("user_code", &user_code)])
        .await
        .text()
        .await
        .unwrap();
    let r = browser
        .submit_form(&consent, &[("decision", "allow")])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

async fn wrong_client_secrets_cannot_lock_out_the_client(b: Backend) {
    let server = TestServer::start(b).await;
    let grant = |http: reqwest::Client, secret: &'static str| {
        let url = server.url("/oauth/token");
        async move {
            http.post(url)
                .basic_auth(APP_CLIENT, Some(secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap()
        }
    };
    let attacker = api_from("127.0.0.1");
    let responses = join_all((0..100).map(|_| grant(attacker.clone(), "wrong-secret"))).await;
    let counts = tally(&responses);
    assert_eq!(counts.get(&200), None, "{counts:?}");
    assert!(counts.get(&401).is_some_and(|n| *n >= 20), "{counts:?}");
    // The attacker's address is refused, even with the right secret ...
    let r = grant(attacker.clone(), APP_SECRET).await;
    assert_refusal(&server, &r);
    // ... the real backend, elsewhere, is not.
    let r = grant(api_from("127.0.0.2"), APP_SECRET).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
}

/// `return_to` with a tab or newline: never another host (browsers drop tabs and newlines, so
/// `/\t/evil.example` is `//evil.example` to them), never a 5xx (a newline cannot be put in a
/// `Location` header).
async fn return_to_with_control_characters(b: Backend) {
    let server = TestServer::start(b).await;
    let browser = server.browser();
    assert_eq!(
        browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    for bad in [
        "/%09/evil.example",
        "/%0A/evil.example",
        "/%0D%0ASet-Cookie:x=1",
    ] {
        let (status, _, to) = browser.get(&format!("/login?return_to={bad}")).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{bad}");
        assert_eq!(to, "/account", "{bad}");
    }
}

/// Starts a device authorization from `http`'s address; returns its user code.
async fn device_code_from(server: &TestServer, http: &reqwest::Client) -> String {
    let r: Value = http
        .post(server.url("/oauth/device/code"))
        .form(&[("client_id", "ward-cli")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["user_code"].as_str().unwrap().to_string()
}

async fn device_consent_shows_where_and_when(b: Backend) {
    let server = TestServer::start(b).await;
    let victim = server.browser();
    assert_eq!(
        victim.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    let (_, entry, _) = victim.get("/device").await;

    // An attacker elsewhere (another /24) starts a sign-in and sends the code; the victim
    // enters it three minutes later.
    let code = device_code_from(&server, &api_from("127.0.1.1")).await;
    server.clock.advance(180);
    let consent = victim
        .submit_form(&entry, &[("user_code", &code)])
        .await
        .text()
        .await
        .unwrap();
    assert!(consent.contains("127.0.1.1"), "{consent}");
    assert!(consent.contains("3 minutes ago"), "{consent}");
    assert!(consent.contains(&code), "{consent}");
    assert!(consent.contains("confirm_other_network"), "{consent}");
    assert!(consent.contains("deny it"), "{consent}");
    let r = victim.submit_form(&consent, &[("decision", "allow")]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Confirm it is your device"));
    // Still pending: the explicit confirmation approves it.
    let r = victim
        .submit_form(
            &consent,
            &[("decision", "allow"), ("confirm_other_network", "yes")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("Device approved"));

    // A fresh request from the same network: shown, no second confirmation.
    let code = device_code_from(&server, &api_from("127.0.0.2")).await;
    let consent = victim
        .submit_form(&entry, &[("user_code", &code)])
        .await
        .text()
        .await
        .unwrap();
    assert!(consent.contains("127.0.0.2"), "{consent}");
    assert!(consent.contains("less than a minute ago"), "{consent}");
    assert!(!consent.contains("confirm_other_network"), "{consent}");
    let r = victim.submit_form(&consent, &[("decision", "allow")]).await;
    assert_eq!(r.status(), StatusCode::OK);
}

on_both_backends!(
    locks_need_the_route_permission,
    guests_cannot_approve_cli_or_device_sign_ins,
    wrong_client_secrets_cannot_lock_out_the_client,
    return_to_with_control_characters,
    device_consent_shows_where_and_when,
);
