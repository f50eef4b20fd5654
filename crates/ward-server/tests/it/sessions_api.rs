//! Sessions API, guests and the sweeper (SPEC §2.5, §2.7): listing and revoking one's own and
//! (as admin) anyone's sessions, expiry and idle timeout at controlled time, the guest hard
//! limit at exactly 50 h, and the audit events these actions write.

use reqwest::StatusCode;
use serde_json::{json, Value};
use ward_core::{SessionId, UserId};

use crate::harness::*;
use crate::on_both_backends;

const USER_EMAIL: &str = "member@test.example";
const USER_PASSWORD: &str = "member-password-123";

async fn get_json(server: &TestServer, bearer: &str, path: &str) -> (StatusCode, Value) {
    let r = server
        .api()
        .get(server.url(path))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or_default())
}

async fn delete(server: &TestServer, bearer: &str, path: &str) -> StatusCode {
    server
        .api()
        .delete(server.url(path))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap()
        .status()
}

fn sid_of(tokens: &Value) -> SessionId {
    // The access token's `sid` claim, read without verifying (the server verifies).
    use base64::Engine;
    let jwt = tokens["access_token"].as_str().unwrap();
    let payload = jwt.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    SessionId::from(claims["sid"].as_str().unwrap())
}

/// A member (role `user`) signed in through the pages: their browser holds a web session.
async fn member_browser(server: &TestServer, admin: &str) -> (Browser, String) {
    let r = server
        .api()
        .post(server.url("/api/admin/users"))
        .bearer_auth(admin)
        .json(&json!({"email": USER_EMAIL, "password": USER_PASSWORD, "role": "user"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let user: Value = r.json().await.unwrap();
    let browser = server.browser();
    let r = browser.sign_in(USER_EMAIL, USER_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    (browser, user["id"].as_str().unwrap().to_string())
}

async fn browser_json(server: &TestServer, browser: &Browser, path: &str) -> (StatusCode, Value) {
    let r = browser.http.get(server.url(path)).send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or_default())
}

/// The newest audit events of `event_type`.
async fn audit_events(server: &TestServer, admin: &str, event_type: &str) -> Vec<Value> {
    let (status, body) = get_json(
        server,
        admin,
        &format!("/api/admin/audit?type={event_type}&limit=50"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["events"].as_array().unwrap().clone()
}

async fn own_sessions_listed_current_marked_and_revoked(b: Backend) {
    let server = TestServer::start(b).await;
    let a = cli_tokens(&server).await;
    let other = cli_tokens(&server).await;
    let access = a["access_token"].as_str().unwrap();
    let (status, body) = get_json(&server, access, "/api/sessions").await;
    assert_eq!(status, StatusCode::OK);
    let sessions = body["sessions"].as_array().unwrap();
    // Two CLI sessions and the two web sessions the sign-ins left in the browsers.
    assert_eq!(sessions.len(), 4, "{body}");
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], sid_of(&a).as_str());
    assert_eq!(current[0]["channel"], "cli");
    assert_eq!(current[0]["device_name"], "test-laptop");
    assert_eq!(current[0]["ip"], "127.0.0.1");
    for key in [
        "created_at",
        "last_seen_at",
        "expires_at",
        "idle_expires_at",
    ] {
        assert!(current[0][key].as_str().unwrap().ends_with('Z'), "{key}");
    }

    let victim = sid_of(&other);
    assert_eq!(
        delete(&server, access, &format!("/api/sessions/{victim}")).await,
        StatusCode::NO_CONTENT
    );
    // Its access token fails at ward's endpoints at once, and its refresh token too.
    assert_eq!(
        profile_status(&server, other["access_token"].as_str().unwrap()).await,
        StatusCode::UNAUTHORIZED
    );
    let r = refresh_grant(&server, other["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        error_code(r).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    // Gone from the list; a second revocation is a 404, as is an unknown id.
    let (_, body) = get_json(&server, access, "/api/sessions").await;
    assert!(!body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["id"] == victim.as_str()));
    assert_eq!(
        delete(&server, access, &format!("/api/sessions/{victim}")).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        delete(&server, access, "/api/sessions/nope").await,
        StatusCode::NOT_FOUND
    );
    // The caller's own session still works.
    assert_eq!(profile_status(&server, access).await, StatusCode::OK);
}

async fn audit_session_revoked_by_user(b: Backend) {
    let server = TestServer::start(b).await;
    let a = cli_tokens(&server).await;
    let other = cli_tokens(&server).await;
    let access = a["access_token"].as_str().unwrap();
    let victim = sid_of(&other);
    assert_eq!(
        delete(&server, access, &format!("/api/sessions/{victim}")).await,
        StatusCode::NO_CONTENT
    );
    let events = audit_events(&server, access, "session.revoked").await;
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e["outcome"], "ok");
    assert_eq!(e["target"], victim.as_str());
    assert_eq!(e["ip"], "127.0.0.1");
    assert_eq!(e["detail"]["via"], "user");
    assert_eq!(e["detail"]["channel"], "cli");
    assert_eq!(e["detail"]["current"], false);
    let (_, me) = get_json(&server, access, "/api/profile").await;
    assert_eq!(e["actor"], me["id"]);
    assert_eq!(e["detail"]["user_id"], me["id"]);
}

async fn users_cannot_touch_others_sessions_admins_can(b: Backend) {
    let server = TestServer::start(b).await;
    let admin_tokens = cli_tokens(&server).await;
    let admin = admin_tokens["access_token"].as_str().unwrap();
    let (member, member_id) = member_browser(&server, admin).await;

    let (status, body) = browser_json(&server, &member, "/api/sessions").await;
    assert_eq!(status, StatusCode::OK);
    let mine = body["sessions"].as_array().unwrap();
    assert_eq!(mine.len(), 1, "{body}");
    assert_eq!(mine[0]["channel"], "web");
    assert_eq!(mine[0]["current"], true);
    let member_sid = mine[0]["id"].as_str().unwrap().to_string();

    // A member cannot revoke the admin's session (404: ids cannot be probed) nor use the
    // admin views.
    let admin_sid = sid_of(&admin_tokens);
    let r = member
        .http
        .delete(server.url(&format!("/api/sessions/{admin_sid}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(profile_status(&server, admin).await, StatusCode::OK);
    let (status, _) = browser_json(&server, &member, "/api/admin/sessions").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The admin lists by email or by id and revokes the member's session.
    for filter in [USER_EMAIL, member_id.as_str()] {
        let (status, body) = get_json(
            &server,
            admin,
            &format!("/api/admin/sessions?user={filter}"),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let listed = body["sessions"].as_array().unwrap();
        assert_eq!(listed.len(), 1, "{body}");
        assert_eq!(listed[0]["id"], member_sid.as_str());
        assert_eq!(listed[0]["email"], USER_EMAIL);
    }
    let (_, everyone) = get_json(&server, admin, "/api/admin/sessions").await;
    assert!(everyone["sessions"].as_array().unwrap().len() >= 3);
    let (status, _) = get_json(&server, admin, "/api/admin/sessions?user=nobody@x.example").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        delete(&server, admin, &format!("/api/admin/sessions/{member_sid}")).await,
        StatusCode::NO_CONTENT
    );
    let (status, _) = browser_json(&server, &member, "/api/profile").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        delete(&server, admin, &format!("/api/admin/sessions/{member_sid}")).await,
        StatusCode::NOT_FOUND
    );
}

async fn audit_session_revoked_by_admin(b: Backend) {
    let server = TestServer::start(b).await;
    let admin = cli_tokens(&server).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (member, member_id) = member_browser(&server, &admin).await;
    let (_, body) = browser_json(&server, &member, "/api/sessions").await;
    let sid = body["sessions"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        delete(&server, &admin, &format!("/api/admin/sessions/{sid}")).await,
        StatusCode::NO_CONTENT
    );
    let events = audit_events(&server, &admin, "session.revoked").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["target"], sid.as_str());
    assert_eq!(events[0]["detail"]["via"], "admin");
    assert_eq!(events[0]["detail"]["user_id"], member_id.as_str());
    assert_eq!(events[0]["detail"]["channel"], "web");
    assert_ne!(events[0]["actor"], member_id.as_str());
}

async fn expiry_and_idle_timeout_at_controlled_time(b: Backend) {
    let server = TestServer::start_with(b, |c| {
        c.sessions.cli_ttl = "3h".into();
        c.sessions.idle_timeout = "1h".into();
        // Nothing is swept during this test: sessions must stop on their own.
        c.sessions.sweep_interval = "1000d".into();
    })
    .await;
    let busy = cli_tokens(&server).await;
    let idle = cli_tokens(&server).await;
    let idle_sid = sid_of(&idle);
    let mut refresh = busy["refresh_token"].as_str().unwrap().to_string();
    let mut idle_refresh = idle["refresh_token"].as_str().unwrap().to_string();

    // Idle: used at 59 min (fine), then not used for exactly one hour: gone.
    server.clock.advance(59 * 60);
    let r = refresh_grant(&server, &idle_refresh).await;
    assert_eq!(r.status(), StatusCode::OK);
    idle_refresh = r.json::<Value>().await.unwrap()["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = refresh_grant(&server, &refresh).await;
    assert_eq!(r.status(), StatusCode::OK);
    refresh = r.json::<Value>().await.unwrap()["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();

    // The busy session is used every 59 minutes up to its 3 h absolute limit.
    for _ in 0..2 {
        server.clock.advance(59 * 60);
        let r = refresh_grant(&server, &refresh).await;
        assert_eq!(r.status(), StatusCode::OK);
        refresh = r.json::<Value>().await.unwrap()["refresh_token"]
            .as_str()
            .unwrap()
            .to_string();
    }
    // Now at 2h57m: the idle one was last used at 59m, so it ended at 1h59m.
    let r = refresh_grant(&server, &idle_refresh).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(body["error_description"], "session idle for too long");
    // 2h59m59s: still fine; exactly 3 h: expired, although it was just used.
    server.clock.advance(179);
    let r = refresh_grant(&server, &refresh).await;
    assert_eq!(r.status(), StatusCode::OK);
    let fresh: Value = r.json().await.unwrap();
    // The access token never outlives its session.
    assert_eq!(fresh["expires_in"], 1);
    let (_, list) = get_json(
        &server,
        fresh["access_token"].as_str().unwrap(),
        "/api/sessions",
    )
    .await;
    let listed: Vec<&str> = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert!(!listed.contains(&idle_sid.as_str()), "{list}");
    server.clock.advance(1);
    let r = refresh_grant(&server, fresh["refresh_token"].as_str().unwrap()).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error_description"], "session expired");
    assert_eq!(
        profile_status(&server, fresh["access_token"].as_str().unwrap()).await,
        StatusCode::UNAUTHORIZED
    );
}

async fn guest_limit_holds_at_exactly_50_hours(b: Backend) {
    let server = TestServer::start(b).await;
    let r = server
        .api()
        .post(server.url("/api/auth/guest"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let tokens: Value = r.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    let access = tokens["access_token"].as_str().unwrap();
    let started = server.clock_now();

    let (status, profile) = get_json(&server, access, "/api/profile").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(profile["guest"], true);
    assert_eq!(profile["roles"], json!(["guest"]));
    assert_eq!(profile["limits"], json!({"containers": 5}));
    assert_eq!(profile["session"]["channel"], "guest");
    assert!(profile["email"]
        .as_str()
        .unwrap()
        .ends_with("@guest.invalid"));
    let expires =
        ward_server::time::parse_rfc3339(profile["session"]["expires_at"].as_str().unwrap())
            .unwrap();
    assert_eq!(expires.0 - started, 50 * 3600);

    // Guests cannot create API tokens.
    let r = server
        .api()
        .post(server.url("/api/tokens"))
        .bearer_auth(access)
        .json(&json!({"name": "x", "scopes": ["containers:read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // 49h59m: refreshing still works, and the new access token ends with the session.
    server.clock.advance(49 * 3600 + 59 * 60);
    let r = server
        .api()
        .post(server.url("/api/auth/refresh"))
        .json(&json!({"refresh_token": tokens["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let refreshed: Value = r.json().await.unwrap();
    assert_eq!(refreshed["expires_in"], 60);
    let (_, profile) = get_json(
        &server,
        refreshed["access_token"].as_str().unwrap(),
        "/api/profile",
    )
    .await;
    assert_eq!(
        ward_server::time::parse_rfc3339(profile["session"]["expires_at"].as_str().unwrap())
            .unwrap(),
        expires,
        "refreshing never extends a guest session"
    );

    // Exactly 50 h: refused, and the access token minted a minute ago fails too.
    server.clock.advance(60);
    let r = server
        .api()
        .post(server.url("/api/auth/refresh"))
        .json(&json!({"refresh_token": refreshed["refresh_token"]}))
        .send()
        .await
        .unwrap();
    let (status, code) = error_code(r).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    assert_eq!(
        profile_status(&server, refreshed["access_token"].as_str().unwrap()).await,
        StatusCode::UNAUTHORIZED
    );
}

async fn audit_guest_created(b: Backend) {
    let server = TestServer::start(b).await;
    let r = server
        .api()
        .post(server.url("/api/auth/guest"))
        .send()
        .await
        .unwrap();
    let guest: Value = r.json().await.unwrap();
    let (_, profile) = get_json(
        &server,
        guest["access_token"].as_str().unwrap(),
        "/api/profile",
    )
    .await;
    let admin = cli_tokens(&server).await;
    let events = audit_events(
        &server,
        admin["access_token"].as_str().unwrap(),
        "guest.created",
    )
    .await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["outcome"], "ok");
    assert_eq!(events[0]["actor"], profile["id"]);
    assert_eq!(events[0]["target"], profile["session"]["id"]);
    assert_eq!(events[0]["ip"], "127.0.0.1");
    assert_eq!(events[0]["detail"]["channel"], "api");
    assert_eq!(
        events[0]["detail"]["expires_at"],
        profile["session"]["expires_at"]
    );
}

async fn guest_creation_is_rate_limited_and_can_be_switched_off(b: Backend) {
    let server = TestServer::start_with(b, |c| c.rate_limits.guests_per_ip = 2).await;
    for _ in 0..2 {
        let r = server
            .api()
            .post(server.url("/api/auth/guest"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = server
        .api()
        .post(server.url("/api/auth/guest"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    server.clock.advance(300);
    let r = server
        .api()
        .post(server.url("/api/auth/guest"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let off = TestServer::start_with(b, |c| c.sessions.guests = false).await;
    let r = off
        .api()
        .post(off.url("/api/auth/guest"))
        .send()
        .await
        .unwrap();
    let (status, code) = error_code(r).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
}

async fn sweeper_deletes_dead_sessions_and_expired_guests(b: Backend) {
    let server = TestServer::start_with(b, |c| {
        c.sessions.retention = "3d".into();
        c.sessions.sweep_interval = "1000d".into();
    })
    .await;
    let admin = cli_tokens(&server).await;
    let revoked = cli_tokens(&server).await;
    let revoked_sid = sid_of(&revoked);
    let r = server
        .api()
        .post(server.url("/api/auth/logout"))
        .bearer_auth(revoked["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let guest: Value = server
        .api()
        .post(server.url("/api/auth/guest"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (_, profile) = get_json(
        &server,
        guest["access_token"].as_str().unwrap(),
        "/api/profile",
    )
    .await;
    let guest_id = UserId::from(profile["id"].as_str().unwrap());
    let guest_sid = SessionId::from(profile["session"]["id"].as_str().unwrap());
    let store = server.state.store.clone();
    // A real user demoted to the guest role, with no session: never swept.
    let r = server
        .api()
        .post(server.url("/api/admin/users"))
        .bearer_auth(admin["access_token"].as_str().unwrap())
        .json(&json!({"email": "demoted@test.example", "role": "guest"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let demoted: Value = r.json().await.unwrap();
    let demoted_id = UserId::from(demoted["id"].as_str().unwrap());
    // The guests' domain is reserved.
    let r = server
        .api()
        .post(server.url("/api/admin/users"))
        .bearer_auth(admin["access_token"].as_str().unwrap())
        .json(&json!({"email": "x@guest.invalid"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // Nothing dead long enough yet.
    let report = ward_server::sweeper::sweep(&server.state).await.unwrap();
    assert_eq!(report.guests, 0);
    assert!(store.session_by_id(&revoked_sid).await.unwrap().is_some());
    assert!(store.session_by_id(&guest_sid).await.unwrap().is_some());

    // At 50 h the guest is over: its session and its user go at the next sweep. The revoked
    // session is kept for the retention period.
    server.clock.advance(50 * 3600);
    let report = ward_server::sweeper::sweep(&server.state).await.unwrap();
    assert_eq!(report.guests, 1);
    assert!(store.session_by_id(&guest_sid).await.unwrap().is_none());
    assert!(store.user_by_id(&guest_id).await.unwrap().is_none());
    assert!(store.session_by_id(&revoked_sid).await.unwrap().is_some());
    assert!(store.user_by_id(&demoted_id).await.unwrap().is_some());
    let r = server
        .api()
        .post(server.url("/api/auth/refresh"))
        .json(&json!({"refresh_token": guest["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await.1, "invalid_grant");

    // Three days after its revocation, the revoked session goes; the admin's live one stays.
    server.clock.advance(22 * 3600 + 1);
    ward_server::sweeper::sweep(&server.state).await.unwrap();
    assert!(store.session_by_id(&revoked_sid).await.unwrap().is_none());
    assert!(store
        .session_by_id(&sid_of(&admin))
        .await
        .unwrap()
        .is_some());
    let r = refresh_grant(&server, admin["refresh_token"].as_str().unwrap()).await;
    assert_eq!(r.status(), StatusCode::OK);
}

async fn audit_session_revoked_by_page_logout(b: Backend) {
    let server = TestServer::start(b).await;
    let admin = cli_tokens(&server).await;
    let admin = admin["access_token"].as_str().unwrap();
    let (member, member_id) = member_browser(&server, admin).await;
    let (_, body) = browser_json(&server, &member, "/api/sessions").await;
    let sid = body["sessions"][0]["id"].as_str().unwrap().to_string();
    let (_, home, _) = member.get("/").await;
    let r = member.submit_form(&home, &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, _) = browser_json(&server, &member, "/api/profile").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let events = audit_events(&server, admin, "session.revoked").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["target"], sid.as_str());
    assert_eq!(events[0]["actor"], member_id.as_str());
    assert_eq!(events[0]["detail"]["via"], "logout");
    assert_eq!(events[0]["detail"]["channel"], "web");
}

async fn audit_guest_created_from_the_sign_in_page(b: Backend) {
    let server = TestServer::start(b).await;
    let guest = server.browser();
    let (_, page, _) = guest.get("/login?return_to=/account").await;
    assert!(page.contains("Try without signing in"));
    let csrf = input_value(&page, "csrf_token").unwrap();
    let r = guest
        .http
        .post(server.url("/login/guest"))
        .form(&[("csrf_token", csrf.as_str()), ("return_to", "/account")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location_of(&r), "/account");
    let (status, profile) = browser_json(&server, &guest, "/api/profile").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(profile["guest"], true);
    assert_eq!(profile["session"]["channel"], "guest");
    let (status, account, _) = guest.get("/account").await;
    assert_eq!(status, StatusCode::OK);
    assert!(account.contains("as a guest"));
    assert!(
        !account.contains("id=\"tokens\""),
        "no API tokens for guests"
    );
    let admin = cli_tokens(&server).await;
    let events = audit_events(
        &server,
        admin["access_token"].as_str().unwrap(),
        "guest.created",
    )
    .await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["detail"]["channel"], "web");
    assert_eq!(events[0]["actor"], profile["id"]);
}

/// Every page form refuses a POST without the CSRF token; the admin pages refuse non-admins;
/// a browser that is not signed in is sent to sign in.
async fn pages_need_csrf_sign_in_and_admin(b: Backend) {
    let server = TestServer::start(b).await;
    let admin = cli_tokens(&server).await;
    let (member, member_id) =
        member_browser(&server, admin["access_token"].as_str().unwrap()).await;
    let (_, body) = browser_json(&server, &member, "/api/sessions").await;
    let sid = body["sessions"][0]["id"].as_str().unwrap().to_string();
    for path in [
        "/login/guest".to_string(),
        "/account/tokens".to_string(),
        "/account/tokens/x/revoke".to_string(),
        format!("/account/sessions/{sid}/revoke"),
        "/admin/users".to_string(),
        format!("/admin/users/{member_id}/role"),
        format!("/admin/users/{member_id}/disable"),
        format!("/admin/sessions/{sid}/revoke"),
    ] {
        let r = member
            .http
            .post(server.url(&path))
            .form(&[("name", "x"), ("role", "admin")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["error_description"].as_str().unwrap().contains("CSRF"),
            "{path}"
        );
    }
    // Nothing happened: the member is still a `user` and signed in.
    let (status, profile) = browser_json(&server, &member, "/api/profile").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(profile["roles"], json!(["user"]));

    for path in ["/admin/users", "/admin/sessions", "/admin/audit"] {
        let (status, page, _) = member.get(path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert!(page.contains("permission denied"), "{path}");
    }
    let (status, page, _) = member.get("/account").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(USER_EMAIL));
    assert!(
        !page.contains("/admin/users"),
        "no admin links for a member"
    );

    let stranger = server.browser();
    for path in ["/account", "/admin/users", "/admin/audit"] {
        let (status, _, location) = stranger.get(path).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{path}");
        assert!(location.starts_with("/login?return_to="), "{location}");
    }
}

on_both_backends!(
    audit_session_revoked_by_page_logout,
    audit_guest_created_from_the_sign_in_page,
    pages_need_csrf_sign_in_and_admin,
    own_sessions_listed_current_marked_and_revoked,
    audit_session_revoked_by_user,
    users_cannot_touch_others_sessions_admins_can,
    audit_session_revoked_by_admin,
    expiry_and_idle_timeout_at_controlled_time,
    guest_limit_holds_at_exactly_50_hours,
    audit_guest_created,
    guest_creation_is_rate_limited_and_can_be_switched_off,
    sweeper_deletes_dead_sessions_and_expired_guests,
);
