//! Issue 18, "the first hour", on the server: safe defaults (item 14) and an audit log that sees
//! every sign-in, approval and denial of every channel (item 17).

use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::*;
use crate::idp::audit_events;
use crate::mfa::python_totp;
use crate::on_both_backends;
use crate::standard_clients::approve_device;

fn channels(events: &[(String, Value)]) -> Vec<String> {
    events
        .iter()
        .filter_map(|(_, d)| d["channel"].as_str().map(str::to_string))
        .collect()
}

async fn cli_sign_ins_and_device_approvals_are_audited(b: Backend) {
    let server = TestServer::start(b).await;
    // PKCE: the browser's password sign-in, its consent, then the CLI's own session.
    cli_tokens(&server).await;
    let signins = audit_events(&server, "signin").await;
    assert!(
        channels(&signins).contains(&"cli".to_string()),
        "{signins:?}"
    );
    // Device flow: the approval and the session it starts.
    let d: Value = server
        .api()
        .post(server.url("/oauth/device/code"))
        .form(&[("client_id", "ward-cli"), ("scope", "openid")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    approve_device(&server, d["verification_uri_complete"].as_str().unwrap()).await;
    let approved = audit_events(&server, "device.approved").await;
    assert_eq!(approved.len(), 1, "{approved:?}");
    let r = server
        .api()
        .post(server.url("/oauth/token"))
        .form(&[
            ("grant_type", ward_proto::DEVICE_CODE_GRANT_TYPE),
            ("device_code", d["device_code"].as_str().unwrap()),
            ("client_id", "ward-cli"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cli: Vec<_> = channels(&audit_events(&server, "signin").await)
        .into_iter()
        .filter(|c| c == "cli")
        .collect();
    assert_eq!(cli.len(), 2, "one per CLI session: {cli:?}");
    // A guest from the API is a sign-in of channel guest.
    let r = server
        .api()
        .post(server.url("/api/auth/guest"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(channels(&audit_events(&server, "signin").await).contains(&"guest".to_string()));
}

/// Issue 18 item 14: guest mode is off unless the operator turns it on.
async fn guests_are_off_by_default(b: Backend) {
    let server = TestServer::start_with(b, |c| c.sessions.guests = false).await;
    let r = server
        .api()
        .post(server.url("/api/auth/guest"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (_, page, _) = server.browser().get("/login").await;
    assert!(!page.contains("/login/guest"), "{page}");
}

/// Issue 18 item 16: the account page links to two-step verification, and the web can turn the
/// authenticator app off and make new backup codes (each with a current code).
async fn two_step_verification_is_manageable_on_the_web(b: Backend) {
    let server = TestServer::start(b).await;
    let browser = server.browser();
    browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (_, account, _) = browser.get("/account").await;
    assert!(account.contains("href=\"/account/mfa\""), "{account}");
    let (_, mfa, _) = browser.get("/account/mfa").await;
    let r = browser.submit_form(&mfa, &[]).await;
    let enrol = r.text().await.unwrap();
    let at =
        enrol.find("Enter this key: <code>").expect("the key") + "Enter this key: <code>".len();
    let secret = enrol[at..at + enrol[at..].find('<').unwrap()].to_string();
    let code = python_totp(&secret, server.clock_now());
    let r = browser.submit_form(&enrol, &[("code", &code)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("Save your backup codes"));
    server.clock.advance(30);
    let (_, mfa, _) = browser.get("/account/mfa").await;
    assert!(mfa.contains("10 backup codes remaining"), "{mfa}");
    let csrf = input_value(&mfa, "csrf_token").unwrap();
    let post = |path: &'static str, code: String| {
        let (browser, server, csrf) = (&browser, &server, csrf.clone());
        async move {
            browser
                .http
                .post(server.url(path))
                .form(&[("csrf_token", csrf), ("code", code)])
                .send()
                .await
                .unwrap()
        }
    };
    let r = post("/account/mfa/backup-codes", "000000".into()).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = post(
        "/account/mfa/backup-codes",
        python_totp(&secret, server.clock_now()),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("Save your backup codes"));
    server.clock.advance(30);
    let r = post(
        "/account/mfa/disable",
        python_totp(&secret, server.clock_now()),
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, mfa, _) = browser.get("/account/mfa").await;
    assert!(mfa.contains("Set up authenticator app"), "{mfa}");
}

/// Issue 18 item 15: on an IP-address `public_url` WebAuthn is off, so no passkey button is
/// offered that can only fail; with a host name it is.
async fn passkey_buttons_only_when_webauthn_works(b: Backend) {
    let server = TestServer::start(b).await;
    assert!(server.state.webauthn.is_none());
    let (_, login, _) = server.browser().get("/login").await;
    assert!(!login.contains("data-webauthn"), "{login}");
    let browser = server.browser();
    browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (_, mfa, _) = browser.get("/account/mfa").await;
    assert!(!mfa.contains("data-webauthn"), "{mfa}");
    assert!(
        mfa.contains("need the server's public_url to use a host name"),
        "{mfa}"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let named = TestServer::start_with(b, |c| {
        c.listen = format!("127.0.0.1:{port}");
        c.public_url = Some(format!("http://localhost:{port}"));
    })
    .await;
    let (_, login, _) = named.browser().get("/login").await;
    assert!(login.contains("data-webauthn=\"signin\""), "{login}");
}

/// Issue 18 item 16: a form's address typed into the browser gets a page, not raw JSON; the
/// audit page shows short targets whole.
async fn pages_are_complete(b: Backend) {
    let server = TestServer::start(b).await;
    let browser = server.browser();
    browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let r = browser
        .http
        .get(server.url("/account/tokens"))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    let page = r.text().await.unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    let r = server
        .api()
        .get(server.url("/api/auth/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await.1, "method_not_allowed");
    ward_server::audit::record(
        &server.state,
        ward_server::audit::Audit::new("lock", ward_core::audit::Outcome::Ok).target("terminal/t1"),
    )
    .await;
    let (_, audit, _) = browser.get("/admin/audit").await;
    assert!(audit.contains("<code>terminal/t1</code>"), "{audit}");
}

/// Issue 18 item 16, post/redirect/get (decision 89): creating a token answers 303 to
/// `/account#tokens`, which shows the secret once; reloading that page neither shows it again
/// nor creates a second token, and the secret is never in a URL.
async fn reloading_after_creating_a_token_creates_no_duplicate(b: Backend) {
    let server = TestServer::start(b).await;
    let browser = server.browser();
    browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (_, account, _) = browser.get("/account").await;
    let form =
        &ward_testkit::html::form_posting_to(&account, "/account/tokens").expect("token form");
    let r = browser
        .submit_form(
            form,
            &[
                ("name", "reload-me"),
                ("scope.containers:read", "on"),
                ("expires", "30"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location_of(&r), "/account#tokens");
    let set_cookie: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .filter(|c| c.starts_with("ward_new_token="))
        .collect();
    assert_eq!(set_cookie.len(), 1, "{set_cookie:?}");
    for attribute in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/account",
        "Max-Age=300",
    ] {
        assert!(set_cookie[0].contains(attribute), "{set_cookie:?}");
    }
    // The redirect target shows the secret once.
    let (status, shown, _) = browser.get("/account#tokens").await;
    assert_eq!(status, StatusCode::OK);
    let secret = ward_testkit::html::attribute(&shown, "#new-token", "value")
        .expect("the new secret is shown");
    assert!(secret.starts_with("ward_"), "{secret}");
    assert!(!set_cookie[0].contains(&secret), "the cookie is encrypted");
    let r = server
        .api()
        .get(server.url("/api/auth/validate"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Reloading: no secret, still one token.
    for _ in 0..2 {
        let (status, again, _) = browser.get("/account#tokens").await;
        assert_eq!(status, StatusCode::OK);
        assert!(!again.contains(&secret), "shown once only");
        assert!(!again.contains("id=\"new-token\""));
        assert_eq!(
            again
                .matches("aria-label=\"Revoke token reload-me\"")
                .count(),
            1,
            "{again}"
        );
    }
    let admin = server
        .state
        .store
        .user_by_email(ADMIN_EMAIL)
        .await
        .unwrap()
        .unwrap();
    let tokens = server
        .state
        .store
        .api_tokens_of_user(admin.id.as_str())
        .await
        .unwrap();
    assert_eq!(tokens.len(), 1, "one token, not a duplicate");
    // A stale cookie (another session, or after five minutes) shows nothing.
    let r = browser
        .submit_form(
            form,
            &[
                ("name", "late"),
                ("scope.containers:read", "on"),
                ("expires", "30"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    server.clock.advance(301);
    let (_, late, _) = browser.get("/account").await;
    assert!(!late.contains("id=\"new-token\""), "{late}");
}

/// Same-origin links (`href="…"`) of a page, without fragments, entities decoded.
fn same_origin_links(base: &str, html: &str) -> Vec<String> {
    ward_testkit::html::attributes_of_all(html, "[href]", "href")
        .into_iter()
        .map(|href| match href.strip_prefix(base) {
            Some("") => "/".to_string(),
            Some(local) => local.to_string(),
            None => href,
        })
        .filter(|href| href.starts_with('/') && !href.starts_with("//"))
        .map(|href| href.split('#').next().unwrap_or_default().to_string())
        .filter(|href| !href.is_empty())
        .collect()
}

/// Values cut with "…" whose whole (the element's `title`) is shorter than 17 characters, or
/// that have no `title` to show it: `(shown, whole)`. Only text that opens its element counts
/// (the element holding the value).
fn short_truncations(html: &str) -> Vec<(String, String)> {
    let doc = ward_testkit::html::scraper::Html::parse_document(html);
    let mut found = Vec::new();
    for element in doc.root_element().descendent_elements() {
        let Some(text) = element.first_child().and_then(|c| c.value().as_text()) else {
            continue;
        };
        let name = element.value().name();
        for (at, _) in text.match_indices('…') {
            let shown = text[..at].to_string();
            match element.value().attr("title").map(str::to_string) {
                Some(whole) if whole.chars().count() >= 17 => {}
                Some(whole) => found.push((shown, whole)),
                // Prose such as "Loading…" is not a cut value: only flag code-like cells.
                None if name == "code" || name == "td" => found.push((shown, String::new())),
                None => {}
            }
        }
    }
    found
}

/// Issue 18 "Tests": a walk from every HTML page route of `routes.rs` (signed in as an admin),
/// following every same-origin link, finds no broken link (404 or 5xx), no raw JSON shown to a
/// browser, and no value cut with "…" that is short enough to show whole.
async fn every_page_and_link_works_for_an_admin(b: Backend) {
    // Sign-up on, so that its page is one to walk (off, it is a deliberate 404 page).
    let server = TestServer::start_with(b, |c| c.signup = true.into()).await;
    let browser = server.browser();
    browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    // Something in every table: a token, a CLI session, audit rows with short and long targets.
    let (_, account, _) = browser.get("/account").await;
    let form =
        &ward_testkit::html::form_posting_to(&account, "/account/tokens").expect("token form");
    browser
        .submit_form(form, &[("name", "walk"), ("scope.containers:read", "on")])
        .await;
    cli_tokens(&server).await;
    for target in ["terminal/t1", "container/0123456789abcdef0123456789abcdef"] {
        ward_server::audit::record(
            &server.state,
            ward_server::audit::Audit::new("lock", ward_core::audit::Outcome::Ok).target(target),
        )
        .await;
    }
    let not_pages = [
        "/api/",
        "/oauth/",
        "/.well-known/",
        "/static/",
        "/cli-login",
        "/idp/",
        "/healthz",
        "/readyz",
        "/metrics",
    ];
    let mut pending: Vec<String> = crate::openapi::routed()
        .into_iter()
        .filter(|(path, methods)| {
            methods.contains("get")
                && !path.contains('{')
                && !not_pages.iter().any(|p| path.starts_with(p))
        })
        .map(|(path, _)| path)
        .collect();
    assert!(pending.contains(&"/admin/audit".to_string()), "{pending:?}");
    let mut seen = std::collections::BTreeSet::new();
    let mut problems = Vec::new();
    while let Some(path) = pending.pop() {
        if !seen.insert(path.clone()) || seen.len() > 200 {
            continue;
        }
        let r = browser
            .http
            .get(server.url(&path))
            .header("accept", "text/html,application/xhtml+xml")
            .send()
            .await
            .unwrap();
        let status = r.status();
        let location = location_of(&r);
        let html_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = r.text().await.unwrap_or_default();
        if status == StatusCode::NOT_FOUND || status.is_server_error() {
            problems.push(format!("{path}: {status}"));
            continue;
        }
        if status.is_redirection() {
            let local = location.strip_prefix(&server.url).unwrap_or(&location);
            if local.starts_with('/') && !local.starts_with("//") {
                pending.push(local.split('#').next().unwrap_or_default().to_string());
            }
            continue;
        }
        if path.starts_with("/static/") {
            continue;
        }
        if html_type.starts_with("application/json") || body.trim_start().starts_with('{') {
            problems.push(format!("{path}: raw JSON shown to a browser: {body}"));
            continue;
        }
        for (shown, whole) in short_truncations(&body) {
            problems.push(format!(
                "{path}: {shown:?}… cut although {whole:?} is short"
            ));
        }
        pending.extend(same_origin_links(&server.url, &body));
    }
    for expected in [
        "/account",
        "/account/mfa",
        "/admin/users",
        "/admin/sessions",
        "/admin/audit",
    ] {
        assert!(seen.contains(expected), "{expected} not reached: {seen:?}");
    }
    assert!(seen.len() >= 12, "too short a walk: {seen:?}");
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_walk_spots_a_short_truncated_value() {
    let page = "<td><code title=\"terminal/t1\">terminal/t…</code></td>";
    assert_eq!(short_truncations(page).len(), 1);
    let page = "<code title=\"0123456789abcdef0123\">0123456789…</code><p>Loading…</p>";
    assert!(short_truncations(page).is_empty());
    let links = same_origin_links(
        "http://h",
        "<a href=\"/a#x\"></a><a href=\"http://h/b?c=1&amp;d=2\"></a><a href=\"https://o/\"></a>",
    );
    assert_eq!(links, ["/a", "/b?c=1&d=2"]);
}

on_both_backends!(
    every_page_and_link_works_for_an_admin,
    reloading_after_creating_a_token_creates_no_duplicate,
    pages_are_complete,
    passkey_buttons_only_when_webauthn_works,
    two_step_verification_is_manageable_on_the_web,
    cli_sign_ins_and_device_approvals_are_audited,
    guests_are_off_by_default
);
