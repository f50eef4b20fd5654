//! Changing a password (SPEC §2.14): the rules, each refusal naming its rule; every other
//! session dies and this one lives; the generated bootstrap admin chooses a password first.

use reqwest::StatusCode;
use serde_json::json;

use super::*;
use crate::on_both_backends;

async fn change(
    server: &TestServer,
    bearer: &str,
    current: &str,
    new: &str,
) -> (StatusCode, Value) {
    call(
        server,
        bearer,
        "POST",
        "/api/account/password",
        Some(json!({"current_password": current, "new_password": new})),
    )
    .await
}

async fn change_password_revokes_the_other_sessions(b: Backend) {
    let server = TestServer::start(b).await;
    let this = cli_tokens(&server).await;
    let other = cli_tokens(&server).await;
    let (cookie, status, _) = password_sign_in(&server, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let bearer = access(&this);

    // Each refusal names its rule, and changes nothing.
    let too_long = "correct horse battery staple ".repeat(5);
    let refusals = [
        (
            "not the password",
            NEW_PASSWORD,
            "invalid_password",
            "current password is incorrect",
        ),
        (
            ADMIN_PASSWORD,
            "short one",
            "password_too_short",
            "at least 12 characters",
        ),
        (
            ADMIN_PASSWORD,
            too_long.as_str(),
            "password_too_long",
            "at most 128 characters",
        ),
        (
            ADMIN_PASSWORD,
            "password1234",
            "password_too_weak",
            "too easy to guess",
        ),
        (
            ADMIN_PASSWORD,
            "admin@test.example",
            "password_too_weak",
            "too easy to guess",
        ),
        (
            ADMIN_PASSWORD,
            ADMIN_PASSWORD,
            "password_reused",
            "same as the current one",
        ),
    ];
    for (current, new, code, words) in refusals {
        let (status, v) = change(&server, &bearer, current, new).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{new}: {v}");
        assert_eq!(v["error"], code, "{new}: {v}");
        assert!(
            v["error_description"].as_str().unwrap().contains(words),
            "{new}: {v}"
        );
    }
    assert_eq!(
        profile_status(&server, &access(&other)).await,
        StatusCode::OK
    );

    let (status, v) = change(&server, &bearer, ADMIN_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    // The other CLI session, the cookie session, and the browser sessions the two CLI
    // sign-ins went through.
    assert!(v["sessions_revoked"].as_u64().unwrap() >= 4, "{v}");

    // This one lives; every other dies, refresh tokens included.
    assert_eq!(profile_status(&server, &bearer).await, StatusCode::OK);
    assert_eq!(
        profile_status(&server, &access(&other)).await,
        StatusCode::UNAUTHORIZED
    );
    let r = refresh_grant(&server, other["refresh_token"].as_str().unwrap()).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = refresh_grant(&server, this["refresh_token"].as_str().unwrap()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let (status, _, location) = cookie.get("/account").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.starts_with("/login"), "{location}");

    // The old password no longer signs in; the new one does.
    let (_, status, _) = password_sign_in(&server, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, status, _) = password_sign_in(&server, ADMIN_EMAIL, NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    let events = audit_events(&server, &bearer, "password.changed").await;
    assert_eq!(events[0]["outcome"], "ok");
    assert_eq!(
        events.iter().filter(|e| e["outcome"] == "failed").count(),
        1
    );
}

/// An API token or a third-party app cannot change the password, even with it.
async fn only_a_first_party_session_changes_a_password(b: Backend) {
    let server = TestServer::start(b).await;
    let bearer = admin_token(&server).await;
    let (status, v) = call(
        &server,
        &bearer,
        "POST",
        "/api/tokens",
        Some(json!({"name": "ci", "scopes": ["containers:read"]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let token = v["token"].as_str().unwrap().to_string();
    let (status, v) = change(&server, &token, ADMIN_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    let (_, status, _) = password_sign_in(&server, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "unchanged");
}

/// The first start without bootstrap variables prints a generated password; signing in with it
/// leads to "choose your own" before anything else, and the pages insist until it is done.
async fn generated_admin_chooses_a_password_first(b: Backend) {
    let server = TestServer::start_with(b, |raw| {
        raw.bootstrap_admin_email = None;
        raw.bootstrap_admin_password = None;
    })
    .await;
    let ward_server::Bootstrap::Generated { email, password } = server.bootstrap.clone() else {
        panic!("a generated admin: {:?}", server.bootstrap);
    };
    let (browser, status, location) = password_sign_in(&server, &email, &password).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, "/account/password?return_to=%2Faccount");
    for page in ["/account", "/admin/users", "/account/mfa"] {
        let (status, _, location) = browser.get(page).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
        assert!(
            location.starts_with("/account/password?return_to="),
            "{page}: {location}"
        );
    }
    let (status, page, _) = browser.get(&location).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("generated for you"), "{page}");
    assert!(!page.contains(">Cancel<"), "no way around it");

    let r = browser
        .submit_form(
            &page,
            &[
                ("current_password", &password),
                ("new_password", NEW_PASSWORD),
                ("confirm_password", "violet anchor drizzle 32"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let page = r.text().await.unwrap();
    assert!(page.contains("The two new passwords differ"), "{page}");
    let r = browser
        .submit_form(
            &page,
            &[
                ("current_password", &password),
                ("new_password", "qwerty123456"),
                ("confirm_password", "qwerty123456"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let page = r.text().await.unwrap();
    assert!(page.contains("too easy to guess"), "{page}");
    let r = browser
        .submit_form(
            &page,
            &[
                ("current_password", &password),
                ("new_password", NEW_PASSWORD),
                ("confirm_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let done = r.text().await.unwrap();
    assert!(done.contains("Password changed"), "{done}");
    assert!(done.contains("href=\"/account\""), "{done}");
    let (status, _, _) = browser.get("/account").await;
    assert_eq!(status, StatusCode::OK, "this session lives on");
    let (_, status, location) = password_sign_in(&server, &email, NEW_PASSWORD).await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/account")
    );
}

/// An admin whose password came from the bootstrap variables chose it: no detour.
async fn configured_admin_is_not_asked(b: Backend) {
    let server = TestServer::start(b).await;
    let (_, status, location) = password_sign_in(&server, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/account")
    );
}

on_both_backends!(
    change_password_revokes_the_other_sessions,
    only_a_first_party_session_changes_a_password,
    generated_admin_chooses_a_password_first,
    configured_admin_is_not_asked,
);
