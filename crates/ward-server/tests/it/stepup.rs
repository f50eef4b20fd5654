//! Step-up from anywhere (SPEC §2.17): grace windows per lock kind at their boundaries on the
//! manual clock, and approval from another device (request, approve page, poll with
//! `slow_down`, one approval raced by 10 pollers gives exactly one ticket, and the refusals).

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::accounts::{create_user, USER_PASSWORD};
use crate::harness::*;
use crate::mfa::{enrol, post, python_totp, sign_in_with_totp};
use crate::on_both_backends;

/// Asks forward-auth to open `kind/resource` with `bearer` and extra headers.
async fn admit(
    server: &TestServer,
    bearer: &str,
    kind: &str,
    resource: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = server
        .api()
        .get(server.url("/api/auth/validate"))
        .bearer_auth(bearer)
        .query(&[("lock_kind", kind), ("resource", resource)]);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

fn token(v: &Value) -> String {
    v["access_token"].as_str().unwrap().to_string()
}

async fn grace_windows_per_kind(b: Backend) {
    let server = TestServer::start_with(b, |raw| {
        raw.mfa.lock_grace.insert("terminal".into(), "10m".into());
        raw.mfa.lock_grace.insert("container".into(), "0s".into());
    })
    .await;
    let admin = token(&cli_tokens(&server).await);
    let other = token(&cli_tokens(&server).await);
    let (secret, _) = enrol(&server, &admin).await;
    let code = |s: &TestServer| python_totp(&secret, s.clock_now());
    for target in ["terminal/t1", "terminal/t2", "container/c1"] {
        let r = post(
            &server,
            &admin,
            &format!("/api/security/{target}/mfa-lock"),
            json!({"code": code(&server)}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK, "{target}");
        server.clock.advance(30);
    }
    // Locking is not a verification: no grace yet.
    assert_eq!(
        error_code(admit(&server, &admin, "terminal", "t1", &[]).await).await,
        (StatusCode::FORBIDDEN, "mfa_required".into())
    );
    let ticket: Value = post(
        &server,
        &admin,
        "/api/security/terminal/t1/verify",
        json!({"code": code(&server)}),
    )
    .await
    .json()
    .await
    .unwrap();
    let verified_at = server.clock_now();
    let t = ticket["ticket"].as_str().unwrap();
    assert_eq!(
        admit(&server, &admin, "terminal", "t1", &[("x-ward-ticket", t)])
            .await
            .status(),
        StatusCode::OK
    );
    // Inside the window the same session needs no new proof, however many connections.
    for _ in 0..3 {
        assert_eq!(
            admit(&server, &admin, "terminal", "t1", &[]).await.status(),
            StatusCode::OK
        );
    }
    // Only that session, only that resource.
    assert_eq!(
        admit(&server, &other, "terminal", "t1", &[]).await.status(),
        StatusCode::FORBIDDEN,
        "another session of the same user"
    );
    assert_eq!(
        admit(&server, &admin, "terminal", "t2", &[]).await.status(),
        StatusCode::FORBIDDEN,
        "another resource of the kind"
    );
    // Boundaries: 599 s after the verification still in, 600 s out.
    server.clock.advance(verified_at + 599 - server.clock_now());
    assert_eq!(
        admit(&server, &admin, "terminal", "t1", &[]).await.status(),
        StatusCode::OK,
        "one second before the end of the window"
    );
    server.clock.advance(1);
    let (status, error) = error_code(admit(&server, &admin, "terminal", "t1", &[]).await).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::FORBIDDEN, "mfa_required"),
        "at the end of the window"
    );
    // A kind with `0s` (and a kind not listed) has no window: one proof, one connection.
    server.clock.advance(30);
    let r = admit(
        &server,
        &admin,
        "container",
        "c1",
        &[("x-ward-mfa-code", &code(&server))],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        admit(&server, &admin, "container", "c1", &[])
            .await
            .status(),
        StatusCode::FORBIDDEN,
        "no grace for container"
    );
    // A code on the connection starts a window too.
    server.clock.advance(30);
    let r = admit(
        &server,
        &admin,
        "terminal",
        "t2",
        &[("x-ward-mfa-code", &code(&server))],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        admit(&server, &admin, "terminal", "t2", &[]).await.status(),
        StatusCode::OK,
        "grace after a code on the connection"
    );
    // Unlocking ends every window on the resource: a new lock starts from nothing.
    server.clock.advance(30);
    let r = post(
        &server,
        &admin,
        "/api/security/terminal/t2/mfa-unlock",
        json!({"code": code(&server)}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    server.clock.advance(30);
    post(
        &server,
        &admin,
        "/api/security/terminal/t2/mfa-lock",
        json!({"code": code(&server)}),
    )
    .await;
    assert_eq!(
        admit(&server, &admin, "terminal", "t2", &[]).await.status(),
        StatusCode::FORBIDDEN,
        "relocked: no window left over"
    );
}

/// A grace for a kind that is not lockable, or a malformed one, stops start-up naming the key.
#[test]
fn grace_configuration_is_checked() {
    let mut raw = ward_server::config::RawConfig::default();
    raw.mfa.lock_grace.insert("boat".into(), "10m".into());
    let e = raw.validate().unwrap_err().to_string();
    assert!(e.contains("mfa.lock_grace.boat"), "{e}");
    let mut raw = ward_server::config::RawConfig::default();
    raw.mfa.lock_grace.insert("terminal".into(), "ten".into());
    let e = raw.validate().unwrap_err().to_string();
    assert!(
        e.contains("mfa.lock_grace.terminal") && e.contains("duration"),
        "{e}"
    );
}

async fn request(server: &TestServer, bearer: &str, target: &str) -> Value {
    let r = post(
        server,
        bearer,
        &format!("/api/security/{target}/verify/request"),
        json!({}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn poll(server: &TestServer, bearer: &str, id: &str) -> reqwest::Response {
    post(
        server,
        bearer,
        "/api/security/verify/poll",
        json!({"request_id": id}),
    )
    .await
}

fn approve_path(v: &Value) -> String {
    let url = v["approve_url"].as_str().unwrap();
    reqwest::Url::parse(url).unwrap().path().to_string()
}

async fn approval_from_another_device(b: Backend) {
    let server = TestServer::start(b).await;
    let requester = token(&cli_tokens(&server).await);
    let other_session = token(&cli_tokens(&server).await);
    let (secret, _) = enrol(&server, &requester).await;
    let code = |s: &TestServer| python_totp(&secret, s.clock_now());
    let r = post(
        &server,
        &requester,
        "/api/security/terminal/t1/mfa-lock",
        json!({"code": code(&server)}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    server.clock.advance(30);

    let started = request(&server, &requester, "terminal/t1").await;
    let id = started["request_id"].as_str().unwrap().to_string();
    assert_eq!(started["expires_in"], 300);
    assert_eq!(started["interval"], 5);
    assert!(
        started["approve_url"]
            .as_str()
            .unwrap()
            .starts_with(&server.url("/approve/")),
        "{started}"
    );
    // Waiting: pending, too fast → slow_down, after the grown interval pending again.
    assert_eq!(
        error_code(poll(&server, &requester, &id).await).await.1,
        "authorization_pending"
    );
    assert_eq!(
        error_code(poll(&server, &requester, &id).await).await.1,
        "slow_down"
    );
    server.clock.advance(10);
    assert_eq!(
        error_code(poll(&server, &requester, &id).await).await.1,
        "authorization_pending"
    );
    // Only the credential that asked may poll; unknown ids are named as such.
    let (status, _) = error_code(poll(&server, &other_session, &id).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "another session polls");
    let r = poll(&server, &requester, "vr_nosuchrequest").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.text().await.unwrap().contains("unknown approval request"));

    // The approver: a browser signed in as the same user, with its second factor.
    let browser = server.browser();
    let path = approve_path(&started);
    let landed = sign_in_with_totp(&server, &browser, &path, &secret).await;
    assert_eq!(landed, path, "sign-in comes back to the approve page");
    let (status, page, _) = browser.get(&path).await;
    assert_eq!(status, StatusCode::OK);
    for shown in ["terminal/t1", "127.0.0.1", "Requesting device", "Requested"] {
        assert!(page.contains(shown), "approve page shows {shown}: {page}");
    }
    // A wrong code is refused on the page and approves nothing.
    let r = browser
        .submit_form(&page, &[("code", "000000"), ("decision", "allow")])
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let page = r.text().await.unwrap();
    assert!(page.contains("role=\"alert\""), "{page}");
    server.clock.advance(10);
    assert_eq!(
        error_code(poll(&server, &requester, &id).await).await.1,
        "authorization_pending"
    );
    let r = browser
        .submit_form(&page, &[("code", &code(&server)), ("decision", "allow")])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("Approved"));
    server.clock.advance(1);

    // One approval, ten pollers at once: exactly one ticket.
    let answers = join_all((0..10).map(|_| poll(&server, &requester, &id))).await;
    let mut tickets = Vec::new();
    for r in answers {
        if r.status() == StatusCode::OK {
            tickets.push(
                r.json::<Value>().await.unwrap()["ticket"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        } else {
            let (status, error) = error_code(r).await;
            assert_eq!(
                (status, error.as_str()),
                (StatusCode::BAD_REQUEST, "invalid_grant")
            );
        }
    }
    assert_eq!(tickets.len(), 1, "one approval gives one ticket");
    let ticket = &tickets[0];
    // The ticket opens one connection; reused, it is refused.
    assert_eq!(
        admit(
            &server,
            &requester,
            "terminal",
            "t1",
            &[("x-ward-ticket", ticket)]
        )
        .await
        .status(),
        StatusCode::OK
    );
    let r = admit(
        &server,
        &requester,
        "terminal",
        "t1",
        &[("x-ward-ticket", ticket)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a reused ticket");
    assert!(r.text().await.unwrap().contains("was used already"));
    // Polling again after the hand-out says so.
    let r = poll(&server, &requester, &id).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("already issued"));
    // The page no longer offers to approve it.
    let (status, page, _) = browser.get(&path).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("already approved"), "{page}");

    // An expired ticket from an approval is refused.
    let started = request(&server, &requester, "terminal/t1").await;
    let id = started["request_id"].as_str().unwrap().to_string();
    let path = approve_path(&started);
    server.clock.advance(30);
    let (_, page, _) = browser.get(&path).await;
    let r = browser
        .submit_form(&page, &[("code", &code(&server)), ("decision", "allow")])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = poll(&server, &requester, &id).await.json().await.unwrap();
    server.clock.advance(61);
    let r = admit(
        &server,
        &requester,
        "terminal",
        "t1",
        &[("x-ward-ticket", v["ticket"].as_str().unwrap())],
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "an expired ticket");

    // Denied on the page: the poller hears access_denied.
    let started = request(&server, &requester, "terminal/t1").await;
    let id = started["request_id"].as_str().unwrap().to_string();
    let path = approve_path(&started);
    let (_, page, _) = browser.get(&path).await;
    let r = browser
        .http
        .post(server.url(&path))
        .form(&[
            ("csrf_token", input_value(&page, "csrf_token").unwrap()),
            ("decision", "deny".to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("Denied"));
    assert_eq!(
        error_code(poll(&server, &requester, &id).await).await.1,
        "access_denied"
    );

    // An expired request: the poller hears expired_token, the page says expired.
    let started = request(&server, &requester, "terminal/t1").await;
    let id = started["request_id"].as_str().unwrap().to_string();
    server.clock.advance(300);
    assert_eq!(
        error_code(poll(&server, &requester, &id).await).await.1,
        "expired_token"
    );
    let (status, page, _) = browser.get(&approve_path(&started)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("expired"), "{page}");

    // Another account cannot approve it.
    let started = request(&server, &requester, "terminal/t1").await;
    let id = started["request_id"].as_str().unwrap().to_string();
    create_user(&server, &requester, "mallory@test.example", "user").await;
    let mallory = server.browser();
    let r = mallory.sign_in("mallory@test.example", USER_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, page, _) = mallory.get(&approve_path(&started)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("another account"), "{page}");
    // … nor by posting the form of her own (CSRF-valid) page.
    let (_, own, _) = mallory.get("/account").await;
    {
        let csrf = input_value(&own, "csrf_token").expect("a CSRF token on /account");
        let r = mallory
            .http
            .post(server.url(&approve_path(&started)))
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("decision", "allow"),
                ("code", "123456"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    server.clock.advance(10);
    assert_eq!(
        error_code(poll(&server, &requester, &id).await).await.1,
        "authorization_pending"
    );
    // A user without a second factor cannot start one (nobody could approve it).
    let mallory_cli =
        crate::accounts::cli_tokens_of(&server, "mallory@test.example", USER_PASSWORD).await;
    let r = post(
        &server,
        &token(&mallory_cli),
        "/api/security/terminal/t1/verify/request",
        json!({}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("not enabled"));
}

on_both_backends!(grace_windows_per_kind, approval_from_another_device);
