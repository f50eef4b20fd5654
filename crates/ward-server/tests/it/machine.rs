//! Machine identities (SPEC §2.15): service accounts and their tokens at the API, the proxy and
//! forward-auth within their role, and clients whose `client_credentials` tokens act with a
//! configured role.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::authority::{get, start, MACHINE_CLIENT, MACHINE_SECRET};
use crate::harness::*;
use crate::on_both_backends;

async fn body(r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    (status, r.json().await.unwrap_or_default())
}

pub async fn admin_post(
    server: &TestServer,
    bearer: &str,
    path: &str,
    b: Value,
) -> reqwest::Response {
    server
        .api()
        .post(server.url(path))
        .bearer_auth(bearer)
        .json(&b)
        .send()
        .await
        .unwrap()
}

async fn delete(server: &TestServer, bearer: &str, path: &str) -> reqwest::Response {
    server
        .api()
        .delete(server.url(path))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap()
}

/// Makes a service account of `role` (a fresh name) and a token of it with `scopes`; returns
/// the token's secret.
pub async fn service_account_token(
    server: &TestServer,
    admin: &str,
    role: &str,
    scopes: &[&str],
) -> String {
    let name = format!(
        "sa-{}",
        ward_core::random::random_id(&ward_core::random::OsRandom)
    );
    let (status, account) = body(
        admin_post(
            server,
            admin,
            "/api/admin/service-accounts",
            json!({"name": name, "role": role}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{account}");
    let id = account["id"].as_str().unwrap();
    let (status, token) = body(
        admin_post(
            server,
            admin,
            &format!("/api/admin/service-accounts/{id}/tokens"),
            json!({"name": "t", "scopes": scopes}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{token}");
    token["token"].as_str().unwrap().to_string()
}

/// A `client_credentials` access token of `client`.
pub async fn client_credentials_token(
    server: &TestServer,
    client: &str,
    secret: &str,
    scope: &str,
) -> String {
    let r = server
        .api()
        .post(server.url("/oauth/token"))
        .basic_auth(client, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("scope", scope)])
        .send()
        .await
        .unwrap();
    let (status, v) = body(r).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v["access_token"].as_str().unwrap().to_string()
}

async fn forward_auth(
    server: &TestServer,
    bearer: &str,
    method: &str,
    uri: &str,
) -> reqwest::Response {
    server
        .api()
        .get(server.url("/api/auth/validate"))
        .header("X-Forwarded-Method", method)
        .header("X-Forwarded-Uri", uri)
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap()
}

fn admin_token(v: &Value) -> String {
    v["access_token"].as_str().unwrap().to_string()
}

async fn service_account_lifecycle(b: Backend) {
    let server = start(b).await;
    let admin = admin_token(&cli_tokens(&server).await);
    let create = |name: &'static str, role: &'static str| {
        admin_post(
            &server,
            &admin,
            "/api/admin/service-accounts",
            json!({"name": name, "role": role}),
        )
    };
    let (status, account) = body(create("ci-deploy", "deployer").await).await;
    assert_eq!(status, StatusCode::CREATED, "{account}");
    let id = account["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("sa_"), "{id}");
    assert_eq!(account["role"], "deployer");
    // Refusals name what was wrong.
    let (status, v) = body(create("ci-deploy", "deployer").await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        v["error_description"],
        "a service account named ci-deploy exists already"
    );
    let (status, v) = body(create("other", "nope").await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        v["error_description"]
            .as_str()
            .unwrap()
            .starts_with("unknown role \"nope\""),
        "{v}"
    );
    let (status, v) = body(create("has space", "user").await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");

    let tokens_path = format!("/api/admin/service-accounts/{id}/tokens");
    let (status, v) = body(
        admin_post(
            &server,
            &admin,
            &tokens_path,
            json!({"name": "deploy", "scopes": ["containers:read"]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        v["error_description"],
        "containers:read is not granted by the service account's role deployer"
    );
    let r = admin_post(
        &server,
        &admin,
        &tokens_path,
        json!({"name": "deploy", "scopes": ["convox:app:read"]}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let created: Value = r.json().await.unwrap();
    let token = created["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("ward_"));

    // The proxy: within role ∩ scopes.
    assert_eq!(
        get(&server, &token, "/api/convox/apps/web").await.status(),
        StatusCode::OK
    );
    let (status, v) = body(delete(&server, &token, "/api/convox/apps/web").await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        v["error_description"]
            .as_str()
            .unwrap()
            .starts_with("permission denied: convox:app:delete is not granted to this credential"),
        "{v}"
    );
    let (status, v) = body(get(&server, &token, "/api/containers/c1").await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        v["error_description"],
        "permission denied: containers:read requires guest role"
    );
    // Forward-auth: the same answers, and the service account as the identity.
    let r = forward_auth(&server, &token, "GET", "/api/convox/apps/web").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-ward-credential"], "service_account");
    assert_eq!(r.headers()["x-ward-user-id"], id.as_str());
    assert_eq!(r.headers()["x-ward-scopes"], "convox:app:read");
    assert_eq!(
        forward_auth(&server, &token, "DELETE", "/api/convox/apps/web")
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    // The API: no admin, no account security.
    assert_eq!(
        get(&server, &token, "/api/admin/users").await.status(),
        StatusCode::FORBIDDEN
    );
    let (status, v) = body(
        admin_post(
            &server,
            &token,
            "/api/tokens",
            json!({"name": "x", "scopes": ["convox:app:read"]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        v["error_description"],
        "permission denied: account security needs a signed-in session, not a service account's token"
    );
    // Not a user: not listed among them, so no sign-in path can reach it.
    let (_, users) = body(get(&server, &admin, "/api/admin/users").await).await;
    assert!(!users.to_string().contains(&id), "{users}");
    let (_, list) = body(get(&server, &admin, "/api/admin/service-accounts").await).await;
    let listed = &list["service_accounts"][0];
    assert_eq!(listed["name"], "ci-deploy");
    assert_eq!(listed["tokens"][0]["scopes"], json!(["convox:app:read"]));
    assert!(listed["tokens"][0]["last_used_at"].is_string(), "{list}");
    assert!(listed.get("token").is_none() && !list.to_string().contains(&token));

    // Deleting it kills its tokens at once.
    assert_eq!(
        delete(
            &server,
            &admin,
            &format!("/api/admin/service-accounts/{id}")
        )
        .await
        .status(),
        StatusCode::NO_CONTENT
    );
    let (status, v) = body(get(&server, &token, "/api/convox/apps/web").await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(
        forward_auth(&server, &token, "GET", "/api/convox/apps/web")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        delete(
            &server,
            &admin,
            &format!("/api/admin/service-accounts/{id}")
        )
        .await
        .status(),
        StatusCode::NOT_FOUND
    );
    let (_, list) = body(get(&server, &admin, "/api/admin/service-accounts").await).await;
    assert_eq!(list["service_accounts"], json!([]));
}

/// What a service account's token does is audited with the service account as the actor; a
/// revoked token stops at once; its admin scopes reach the admin API.
async fn service_account_is_the_audit_actor(b: Backend) {
    let server = start(b).await;
    let admin = admin_token(&cli_tokens(&server).await);
    let token =
        service_account_token(&server, &admin, "admin", &["admin:read", "admin:write"]).await;
    let (_, list) = body(get(&server, &admin, "/api/admin/service-accounts").await).await;
    let account = &list["service_accounts"][0];
    let id = account["id"].as_str().unwrap().to_string();
    let token_id = account["tokens"][0]["id"].as_str().unwrap().to_string();
    let r = admin_post(
        &server,
        &token,
        "/api/admin/users",
        json!({"email": "made-by-ci@test.example", "role": "user"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let (status, audit) = body(
        get(
            &server,
            &admin,
            "/api/admin/audit?type=user.created&limit=5",
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(audit["events"][0]["actor"], id.as_str(), "{audit}");
    // Revoking one token stops it at once.
    let r = delete(
        &server,
        &admin,
        &format!("/api/admin/service-accounts/{id}/tokens/{token_id}"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (status, v) = body(get(&server, &token, "/api/admin/users").await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(v["error_description"], "API token revoked");
    let (_, audit) = body(
        get(
            &server,
            &admin,
            "/api/admin/audit?type=service_account.token_revoked&limit=5",
        )
        .await,
    )
    .await;
    assert_eq!(audit["events"][0]["target"], token_id.as_str(), "{audit}");
}

/// `[[clients]] role`: a client's own tokens act within role ∩ scopes at the proxy, forward-auth
/// and the API; a client without a role is refused, naming why (decision 12 as amended).
async fn client_credentials_with_a_role(b: Backend) {
    let server = start(b).await;
    let token = client_credentials_token(
        &server,
        MACHINE_CLIENT,
        MACHINE_SECRET,
        "containers:read convox:app:read",
    )
    .await;
    assert_eq!(
        get(&server, &token, "/api/containers/c1").await.status(),
        StatusCode::OK
    );
    let r = forward_auth(&server, &token, "GET", "/api/containers/c1").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-ward-credential"], "client");
    assert_eq!(r.headers()["x-ward-client-id"], MACHINE_CLIENT);
    assert_eq!(r.headers()["x-ward-user-id"], MACHINE_CLIENT);
    assert_eq!(r.headers()["x-ward-scopes"], "containers:read");
    // convox:app:read is in its scopes but not its role.
    let (status, v) = body(get(&server, &token, "/api/convox/apps/web").await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        v["error_description"],
        "permission denied: convox:app:read requires deployer role"
    );
    // containers:write is in its role but not its scopes.
    let (status, v) = body(
        get(
            &server,
            &token,
            "/api/auth/validate?permission=containers:write",
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        v["error_description"]
            .as_str()
            .unwrap()
            .starts_with("permission denied: containers:write is not granted to this credential"),
        "{v}"
    );
    assert_eq!(
        get(&server, &token, "/api/admin/users").await.status(),
        StatusCode::FORBIDDEN
    );
    // The tests' `backend` client has client_credentials but no role.
    let plain = client_credentials_token(&server, APP_CLIENT, APP_SECRET, "containers:read").await;
    let (status, v) = body(get(&server, &plain, "/api/containers/c1").await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        v["error_description"],
        "client_credentials tokens of client backend act at ward only when its [[clients]] entry has a role"
    );
}

/// RFC 9728: each route's protected-resource metadata, ward's own, and the proxy's 401 pointing
/// at it.
async fn protected_resource_metadata(b: Backend) {
    let server = start(b).await;
    let meta = |path: &'static str| {
        let server = &server;
        async move { body(server.api().get(server.url(path)).send().await.unwrap()).await }
    };
    let (status, v) = meta("/.well-known/oauth-protected-resource/api/containers").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["resource"], server.url("/api/containers"));
    assert_eq!(v["authorization_servers"], json!([server.state.issuer]));
    assert_eq!(v["scopes_supported"], json!(["containers:read"]));
    let (_, v) = meta("/.well-known/oauth-protected-resource/api/convox/apps").await;
    assert_eq!(
        v["scopes_supported"],
        json!(["convox:app:delete", "convox:app:read"])
    );
    let (status, _) = meta("/.well-known/oauth-protected-resource/api/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, v) = meta("/.well-known/oauth-protected-resource").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["resource"], server.state.issuer.as_str());
    let r = server
        .api()
        .get(server.url("/api/containers/c1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        challenge.contains(&format!(
            "resource_metadata=\"{}\"",
            server.url("/.well-known/oauth-protected-resource/api/containers")
        )),
        "{challenge}"
    );
}

/// RFC 8707: `resource` at the token endpoint sets `aud`; such a token works at that route
/// (proxy and forward-auth) and nowhere else; an unknown resource is `invalid_target`.
async fn resource_indicators(b: Backend) {
    let server = start(b).await;
    let cli = cli_tokens(&server).await;
    let mut refresh = cli["refresh_token"].as_str().unwrap().to_string();
    let containers = server.url("/api/containers");
    // The refresh token rotates: each use takes the newest.
    async fn for_resource(
        server: &TestServer,
        refresh: &mut String,
        resource: String,
    ) -> (StatusCode, Value) {
        let r = server
            .api()
            .post(server.url("/oauth/token"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", "ward-cli"),
                ("refresh_token", refresh.as_str()),
                ("resource", resource.as_str()),
            ])
            .send()
            .await
            .unwrap();
        let (status, v) = body(r).await;
        if let Some(next) = v["refresh_token"].as_str() {
            *refresh = next.to_string();
        }
        (status, v)
    }
    let (status, v) = for_resource(
        &server,
        &mut refresh,
        "https://elsewhere.example/api".into(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"], "invalid_target", "{v}");
    let (status, v) = for_resource(&server, &mut refresh, containers.clone()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let token = v["access_token"].as_str().unwrap().to_string();
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["aud"], containers.as_str());
    // Route A: yes, through the proxy and forward-auth.
    assert_eq!(
        get(&server, &token, "/api/containers/c1").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        forward_auth(&server, &token, "GET", "/api/containers/c1")
            .await
            .status(),
        StatusCode::OK
    );
    // Route B and ward's own API: no, though the admin's role would allow them.
    let r = get(&server, &token, "/api/convox/apps/web").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("resource_metadata="));
    let (_, v) = body(r).await;
    assert_eq!(
        v["error_description"],
        format!(
            "this token's audience is {containers}: it is not accepted at {}",
            server.url("/api/convox/apps")
        )
    );
    assert_eq!(
        forward_auth(&server, &token, "GET", "/api/convox/apps/web")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(&server, &token, "/api/admin/users").await.status(),
        StatusCode::UNAUTHORIZED
    );
    // ward itself as the resource: an ordinary token.
    let (status, v) = for_resource(&server, &mut refresh, server.state.issuer.clone()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let ward = v["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        get(&server, &ward, "/api/admin/users").await.status(),
        StatusCode::OK
    );
    // A client's own token for a route.
    let r = server
        .api()
        .post(server.url("/oauth/token"))
        .basic_auth(MACHINE_CLIENT, Some(MACHINE_SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "containers:read"),
            ("resource", containers.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let (status, v) = body(r).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let machine = v["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        get(&server, &machine, "/api/containers/c1").await.status(),
        StatusCode::OK
    );
    // At authorize: an unknown resource goes back to the client as invalid_target.
    let url = reqwest::Url::parse_with_params(
        &server.url("/oauth/authorize"),
        &[
            ("response_type", "code"),
            ("client_id", APP_CLIENT),
            ("redirect_uri", APP_REDIRECT),
            ("scope", "openid"),
            ("resource", "https://elsewhere.example/"),
        ],
    )
    .unwrap();
    let r = server.api().get(url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.status());
    assert!(
        location_of(&r).contains("error=invalid_target"),
        "{}",
        location_of(&r)
    );
}

/// Unknown role in `[[clients]]` stops start-up, naming it.
#[test]
fn unknown_client_role_stops_start_up() {
    let mut raw = ward_server::config::RawConfig::default();
    raw.clients.push(ward_server::config::RawClient {
        id: "ci".into(),
        secret: Some("a secret of some length".into()),
        grant_types: vec!["client_credentials".into()],
        role: Some("deployer".into()),
        ..Default::default()
    });
    let e = raw.validate().unwrap_err().to_string();
    assert!(
        e.contains("clients[0].role") && e.contains("deployer"),
        "{e}"
    );
}

on_both_backends!(
    service_account_lifecycle,
    service_account_is_the_audit_actor,
    client_credentials_with_a_role,
    protected_resource_metadata,
    resource_indicators,
);
