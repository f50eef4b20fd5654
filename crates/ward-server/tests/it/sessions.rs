//! Sessions: revocation takes effect at once, expiry at controlled time, rate limits, and the
//! operational endpoints.

use reqwest::StatusCode;

use crate::harness::*;
use crate::on_both_backends;

async fn logout_revokes_access_and_refresh_at_once(b: Backend) {
    let server = TestServer::start(b).await;
    let tokens = cli_tokens(&server).await;
    let access = tokens["access_token"].as_str().unwrap();
    let api = server.api();
    let v = api
        .get(server.url("/api/auth/validate"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(v.status(), StatusCode::OK);
    assert_eq!(v.headers()["x-ward-email"], ADMIN_EMAIL);
    assert_eq!(v.headers()["x-ward-roles"], "admin");
    assert!(v.headers().contains_key("x-ward-session-id"));
    let r = api
        .post(server.url("/api/auth/logout"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let v = api
        .get(server.url("/api/auth/validate"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(v).await,
        (StatusCode::UNAUTHORIZED, "invalid_token".into())
    );
    let r = refresh_grant(&server, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        error_code(r).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
}

async fn api_refresh_rotates(b: Backend) {
    let server = TestServer::start(b).await;
    let tokens = cli_tokens(&server).await;
    let api = server.api();
    let r = api
        .post(server.url("/api/auth/refresh"))
        .json(&serde_json::json!({"refresh_token": tokens["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_ne!(body["refresh_token"], tokens["refresh_token"]);
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(
        profile_status(&server, body["access_token"].as_str().unwrap()).await,
        StatusCode::OK
    );
}

async fn tokens_and_sessions_expire_at_controlled_time(b: Backend) {
    let server = TestServer::start_with(b, |c| {
        c.sessions.cli_ttl = "5h".into();
        c.sessions.idle_timeout = "2h".into();
    })
    .await;
    let tokens = cli_tokens(&server).await;
    let access = tokens["access_token"].as_str().unwrap();
    server.clock.advance(3599);
    assert_eq!(profile_status(&server, access).await, StatusCode::OK);
    server.clock.advance(1);
    assert_eq!(
        profile_status(&server, access).await,
        StatusCode::UNAUTHORIZED,
        "access token expired after 1 h"
    );
    // Refresh works while the session is live; idle for 2 h kills it.
    let r = refresh_grant(&server, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: serde_json::Value = r.json().await.unwrap();
    server.clock.advance(2 * 3600);
    let r = refresh_grant(&server, body["refresh_token"].as_str().unwrap()).await;
    let e: serde_json::Value = r.json().await.unwrap();
    assert_eq!(e["error"], "invalid_grant");
    assert_eq!(e["error_description"], "session idle for too long");

    // Absolute expiry: a fresh session used every hour still ends at 5 h.
    let tokens = cli_tokens(&server).await;
    let mut rt = tokens["refresh_token"].as_str().unwrap().to_string();
    for _ in 0..4 {
        server.clock.advance(3600);
        let body: serde_json::Value = refresh_grant(&server, &rt).await.json().await.unwrap();
        assert!(body["expires_in"].as_u64().unwrap() <= 3600);
        rt = body["refresh_token"].as_str().unwrap().to_string();
    }
    server.clock.advance(3600);
    let e: serde_json::Value = refresh_grant(&server, &rt).await.json().await.unwrap();
    assert_eq!(e["error_description"], "session expired");
}

async fn sign_in_is_rate_limited_per_account(b: Backend) {
    let server = TestServer::start_with(b, |c| c.rate_limits.signin_failures_per_account = 3).await;
    let browser = server.browser();
    for _ in 0..3 {
        let r = browser.sign_in(ADMIN_EMAIL, "wrong password!").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r
            .text()
            .await
            .unwrap()
            .contains("Incorrect email or password."));
    }
    let r = browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "locked even with the right password"
    );
    let retry: i64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=300).contains(&retry));
    server.clock.advance(retry);
    let r = browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the window passed");
}

async fn sign_in_and_user_codes_are_rate_limited_per_ip(b: Backend) {
    let server = TestServer::start_with(b, |c| {
        c.rate_limits.signin_per_ip = 4;
        c.rate_limits.user_code_per_ip = 3;
    })
    .await;
    let browser = server.browser();
    let mut statuses = Vec::new();
    for i in 0..5 {
        statuses.push(
            browser
                .sign_in(&format!("user{i}@test.example"), "whatever-password")
                .await
                .status(),
        );
    }
    assert_eq!(statuses[..4], [StatusCode::UNAUTHORIZED; 4]);
    assert_eq!(statuses[4], StatusCode::TOO_MANY_REQUESTS);

    server.clock.advance(300);
    let signed_in = browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let (_, page, _) = browser.get("/device").await;
    for _ in 0..3 {
        let r = browser
            .submit_form(&page, &[("user_code", "BCDF-GHJK")])
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }
    let r = browser
        .submit_form(&page, &[("user_code", "BCDF-GHJK")])
        .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
}

async fn operational_endpoints_and_headers(b: Backend) {
    let server = TestServer::start(b).await;
    let api = server.api();
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
        "/.well-known/jwks.json",
        "/login",
        "/api/profile",
        "/nope",
    ] {
        let r = api.get(server.url(path)).send().await.unwrap();
        assert!(r.status().as_u16() < 500, "{path}");
        let h = r.headers();
        assert_eq!(
            h["strict-transport-security"], "max-age=31536000; includeSubDomains",
            "{path}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["x-frame-options"], "DENY");
        assert!(h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'self'"));
    }
    let metrics = api
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("ward_http_requests_total"), "{metrics}");
    // Read at scrape time: the pool holds at least the connection that answered /readyz.
    let open = metrics
        .lines()
        .find_map(|l| l.strip_prefix("ward_db_connections{state=\"open\"} "))
        .and_then(|v| v.trim().parse::<i64>().ok());
    assert!(open.is_some_and(|n| n >= 1), "{metrics}");
    assert!(
        metrics.contains("ward_verified_access_tokens "),
        "{metrics}"
    );
    let meta: serde_json::Value = api
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["issuer"], server.url);
    assert_eq!(
        meta["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        meta["device_authorization_endpoint"],
        server.url("/oauth/device/code")
    );

    // The pages' cookies are HttpOnly and SameSite=Lax.
    let r = api.get(server.url("/login")).send().await.unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let page = r.text().await.unwrap();
    assert!(page.contains("name=\"email\"") && page.contains("autocomplete=\"username"));
}

async fn device_flow_can_be_switched_off(b: Backend) {
    let server = TestServer::start_with(b, |c| c.device_flow = false).await;
    let api = server.api();
    let meta: serde_json::Value = api
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(meta.get("device_authorization_endpoint").is_none());
    let r = api
        .post(server.url("/oauth/device/code"))
        .form(&[("client_id", "ward-cli")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::BAD_REQUEST, "unauthorized_client".into())
    );
}

on_both_backends!(
    logout_revokes_access_and_refresh_at_once,
    api_refresh_rotates,
    tokens_and_sessions_expire_at_controlled_time,
    sign_in_is_rate_limited_per_account,
    sign_in_and_user_codes_are_rate_limited_per_ip,
    operational_endpoints_and_headers,
    device_flow_can_be_switched_off,
);
