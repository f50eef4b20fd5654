//! Dynamic client registration (SPEC §2.15, RFC 7591): each `[registration] mode`, the metadata
//! ward refuses (RFC 7591 §3.2.2), registered clients through the code flow with PKCE behind a
//! consent page that names them unverified, the `max_scopes` cap, admin listing and removal
//! (which revokes what the client holds), the per-address limit, and a `resource` bound to the
//! authorization code (RFC 8707 §2.2). `authlib.rs`: the same through a third-party client.

mod authlib;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::authority::get;
use crate::harness::*;
use crate::on_both_backends;

/// A redirect URI of a registered test client (the browser never follows it).
pub const REDIRECT: &str = "https://agent.example.com/callback";
/// What registered clients may have in these tests.
pub const MAX_SCOPES: &[&str] = &["openid", "offline_access", "containers:read"];

/// [`crate::authority::start_with`] (two proxy routes) with `[registration] mode` and
/// [`MAX_SCOPES`].
pub async fn start(b: Backend, mode: &str) -> TestServer {
    start_with(b, mode, |_| {}).await
}

pub async fn start_with(
    b: Backend,
    mode: &str,
    extra: impl FnOnce(&mut ward_server::config::RawConfig),
) -> TestServer {
    let mode = mode.to_string();
    crate::authority::start_with(b, move |c| {
        c.registration.mode = mode;
        c.registration.max_scopes = MAX_SCOPES.iter().map(|s| s.to_string()).collect();
        extra(c);
    })
    .await
}

async fn body(r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    (status, r.json().await.unwrap_or_default())
}

/// `POST /oauth/register` with `metadata` (and an initial access token).
pub async fn register(
    server: &TestServer,
    metadata: Value,
    bearer: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = server
        .api()
        .post(server.url("/oauth/register"))
        .json(&metadata);
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    body(req.send().await.unwrap()).await
}

/// A public client (PKCE) with refresh tokens, registered in open mode.
pub async fn public_client(server: &TestServer, scope: &str) -> Value {
    let (status, v) = register(
        server,
        json!({
            "client_name": "Agent Smith",
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "scope": scope,
        }),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v
}

pub async fn admin(server: &TestServer) -> String {
    cli_tokens(server).await["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Runs the registered client's authorization request in `browser` (signing in when needed)
/// and allows it on the consent page, which must call it unverified; returns the code.
pub async fn code_for(
    server: &TestServer,
    browser: &Browser,
    client_id: &str,
    challenge: &str,
    scope: &str,
    resource: Option<&str>,
) -> String {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("scope", scope),
        ("state", "st"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    if let Some(r) = resource {
        params.push(("resource", r));
    }
    let url = reqwest::Url::parse_with_params(&server.url("/oauth/authorize"), &params).unwrap();
    let (mut status, mut page, location) = browser.get(url.as_str()).await;
    if location.starts_with("/login") {
        let back = browser
            .sign_in_through(url.as_str(), ADMIN_EMAIL, ADMIN_PASSWORD)
            .await;
        (status, page, _) = browser.get(&back).await;
    }
    assert_eq!(status, StatusCode::OK, "a consent page every time: {page}");
    assert!(page.contains("unverified application"), "{page}");
    assert!(
        page.contains("Agent Smith") && page.contains(client_id),
        "{page}"
    );
    let r = browser.submit_form(&page, &[("decision", "allow")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = location_of(&r);
    assert!(to.starts_with(REDIRECT), "{to}");
    reqwest::Url::parse(&to)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.to_string())
        .expect("code")
}

pub async fn redeem(
    server: &TestServer,
    client_id: &str,
    code: &str,
    verifier: &str,
    resource: Option<&str>,
) -> (StatusCode, Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("client_id", client_id),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ];
    if let Some(r) = resource {
        form.push(("resource", r));
    }
    body(
        server
            .api()
            .post(server.url("/oauth/token"))
            .form(&form)
            .send()
            .await
            .unwrap(),
    )
    .await
}

pub async fn refresh(server: &TestServer, client_id: &str, token: &str) -> (StatusCode, Value) {
    body(
        server
            .api()
            .post(server.url("/oauth/token"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", client_id),
                ("refresh_token", token),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .unwrap(),
    )
    .unwrap()
}

async fn discovery(server: &TestServer) -> Value {
    body(
        server
            .api()
            .get(server.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap(),
    )
    .await
    .1
}

/// Off (the default): 404 naming why, and no `registration_endpoint`. Open: anyone registers.
/// Token: only with a live initial access token from an admin, spent by one registration.
async fn each_mode(b: Backend) {
    let meta = json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"});
    let off = start(b, "off").await;
    let (status, v) = register(&off, meta.clone(), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    assert!(
        v["error_description"]
            .as_str()
            .unwrap()
            .contains("registration is off"),
        "{v}"
    );
    assert!(discovery(&off).await.get("registration_endpoint").is_none());
    drop(off);

    let open = start(b, "open").await;
    assert_eq!(
        discovery(&open).await["registration_endpoint"],
        open.url("/oauth/register")
    );
    let (status, v) = register(&open, meta.clone(), None).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert!(v["client_id"].as_str().unwrap().starts_with("reg_"));
    assert!(v.get("client_secret").is_none(), "a public client: {v}");
    assert!(v["client_id_issued_at"].as_i64().unwrap() > 0);
    assert_eq!(
        v["scope"],
        MAX_SCOPES.join(" "),
        "all of max_scopes by default"
    );
    assert_eq!(v["grant_types"], json!(["authorization_code"]));
    // Confidential by default (RFC 7591 §2: client_secret_basic): a secret, shown once.
    let (status, v) = register(&open, json!({"redirect_uris": [REDIRECT]}), None).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["token_endpoint_auth_method"], "client_secret_basic");
    assert!(v["client_secret"].as_str().unwrap().len() >= 32);
    assert_eq!(v["client_secret_expires_at"], 0);
    drop(open);

    let server = start(b, "token").await;
    let (status, v) = register(&server, meta.clone(), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(v["error"], "invalid_token");
    let (status, v) = register(&server, meta.clone(), Some("made-up")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
    let admin = admin(&server).await;
    let (status, t) = body(
        crate::machine::admin_post(&server, &admin, "/api/admin/registration-tokens", json!({}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{t}");
    assert_eq!(t["single_use"], true);
    let iat = t["token"].as_str().unwrap().to_string();
    let (status, v) = register(&server, meta.clone(), Some(&iat)).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let (status, v) = register(&server, meta.clone(), Some(&iat)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "spent: {v}");
    // A reusable one works until it expires.
    let (_, t) = body(
        crate::machine::admin_post(
            &server,
            &admin,
            "/api/admin/registration-tokens",
            json!({"single_use": false, "expires_in": 600}),
        )
        .await,
    )
    .await;
    let reusable = t["token"].as_str().unwrap().to_string();
    for _ in 0..2 {
        assert_eq!(
            register(&server, meta.clone(), Some(&reusable)).await.0,
            StatusCode::CREATED
        );
    }
    let (status, v) = body(
        crate::machine::admin_post(
            &server,
            &admin,
            "/api/admin/registration-tokens",
            json!({"expires_in": 1}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    server.clock.advance(601);
    assert_eq!(
        register(&server, meta.clone(), Some(&reusable)).await.0,
        StatusCode::UNAUTHORIZED
    );
}

/// RFC 7591 §3.2.2: bad metadata is refused naming the field; nothing is registered.
async fn bad_metadata(b: Backend) {
    let server = start(b, "open").await;
    for (meta, code, says) in [
        (
            json!({}),
            "invalid_redirect_uri",
            "redirect_uris is required",
        ),
        (
            json!({"redirect_uris": ["http://agent.example.com/cb"]}),
            "invalid_redirect_uri",
            "http is allowed only on 127.0.0.1",
        ),
        (
            json!({"redirect_uris": ["https://agent.example.com/cb#x"]}),
            "invalid_redirect_uri",
            "fragment",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "scope": "openid containers:write"}),
            "invalid_client_metadata",
            "scope containers:write is not available",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "grant_types": ["client_credentials"]}),
            "invalid_client_metadata",
            "client_credentials",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
            "private_key_jwt",
        ),
        (
            json!({"redirect_uris": "https://agent.example.com/cb"}),
            "invalid_client_metadata",
            "JSON object of client metadata",
        ),
    ] {
        let (status, v) = register(&server, meta.clone(), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{meta} → {v}");
        assert_eq!(v["error"], code, "{meta} → {v}");
        assert!(
            v["error_description"].as_str().unwrap().contains(says),
            "{meta} → {v}"
        );
    }
    let admin = admin(&server).await;
    let (_, list) = body(get(&server, &admin, "/api/admin/clients").await).await;
    assert!(
        !list["clients"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["kind"] == "registered"),
        "{list}"
    );
}

/// A registered public client through the code flow with PKCE: consent every time, naming it
/// unverified; tokens within what it registered; refresh; its token at ward's API and at the
/// proxy; a scope it did not register is refused at authorize.
async fn code_flow(b: Backend) {
    let server = start(b, "open").await;
    let client = public_client(&server, "openid offline_access containers:read").await;
    let id = client["client_id"].as_str().unwrap();
    let browser = server.browser();
    let (verifier, challenge) = pkce_pair();
    let code = code_for(
        &server,
        &browser,
        id,
        &challenge,
        "openid offline_access containers:read",
        None,
    )
    .await;
    let (status, tokens) = redeem(&server, id, &code, &verifier, None).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(claims(access)["client_id"], id);
    assert_eq!(profile_status(&server, access).await, StatusCode::OK);
    assert_eq!(
        get(&server, access, "/api/containers/c1").await.status(),
        StatusCode::OK
    );
    // Not the admin API, though the user is an admin: the client holds only what it asked.
    assert_eq!(
        get(&server, access, "/api/admin/users").await.status(),
        StatusCode::FORBIDDEN
    );
    let (status, v) = refresh(&server, id, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    // Consent again, although the user allowed it before (a configured client would not ask).
    let (verifier, challenge) = pkce_pair();
    let code = code_for(&server, &browser, id, &challenge, "openid", None).await;
    assert_eq!(
        redeem(&server, id, &code, &verifier, None).await.0,
        StatusCode::OK
    );
    // Outside what it registered: back to the client as invalid_scope.
    let url = reqwest::Url::parse_with_params(
        &server.url("/oauth/authorize"),
        &[
            ("response_type", "code"),
            ("client_id", id),
            ("redirect_uri", REDIRECT),
            ("scope", "openid containers:write"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    )
    .unwrap();
    let (status, _, to) = browser.get(url.as_str()).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(to.contains("error=invalid_scope"), "{to}");
    // A redirect it did not register: a page, never a redirect.
    let url = reqwest::Url::parse_with_params(
        &server.url("/oauth/authorize"),
        &[
            ("response_type", "code"),
            ("client_id", id),
            ("redirect_uri", "https://evil.example/cb"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    )
    .unwrap();
    assert_eq!(browser.get(url.as_str()).await.0, StatusCode::BAD_REQUEST);
}

/// A confidential registered client authenticates with the secret it was given (Basic or
/// post), and a wrong one is `invalid_client`.
async fn confidential_client(b: Backend) {
    let server = start(b, "open").await;
    let (status, client) = register(
        &server,
        json!({"client_name": "Agent Smith", "redirect_uris": [REDIRECT], "scope": "openid"}),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{client}");
    let id = client["client_id"].as_str().unwrap();
    let secret = client["client_secret"].as_str().unwrap();
    let browser = server.browser();
    let (verifier, challenge) = pkce_pair();
    let code = code_for(&server, &browser, id, &challenge, "openid", None).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    let wrong = server
        .api()
        .post(server.url("/oauth/token"))
        .basic_auth(id, Some("not-the-secret"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(wrong).await,
        (StatusCode::UNAUTHORIZED, "invalid_client".into())
    );
    let none = redeem(&server, id, &code, &verifier, None).await;
    assert_eq!(none.0, StatusCode::UNAUTHORIZED, "{}", none.1);
    let r = server
        .api()
        .post(server.url("/oauth/token"))
        .basic_auth(id, Some(secret))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

/// Admins list configured and registered clients (marked which), remove registered ones (its
/// refresh and access tokens stop at once; audited), and cannot remove configured ones.
async fn admin_list_and_remove(b: Backend) {
    let server = start(b, "open").await;
    let client = public_client(&server, "openid offline_access containers:read").await;
    let id = client["client_id"].as_str().unwrap().to_string();
    let browser = server.browser();
    let (verifier, challenge) = pkce_pair();
    let code = code_for(
        &server,
        &browser,
        &id,
        &challenge,
        "openid offline_access",
        None,
    )
    .await;
    let (_, tokens) = redeem(&server, &id, &code, &verifier, None).await;
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_string();
    let admin = admin(&server).await;
    let (status, list) = body(get(&server, &admin, "/api/admin/clients").await).await;
    assert_eq!(status, StatusCode::OK);
    let kind_of = |cid: &str| {
        list["clients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["client_id"] == cid)
            .map(|c| c["kind"].clone())
    };
    assert_eq!(kind_of(&id), Some(json!("registered")), "{list}");
    assert_eq!(kind_of(APP_CLIENT), Some(json!("configured")), "{list}");
    assert_eq!(kind_of("ward-cli"), Some(json!("configured")), "{list}");
    let del = |path: String| {
        let server = &server;
        let admin = admin.clone();
        async move {
            body(
                server
                    .api()
                    .delete(server.url(&path))
                    .bearer_auth(admin)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let (status, v) = del(format!("/api/admin/clients/{APP_CLIENT}")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert!(v["error_description"]
        .as_str()
        .unwrap()
        .contains("configured client"));
    let (status, _) = del("/api/admin/clients/reg_nobody".into()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, v) = del(format!("/api/admin/clients/{id}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{v}");
    let (status, v) = refresh(&server, &id, &refresh_token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the client is gone: {v}");
    assert_eq!(v["error"], "invalid_client");
    assert_eq!(
        profile_status(&server, &access).await,
        StatusCode::UNAUTHORIZED
    );
    // Through /api/auth/refresh (no client authentication) the session is revoked too.
    let r = server
        .api()
        .post(server.url("/api/auth/refresh"))
        .json(&json!({"refresh_token": refresh_token}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    let (_, audit) = body(
        get(
            &server,
            &admin,
            "/api/admin/audit?type=client.removed&limit=5",
        )
        .await,
    )
    .await;
    assert_eq!(audit["events"][0]["target"], id.as_str(), "{audit}");
    let (_, audit) = body(
        get(
            &server,
            &admin,
            "/api/admin/audit?type=client.registered&limit=5",
        )
        .await,
    )
    .await;
    assert_eq!(audit["events"][0]["target"], id.as_str(), "{audit}");
}

/// SPEC §2.13: registrations are counted per client address in the shared store.
async fn rate_limited(b: Backend) {
    let server = start_with(b, "open", |c| c.registration.per_ip = 2).await;
    let meta = json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"});
    for _ in 0..2 {
        assert_eq!(
            register(&server, meta.clone(), None).await.0,
            StatusCode::CREATED
        );
    }
    let r = server
        .api()
        .post(server.url("/oauth/register"))
        .json(&meta)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
}

/// RFC 8707 §2.2: `resource` at authorize is bound to the code. The token's `aud` follows it
/// without naming it again, the token works only at that route, and naming another resource
/// at the token endpoint is `invalid_target`.
async fn resource_bound_to_code(b: Backend) {
    let server = start(b, "open").await;
    let client = public_client(&server, "openid containers:read").await;
    let id = client["client_id"].as_str().unwrap();
    let containers = server.url("/api/containers");
    let apps = server.url("/api/convox/apps");
    let browser = server.browser();
    let (verifier, challenge) = pkce_pair();
    let scope = "openid containers:read";
    let code = code_for(&server, &browser, id, &challenge, scope, Some(&containers)).await;
    let (status, v) = redeem(&server, id, &code, &verifier, None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let token = v["access_token"].as_str().unwrap();
    assert_eq!(claims(token)["aud"], containers.as_str());
    assert_eq!(
        get(&server, token, "/api/containers/c1").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        profile_status(&server, token).await,
        StatusCode::UNAUTHORIZED
    );
    // The same resource named again: fine.
    let (verifier, challenge) = pkce_pair();
    let code = code_for(&server, &browser, id, &challenge, scope, Some(&containers)).await;
    let (status, v) = redeem(&server, id, &code, &verifier, Some(&containers)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    // Another one: the attack (a code for route A redeemed for route B) is refused.
    let (verifier, challenge) = pkce_pair();
    let code = code_for(&server, &browser, id, &challenge, scope, Some(&containers)).await;
    let (status, v) = redeem(&server, id, &code, &verifier, Some(&apps)).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_target")),
        "{v}"
    );
    // ward itself named at authorize: a ward token, and a route at the token endpoint is
    // refused as well.
    let (verifier, challenge) = pkce_pair();
    let issuer = server.state.issuer.clone();
    let code = code_for(&server, &browser, id, &challenge, scope, Some(&issuer)).await;
    let (status, v) = redeem(&server, id, &code, &verifier, Some(&containers)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"], "invalid_target");
}

#[test]
fn bad_registration_config_stops_start_up() {
    let mut raw = ward_server::config::RawConfig::default();
    raw.registration.max_scopes = vec!["admin:read".into()];
    let e = raw.validate().unwrap_err().to_string();
    assert!(e.contains("registration.max_scopes"), "{e}");
    let mut raw = ward_server::config::RawConfig::default();
    raw.registration.mode = "sometimes".into();
    let e = raw.validate().unwrap_err().to_string();
    assert!(e.contains("registration.mode"), "{e}");
}

on_both_backends!(
    each_mode,
    bad_metadata,
    code_flow,
    confidential_client,
    admin_list_and_remove,
    rate_limited,
    resource_bound_to_code,
);
