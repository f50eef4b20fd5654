//! Passkeys for locks (SPEC §2.17): lock, unlock and verify with only a passkey, the approve page
//! approved with a passkey, and assertions that must be refused (another user's, one made for
//! another resource or another ceremony, a replayed one), with the guessing budget (§2.13)
//! counting them. Real headless Chromium with a virtual authenticator, on http://localhost:PORT
//! (an IP address cannot be a WebAuthn RP ID).

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::accounts::{access, cli_tokens_of, create_user, USER_PASSWORD};
use crate::harness::*;
use crate::mfa::post;
use crate::on_both_backends;
use crate::webdriver::{find_browser, Driver};

/// Starts `start` (a path) with `bearer`, asks the virtual authenticator, and returns
/// `{ceremony, webauthn}` without sending it anywhere: the test decides where it goes.
const ASSERT_WITH: &str = r#"
const bearer = arguments[0], start = arguments[1], done = arguments[arguments.length - 1];
const enc = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const dec = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4)), (c) => c.charCodeAt(0));
(async () => {
  const r = await fetch(start, {method: "POST", headers: {"authorization": "Bearer " + bearer}});
  const s = await r.json();
  if (!r.ok) return done({stage: "start", status: r.status, body: s});
  const pk = s.options.publicKey;
  pk.challenge = dec(pk.challenge);
  (pk.allowCredentials || []).forEach((c) => (c.id = dec(c.id)));
  const a = await navigator.credentials.get({publicKey: pk});
  done({ceremony: s.ceremony, webauthn: {id: a.id, rawId: enc(a.rawId), type: a.type, extensions: {}, response: {
    authenticatorData: enc(a.response.authenticatorData), clientDataJSON: enc(a.response.clientDataJSON),
    signature: enc(a.response.signature), userHandle: a.response.userHandle ? enc(a.response.userHandle) : null}}});
})().catch((e) => done({stage: "error", message: String(e)}));
"#;

struct Setup {
    server: TestServer,
    browser: Driver,
    port: u16,
}

impl Setup {
    fn url(&self, p: &str) -> String {
        format!("http://localhost:{}{p}", self.port)
    }

    /// Signs the browser in with a password (answering the passkey prompt when there is one)
    /// and registers a passkey for that account.
    async fn register_passkey(&self, email: &str, password: &str) {
        self.browser.delete_cookies().await;
        self.browser.goto(&self.url("/login")).await;
        self.browser.type_into("#email", email).await;
        self.browser.click("button[type=submit]").await;
        self.browser.type_into("#password", password).await;
        self.browser.click("button[type=submit]").await;
        self.browser.wait_source("Your account").await;
        self.browser.goto(&self.url("/account/mfa")).await;
        self.browser
            .replace_text("#key-name", "Laptop passkey")
            .await;
        self.browser.click("button[data-webauthn=register]").await;
        self.browser.wait_source("Laptop passkey").await;
    }

    /// A passkey assertion for a check started at `start` with `bearer`.
    async fn assertion(&self, bearer: &str, start: &str) -> Value {
        let v = self
            .browser
            .execute_async(ASSERT_WITH, vec![json!(bearer), json!(start)])
            .await;
        assert!(v["ceremony"].is_string(), "{v}");
        v
    }
}

/// A server on localhost with WebAuthn on, and Chromium with a virtual authenticator; `None`
/// (the test failing unless skips are allowed) without Chromium.
async fn setup(b: Backend, test: &str) -> Option<Setup> {
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
            test,
            "Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)",
        );
        return None;
    };
    let browser = Driver::start(&chromium, &chromedriver).await;
    browser.add_virtual_authenticator().await;
    Some(Setup {
        server,
        browser,
        port,
    })
}

async fn validate(server: &TestServer, bearer: &str, target: &str, ticket: Option<&str>) -> u16 {
    let (kind, id) = target.split_once('/').unwrap();
    let mut req = server
        .api()
        .get(server.url("/api/auth/validate"))
        .bearer_auth(bearer)
        .query(&[("lock_kind", kind), ("resource", id)]);
    if let Some(t) = ticket {
        req = req.header("x-ward-ticket", t);
    }
    req.send().await.unwrap().status().as_u16()
}

async fn passkey_only_locks_and_verifies(b: Backend) {
    let Some(s) = setup(b, "passkey_only_locks_and_verifies").await else {
        return;
    };
    let server = &s.server;
    let cli = access(&cli_tokens(server).await);
    s.register_passkey(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let user = server
        .state
        .store
        .user_by_email(ADMIN_EMAIL)
        .await
        .unwrap()
        .unwrap();
    assert!(
        server
            .state
            .store
            .totp_enrolment(&user.id)
            .await
            .unwrap()
            .is_none(),
        "no authenticator app: the passkey is the only second factor"
    );
    let start = "/api/security/terminal/t1/verify/start";

    // Lock with the passkey.
    let a = s.assertion(&cli, start).await;
    let r = post(server, &cli, "/api/security/terminal/t1/mfa-lock", a).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    assert_eq!(validate(server, &cli, "terminal/t1", None).await, 403);

    // A ticket with the passkey; it opens one connection.
    let a = s.assertion(&cli, start).await;
    let r = post(server, &cli, "/api/security/terminal/t1/verify", a).await;
    assert_eq!(r.status(), StatusCode::OK);
    let ticket: Value = r.json().await.unwrap();
    let t = ticket["ticket"].as_str().unwrap();
    assert_eq!(validate(server, &cli, "terminal/t1", Some(t)).await, 200);
    assert_eq!(validate(server, &cli, "terminal/t1", Some(t)).await, 403);

    // Unlock with the passkey.
    let a = s.assertion(&cli, start).await;
    let r = post(server, &cli, "/api/security/terminal/t1/mfa-unlock", a).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    assert_eq!(validate(server, &cli, "terminal/t1", None).await, 200);

    // Each check is audited with its method.
    let events = crate::accounts::audit_events(server, &cli, "mfa.verify").await;
    let by_passkey = events
        .iter()
        .filter(|e| e["detail"]["method"] == "webauthn" && e["outcome"] == "ok")
        .count();
    assert_eq!(by_passkey, 3, "{events:?}");

    // Bad bodies name what is missing.
    for (body, says) in [
        (json!({}), "a second factor is required"),
        (json!({"ceremony": "x"}), "ceremony needs webauthn"),
        (json!({"code": "123456", "ceremony": "x"}), "not both"),
    ] {
        let r = post(server, &cli, "/api/security/terminal/t1/verify", body).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let text = r.text().await.unwrap();
        assert!(text.contains(says), "{text}");
    }
    s.browser.quit().await;
}

async fn approve_page_with_a_passkey(b: Backend) {
    let Some(s) = setup(b, "approve_page_with_a_passkey").await else {
        return;
    };
    let server = &s.server;
    let requester = access(&cli_tokens(server).await);
    s.register_passkey(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let a = s
        .assertion(&requester, "/api/security/terminal/t1/verify/start")
        .await;
    let r = post(server, &requester, "/api/security/terminal/t1/mfa-lock", a).await;
    assert_eq!(r.status(), StatusCode::OK);

    let r = post(
        server,
        &requester,
        "/api/security/terminal/t1/verify/request",
        json!({}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let started: Value = r.json().await.unwrap();
    let id = started["request_id"].as_str().unwrap().to_string();
    let path = reqwest::Url::parse(started["approve_url"].as_str().unwrap())
        .unwrap()
        .path()
        .to_string();

    // The browser is signed in as the owner: the page offers the passkey (no code field: no
    // authenticator app), and approving with it gives the requester its ticket.
    s.browser.goto(&s.url(&path)).await;
    s.browser.wait_source("Use a passkey").await;
    assert!(!s.browser.exists("#code").await);
    s.browser
        .screenshot(&format!("approve-passkey-{b:?}"))
        .await;
    s.browser.click("button[data-webauthn=approve]").await;
    s.browser.wait_source("Approved").await;
    server.clock.advance(6);
    let r = post(
        server,
        &requester,
        "/api/security/verify/poll",
        json!({"request_id": id}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let t: Value = r.json().await.unwrap();
    let ticket = t["ticket"].as_str().unwrap();
    assert_eq!(
        validate(server, &requester, "terminal/t1", Some(ticket)).await,
        200
    );

    // An approval's passkey check is for that request only: it cannot verify the resource.
    let r = post(
        server,
        &requester,
        "/api/security/terminal/t1/verify/request",
        json!({}),
    )
    .await;
    let second: Value = r.json().await.unwrap();
    let second_path = reqwest::Url::parse(second["approve_url"].as_str().unwrap())
        .unwrap()
        .path()
        .to_string();
    s.browser.goto(&s.url(&second_path)).await;
    s.browser.wait_source("Use a passkey").await;
    let outcome = s
        .browser
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
            const f = document.getElementById("approve-passkey");
            fetch(location.pathname + "/passkey", {method: "POST", headers: {"content-type": "application/x-www-form-urlencoded"},
              body: new URLSearchParams({csrf_token: f.elements.csrf_token.value})}).then((r) => r.json()).then(done);"#,
            vec![],
        )
        .await;
    assert!(outcome["ceremony"].is_string(), "{outcome}");
    let a = approval_assertion(&s, &outcome).await;
    let r = post(server, &requester, "/api/security/terminal/t1/verify", a).await;
    let (status, text) = (r.status(), r.text().await.unwrap());
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("started for approve"), "{text}");
    s.browser.quit().await;
}

/// Answers a started ceremony (`{ceremony, options}`) with the virtual authenticator.
async fn approval_assertion(s: &Setup, started: &Value) -> Value {
    let v = s
        .browser
        .execute_async(
            r#"const s = arguments[0], done = arguments[arguments.length - 1];
            const enc = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
            const dec = (x) => Uint8Array.from(atob(x.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((x.length + 3) % 4)), (c) => c.charCodeAt(0));
            const pk = s.options.publicKey;
            pk.challenge = dec(pk.challenge);
            (pk.allowCredentials || []).forEach((c) => (c.id = dec(c.id)));
            navigator.credentials.get({publicKey: pk}).then((a) => done({ceremony: s.ceremony, webauthn: {id: a.id, rawId: enc(a.rawId), type: a.type, extensions: {}, response: {
              authenticatorData: enc(a.response.authenticatorData), clientDataJSON: enc(a.response.clientDataJSON),
              signature: enc(a.response.signature), userHandle: a.response.userHandle ? enc(a.response.userHandle) : null}}}),
              (e) => done({error: String(e)}));"#,
            vec![started.clone()],
        )
        .await;
    assert!(v["webauthn"].is_object(), "{v}");
    v
}

async fn foreign_and_replayed_assertions_refused(b: Backend) {
    let Some(s) = setup(b, "foreign_and_replayed_assertions_refused").await else {
        return;
    };
    let server = &s.server;
    let admin = access(&cli_tokens(server).await);
    create_user(server, &admin, "mallory@test.example", "user").await;
    let mallory = access(&cli_tokens_of(server, "mallory@test.example", USER_PASSWORD).await);
    s.register_passkey(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    s.register_passkey("mallory@test.example", USER_PASSWORD)
        .await;
    let start = "/api/security/terminal/t1/verify/start";
    let verify = "/api/security/terminal/t1/verify";
    let refused = |r: reqwest::Response, why: &'static str| async move {
        let status = r.status();
        let text = r.text().await.unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: {text}");
        text
    };

    // Another user's assertion, for their own ceremony or slipped into the admin's.
    let theirs = s.assertion(&mallory, start).await;
    let ours = s.assertion(&admin, start).await;
    let text = refused(
        post(server, &admin, verify, theirs.clone()).await,
        "another user's ceremony",
    )
    .await;
    assert!(text.contains("belongs to someone else"), "{text}");
    let mixed = json!({"ceremony": ours["ceremony"], "webauthn": theirs["webauthn"]});
    let text = refused(
        post(server, &admin, verify, mixed).await,
        "another user's key",
    )
    .await;
    assert!(text.contains("webauthn_failed"), "{text}");

    // Replays: the same assertion again, and an old assertion for a new ceremony.
    let ours = s.assertion(&admin, start).await;
    let r = post(server, &admin, verify, ours.clone()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let text = refused(post(server, &admin, verify, ours.clone()).await, "replayed").await;
    assert!(text.contains("start again"), "{text}");
    let fresh: Value = post(server, &admin, start, json!({}))
        .await
        .json()
        .await
        .unwrap();
    let replayed = json!({"ceremony": fresh["ceremony"], "webauthn": ours["webauthn"]});
    let text = refused(
        post(server, &admin, verify, replayed).await,
        "replayed into a new ceremony",
    )
    .await;
    assert!(text.contains("webauthn_failed"), "{text}");

    // A check started for one resource does not open another.
    let for_t1 = s.assertion(&admin, start).await;
    let text = refused(
        post(server, &admin, "/api/security/terminal/t2/verify", for_t1).await,
        "another resource",
    )
    .await;
    assert!(text.contains("started for resource terminal/t1"), "{text}");

    // Five refused assertions spent the admin's five guesses (§2.13): now even a right one is
    // refused until the window ends.
    let good = s.assertion(&admin, start).await;
    let r = post(server, &admin, verify, good).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    // Mallory's budget is her own.
    let hers = s.assertion(&mallory, start).await;
    let r = post(server, &mallory, verify, hers).await;
    assert_eq!(r.status(), StatusCode::OK);
    s.browser.quit().await;
}

on_both_backends!(
    passkey_only_locks_and_verifies,
    approve_page_with_a_passkey,
    foreign_and_replayed_assertions_refused
);
