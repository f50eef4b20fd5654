//! `signup = "invite" | "approval"` through the API and plain HTTP pages (SPEC §2.14), on
//! SQLite and PostgreSQL: an invitation pins the address and the role, works once (24 racing
//! redemptions make one account), expires after 7 days, and is refused for a taken address;
//! a request for access makes a disabled, waiting account whose sign-in says so, with the same
//! answer for a known address; approval lets it sign in, denial removes it.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;
use ward_server::config::RawSignup;

use super::*;
use crate::on_both_backends;

const INVITEE: &str = "invitee@test.example";

async fn invite(server: &TestServer, admin: &str, body: Value) -> (StatusCode, Value) {
    call(server, admin, "POST", "/api/admin/invitations", Some(body)).await
}

async fn invitations_pin_the_address_and_work_once(b: Backend) {
    let server =
        TestServer::start_with(b, |raw| raw.signup = RawSignup::Mode("invite".into())).await;
    let admin = admin_token(&server).await;

    // Sign-up without an invitation is refused with a page that says how to get one.
    let (status, page, _) = server.browser().get("/signup").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(page.contains("By invitation only"), "{page}");
    let (_, login, _) = server.browser().get("/login").await;
    assert!(!login.contains("/signup"), "no sign-up link: {login}");

    // Refusals name the problem.
    let (status, v) = invite(&server, &admin, json!({"email": ADMIN_EMAIL})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    let (status, v) = invite(
        &server,
        &admin,
        json!({"email": INVITEE, "role": "emperor"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error_description"]
            .as_str()
            .unwrap()
            .contains("unknown role"),
        "{v}"
    );
    let (status, v) = invite(&server, &admin, json!({"email": "not-an-address"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let user = create_user(&server, &admin, "plain@test.example", "user").await;
    let plain = access(&cli_tokens_of(&server, "plain@test.example", USER_PASSWORD).await);
    let (status, _) = invite(&server, &plain, json!({"email": INVITEE})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only admins invite");
    assert!(!user.is_empty());

    // An invitation with a role; a second one replaces the first.
    let (status, first) = invite(&server, &admin, json!({"email": INVITEE, "role": "admin"})).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, v) = invite(&server, &admin, json!({"email": INVITEE, "role": "admin"})).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["email"], INVITEE);
    assert_eq!(v["role"], "admin");
    assert_eq!(
        v["mailed"], false,
        "no [smtp]: the admin passes the link on"
    );
    let url = v["url"].as_str().unwrap().to_string();
    assert!(url.contains("/invite?token="), "{url}");
    let (status, list) = call(&server, &admin, "GET", "/api/admin/invitations", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["invitations"].as_array().unwrap().len(), 1, "{list}");
    assert!(
        list["invitations"][0].get("url").is_none(),
        "never listed again: {list}"
    );
    let (status, page, _) = server.browser().get(first["url"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "replaced: {page}");
    assert!(page.contains("This link is not valid"), "{page}");

    // The page shows the pinned address; a weak password is refused with the rule.
    let browser = server.browser();
    let (status, page, _) = browser.get(&url).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains(INVITEE), "{page}");
    let token = input_value(&page, "token").unwrap();
    let r = browser
        .submit_form(
            &page,
            &[
                ("token", &token),
                ("new_password", "password1234"),
                ("confirm_password", "password1234"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("too easy to guess"));

    // 24 redemptions at once: exactly one account.
    let (_, page, _) = browser.get(&url).await;
    let fields = [
        ("token", token.as_str()),
        ("name", "Ivy"),
        ("new_password", NEW_PASSWORD),
        ("confirm_password", NEW_PASSWORD),
    ];
    let racers = join_all((0..24).map(|_| browser.submit_form(&page, &fields))).await;
    let mut made = 0;
    for r in racers {
        let status = r.status();
        if status == StatusCode::SEE_OTHER {
            made += 1;
        } else {
            assert!(
                status == StatusCode::GONE || status == StatusCode::CONFLICT,
                "{status}"
            );
        }
    }
    assert_eq!(made, 1, "one invitation, one account");
    let ivy = server
        .state
        .store
        .user_by_email(INVITEE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ivy.role, "admin", "the invitation's role");
    assert_eq!(ivy.name, "Ivy");
    assert!(ivy.email_verified, "an admin vouched for the address");
    let (status, page, _) = server.browser().get(&url).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(page.contains("already used"), "{page}");
    let (_, status, _) = password_sign_in(&server, INVITEE, NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(!audit_events(&server, &admin, "invitation.created")
        .await
        .is_empty());

    // Seven days, then the page says it expired and what to do.
    let (_, v) = invite(&server, &admin, json!({"email": "late@test.example"})).await;
    server.clock.advance(7 * 24 * 3600 + 1);
    let (status, page, _) = server.browser().get(v["url"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(page.contains("This link has expired"), "{page}");
    assert!(page.contains("invited you"), "says what to do: {page}");
}

async fn request(server: &TestServer, email: &str, password: &str) -> (StatusCode, String) {
    let browser = server.browser();
    let (status, page, _) = browser.get("/signup").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Request access"), "{page}");
    let r = browser
        .submit_form(&page, &[("email", email), ("password", password)])
        .await;
    let status = r.status();
    (status, r.text().await.unwrap())
}

async fn approval_waits_for_an_admin(b: Backend) {
    let server =
        TestServer::start_with(b, |raw| raw.signup = RawSignup::Mode("approval".into())).await;
    let admin = admin_token(&server).await;
    let (_, login, _) = server.browser().get("/login").await;
    assert!(login.contains("Request access"), "{login}");

    // A new address and a known one get the same answer.
    let (status, new_page) = request(&server, "asker@test.example", USER_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{new_page}");
    assert!(new_page.contains("Waiting for approval"), "{new_page}");
    let (status, known_page) = request(&server, ADMIN_EMAIL, "another-password-1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        new_page.replace("asker@test.example", "X"),
        known_page.replace(ADMIN_EMAIL, "X"),
        "no account oracle"
    );
    let (admin_page, status, _) = password_sign_in(&server, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the admin is untouched");

    // The waiting account cannot sign in; with its password the page says it waits.
    let asker = server
        .state
        .store
        .user_by_email("asker@test.example")
        .await
        .unwrap()
        .unwrap();
    assert!(asker.disabled);
    let (_, users, _) = admin_page.get("/admin/users").await;
    assert!(
        users.contains("Waiting for approval"),
        "the Users page says it: {users}"
    );
    let (browser, status, _) = password_sign_in(&server, "asker@test.example", USER_PASSWORD).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, page, _) = browser.get("/account").await;
    assert!(
        !page.contains("asker@test.example") || page.contains("Sign in"),
        "no session"
    );
    let (_, status, _) = password_sign_in(&server, "asker@test.example", "wrong-password-1").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a wrong password learns nothing"
    );
    let r = server
        .browser()
        .sign_in("asker@test.example", USER_PASSWORD)
        .await;
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("waits for an administrator"));

    // Approve: it signs in. Approving twice is a conflict.
    let path = format!("/api/admin/users/{}/approve", asker.id);
    let (status, v) = call(&server, &admin, "POST", &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{v}");
    let (status, v) = call(&server, &admin, "POST", &path, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    let (_, status, _) = password_sign_in(&server, "asker@test.example", USER_PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    // Deny: the request is gone, its audit stays.
    request(&server, "denied@test.example", USER_PASSWORD).await;
    let denied = server
        .state
        .store
        .user_by_email("denied@test.example")
        .await
        .unwrap()
        .unwrap();
    let (status, pending) = call(&server, &admin, "GET", "/api/admin/users", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(pending.to_string().contains("denied@test.example"));
    let (status, v) = call(
        &server,
        &admin,
        "POST",
        &format!("/api/admin/users/{}/deny", denied.id),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{v}");
    assert!(server
        .state
        .store
        .user_by_id(&denied.id)
        .await
        .unwrap()
        .is_none());
    let (status, _) = call(
        &server,
        &admin,
        "POST",
        &format!("/api/admin/users/{}/deny", asker.id),
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "an approved account is not denied"
    );
    for event in ["user.requested", "user.approved", "user.denied"] {
        assert!(
            !audit_events(&server, &admin, event).await.is_empty(),
            "{event}"
        );
    }
}

on_both_backends!(
    invitations_pin_the_address_and_work_once,
    approval_waits_for_an_admin,
);
