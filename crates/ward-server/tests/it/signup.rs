//! Self-service sign-up (SPEC §2.5) through the real pages: off by default, on with
//! `signup = true`; bad input re-shows the form with a clear message and creates nothing;
//! rate-limited per IP; MFA policy applies before any session.

use reqwest::StatusCode;
use serde_json::Value;
use ward_server::config::RawIdp;

use crate::harness::*;
use crate::on_both_backends;

const NEW_EMAIL: &str = "new.user@example.org";
const NEW_PASSWORD: &str = "a long enough passphrase";

async fn user_count(server: &TestServer) -> usize {
    server.state.store.list_users().await.unwrap().len()
}

/// GETs `/signup` and submits it with `fields`.
pub async fn sign_up(browser: &Browser, fields: &[(&str, &str)]) -> reqwest::Response {
    let (status, page, _) = browser.get("/signup?return_to=/account").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("autocomplete=\"new-password\""), "{page}");
    browser.submit_form(&page, fields).await
}

async fn profile_of(server: &TestServer, browser: &Browser) -> Value {
    let r = browser
        .http
        .get(server.url("/api/profile"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn signup_is_off_by_default(b: Backend) {
    let server = TestServer::start(b).await;
    let browser = server.browser();
    let (status, page, _) = browser.get("/signup").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("sign-up is not enabled"), "{page}");
    let (_, login, _) = browser.get("/login").await;
    assert!(!login.contains("/signup"), "no link when off");
    let r = browser
        .http
        .post(server.url("/signup"))
        .form(&[("email", NEW_EMAIL), ("password", NEW_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(user_count(&server).await, 1, "only the bootstrap admin");
}

async fn signup_creates_and_signs_in(b: Backend) {
    let server = TestServer::start_with(b, |c| c.signup = true.into()).await;
    let browser = server.browser();
    let (_, login, _) = browser.get("/login?return_to=/account").await;
    assert!(
        login.contains("href=\"/signup?return_to=%2Faccount\""),
        "{login}"
    );
    let r = sign_up(
        &browser,
        &[
            ("email", " New.User@Example.org "),
            ("name", "New User"),
            ("password", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location_of(&r), "/account");
    let p = profile_of(&server, &browser).await;
    assert_eq!(p["email"], NEW_EMAIL);
    assert_eq!(p["name"], "New User");
    assert_eq!(p["roles"], serde_json::json!(["user"]), "{p}");
    // The password is stored hashed, and works for a later sign-in.
    let user = server
        .state
        .store
        .user_by_email(NEW_EMAIL)
        .await
        .unwrap()
        .unwrap();
    let hash = user.password_hash.unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let again = server.browser();
    let r = again.sign_in(NEW_EMAIL, NEW_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // Audited, with the new user as the actor.
    let admin = cli_tokens(&server).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let audit: Value = server
        .api()
        .get(server.url("/api/admin/audit"))
        .query(&[("type", "user.created")])
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let events = audit["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{audit}");
    assert_eq!(events[0]["actor"], user.id.as_str());
    assert_eq!(events[0]["detail"]["method"], "signup");
}

async fn signup_refusals_create_nothing(b: Backend) {
    let server = TestServer::start_with(b, |c| {
        c.signup = true.into();
        c.idp.push(RawIdp {
            name: "corp".into(),
            kind: "github".into(),
            client_id: "corp-client".into(),
            client_secret: Some("corp-secret".into()),
            domains: vec!["corp.example".into()],
            ..RawIdp::default()
        });
    })
    .await;
    let browser = server.browser();
    type Case<'a> = (&'a [(&'a str, &'a str)], StatusCode, &'a str);
    let cases: [Case; 5] = [
        (
            &[("email", "not-an-email"), ("password", NEW_PASSWORD)],
            StatusCode::BAD_REQUEST,
            "is not an email address",
        ),
        (
            &[("email", NEW_EMAIL), ("password", "short")],
            StatusCode::BAD_REQUEST,
            "password",
        ),
        (
            &[("email", ADMIN_EMAIL), ("password", NEW_PASSWORD)],
            StatusCode::CONFLICT,
            "The account could not be created.",
        ),
        (
            &[("email", "x@guest.invalid"), ("password", NEW_PASSWORD)],
            StatusCode::BAD_REQUEST,
            "reserved for guests",
        ),
        (
            &[("email", "alice@corp.example"), ("password", NEW_PASSWORD)],
            StatusCode::BAD_REQUEST,
            "sign in through corp",
        ),
    ];
    for (fields, status, message) in cases {
        let r = sign_up(&browser, fields).await;
        assert_eq!(r.status(), status, "{fields:?}");
        assert!(r
            .headers()
            .get_all("set-cookie")
            .iter()
            .all(|c| !c.to_str().unwrap().contains("ward_session=")));
        let page = r.text().await.unwrap();
        assert!(page.contains(message), "{fields:?}: {page}");
        assert!(page.contains("role=\"alert\""));
        assert!(!page.contains(NEW_PASSWORD), "the password is never echoed");
    }
    // A forged form without the CSRF cookie pair.
    let r = server
        .browser()
        .http
        .post(server.url("/signup"))
        .form(&[
            ("csrf_token", "forged"),
            ("email", NEW_EMAIL),
            ("password", NEW_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(user_count(&server).await, 1, "nothing was created");
}

async fn signup_is_rate_limited_per_ip(b: Backend) {
    let server = TestServer::start_with(b, |c| {
        c.signup = true.into();
        c.rate_limits.signups_per_ip = 3;
    })
    .await;
    let browser = server.browser();
    for i in 0..3 {
        let email = format!("u{i}@example.org");
        let r = sign_up(
            &server.browser(),
            &[("email", &email), ("password", NEW_PASSWORD)],
        )
        .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{email}");
    }
    let r = sign_up(
        &browser,
        &[("email", "u4@example.org"), ("password", NEW_PASSWORD)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(user_count(&server).await, 4);
    // The next window allows sign-ups again.
    server.clock.advance(301);
    let r = sign_up(
        &browser,
        &[("email", "u4@example.org"), ("password", NEW_PASSWORD)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

async fn signup_under_mfa_policy_enrols_first(b: Backend) {
    let server = TestServer::start_with(b, |c| {
        c.signup = true.into();
        c.mfa.required_roles = vec!["user".into()];
    })
    .await;
    let browser = server.browser();
    let r = sign_up(
        &browser,
        &[("email", NEW_EMAIL), ("password", NEW_PASSWORD)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location_of(&r), "/login/mfa");
    // No session before the second factor is set up.
    let r = browser
        .http
        .get(server.url("/api/profile"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (status, _, to) = browser.get("/login/mfa").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(to, "/login/mfa/enrol");
    let (status, page, _) = browser.get(&to).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<svg"), "the enrolment QR code: {page}");
}

on_both_backends!(
    signup_is_off_by_default,
    signup_creates_and_signs_in,
    signup_refusals_create_nothing,
    signup_is_rate_limited_per_ip,
    signup_under_mfa_policy_enrols_first,
);
