//! `/oauth/logout` (OpenID Connect RP-Initiated Logout 1.0): who may sign a browser out, and
//! where it may be sent afterwards. The same endpoint with a real relying party is in
//! `apache_oidc.rs`.

use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::*;
use crate::on_both_backends;

const SIGNED_OUT_URI: &str = "https://app.example.com/signed-out";

async fn start(b: Backend) -> TestServer {
    TestServer::start_with(b, |c| {
        let app = c.clients.iter_mut().find(|c| c.id == APP_CLIENT).unwrap();
        app.post_logout_redirect_uris = vec![SIGNED_OUT_URI.into()];
    })
    .await
}

async fn signed_in_browser(server: &TestServer) -> Browser {
    let browser = server.browser();
    let r = browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(browser.get("/account").await.0, StatusCode::OK);
    browser
}

async fn is_signed_in(browser: &Browser) -> bool {
    browser.get("/account").await.0 == StatusCode::OK
}

async fn without_a_hint_the_user_confirms_first(b: Backend) {
    let server = start(b).await;
    let metadata: Value = server
        .api()
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["end_session_endpoint"],
        server.url("/oauth/logout")
    );

    // A bare link (or an image on another site) does not sign anyone out.
    let browser = signed_in_browser(&server).await;
    let (status, page, _) = browser.get("/oauth/logout").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Sign out?"), "{page}");
    assert!(is_signed_in(&browser).await);
    // A forged POST without ward's CSRF token is not a confirmation either.
    let r = browser
        .http
        .post(server.url("/oauth/logout"))
        .form(&[("client_id", APP_CLIENT)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(is_signed_in(&browser).await);

    // Confirming signs out, and goes to the client's registered page with its state.
    let (_, page, _) = browser
        .get(&format!(
            "/oauth/logout?client_id={APP_CLIENT}&post_logout_redirect_uri={SIGNED_OUT_URI}&state=s1"
        ))
        .await;
    let r = browser
        .submit_form(
            &page,
            &[
                ("client_id", APP_CLIENT),
                ("post_logout_redirect_uri", SIGNED_OUT_URI),
                ("state", "s1"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location_of(&r), format!("{SIGNED_OUT_URI}?state=s1"));
    assert!(!is_signed_in(&browser).await);

    // Signed out already: nothing to confirm.
    let (status, page, _) = browser.get("/oauth/logout").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("You are signed out"), "{page}");
}

async fn a_hint_for_the_signed_in_user_signs_out_at_once_and_ends_the_apps_session(b: Backend) {
    let server = start(b).await;
    let browser = signed_in_browser(&server).await;
    let tokens = cli_tokens(&server).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(profile_status(&server, access).await, StatusCode::OK);

    let (status, page, _) = browser
        .get(&format!("/oauth/logout?id_token_hint={id_token}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("You are signed out"), "{page}");
    assert!(!is_signed_in(&browser).await);
    // The relying party's session (the one its ID token names) is over too.
    assert_eq!(
        profile_status(&server, access).await,
        StatusCode::UNAUTHORIZED
    );
}

async fn bad_requests_are_refused_and_sign_no_one_out(b: Backend) {
    let server = start(b).await;
    let browser = signed_in_browser(&server).await;
    let tokens = cli_tokens(&server).await;
    let id_token = tokens["id_token"].as_str().unwrap().to_string();
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let mut tampered = id_token.clone();
    tampered.pop();
    tampered.push(if id_token.ends_with('A') { 'B' } else { 'A' });
    let evil = "https://evil.example/";
    for (query, says) in [
        (
            format!("client_id={APP_CLIENT}&post_logout_redirect_uri={evil}"),
            "post_logout_redirect_uri is not registered for client backend",
        ),
        (
            format!("post_logout_redirect_uri={SIGNED_OUT_URI}"),
            "post_logout_redirect_uri needs client_id or id_token_hint",
        ),
        (
            "id_token_hint=not-a-jwt".to_string(),
            "id_token_hint is not an ID token issued by this server",
        ),
        (
            format!("id_token_hint={tampered}"),
            "id_token_hint is not an ID token issued by this server",
        ),
        // An access token is not an ID token.
        (
            format!("id_token_hint={access}"),
            "id_token_hint is not an ID token issued by this server",
        ),
        (
            format!("id_token_hint={id_token}&client_id={APP_CLIENT}"),
            "client_id does not match the audience of id_token_hint",
        ),
    ] {
        let (status, page, location) = browser.get(&format!("/oauth/logout?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {page}");
        assert!(location.is_empty(), "{query}: never redirected");
        assert!(page.contains(says), "{query}: {page}");
    }
    assert!(is_signed_in(&browser).await);
    assert_eq!(profile_status(&server, &access).await, StatusCode::OK);
}

on_both_backends!(
    without_a_hint_the_user_confirms_first,
    a_hint_for_the_signed_in_user_signs_out_at_once_and_ends_the_apps_session,
    bad_requests_are_refused_and_sign_no_one_out,
);
