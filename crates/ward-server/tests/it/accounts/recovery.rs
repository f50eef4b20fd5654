//! An admin's recovery link, MFA reset and user deletion (SPEC §2.14), each audited.

use reqwest::StatusCode;
use serde_json::json;
use ward_core::UserId;

use super::*;
use crate::mfa::enrol;
use crate::on_both_backends;

const DEV: &str = "dev@test.example";

/// `POST /api/admin/users/{id}/recovery` with `bearer`.
async fn recovery_link(server: &TestServer, bearer: &str, id: &str) -> (StatusCode, Value) {
    call(
        server,
        bearer,
        "POST",
        &format!("/api/admin/users/{id}/recovery"),
        None,
    )
    .await
}

/// The new-password form at `url` (a recovery link), submitted with `new` twice.
async fn use_link(browser: &Browser, url: &str, new: &str) -> reqwest::Response {
    let (status, page, _) = browser.get(url).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    browser
        .submit_form(
            &page,
            &[
                ("token", &input_value(&page, "token").unwrap()),
                ("new_password", new),
                ("confirm_password", new),
            ],
        )
        .await
}

/// The link works once, sets the password, removes the second factors and every session; with
/// `mfa.required_roles` naming the role, the user enrols again before any session. Altered,
/// used and expired links each get a page saying which.
async fn recovery_link_resets_password_and_factors(b: Backend) {
    let server = TestServer::start(b).await;
    let admin = admin_token(&server).await;
    let dev_id = UserId::from(create_user(&server, &admin, DEV, "user").await);
    let dev = access(&cli_tokens_of(&server, DEV, USER_PASSWORD).await);
    enrol(&server, &dev).await;
    assert!(server
        .state
        .store
        .totp_enrolment(&dev_id)
        .await
        .unwrap()
        .is_some());

    // Only admins make links, for users that exist.
    let (status, _) = recovery_link(&server, &dev, dev_id.as_str()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = recovery_link(&server, &admin, "no-such-user").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, first) = recovery_link(&server, &admin, dev_id.as_str()).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, link) = recovery_link(&server, &admin, dev_id.as_str()).await;
    assert_eq!(status, StatusCode::CREATED, "{link}");
    let url = link["url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&server.url("/recover?token=")), "{url}");
    let expires = link["expires_at"].as_str().unwrap();
    assert!(expires.ends_with('Z'), "{expires}");

    // A newer link replaced the first; an altered one is not valid.
    let browser = server.browser();
    let (status, page, _) = browser.get(first["url"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("This link is not valid"), "{page}");
    let mut altered = url.clone();
    let last = altered.pop().unwrap();
    altered.push(if last == 'a' { 'b' } else { 'a' });
    let (status, page, _) = browser.get(&altered).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("altered or copied incompletely"), "{page}");

    // Policy now requires MFA for the role (another replica on the same database).
    let strict = server
        .restart_with(|raw| raw.mfa.required_roles = vec!["user".into()])
        .await;
    let browser = strict.browser();
    let r = use_link(
        &browser,
        &url.replace(&server.url, &strict.url),
        "password1234",
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("too easy to guess"));
    let r = use_link(
        &browser,
        &url.replace(&server.url, &strict.url),
        NEW_PASSWORD,
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location_of(&r), "/login/mfa", "enrol before any session");
    let (_, _, to) = browser.get("/login/mfa").await;
    assert_eq!(to, "/login/mfa/enrol");
    let (status, page, _) = browser.get("/login/mfa/enrol").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Set up two-step verification"), "{page}");

    // The old factors, sessions and password are gone; the new password works.
    let store = &strict.state.store;
    let totp = store.totp_enrolment(&dev_id).await.unwrap();
    assert!(totp.is_none_or(|t| !t.confirmed), "old TOTP removed");
    assert_eq!(store.backup_codes_remaining(&dev_id).await.unwrap(), 0);
    assert!(store
        .webauthn_credentials_of_user(&dev_id)
        .await
        .unwrap()
        .is_empty());
    // (Asked of the replica that revoked them: on SQLite the other one may trust its cache
    // for a second; in production SQLite has one process.)
    assert_eq!(
        profile_status(&strict, &dev).await,
        StatusCode::UNAUTHORIZED
    );
    let live = store
        .live_sessions(Some(&dev_id), strict.state.clock.now(), 100)
        .await
        .unwrap();
    assert!(live.is_empty(), "{live:?}");
    let (_, status, _) = password_sign_in(&server, DEV, USER_PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, status, location) = password_sign_in(&server, DEV, NEW_PASSWORD).await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/account")
    );

    // Used: says so.
    let (status, page, _) = browser.get(&url.replace(&server.url, &strict.url)).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(page.contains("This link was already used"), "{page}");

    // Expired: says so, and cannot be used by a direct POST either.
    let (_, late) = recovery_link(&server, &admin, dev_id.as_str()).await;
    let late_url = late["url"].as_str().unwrap().to_string();
    let (_, form, _) = browser.get(&late_url).await;
    server.clock.advance(24 * 3600);
    let (status, page, _) = browser.get(&late_url).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(page.contains("This link has expired"), "{page}");
    let r = browser
        .submit_form(
            &form,
            &[
                ("token", &input_value(&form, "token").unwrap()),
                ("new_password", "another fine passphrase 9"),
                ("confirm_password", "another fine passphrase 9"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::GONE);
    let (_, status, _) = password_sign_in(&server, DEV, NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "unchanged");

    let admin = admin_token(&server).await;
    let made = audit_events(&server, &admin, "user.recovery_link").await;
    assert_eq!(made.len(), 3);
    assert!(made.iter().all(|e| e["target"] == dev_id.as_str()));
    let used = audit_events(&server, &admin, "user.recovered").await;
    assert_eq!(used.len(), 1);
    assert_eq!(used[0]["target"], dev_id.as_str());
}

/// One link used by many browsers at once sets a password exactly once.
async fn recovery_link_raced(b: Backend) {
    let server = TestServer::start(b).await;
    let admin = admin_token(&server).await;
    let dev_id = UserId::from(create_user(&server, &admin, DEV, "user").await);
    let (_, link) = recovery_link(&server, &admin, dev_id.as_str()).await;
    let url = link["url"].as_str().unwrap().to_string();
    let mut forms = Vec::new();
    for i in 0..8 {
        let browser = server.browser();
        let (_, page, _) = browser.get(&url).await;
        forms.push((browser, page, format!("raced passphrase number {i} ok")));
    }
    let results = futures::future::join_all(forms.iter().map(|(browser, page, pw)| async move {
        let r = browser
            .submit_form(
                page,
                &[
                    ("token", &input_value(page, "token").unwrap()),
                    ("new_password", pw),
                    ("confirm_password", pw),
                ],
            )
            .await;
        (r.status(), pw.clone())
    }))
    .await;
    let won: Vec<_> = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::SEE_OTHER)
        .collect();
    assert_eq!(won.len(), 1, "{results:?}");
    assert!(results
        .iter()
        .all(|(s, _)| *s == StatusCode::SEE_OTHER || *s == StatusCode::GONE));
    let (_, status, _) = password_sign_in(&server, DEV, &won[0].1).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

/// An admin removes every second factor of a user and signs them out; they sign in with the
/// password alone after.
async fn admin_resets_mfa(b: Backend) {
    let server = TestServer::start(b).await;
    let admin = admin_token(&server).await;
    let dev_id = UserId::from(create_user(&server, &admin, DEV, "user").await);
    let dev = access(&cli_tokens_of(&server, DEV, USER_PASSWORD).await);
    enrol(&server, &dev).await;
    let (status, _) = call(
        &server,
        &dev,
        "POST",
        &format!("/api/admin/users/{dev_id}/mfa/reset"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(
        &server,
        &admin,
        "POST",
        "/api/admin/users/nobody/mfa/reset",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, status, location) = password_sign_in(&server, DEV, USER_PASSWORD).await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/login/mfa")
    );

    let (status, v) = call(
        &server,
        &admin,
        "POST",
        &format!("/api/admin/users/{dev_id}/mfa/reset"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{v}");
    assert_eq!(
        profile_status(&server, &dev).await,
        StatusCode::UNAUTHORIZED
    );
    let (_, status, location) = password_sign_in(&server, DEV, USER_PASSWORD).await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/account")
    );
    let dev = access(&cli_tokens_of(&server, DEV, USER_PASSWORD).await);
    let (_, mfa) = call(&server, &dev, "GET", "/api/mfa", None).await;
    assert_eq!(mfa["enabled"], false, "{mfa}");
    let events = audit_events(&server, &admin, "mfa.reset").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["target"], dev_id.as_str());
}

/// Deleting a user removes their sessions, tokens and factors; their audit events stay.
async fn admin_deletes_a_user(b: Backend) {
    let server = TestServer::start(b).await;
    let admin = admin_token(&server).await;
    let dev_id = UserId::from(create_user(&server, &admin, DEV, "user").await);
    let dev_tokens = cli_tokens_of(&server, DEV, USER_PASSWORD).await;
    let dev = access(&dev_tokens);
    enrol(&server, &dev).await;
    let (status, created) = call(
        &server,
        &dev,
        "POST",
        "/api/tokens",
        Some(json!({"name": "ci", "scopes": ["containers:read"]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let api_token = created["token"].as_str().unwrap().to_string();
    let (_, link) = recovery_link(&server, &admin, dev_id.as_str()).await;

    let me = call(&server, &admin, "GET", "/api/profile", None).await.1["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, v) = call(
        &server,
        &admin,
        "DELETE",
        &format!("/api/admin/users/{me}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    let (status, _) = call(
        &server,
        &dev,
        "DELETE",
        &format!("/api/admin/users/{dev_id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, v) = call(
        &server,
        &admin,
        "DELETE",
        &format!("/api/admin/users/{dev_id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{v}");
    let (status, _) = call(
        &server,
        &admin,
        "DELETE",
        &format!("/api/admin/users/{dev_id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Every credential of theirs is dead, and nothing of theirs is left.
    assert_eq!(
        profile_status(&server, &dev).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        profile_status(&server, &api_token).await,
        StatusCode::UNAUTHORIZED
    );
    let r = refresh_grant(&server, dev_tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let store = &server.state.store;
    assert!(store.user_by_id(&dev_id).await.unwrap().is_none());
    assert!(store.sessions_of_user(&dev_id).await.unwrap().is_empty());
    assert!(store
        .api_tokens_of_user(dev_id.as_str())
        .await
        .unwrap()
        .is_empty());
    assert!(store.totp_enrolment(&dev_id).await.unwrap().is_none());
    let (status, _, _) = server.browser().get(link["url"].as_str().unwrap()).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "their recovery link is gone too"
    );
    let (_, status, _) = password_sign_in(&server, DEV, USER_PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The audit log still names them by id.
    let (_, v) = call(
        &server,
        &admin,
        "GET",
        &format!("/api/admin/audit?user={dev_id}&limit=500"),
        None,
    )
    .await;
    let theirs = v["events"].as_array().unwrap();
    assert!(theirs.iter().any(|e| e["type"] == "token.created"), "{v}");
    let deleted = audit_events(&server, &admin, "user.deleted").await;
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["target"], dev_id.as_str());

    // The address can be used again, for a new account.
    let again = create_user(&server, &admin, DEV, "user").await;
    assert_ne!(again, dev_id);
}

on_both_backends!(
    recovery_link_resets_password_and_factors,
    recovery_link_raced,
    admin_resets_mfa,
    admin_deletes_a_user,
);
