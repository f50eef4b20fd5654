//! Federation (SPEC §2.5) end to end: sign-in through a real, independent OpenID provider
//! (panva/oidc-provider on Node.js, `tests/oidc-provider/`), made to misbehave; through a second
//! ward server as the upstream; through a stand-in for GitHub's documented OAuth endpoints; the
//! domain allowlist; MFA after the IdP; and the CLI's device flow approved via an IdP.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt;
use ward_core::model::User;
use ward_server::config::{RawClient, RawConfig, RawIdp};

use crate::harness::*;
use crate::on_both_backends;

pub const PROVIDER_SECRET: &str = "provider-client-secret-0123456789";

/// A port that was free a moment ago, for a server whose URL must be known before it starts
/// (a redirect URI registered at the other side).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn provider_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc-provider")
}

/// `npm ci` once per test process when the provider's packages are missing (.ci/run installs
/// them up front).
fn ensure_npm_packages() {
    static ONCE: Mutex<bool> = Mutex::new(false);
    let mut done = ONCE.lock().unwrap_or_else(|e| e.into_inner());
    if *done || provider_dir().join("node_modules/oidc-provider").exists() {
        *done = true;
        return;
    }
    let out = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(provider_dir())
        .output()
        .expect("npm runs (Node.js 20+ is needed for the federation tests)");
    assert!(
        out.status.success(),
        "npm ci failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    *done = true;
}

/// oidc-provider on 127.0.0.1 (a free port), with client `ward` registered for `redirect_uri`.
pub struct OidcProvider {
    pub issuer: String,
    _child: tokio::process::Child,
}

impl OidcProvider {
    pub async fn start(redirect_uri: &str) -> OidcProvider {
        Self::start_with(redirect_uri, false).await
    }

    /// `conform`: oidc-provider's default, where the `email` scope's claims come from UserInfo
    /// only, not in the ID token.
    async fn start_with(redirect_uri: &str, conform: bool) -> OidcProvider {
        ensure_npm_packages();
        let mut child = tokio::process::Command::new("node")
            .arg("provider.mjs")
            .current_dir(provider_dir())
            .env("WARD_REDIRECT_URI", redirect_uri)
            .env("CONFORM_ID_TOKEN_CLAIMS", if conform { "1" } else { "0" })
            .env("CLIENT_SECRET", PROVIDER_SECRET)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts");
        let stdout = child.stdout.take().unwrap();
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("provider starts within 30 s")
            .unwrap()
            .expect("provider prints its issuer");
        let v: Value = serde_json::from_str(&line).unwrap();
        OidcProvider {
            issuer: v["issuer"].as_str().unwrap().to_string(),
            _child: child,
        }
    }

    pub async fn post(&self, path: &str, body: Value) {
        let r = reqwest::Client::new()
            .post(format!("{}{path}", self.issuer))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    async fn mode(&self, mode: Option<&str>) {
        self.post("/__test/mode", json!({ "mode": mode })).await;
    }
}

pub fn oidc_idp(name: &str, issuer: &str, domains: &[&str]) -> RawIdp {
    RawIdp {
        name: name.into(),
        kind: "oidc".into(),
        issuer: Some(issuer.into()),
        client_id: "ward".into(),
        client_secret: Some(PROVIDER_SECRET.into()),
        domains: domains.iter().map(|d| d.to_string()).collect(),
        ..RawIdp::default()
    }
}

/// A ward on a reserved port with one OIDC IdP `corp` (routing `corp.example`) in front of a
/// fresh oidc-provider.
pub async fn ward_with_provider(
    b: Backend,
    customize: impl FnOnce(&mut RawConfig, &str),
) -> (TestServer, OidcProvider) {
    let port = free_port();
    let provider = OidcProvider::start(&format!("http://127.0.0.1:{port}/idp/corp/callback")).await;
    let issuer = provider.issuer.clone();
    let server = TestServer::start_with(b, |c| {
        c.listen = format!("127.0.0.1:{port}");
        c.idp.push(oidc_idp("corp", &issuer, &["corp.example"]));
        customize(c, &issuer);
    })
    .await;
    (server, provider)
}

/// Follows the redirects of `r` (ward → IdP → … ) until one points back at ward's callback, and
/// returns ward's answer to the callback.
pub async fn through_idp(
    server: &TestServer,
    browser: &Browser,
    r: reqwest::Response,
) -> reqwest::Response {
    let mut r = r;
    for _ in 0..12 {
        if r.status() == StatusCode::OK {
            // An upstream ward's consent page for a configured client (SPEC §2.11): allow.
            let url = r.url().clone();
            let page = r.text().await.unwrap_or_default();
            assert!(
                page.contains("action=\"/oauth/authorize/decision\""),
                "expected a redirect or a consent page at {url}: {page}"
            );
            let form = [
                ("csrf_token", input_value(&page, "csrf_token").unwrap()),
                ("request", input_value(&page, "request").unwrap()),
                ("decision", "allow".to_string()),
            ];
            let decision = url.join("/oauth/authorize/decision").unwrap();
            r = browser
                .http
                .post(decision)
                .form(&form)
                .send()
                .await
                .unwrap();
            continue;
        }
        if !r.status().is_redirection() {
            let (url, status) = (r.url().clone(), r.status());
            panic!(
                "expected a redirect at {url}, got {status}: {}",
                r.text().await.unwrap_or_default()
            );
        }
        let next = r.url().join(&location_of(&r)).unwrap();
        let back_at_ward = next.as_str().starts_with(&server.url("/idp/"));
        r = browser.http.get(next).send().await.unwrap();
        if back_at_ward {
            return r;
        }
    }
    panic!("too many redirects");
}

/// Types `email` at ward's sign-in page and returns the first response (the redirect to the
/// IdP, or a page).
pub async fn submit_email(browser: &Browser, email: &str) -> reqwest::Response {
    let (_, page, _) = browser.get("/login").await;
    browser.submit_form(&page, &[("email", email)]).await
}

/// The whole federated sign-in; returns ward's answer to the callback.
pub async fn sign_in_via_idp(
    server: &TestServer,
    browser: &Browser,
    email: &str,
) -> reqwest::Response {
    let r = submit_email(browser, email).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "routed to the IdP");
    through_idp(server, browser, r).await
}

pub async fn signed_in_email(server: &TestServer, browser: &Browser) -> Option<String> {
    let r = browser
        .http
        .get(server.url("/api/profile"))
        .send()
        .await
        .unwrap();
    if r.status() != StatusCode::OK {
        return None;
    }
    let p: Value = r.json().await.unwrap();
    p["email"].as_str().map(str::to_string)
}

pub async fn audit_events(server: &TestServer, event_type: &str) -> Vec<(String, Value)> {
    let q = ward_core::model::AuditQuery {
        event_type: Some(event_type.into()),
        limit: 100,
        ..Default::default()
    };
    server
        .state
        .store
        .audit_events(&q)
        .await
        .unwrap()
        .into_iter()
        .map(|(e, _)| (e.outcome, serde_json::from_str(&e.detail).unwrap()))
        .collect()
}

/// The page ward ended on: status and body.
pub async fn page_of(r: reqwest::Response) -> (StatusCode, String) {
    let s = r.status();
    (s, r.text().await.unwrap())
}

async fn oidc_sign_in_provisions_then_matches_on_subject(b: Backend) {
    let (server, provider) = ward_with_provider(b, |_, _| {}).await;
    let users_before = server.state.store.count_users().await.unwrap();

    // First sign-in: the account is created with the default role and linked.
    let browser = server.browser();
    let r = sign_in_via_idp(&server, &browser, "Bob@Corp.Example").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location_of(&r), "/account");
    assert_eq!(
        signed_in_email(&server, &browser).await.as_deref(),
        Some("bob@corp.example")
    );
    let bob = server
        .state
        .store
        .user_by_email("bob@corp.example")
        .await
        .unwrap()
        .expect("provisioned");
    assert_eq!(bob.role, "user");
    assert!(bob.password_hash.is_none(), "no local password");
    assert_eq!(
        server.state.store.count_users().await.unwrap(),
        users_before + 1
    );
    let created = audit_events(&server, "user.created").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].1["idp"], "corp");
    let signins = audit_events(&server, "signin").await;
    assert_eq!(signins[0].0, "ok");
    assert_eq!(signins[0].1["method"], "idp");
    assert_eq!(signins[0].1["amr"], json!(["fed"]));

    // Second sign-in (a new browser): the same user, nothing created.
    let browser = server.browser();
    let r = sign_in_via_idp(&server, &browser, "bob@corp.example").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        server.state.store.count_users().await.unwrap(),
        users_before + 1
    );
    let r = browser
        .http
        .get(server.url("/api/profile"))
        .send()
        .await
        .unwrap();
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["id"], bob.id.as_str());

    // The IdP changes bob's email: ward still matches on (IdP, subject), not on email.
    provider
        .post(
            "/__test/accounts",
            json!({"bob@corp.example": {"email": "robert@corp.example"}}),
        )
        .await;
    let browser = server.browser();
    let r = sign_in_via_idp(&server, &browser, "bob@corp.example").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let p: Value = browser
        .http
        .get(server.url("/api/profile"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(p["id"], bob.id.as_str());

    // Other domains keep the local password form.
    let r = submit_email(&server.browser(), "someone@elsewhere.example").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("name=\"password\""));
}

/// A provider that puts the email in UserInfo only: ward reads it there, for the same subject.
async fn email_from_userinfo(b: Backend) {
    let port = free_port();
    let provider =
        OidcProvider::start_with(&format!("http://127.0.0.1:{port}/idp/corp/callback"), true).await;
    let server = TestServer::start_with(b, |c| {
        c.listen = format!("127.0.0.1:{port}");
        c.idp
            .push(oidc_idp("corp", &provider.issuer, &["corp.example"]));
    })
    .await;
    let browser = server.browser();
    let r = sign_in_via_idp(&server, &browser, "ines@corp.example").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        signed_in_email(&server, &browser).await.as_deref(),
        Some("ines@corp.example")
    );
    // Unverified there too: refused.
    provider
        .post(
            "/__test/accounts",
            json!({"uv@corp.example": {"email_verified": false}}),
        )
        .await;
    let (s, page) =
        page_of(sign_in_via_idp(&server, &server.browser(), "uv@corp.example").await).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{page}");
}

async fn misbehaving_provider_is_rejected(b: Backend) {
    let (server, provider) = ward_with_provider(b, |_, _| {}).await;
    for (mode, status, text, reason) in [
        (
            "wrong_nonce",
            StatusCode::BAD_GATEWAY,
            "failed verification",
            "id_token_invalid",
        ),
        (
            "wrong_aud",
            StatusCode::BAD_GATEWAY,
            "failed verification",
            "id_token_invalid",
        ),
        (
            "expired",
            StatusCode::BAD_GATEWAY,
            "failed verification",
            "id_token_invalid",
        ),
        (
            "bad_signature",
            StatusCode::BAD_GATEWAY,
            "failed verification",
            "id_token_invalid",
        ),
        (
            "token_error",
            StatusCode::BAD_GATEWAY,
            "did not accept",
            "token_exchange_failed",
        ),
        (
            "deny",
            StatusCode::FORBIDDEN,
            "Access was denied",
            "access_denied",
        ),
    ] {
        provider.mode(Some(mode)).await;
        let browser = server.browser();
        let (status_got, page) =
            page_of(sign_in_via_idp(&server, &browser, "mallory@corp.example").await).await;
        assert_eq!(status_got, status, "{mode}: {page}");
        assert!(page.contains(text), "{mode}: {page}");
        assert!(signed_in_email(&server, &browser).await.is_none(), "{mode}");
        let events = audit_events(&server, "signin").await;
        assert_eq!(events[0].0, "failed", "{mode}");
        assert_eq!(events[0].1["reason"], reason, "{mode}: {:?}", events[0].1);
        assert_eq!(events[0].1["idp"], "corp");
    }
    // The exact verification failures are in the audit detail.
    let events = audit_events(&server, "signin").await;
    let errors: Vec<String> = events
        .iter()
        .map(|(_, d)| d["error"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        errors.iter().any(|e| e.contains("Invalid nonce")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("Invalid audiences")),
        "{errors:?}"
    );
    assert!(errors.iter().any(|e| e.contains("Expired")), "{errors:?}");
    assert!(
        errors
            .iter()
            .any(|e| e.contains("Signature verification failed")),
        "{errors:?}"
    );
    assert_eq!(
        server
            .state
            .store
            .user_by_email("mallory@corp.example")
            .await
            .unwrap(),
        None
    );

    provider.mode(None).await;
    // A forged or reused state.
    let browser = server.browser();
    let (s, page) = page_of(
        browser
            .http
            .get(server.url("/idp/corp/callback?code=abc&state=forged"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(page.contains("state mismatch"), "{page}");

    // A sign-in that waited too long at the IdP.
    let r = submit_email(&browser, "slow@corp.example").await;
    server.clock.advance(601);
    let (s, page) = page_of(through_idp(&server, &browser, r).await).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(page.contains("expired"), "{page}");

    // The callback opened in another browser than the one that started.
    let r = submit_email(&browser, "other@corp.example").await;
    let other = server.browser();
    let mut r = r;
    let callback = loop {
        let next = r.url().join(&location_of(&r)).unwrap();
        if next.as_str().starts_with(&server.url("/idp/")) {
            break next;
        }
        r = browser.http.get(next).send().await.unwrap();
    };
    let (s, page) = page_of(other.http.get(callback.clone()).send().await.unwrap()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(page.contains("another browser"), "{page}");
    // …and the state is used up.
    let (s, _) = page_of(browser.http.get(callback).send().await.unwrap()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    let reasons: Vec<Value> = audit_events(&server, "signin")
        .await
        .into_iter()
        .map(|(_, d)| d["reason"].clone())
        .collect();
    for r in ["state_mismatch", "state_expired", "state_wrong_browser"] {
        assert!(reasons.contains(&json!(r)), "{r}: {reasons:?}");
    }
}

async fn idp_down_ends_on_a_page(b: Backend) {
    let dead = format!("http://127.0.0.1:{}", free_port());
    let server = TestServer::start_with(b, |c| {
        c.idp.push(oidc_idp("corp", &dead, &["corp.example"]));
    })
    .await;
    let browser = server.browser();
    let (s, page) = page_of(submit_email(&browser, "bob@corp.example").await).await;
    assert_eq!(s, StatusCode::BAD_GATEWAY);
    assert!(
        page.contains("could not reach the identity provider corp"),
        "{page}"
    );
    let events = audit_events(&server, "signin").await;
    assert_eq!(events[0].1["reason"], "idp_unreachable");
}

async fn domain_not_allowed_and_no_takeover(b: Backend) {
    let (server, provider) = ward_with_provider(b, |c, _| {
        let idp = c.idp.last_mut().unwrap();
        idp.domains.push("contractor.example".into());
        idp.allowed_domains = Some(vec!["corp.example".into()]);
    })
    .await;
    // Routed to the IdP, but its domain is not on the allowlist: refused before leaving ward.
    let browser = server.browser();
    let (s, page) = page_of(submit_email(&browser, "eve@contractor.example").await).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(page.contains("email domain not allowed"), "{page}");
    let events = audit_events(&server, "signin").await;
    assert_eq!(events[0].0, "failed");
    assert_eq!(events[0].1["reason"], "email_domain_not_allowed");
    assert_eq!(events[0].1["email"], "eve@contractor.example");

    // The IdP vouches for an email outside the allowlist: refused after the IdP.
    provider
        .post(
            "/__test/accounts",
            json!({"eve@corp.example": {"email": "eve@elsewhere.example"}}),
        )
        .await;
    let (s, page) =
        page_of(sign_in_via_idp(&server, &server.browser(), "eve@corp.example").await).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(page.contains("email domain not allowed"), "{page}");
    assert_eq!(
        server
            .state
            .store
            .user_by_email("eve@elsewhere.example")
            .await
            .unwrap(),
        None
    );

    // An unverified email is refused.
    provider
        .post(
            "/__test/accounts",
            json!({"uv@corp.example": {"email_verified": false}}),
        )
        .await;
    let (s, page) =
        page_of(sign_in_via_idp(&server, &server.browser(), "uv@corp.example").await).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(page.contains("verified email"), "{page}");

    // A local account with the same email is not taken over.
    server
        .state
        .store
        .insert_user(&User {
            id: "local-carol".into(),
            email: "carol@corp.example".into(),
            name: "Carol".into(),
            password_hash: None,
            role: "admin".into(),
            disabled: false,
            created_at: ward_core::clock::Timestamp(server.clock_now()),
            email_verified: true,
        })
        .await
        .unwrap();
    let (s, page) =
        page_of(sign_in_via_idp(&server, &server.browser(), "carol@corp.example").await).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(page.contains("already exists"), "{page}");
    assert!(signed_in_email(&server, &browser).await.is_none());
    let events = audit_events(&server, "signin").await;
    assert_eq!(events[0].1["reason"], "account_not_linked");
}

async fn mfa_still_applies_after_the_idp(b: Backend) {
    let (server, _provider) =
        ward_with_provider(b, |c, _| c.mfa.required_roles = vec!["user".into()]).await;
    let browser = server.browser();
    let r = sign_in_via_idp(&server, &browser, "dana@corp.example").await;
    assert_eq!(location_of(&r), "/login/mfa", "no session before MFA");
    assert!(signed_in_email(&server, &browser).await.is_none());
    let (_, _, to) = browser.get("/login/mfa").await;
    assert_eq!(to, "/login/mfa/enrol");
    let (_, page, _) = browser.get("/login/mfa/enrol").await;
    let secret = page
        .split("Enter this key: <code>")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_string();
    let r = browser
        .submit_form(
            &page,
            &[(
                "code",
                &crate::mfa::python_totp(&secret, server.clock_now()),
            )],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        signed_in_email(&server, &browser).await.as_deref(),
        Some("dana@corp.example")
    );
    let signins = audit_events(&server, "signin").await;
    assert_eq!(signins[0].1["method"], "idp+totp");
    assert_eq!(signins[0].1["amr"], json!(["fed", "otp", "mfa"]));

    // Next time: the TOTP challenge after the IdP.
    server.clock.advance(30);
    let browser = server.browser();
    let r = sign_in_via_idp(&server, &browser, "dana@corp.example").await;
    assert_eq!(location_of(&r), "/login/mfa");
    let (_, page, _) = browser.get("/login/mfa").await;
    assert!(page.contains("autocomplete=\"one-time-code\""));
    let r = browser
        .submit_form(
            &page,
            &[(
                "code",
                &crate::mfa::python_totp(&secret, server.clock_now()),
            )],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(signed_in_email(&server, &browser).await.is_some());
}

async fn cli_device_and_pkce_flows_through_the_idp(b: Backend) {
    let (server, _provider) = ward_with_provider(b, |_, _| {}).await;
    // Device flow: the CLI asks for a code; the user approves it in a browser after signing in
    // at the IdP.
    let api = server.api();
    let d: Value = api
        .post(server.url("/oauth/device/code"))
        .form(&[
            ("client_id", "ward-cli"),
            ("scope", "openid offline_access"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let browser = server.browser();
    let complete = d["verification_uri_complete"].as_str().unwrap();
    let (s, _, login) = browser.get(complete).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, page, _) = browser.get(&login).await;
    let r = browser
        .submit_form(&page, &[("email", "frank@corp.example")])
        .await;
    let r = through_idp(&server, &browser, r).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let back = location_of(&r);
    assert!(back.starts_with("/device?user_code="), "{back}");
    let (_, page, _) = browser.get(&back).await;
    let r = browser.submit_form(&page, &[]).await;
    let page = r.text().await.unwrap();
    let r = browser.submit_form(&page, &[("decision", "allow")]).await;
    assert!(r.status().is_success() || r.status().is_redirection());
    let t: Value = api
        .post(server.url("/oauth/token"))
        .form(&[
            ("grant_type", ward_proto::DEVICE_CODE_GRANT_TYPE),
            ("device_code", d["device_code"].as_str().unwrap()),
            ("client_id", "ward-cli"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = t["access_token"].as_str().unwrap_or_else(|| panic!("{t}"));
    let p: Value = api
        .get(server.url("/api/profile"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(p["email"], "frank@corp.example");

    // PKCE with `ward login --email`: /cli-login forwards login_hint, which goes straight to
    // the IdP.
    let browser = server.browser();
    let (verifier, challenge) = pkce_pair();
    let url = reqwest::Url::parse_with_params(
        &server.url("/cli-login"),
        &[
            ("response_type", "code"),
            ("client_id", "ward-cli"),
            ("redirect_uri", LOOPBACK),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("state", "st4te"),
            ("scope", "openid offline_access"),
            ("login_hint", "frank@corp.example"),
        ],
    )
    .unwrap();
    let (_, _, login) = browser.get(url.as_str()).await;
    let r = browser.http.get(server.url(&login)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "straight to the IdP");
    let r = through_idp(&server, &browser, r).await;
    let back = location_of(&r);
    assert!(back.starts_with("/cli-login?"), "{back}");
    let (_, consent, _) = browser.get(&back).await;
    assert!(consent.contains("Authorize CLI access"), "{consent}");
    let r = browser
        .submit_form(&consent, &[("decision", "allow")])
        .await;
    let to = reqwest::Url::parse(&location_of(&r)).unwrap();
    let q: HashMap<String, String> = to.query_pairs().into_owned().collect();
    let r = exchange_cli_code(&server, &q["code"], &verifier).await;
    assert_eq!(r.status(), StatusCode::OK);
    let t: Value = r.json().await.unwrap();
    assert_eq!(
        crate_claims(t["access_token"].as_str().unwrap())["email"],
        "frank@corp.example"
    );
}

fn crate_claims(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

/// ward is itself an OIDC provider: a second ward server is the first one's upstream IdP.
async fn ward_as_upstream_idp(b: Backend) {
    let port = free_port();
    // The downstream is reached as `localhost`, the upstream as `127.0.0.1`, so the browser
    // keeps their cookies apart (cookies ignore ports).
    let downstream_url = format!("http://localhost:{port}");
    let upstream = TestServer::start_with(b, |c| {
        c.bootstrap_admin_email = Some("ops@upstream.example".into());
        c.clients.push(RawClient {
            id: "downstream-ward".into(),
            secret: Some("downstream-secret-0123456789".into()),
            secret_file: None,
            redirect_uris: vec![format!("{downstream_url}/idp/upstream/callback")],
            grant_types: vec!["authorization_code".into()],
            scopes: vec![],
            introspect: false,
            ..RawClient::default()
        });
    })
    .await;
    let upstream_url = upstream.url.clone();
    let downstream = TestServer::start_with(b, |c| {
        c.listen = format!("127.0.0.1:{port}");
        c.public_url = Some(downstream_url.clone());
        c.idp.push(RawIdp {
            client_id: "downstream-ward".into(),
            client_secret: Some("downstream-secret-0123456789".into()),
            ..oidc_idp("upstream", &upstream_url, &["upstream.example"])
        });
    })
    .await;
    assert_eq!(downstream.url, downstream_url);

    let browser = downstream.browser();
    let r = submit_email(&browser, "ops@upstream.example").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // To the upstream's authorization endpoint, then its sign-in page with the email hinted.
    let mut r = r;
    let page_url = loop {
        let next = r.url().join(&location_of(&r)).unwrap();
        r = browser.http.get(next.clone()).send().await.unwrap();
        if r.status() == StatusCode::OK {
            break next;
        }
        assert!(r.status().is_redirection(), "{}", r.status());
    };
    assert!(
        page_url.as_str().starts_with(&upstream.url("/login?")),
        "{page_url}"
    );
    let page = r.text().await.unwrap();
    assert!(page.contains("ops@upstream.example"));
    let action = page_url.join(&form_action(&page).unwrap()).unwrap();
    let mut fields = vec![
        ("email".to_string(), "ops@upstream.example".to_string()),
        ("password".to_string(), ADMIN_PASSWORD.to_string()),
    ];
    for hidden in ["csrf_token", "return_to"] {
        fields.push((hidden.into(), input_value(&page, hidden).unwrap()));
    }
    let r = browser
        .http
        .post(action)
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "signed in at the upstream"
    );
    let r = through_idp(&downstream, &browser, r).await;
    let (s, body) = (r.status(), location_of(&r));
    assert_eq!(s, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(
        signed_in_email(&downstream, &browser).await.as_deref(),
        Some("ops@upstream.example")
    );
    let u = downstream
        .state
        .store
        .user_by_email("ops@upstream.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u.role, "user", "the default role, not the upstream's admin");
    let upstream_admin = upstream
        .state
        .store
        .user_by_email("ops@upstream.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        downstream
            .state
            .store
            .idp_link("upstream", upstream_admin.id.as_str())
            .await
            .unwrap(),
        Some(u.id)
    );
}

/// A stand-in for GitHub's documented OAuth app endpoints.
#[derive(Clone, Default)]
struct FakeGithub {
    codes: Arc<Mutex<HashMap<String, (String, String)>>>,
    verified: Arc<Mutex<bool>>,
}

async fn start_fake_github(redirect_uri: String) -> (String, FakeGithub) {
    use axum::extract::{Query, State};
    use axum::http::HeaderMap;
    use axum::response::{IntoResponse, Redirect};
    use axum::routing::{get, post};
    use axum::{Form, Json, Router};

    let fake = FakeGithub {
        verified: Arc::new(Mutex::new(true)),
        ..Default::default()
    };
    let authorize = {
        let redirect_uri = redirect_uri.clone();
        move |State(f): State<FakeGithub>, Query(q): Query<HashMap<String, String>>| async move {
            assert_eq!(q["client_id"], "gh-client");
            assert_eq!(q["redirect_uri"], redirect_uri);
            assert_eq!(q["code_challenge_method"], "S256");
            assert!(q["scope"].contains("user:email"));
            let code = format!("code-{}", q["state"].len() + f.codes.lock().unwrap().len());
            f.codes.lock().unwrap().insert(
                code.clone(),
                (q["code_challenge"].clone(), q["redirect_uri"].clone()),
            );
            let mut to = reqwest::Url::parse(&q["redirect_uri"]).unwrap();
            to.query_pairs_mut()
                .append_pair("code", &code)
                .append_pair("state", &q["state"]);
            Redirect::to(to.as_str())
        }
    };
    let token = |State(f): State<FakeGithub>,
                 headers: HeaderMap,
                 Form(p): Form<HashMap<String, String>>| async move {
        assert_eq!(headers["accept"], "application/json");
        let ok = p.get("client_id").map(String::as_str) == Some("gh-client")
            && p.get("client_secret").map(String::as_str) == Some("gh-secret")
            && f.codes
                .lock()
                .unwrap()
                .remove(&p["code"])
                .is_some_and(|(c, r)| {
                    c == ward_core::pkce::s256_challenge(&p["code_verifier"])
                        && r == p["redirect_uri"]
                });
        // GitHub answers a bad code with 200 and an error body.
        if ok {
            Json(
                json!({"access_token": "gho_test", "token_type": "bearer", "scope": "read:user,user:email"}),
            )
        } else {
            Json(json!({"error": "bad_verification_code"}))
        }
    };
    let user = |headers: HeaderMap| async move {
        if headers["authorization"] != "Bearer gho_test" {
            return axum::http::StatusCode::UNAUTHORIZED.into_response();
        }
        Json(json!({"id": 583231, "login": "octocat", "name": "The Octocat", "email": null}))
            .into_response()
    };
    let emails = |State(f): State<FakeGithub>, headers: HeaderMap| async move {
        if headers["authorization"] != "Bearer gho_test" {
            return axum::http::StatusCode::UNAUTHORIZED.into_response();
        }
        let verified = *f.verified.lock().unwrap();
        Json(json!([
            {"email": "octo@old.example", "primary": false, "verified": true, "visibility": null},
            {"email": "octocat@gh.example", "primary": true, "verified": verified, "visibility": "private"}
        ]))
        .into_response()
    };
    let app = Router::new()
        .route("/login/oauth/authorize", get(authorize))
        .route("/login/oauth/access_token", post(token))
        .route("/user", get(user))
        .route("/user/emails", get(emails))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, fake)
}

async fn github_sign_in_against_a_stand_in(b: Backend) {
    let port = free_port();
    let (gh, fake) =
        start_fake_github(format!("http://127.0.0.1:{port}/idp/github/callback")).await;
    let server = TestServer::start_with(b, |c| {
        c.listen = format!("127.0.0.1:{port}");
        c.idp.push(RawIdp {
            name: "github".into(),
            kind: "github".into(),
            client_id: "gh-client".into(),
            client_secret: Some("gh-secret".into()),
            domains: vec!["gh.example".into()],
            authorize_url: Some(format!("{gh}/login/oauth/authorize")),
            token_url: Some(format!("{gh}/login/oauth/access_token")),
            api_url: Some(gh.clone()),
            ..RawIdp::default()
        });
    })
    .await;
    let browser = server.browser();
    let r = sign_in_via_idp(&server, &browser, "octocat@gh.example").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        signed_in_email(&server, &browser).await.as_deref(),
        Some("octocat@gh.example")
    );
    let u = server
        .state
        .store
        .user_by_email("octocat@gh.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u.name, "The Octocat");
    assert_eq!(
        server
            .state
            .store
            .idp_link("github", "583231")
            .await
            .unwrap(),
        Some(u.id.clone())
    );
    // Again: the same user.
    let browser = server.browser();
    let r = sign_in_via_idp(&server, &browser, "octocat@gh.example").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let p: Value = browser
        .http
        .get(server.url("/api/profile"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(p["id"], u.id.as_str());

    // An unverified primary email is refused.
    *fake.verified.lock().unwrap() = false;
    let browser = server.browser();
    let (s, page) = page_of(sign_in_via_idp(&server, &browser, "octocat@gh.example").await).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(page.contains("verified email"), "{page}");
}

async fn no_idp_sign_in_at_the_guests_domain(b: Backend) {
    // Even an IdP allowed every domain and linking existing accounts cannot reach a guest.
    let (server, provider) = ward_with_provider(b, |c, _| {
        let idp = c.idp.last_mut().unwrap();
        idp.allowed_domains = Some(vec!["*".into()]);
        idp.link_existing_accounts = true;
    })
    .await;
    let guest: Value = server
        .api()
        .post(server.url("/api/auth/guest"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let profile: Value = server
        .api()
        .get(server.url("/api/profile"))
        .bearer_auth(guest["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let guest_email = profile["email"].as_str().unwrap().to_string();
    assert!(guest_email.ends_with("@guest.invalid"), "{guest_email}");

    // The IdP vouches for the guest's address: refused, nothing linked to the guest.
    provider
        .post(
            "/__test/accounts",
            json!({"mallory@corp.example": {"email": guest_email}}),
        )
        .await;
    let browser = server.browser();
    let (s, page) = page_of(sign_in_via_idp(&server, &browser, "mallory@corp.example").await).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(page.contains("email domain not allowed"), "{page}");
    assert!(signed_in_email(&server, &browser).await.is_none());
    // Nor is an account created at the guests' domain, which the sweeper would take for a guest.
    provider
        .post(
            "/__test/accounts",
            json!({"newbie@corp.example": {"email": "guest-000000000000@guest.invalid"}}),
        )
        .await;
    let (s, _) =
        page_of(sign_in_via_idp(&server, &server.browser(), "newbie@corp.example").await).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(
        server
            .state
            .store
            .user_by_email("guest-000000000000@guest.invalid")
            .await
            .unwrap(),
        None
    );
    assert_eq!(server.state.store.list_users().await.unwrap().len(), 2);
}

on_both_backends!(
    oidc_sign_in_provisions_then_matches_on_subject,
    email_from_userinfo,
    misbehaving_provider_is_rejected,
    idp_down_ends_on_a_page,
    domain_not_allowed_and_no_takeover,
    mfa_still_applies_after_the_idp,
    cli_device_and_pkce_flows_through_the_idp,
    ward_as_upstream_idp,
    github_sign_in_against_a_stand_in,
    no_idp_sign_in_at_the_guests_domain,
);
