//! The authority model (SPEC §2.11), attacked as an attacker would: a narrow credential must
//! stay narrow. Each test here was written to show the attack working on the code before the
//! authority model, and now shows it refused.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::*;
use crate::mfa::{enrol, post, python_totp};
use crate::on_both_backends;
use crate::tokens::create_token;

/// A configured client that may introspect any token (a resource server).
pub const RESOURCE_SERVER: &str = "resource-server";
pub const RESOURCE_SERVER_SECRET: &str = "resource-server-secret-0123";
/// Another confidential client, which may only introspect its own tokens.
pub const OTHER_CLIENT: &str = "other-app";
pub const OTHER_SECRET: &str = "other-app-secret-0123456789";

/// A confidential client whose `client_credentials` tokens act with role `user` (SPEC §2.15).
pub const MACHINE_CLIENT: &str = "machine-client";
pub const MACHINE_SECRET: &str = "machine-client-secret-0123";

/// A server with two more clients (and [`MACHINE_CLIENT`]), a namespaced resource (`convox:app`) and its `deployer`
/// role, and two proxy routes to the example backend: `/api/containers` (`containers:read` to
/// GET) and `/api/convox/apps` (`convox:app:read` / `convox:app:delete`).
pub async fn start(b: Backend) -> TestServer {
    start_with(b, |_| {}).await
}

/// [`start`] with more configuration.
pub async fn start_with(
    b: Backend,
    extra: impl FnOnce(&mut ward_server::config::RawConfig),
) -> TestServer {
    let backend = ward_example_backend::spawn("127.0.0.1:0", Default::default())
        .await
        .unwrap();
    let backend = format!("http://{backend}");
    TestServer::start_with(b, |c| {
        c.resources.push("convox:app".into());
        c.roles.insert(
            "deployer".into(),
            ward_server::config::RawRole {
                permissions: vec!["convox:app:read".into(), "convox:app:delete".into()],
                limits: Default::default(),
            },
        );
        let mut containers = crate::proxy::route("/api/containers", &backend);
        containers.permissions = [("GET".to_string(), "containers:read".to_string())].into();
        let mut apps = crate::proxy::route("/api/convox/apps", &backend);
        apps.permissions = [
            ("GET".to_string(), "convox:app:read".to_string()),
            ("DELETE".to_string(), "convox:app:delete".to_string()),
        ]
        .into();
        c.routes.extend([containers, apps]);
        c.clients.push(ward_server::config::RawClient {
            id: MACHINE_CLIENT.into(),
            secret: Some(MACHINE_SECRET.into()),
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["containers:read".into(), "convox:app:read".into()],
            role: Some("user".into()),
            ..Default::default()
        });
        for (id, secret, introspect) in [
            (RESOURCE_SERVER, RESOURCE_SERVER_SECRET, true),
            (OTHER_CLIENT, OTHER_SECRET, false),
        ] {
            c.clients.push(ward_server::config::RawClient {
                id: id.into(),
                secret: Some(secret.into()),
                secret_file: None,
                redirect_uris: vec![APP_REDIRECT.into()],
                grant_types: vec!["authorization_code".into()],
                scopes: vec!["containers:read".into()],
                introspect,
                ..Default::default()
            });
        }
        extra(c);
    })
    .await
}

/// Runs the code flow of the configured client `backend` for the admin in `browser` (signing in
/// when needed), consenting when asked; returns (whether consent was asked, token response).
pub async fn app_tokens(server: &TestServer, browser: &Browser, scope: &str) -> (bool, Value) {
    let url = reqwest::Url::parse_with_params(
        &server.url("/oauth/authorize"),
        &[
            ("response_type", "code"),
            ("client_id", APP_CLIENT),
            ("redirect_uri", APP_REDIRECT),
            ("scope", scope),
            ("state", "s1"),
        ],
    )
    .unwrap();
    let (mut status, mut page, mut location) = browser.get(url.as_str()).await;
    if location.starts_with("/login") {
        let back = browser
            .sign_in_through(url.as_str(), ADMIN_EMAIL, ADMIN_PASSWORD)
            .await;
        (status, page, location) = browser.get(&back).await;
    }
    let asked = status == StatusCode::OK;
    if asked {
        assert!(page.contains("Authorize backend"), "{page}");
        let r = browser.submit_form(&page, &[("decision", "allow")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        location = location_of(&r);
    }
    assert!(location.starts_with(APP_REDIRECT), "{status} {location}");
    let code = reqwest::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.to_string())
        .expect("code");
    let r = server
        .api()
        .post(server.url("/oauth/token"))
        .basic_auth(APP_CLIENT, Some(APP_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", APP_REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    (asked, r.json().await.unwrap())
}

pub async fn get(server: &TestServer, bearer: &str, path: &str) -> reqwest::Response {
    server
        .api()
        .get(server.url(path))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap()
}

async fn body(r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    (status, r.json().await.unwrap_or_default())
}

/// Creates an API token with a fresh CLI session; returns its secret.
pub async fn api_token(server: &TestServer, cli: &str, scopes: &[&str]) -> String {
    let r = create_token(server, cli, scopes).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn api_tokens_cannot_touch_account_security(b: Backend) {
    let server = start(b).await;
    let cli = cli_tokens(&server).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let readonly = api_token(&server, &cli, &["snippets:read"]).await;
    for (path, body_json) in [
        ("/api/mfa/webauthn/register/start", json!({"name": "evil"})),
        ("/api/mfa/totp/setup", json!({})),
        ("/api/mfa/totp/confirm", json!({"code": "123456"})),
        ("/api/mfa/disable", json!({"code": "123456"})),
        ("/api/mfa/backup-codes", json!({"code": "123456"})),
        (
            "/api/tokens",
            json!({"name": "forever", "scopes": ["snippets:read"]}),
        ),
    ] {
        let (status, v) = body(post(&server, &readonly, path, body_json).await).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {v}");
        assert!(
            v["error_description"]
                .as_str()
                .unwrap()
                .contains("not an API token"),
            "{path}: {v}"
        );
    }
    let r = server
        .api()
        .delete(server.url("/api/mfa/webauthn/credentials/some-key"))
        .bearer_auth(&readonly)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Another session of the owner's cannot be revoked with the token either.
    let other = cli_tokens(&server).await;
    let sid = get(
        &server,
        other["access_token"].as_str().unwrap(),
        "/api/profile",
    )
    .await
    .json::<Value>()
    .await
    .unwrap()["session"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = server
        .api()
        .delete(server.url(&format!("/api/sessions/{sid}")))
        .bearer_auth(&readonly)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        profile_status(&server, other["access_token"].as_str().unwrap()).await,
        StatusCode::OK
    );
}

async fn stale_sessions_must_reauthenticate(b: Backend) {
    let server = start(b).await;
    let cli = cli_tokens(&server).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    // Fresh: allowed.
    assert_eq!(
        create_token(&server, &cli, &["containers:read"])
            .await
            .status(),
        StatusCode::CREATED
    );
    // Eleven minutes later (the window is ten): 401 reauth_required, and nothing created.
    server.clock.advance(11 * 60);
    let (status, v) = body(create_token(&server, &cli, &["containers:read"]).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(v["error"], "reauth_required", "{v}");
    let (status, v) = body(post(&server, &cli, "/api/mfa/totp/setup", json!({})).await).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("reauth_required"))
    );
    // Without MFA the password re-authenticates; a wrong one does not.
    let (status, v) = body(
        post(
            &server,
            &cli,
            "/api/auth/reauth",
            json!({"password": "wrong password"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_password"))
    );
    let r = post(
        &server,
        &cli,
        "/api/auth/reauth",
        json!({"password": ADMIN_PASSWORD}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        create_token(&server, &cli, &["containers:read"])
            .await
            .status(),
        StatusCode::CREATED
    );
    // With MFA, a code is the proof: the password is not enough.
    let (secret, _) = enrol(&server, &cli).await;
    server.clock.advance(11 * 60);
    let (status, v) = body(
        post(
            &server,
            &cli,
            "/api/auth/reauth",
            json!({"password": ADMIN_PASSWORD}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let code = python_totp(&secret, server.clock_now());
    assert_eq!(
        post(&server, &cli, "/api/auth/reauth", json!({"code": code}))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        create_token(&server, &cli, &["containers:read"])
            .await
            .status(),
        StatusCode::CREATED
    );
    // Step-up (`/api/mfa/verify`) refreshes it too.
    server.clock.advance(11 * 60);
    assert_eq!(
        create_token(&server, &cli, &["containers:read"])
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let code = python_totp(&secret, server.clock_now());
    assert_eq!(
        post(&server, &cli, "/api/mfa/verify", json!({"code": code}))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        create_token(&server, &cli, &["containers:read"])
            .await
            .status(),
        StatusCode::CREATED
    );
}

async fn the_pages_ask_again_then_continue(b: Backend) {
    let server = start(b).await;
    let browser = server.browser();
    let r = browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    server.clock.advance(11 * 60);
    let (_, account, _) = browser.get("/account").await;
    let form =
        &ward_testkit::html::form_posting_to(&account, "/account/tokens").expect("token form");
    let r = browser
        .submit_form(
            form,
            &[
                ("name", "laptop"),
                ("scope.containers:read", "on"),
                ("expires", "30"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = location_of(&r);
    assert!(to.starts_with("/reauth?return_to="), "{to}");
    let (status, page, _) = browser.get(&to).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Confirm it"), "{page}");
    assert!(page.contains("autocomplete=\"current-password\""), "{page}");
    let r = browser.submit_form(&page, &[("password", "not it")]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = browser
        .submit_form(&page, &[("password", ADMIN_PASSWORD)])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location_of(&r), "/account#tokens");
    // Now the form works.
    let (_, account, _) = browser.get("/account").await;
    let form =
        &ward_testkit::html::form_posting_to(&account, "/account/tokens").expect("token form");
    let r = browser
        .submit_form(
            form,
            &[
                ("name", "laptop"),
                ("scope.containers:read", "on"),
                ("expires", "30"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location_of(&r), "/account#tokens");
    let (_, account, _) = browser.get("/account").await;
    assert!(account.contains("id=\"new-token\""), "{account}");
    assert!(account.contains("laptop"));
}

async fn third_party_tokens_hold_what_was_consented(b: Backend) {
    let server = start(b).await;
    let browser = server.browser();
    // `openid` only: identity, and no resource permission at all — even for an admin.
    let (asked, tokens) = app_tokens(&server, &browser, "openid").await;
    assert!(asked, "a configured client asks for consent the first time");
    let openid_only = tokens["access_token"].as_str().unwrap().to_string();
    assert_eq!(profile_status(&server, &openid_only).await, StatusCode::OK);
    let (status, v) = body(
        get(
            &server,
            &openid_only,
            "/api/auth/validate?permission=containers:read",
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    assert!(
        v["error_description"]
            .as_str()
            .unwrap()
            .starts_with("permission denied: containers:read"),
        "{v}"
    );
    let r = get(&server, &openid_only, "/api/auth/validate").await;
    assert_eq!(r.headers()["x-ward-scopes"], "");
    assert_eq!(r.headers()["x-ward-credential"], "session");
    assert_eq!(r.headers()["x-ward-client-id"], APP_CLIENT);
    // Asking again for the same: no consent screen. Asking for more: consent again.
    let (asked, _) = app_tokens(&server, &browser, "openid").await;
    assert!(!asked);
    let (asked, tokens) = app_tokens(&server, &browser, "openid containers:read").await;
    assert!(asked, "more than was granted needs consent again");
    let read = tokens["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        get(
            &server,
            &read,
            "/api/auth/validate?permission=containers:read"
        )
        .await
        .status(),
        StatusCode::OK
    );
    let r = get(&server, &read, "/api/auth/validate").await;
    assert_eq!(r.headers()["x-ward-scopes"], "containers:read");
    assert_eq!(
        get(
            &server,
            &read,
            "/api/auth/validate?permission=containers:write"
        )
        .await
        .status(),
        StatusCode::FORBIDDEN
    );
    // An admin's token issued to an app reaches neither the admin API nor account security.
    for token in [&openid_only, &read] {
        let (status, v) = body(get(&server, token, "/api/admin/users").await).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
        assert!(
            v["error_description"]
                .as_str()
                .unwrap()
                .contains("admin:read"),
            "{v}"
        );
        let r = server
            .api()
            .post(server.url("/api/admin/users"))
            .bearer_auth(token)
            .json(&json!({"email": "evil@test.example", "role": "admin"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            create_token(&server, token, &["containers:read"])
                .await
                .status(),
            StatusCode::FORBIDDEN
        );
        for path in ["/api/mfa/totp/setup", "/api/mfa/webauthn/register/start"] {
            let r = post(&server, token, path, json!({"name": "k"})).await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
        }
    }
    assert!(server
        .state
        .store
        .user_by_email("evil@test.example")
        .await
        .unwrap()
        .is_none());
}

async fn introspection_is_limited_to_the_clients_own_tokens(b: Backend) {
    let server = start(b).await;
    let browser = server.browser();
    let (_, tokens) = app_tokens(&server, &browser, "openid containers:read").await;
    let introspect = |id: &'static str, secret: &'static str, token: String| {
        let server = &server;
        async move {
            server
                .api()
                .post(server.url("/oauth/introspect"))
                .basic_auth(id, Some(secret))
                .form(&[("token", token.as_str())])
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    for kind in ["access_token", "refresh_token"] {
        let token = tokens[kind].as_str().unwrap().to_string();
        let own = introspect(APP_CLIENT, APP_SECRET, token.clone()).await;
        assert_eq!(own["active"], true, "{kind}: {own}");
        let other = introspect(OTHER_CLIENT, OTHER_SECRET, token.clone()).await;
        assert_eq!(other, json!({"active": false}), "{kind}");
        let rs = introspect(RESOURCE_SERVER, RESOURCE_SERVER_SECRET, token).await;
        assert_eq!(rs["active"], true, "{kind}: {rs}");
    }
}

async fn admin_scopes_on_api_tokens(b: Backend) {
    let server = start(b).await;
    let cli = cli_tokens(&server).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let containers = api_token(&server, &cli, &["containers:read"]).await;
    let reader = api_token(&server, &cli, &["admin:read"]).await;
    let writer = api_token(&server, &cli, &["admin:read", "admin:write"]).await;
    let (status, v) = body(get(&server, &containers, "/api/admin/users").await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        v["error_description"]
            .as_str()
            .unwrap()
            .starts_with("permission denied: admin:read"),
        "{v}"
    );
    assert_eq!(
        get(&server, &reader, "/api/admin/users").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        get(&server, &reader, "/api/admin/audit").await.status(),
        StatusCode::OK
    );
    let create = |token: String, email: &'static str| {
        let server = &server;
        async move {
            server
                .api()
                .post(server.url("/api/admin/users"))
                .bearer_auth(token)
                .json(&json!({"email": email, "password": "a long enough password 1", "role": "user"}))
                .send()
                .await
                .unwrap()
        }
    };
    let (status, v) = body(create(reader.clone(), "one@test.example").await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        v["error_description"]
            .as_str()
            .unwrap()
            .starts_with("permission denied: admin:write"),
        "{v}"
    );
    assert_eq!(
        create(writer, "two@test.example").await.status(),
        StatusCode::CREATED
    );
    // A user whose role lacks admin:read cannot put it in a token.
    let user_token = user_cli_token(&server, "two@test.example").await;
    let (status, v) = body(create_token(&server, &user_token, &["admin:read"]).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        v["error_description"],
        "permission denied: admin:read requires admin role"
    );
    let (status, v) = body(get(&server, &user_token, "/api/admin/users").await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        v["error_description"],
        "permission denied: admin:read requires admin role"
    );
}

async fn mfa_policy_covers_api_tokens(b: Backend) {
    let server = start(b).await;
    let cli = cli_tokens(&server).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let token = api_token(&server, &cli, &["containers:read"]).await;
    assert_eq!(
        get(&server, &token, "/api/auth/validate").await.status(),
        StatusCode::OK
    );
    let strict = server
        .restart_with(|c| c.mfa.required_roles = vec!["admin".into()])
        .await;
    let (status, v) = body(get(&strict, &token, "/api/auth/validate").await).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["error"], "mfa_enrollment_required");
}

async fn email_verified_is_truthful(b: Backend) {
    let server = TestServer::start_with(b, |c| c.signup = true.into()).await;
    let cli = cli_tokens(&server).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let info: Value = get(&server, &cli, "/oauth/userinfo")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["email_verified"], true, "the bootstrap admin: {info}");
    let browser = server.browser();
    let (_, page, _) = browser.get("/signup").await;
    let r = browser
        .submit_form(
            &page,
            &[
                ("email", "self@test.example"),
                ("name", "Self"),
                ("password", "a long enough password 1"),
            ],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    let user = server
        .state
        .store
        .user_by_email("self@test.example")
        .await
        .unwrap()
        .unwrap();
    assert!(
        !user.email_verified,
        "self-signed-up addresses are unverified"
    );
    let r = browser
        .http
        .get(server.url("/oauth/userinfo"))
        .send()
        .await
        .unwrap();
    let info: Value = r.json().await.unwrap();
    assert_eq!(info["email_verified"], false, "{info}");
}

/// Namespaced resources (`convox:app:delete`) in roles, scopes, routes and denials.
async fn namespaced_resources(b: Backend) {
    let server = start(b).await;
    let admin_cli = cli_tokens(&server).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    for (email, role) in [
        ("dep@test.example", "deployer"),
        ("plain@test.example", "user"),
    ] {
        let r = server
            .api()
            .post(server.url("/api/admin/users"))
            .bearer_auth(&admin_cli)
            .json(&json!({"email": email, "password": "a long enough password 1", "role": role}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let deployer = user_cli_token(&server, "dep@test.example").await;
    let plain = user_cli_token(&server, "plain@test.example").await;
    let reader = api_token(&server, &deployer, &["convox:app:read"]).await;
    let del = |token: String| {
        let server = &server;
        async move {
            server
                .api()
                .delete(server.url("/api/convox/apps/web"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        get(&server, &reader, "/api/convox/apps/web").await.status(),
        StatusCode::OK
    );
    let r = get(&server, &reader, "/api/auth/validate").await;
    assert_eq!(r.headers()["x-ward-scopes"], "convox:app:read");
    assert_eq!(r.headers()["x-ward-credential"], "api_token");
    let (status, v) = body(del(reader).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        v["error_description"]
            .as_str()
            .unwrap()
            .starts_with("permission denied: convox:app:delete is not granted to this credential"),
        "{v}"
    );
    assert_eq!(del(deployer.clone()).await.status(), StatusCode::OK);
    let (status, v) = body(del(plain.clone()).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        v["error_description"],
        "permission denied: convox:app:delete requires deployer role"
    );
    let (status, v) = body(create_token(&server, &plain, &["convox:app:delete"]).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        v["error_description"],
        "permission denied: convox:app:delete requires deployer role"
    );
}

/// A `ward-cli` access token for a user with the password `a long enough password 1`.
pub async fn user_cli_token(server: &TestServer, email: &str) -> String {
    let browser = server.browser();
    let (verifier, challenge) = pkce_pair();
    let url = reqwest::Url::parse_with_params(
        &server.url("/cli-login"),
        &[
            ("response_type", "code"),
            ("client_id", "ward-cli"),
            ("redirect_uri", LOOPBACK),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    )
    .unwrap();
    let back = browser
        .sign_in_through(url.as_str(), email, "a long enough password 1")
        .await;
    let (_, consent, _) = browser.get(&back).await;
    let r = browser
        .submit_form(&consent, &[("decision", "allow")])
        .await;
    let to = location_of(&r);
    let code = reqwest::Url::parse(&to)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .to_string();
    exchange_cli_code(server, &code, &verifier)
        .await
        .json::<Value>()
        .await
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

on_both_backends!(
    namespaced_resources,
    api_tokens_cannot_touch_account_security,
    stale_sessions_must_reauthenticate,
    the_pages_ask_again_then_continue,
    third_party_tokens_hold_what_was_consented,
    introspection_is_limited_to_the_clients_own_tokens,
    admin_scopes_on_api_tokens,
    mfa_policy_covers_api_tokens,
    email_verified_is_truthful,
);
