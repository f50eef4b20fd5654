//! The sweeper and short-lived rows (docs/operations.md, "What the sweeper deletes"): each kind
//! is created through the HTTP API, survives sweeps while it can be used and through the grace
//! hour after its expiry (late callers get the precise error), and is gone, counted by SQL
//! on the database itself, at the first sweep after that. A guest with MFA rows is deleted
//! whole instead of failing the sweep on a foreign key.

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Connection;
use ward_server::config::RawIdp;
use ward_server::sweeper::{sweep, GRACE_SECS};

use crate::harness::*;
use crate::mfa::{enrol, python_totp};
use crate::on_both_backends;

/// The rows of `table`, counted with SQL on the server's database (not through ward's store).
async fn count(server: &TestServer, table: &str) -> i64 {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&server.state.config.database_url)
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    n
}

/// A server whose background sweeper runs only once, at start-up: the tests sweep by hand.
async fn server_with(
    b: Backend,
    customize: impl FnOnce(&mut ward_server::config::RawConfig),
) -> TestServer {
    TestServer::start_with(b, |c| {
        c.sessions.sweep_interval = "1000d".into();
        customize(c);
    })
    .await
}

async fn start_device(server: &TestServer) -> Value {
    let r = server
        .api()
        .post(server.url("/oauth/device/code"))
        .form(&[("client_id", "ward-cli")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn poll_device(server: &TestServer, start: &Value) -> (StatusCode, String) {
    error_code(
        server
            .api()
            .post(server.url("/oauth/token"))
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", start["device_code"].as_str().unwrap()),
                ("client_id", "ward-cli"),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn post(
    server: &TestServer,
    bearer: Option<&str>,
    path: &str,
    body: Value,
) -> reqwest::Response {
    let mut req = server.api().post(server.url(path)).json(&body);
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    req.send().await.unwrap()
}

async fn expired_codes_and_device_grants_are_swept(b: Backend) {
    let server = server_with(b, |_| {}).await;
    // A redeemed authorization code (a whole CLI sign-in), one never redeemed, and a device
    // grant polled once.
    let (verifier, challenge) = pkce_pair();
    let redeemed = server
        .cli_code(&server.browser(), &challenge, LOOPBACK)
        .await;
    let r = exchange_cli_code(&server, &redeemed, &verifier).await;
    assert_eq!(r.status(), StatusCode::OK);
    let tokens: Value = r.json().await.unwrap();
    let (_, challenge) = pkce_pair();
    server
        .cli_code(&server.browser(), &challenge, LOOPBACK)
        .await;
    let device = start_device(&server).await;
    assert_eq!(
        poll_device(&server, &device).await.1,
        "authorization_pending"
    );
    assert_eq!(count(&server, "auth_codes").await, 2);
    assert_eq!(count(&server, "device_grants").await, 1);

    // Nothing has expired: a sweep deletes none of it.
    let report = sweep(&server.state).await.unwrap();
    assert_eq!((report.auth_codes, report.device_grants), (0, 0));

    // Past their lifetimes (60 s, 10 min) but within the grace hour: kept, so a late poll gets
    // `expired_token` and a replayed code is still recognized and revokes its session.
    server.clock.advance(600);
    let report = sweep(&server.state).await.unwrap();
    assert_eq!((report.auth_codes, report.device_grants), (0, 0));
    assert_eq!(count(&server, "auth_codes").await, 2);
    assert_eq!(
        poll_device(&server, &device).await,
        (StatusCode::BAD_REQUEST, "expired_token".into())
    );
    let r = exchange_cli_code(&server, &redeemed, &verifier).await;
    assert_eq!(error_code(r).await.1, "invalid_grant");
    let r = refresh_grant(&server, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        error_code(r).await.1,
        "invalid_grant",
        "the replay revoked the code's session"
    );

    // An hour after they expired, the next sweep deletes them all.
    server.clock.advance(GRACE_SECS);
    let report = sweep(&server.state).await.unwrap();
    assert_eq!((report.auth_codes, report.device_grants), (2, 1));
    assert_eq!(count(&server, "auth_codes").await, 0);
    assert_eq!(count(&server, "device_grants").await, 0);
    assert_eq!(
        poll_device(&server, &device).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );

    // Fresh ones survive a sweep and still work after it.
    let (verifier, challenge) = pkce_pair();
    let code = server
        .cli_code(&server.browser(), &challenge, LOOPBACK)
        .await;
    let device = start_device(&server).await;
    crate::standard_clients::approve_device(
        &server,
        device["verification_uri_complete"].as_str().unwrap(),
    )
    .await;
    server.clock.advance(59);
    let report = sweep(&server.state).await.unwrap();
    assert_eq!((report.auth_codes, report.device_grants), (0, 0));
    assert_eq!(count(&server, "auth_codes").await, 1);
    assert_eq!(count(&server, "device_grants").await, 1);
    let r = exchange_cli_code(&server, &code, &verifier).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(poll_device(&server, &device).await.0, StatusCode::OK);
}

async fn expired_mfa_rows_are_swept(b: Backend) {
    // WebAuthn needs a host name for its RP ID, not an IP address.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = server_with(b, |c| {
        c.listen = format!("127.0.0.1:{port}");
        c.public_url = Some(format!("http://localhost:{port}"));
    })
    .await;
    assert!(server.state.webauthn.is_some());
    let tokens = cli_tokens(&server).await;
    let admin = tokens["access_token"].as_str().unwrap().to_string();
    let (secret, _) = enrol(&server, &admin).await;
    let code = |s: &TestServer| json!({"code": python_totp(&secret, s.clock_now())});

    // A password sign-in waiting for its second factor: an MFA challenge.
    let r = server.browser().sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(location_of(&r), "/login/mfa");
    // A lock ticket (60 s).
    let r = post(
        &server,
        Some(&admin),
        "/api/security/terminal/t1/mfa-lock",
        code(&server),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    server.clock.advance(30);
    let r = post(
        &server,
        Some(&admin),
        "/api/security/terminal/t1/verify",
        code(&server),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    server.clock.advance(30);
    // Two WebAuthn ceremonies (5 min): a key registration, and a passwordless sign-in, which
    // anyone can start.
    let r = post(
        &server,
        Some(&admin),
        "/api/mfa/webauthn/register/start",
        json!({}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = post(
        &server,
        None,
        "/api/mfa/webauthn/authenticate/start",
        json!({"mode": "signin"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let tables = ["mfa_challenges", "lock_tickets", "webauthn_ceremonies"];
    for (table, n) in tables.iter().zip([1, 1, 2]) {
        assert_eq!(count(&server, table).await, n, "{table}");
    }

    let kept = |r: ward_server::sweeper::SweepReport| {
        assert_eq!(
            (r.mfa_challenges, r.lock_tickets, r.webauthn_ceremonies),
            (0, 0, 0)
        );
    };
    kept(sweep(&server.state).await.unwrap());
    // All expired, within the grace hour: kept.
    server.clock.advance(300);
    kept(sweep(&server.state).await.unwrap());
    for (table, n) in tables.iter().zip([1, 1, 2]) {
        assert_eq!(count(&server, table).await, n, "{table}");
    }
    // An hour later: gone.
    server.clock.advance(GRACE_SECS);
    let r = sweep(&server.state).await.unwrap();
    assert_eq!(
        (r.mfa_challenges, r.lock_tickets, r.webauthn_ceremonies),
        (1, 1, 2)
    );
    for table in tables {
        assert_eq!(count(&server, table).await, 0, "{table}");
    }

    // A fresh ticket survives a sweep and still opens the locked resource once.
    let r = refresh_grant(&server, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let admin = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = post(
        &server,
        Some(&admin),
        "/api/security/terminal/t1/verify",
        code(&server),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let ticket = r.json::<Value>().await.unwrap()["ticket"]
        .as_str()
        .unwrap()
        .to_string();
    server.clock.advance(59);
    kept(sweep(&server.state).await.unwrap());
    assert_eq!(count(&server, "lock_tickets").await, 1);
    let r = server
        .api()
        .get(server.url("/api/auth/validate"))
        .bearer_auth(&admin)
        .query(&[("lock_kind", "terminal"), ("resource", "t1")])
        .header("x-ward-ticket", ticket)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

async fn expired_idp_sign_ins_are_swept(b: Backend) {
    // Nothing listens upstream: starting a sign-in only redirects there.
    let upstream = "http://127.0.0.1:9";
    let server = server_with(b, |c| {
        c.idp.push(RawIdp {
            name: "github".into(),
            kind: "github".into(),
            client_id: "gh-client".into(),
            client_secret: Some("gh-secret".into()),
            domains: vec!["gh.example".into()],
            authorize_url: Some(format!("{upstream}/login/oauth/authorize")),
            token_url: Some(format!("{upstream}/login/oauth/access_token")),
            api_url: Some(upstream.into()),
            ..RawIdp::default()
        });
    })
    .await;
    let browser = server.browser();
    let start = || async {
        let (_, page, _) = browser.get("/login").await;
        let r = browser
            .submit_form(&page, &[("email", "octocat@gh.example")])
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "routed to the IdP");
        let to = reqwest::Url::parse(&location_of(&r)).unwrap();
        assert!(to.as_str().starts_with(upstream), "{to}");
        let state: String = to
            .query_pairs()
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned())
            .unwrap();
        state
    };
    let callback = |state: String| {
        let url = server.url(&format!("/idp/github/callback?code=c0de&state={state}"));
        let http = browser.http.clone();
        async move {
            let r = http.get(url).send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let late = start().await;
    let later = start().await;
    assert_eq!(count(&server, "idp_pending").await, 2);
    assert_eq!(sweep(&server.state).await.unwrap().idp_pending, 0);

    // Expired (10 min) but within the grace hour: kept, and the user is told it expired.
    server.clock.advance(600);
    assert_eq!(sweep(&server.state).await.unwrap().idp_pending, 0);
    assert_eq!(count(&server, "idp_pending").await, 2);
    let (status, page) = callback(late).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("Sign-in expired"), "{page}");

    // An hour later both rows are gone; the state is now simply unknown.
    server.clock.advance(GRACE_SECS);
    assert_eq!(sweep(&server.state).await.unwrap().idp_pending, 2);
    assert_eq!(count(&server, "idp_pending").await, 0);
    let (status, page) = callback(later).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("state mismatch"), "{page}");

    // A fresh one survives a sweep.
    start().await;
    assert_eq!(sweep(&server.state).await.unwrap().idp_pending, 0);
    assert_eq!(count(&server, "idp_pending").await, 1);
}

async fn guest_with_mfa_rows_is_swept_whole(b: Backend) {
    // The guest role is also one that policy requires MFA of.
    let server = server_with(b, |c| c.mfa.required_roles = vec!["guest".into()]).await;
    let admin = cli_tokens(&server).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = post(&server, None, "/api/auth/guest", json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let guest = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let guest_id = server
        .state
        .store
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .find(|u| u.role == "guest")
        .unwrap()
        .id;
    let set_role = |role: &'static str| {
        let r = server
            .api()
            .patch(server.url(&format!("/api/admin/users/{guest_id}")))
            .bearer_auth(&admin)
            .json(&json!({ "role": role }))
            .send();
        async move { assert_eq!(r.await.unwrap().status(), StatusCode::OK) }
    };
    // Promoted for a while, the guest enrols TOTP (backup codes too); then it is a guest again.
    set_role("user").await;
    enrol(&server, &guest).await;
    set_role("guest").await;
    assert_eq!(count(&server, "mfa_totp").await, 1);
    assert!(count(&server, "mfa_backup_codes").await > 0);

    // At 50 h its session ends: the sweep deletes the guest with its MFA rows (a foreign key
    // would otherwise fail this sweep and every later one).
    server.clock.advance(50 * 3600);
    let report = sweep(&server.state).await.unwrap();
    assert_eq!(report.guests, 1);
    assert!(server
        .state
        .store
        .user_by_id(&guest_id)
        .await
        .unwrap()
        .is_none());
    assert_eq!(count(&server, "mfa_totp").await, 0);
    assert_eq!(count(&server, "mfa_backup_codes").await, 0);
    assert_eq!(count(&server, "users").await, 1, "the admin stays");
    // And the next sweep runs clean.
    assert_eq!(sweep(&server.state).await.unwrap().guests, 0);
}

on_both_backends!(
    expired_codes_and_device_grants_are_swept,
    expired_mfa_rows_are_swept,
    expired_idp_sign_ins_are_swept,
    guest_with_mfa_rows_is_swept_whole,
);
