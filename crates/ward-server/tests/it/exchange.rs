//! Token exchange (RFC 8693, SPEC §2.15): workload identity against a real, independent OpenID
//! provider (panva/oidc-provider issuing CI-like ID tokens) and against a second ward, each
//! refusal a clear `invalid_grant` with an audit event; and delegation with the `act` claim, the
//! scope ceiling, the session's lifetime and its revocation.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::authority::{app_tokens, get, start_with};
use crate::harness::*;
use crate::idp::{audit_events, OidcProvider, PROVIDER_SECRET};
use crate::machine::admin_post;
use crate::on_both_backends;

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
const CI_REDIRECT: &str = "http://127.0.0.1/ci-callback";
/// A configured client that may act for users (delegation).
const AGENT: &str = "agent";
const AGENT_SECRET: &str = "agent-secret-0123456789";

async fn body(r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    (status, r.json().await.unwrap_or_default())
}

/// The claims of a JWT (tests read what ward signed).
fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// A CI job's ID token from the provider: client `ci`, for the account `hint` (whose CI claims
/// were set with `/__test/accounts`).
async fn ci_id_token(provider: &OidcProvider, hint: &str) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    let (verifier, challenge) = pkce_pair();
    let mut url = reqwest::Url::parse_with_params(
        &format!("{}/auth", provider.issuer),
        &[
            ("client_id", "ci"),
            ("response_type", "code"),
            ("redirect_uri", CI_REDIRECT),
            ("scope", "openid ci"),
            ("login_hint", hint),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("state", "s"),
            ("nonce", "n"),
        ],
    )
    .unwrap();
    let code = loop {
        let r = http.get(url.clone()).send().await.unwrap();
        assert!(r.status().is_redirection(), "{} at {url}", r.status());
        let next = url.join(&location_of(&r)).unwrap();
        if next.as_str().starts_with(CI_REDIRECT) {
            break next
                .query_pairs()
                .find(|(k, _)| k == "code")
                .map(|(_, v)| v.to_string())
                .expect("code");
        }
        url = next;
    };
    let r = http
        .post(format!("{}/token", provider.issuer))
        .basic_auth("ci", Some(PROVIDER_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CI_REDIRECT),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap();
    let (status, v) = body(r).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v["id_token"].as_str().unwrap().to_string()
}

async fn exchange(
    server: &TestServer,
    subject: &str,
    extra: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut form = vec![
        ("grant_type", EXCHANGE),
        ("subject_token", subject),
        ("subject_token_type", ID_TOKEN),
    ];
    form.extend_from_slice(extra);
    let r = server
        .api()
        .post(server.url("/oauth/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    body(r).await
}

async fn forward_auth(server: &TestServer, bearer: &str, uri: &str) -> reqwest::Response {
    server
        .api()
        .get(server.url("/api/auth/validate"))
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Uri", uri)
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap()
}

/// The audit events of `event_type` once `done` holds for them: refusals are recorded in the
/// background (`audit::record_soon`), a moment after the answer.
async fn audit_settled(
    server: &TestServer,
    event_type: &str,
    done: impl Fn(&[(String, Value)]) -> bool,
) -> Vec<(String, Value)> {
    for _ in 0..50 {
        let events = audit_events(server, event_type).await;
        if done(&events) {
            return events;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    audit_events(server, event_type).await
}

fn refused_with(v: &Value, description: &str) {
    assert_eq!(v["error"], "invalid_grant", "{v}");
    let d = v["error_description"].as_str().unwrap();
    assert!(d.contains(description), "{d:?} should say {description:?}");
}

async fn create_service_account(
    server: &TestServer,
    admin: &str,
    name: &str,
    role: &str,
) -> String {
    let r = admin_post(
        server,
        admin,
        "/api/admin/service-accounts",
        json!({"name": name, "role": role}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn workload_identity_from_an_oidc_provider(b: Backend) {
    let provider = OidcProvider::start("http://127.0.0.1:1/unused").await;
    let issuer = provider.issuer.clone();
    let server = start_with(b, |c| {
        c.trust.push(ward_server::trust::config::RawTrust {
            issuer: issuer.clone(),
            audience: "ci".into(),
            claims: [
                ("repository".to_string(), "acme/api".to_string()),
                ("ref".to_string(), "refs/heads/*".to_string()),
            ]
            .into(),
            service_account: "ci-deploy".into(),
        });
    })
    .await;
    let admin = cli_tokens(&server).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let account = create_service_account(&server, &admin, "ci-deploy", "deployer").await;
    provider
        .post(
            "/__test/accounts",
            json!({
                "main@ci": {"repository": "acme/api", "ref": "refs/heads/main", "workflow": "deploy"},
                "fork@ci": {"repository": "evil/api", "ref": "refs/heads/main", "workflow": "deploy"},
                "tag@ci": {"repository": "acme/api", "ref": "refs/tags/v1", "workflow": "deploy"},
                "none@ci": {"repository": "acme/api"},
            }),
        )
        .await;

    // The job's token becomes the service account's: ≤ 1 h, no refresh token.
    let id_token = ci_id_token(&provider, "main@ci").await;
    assert_eq!(claims_of(&id_token)["repository"], "acme/api");
    let (status, v) = exchange(&server, &id_token, &[]).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["issued_token_type"], ACCESS_TOKEN);
    assert!(v["expires_in"].as_u64().unwrap() <= 3600, "{v}");
    assert!(v.get("refresh_token").is_none(), "{v}");
    assert_eq!(v["scope"], "convox:app:read convox:app:delete");
    let token = v["access_token"].as_str().unwrap().to_string();
    let c = claims_of(&token);
    assert_eq!(c["sub"], account.as_str());
    assert!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap() <= 3600);
    assert_eq!(
        get(&server, &token, "/api/convox/apps/web").await.status(),
        StatusCode::OK
    );
    let r = forward_auth(&server, &token, "/api/convox/apps/web").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-ward-credential"], "service_account");
    assert_eq!(r.headers()["x-ward-user-id"], account.as_str());
    assert_eq!(
        get(&server, &token, "/api/containers/c1").await.status(),
        StatusCode::FORBIDDEN
    );
    // Narrower on request; never wider than the role.
    let (status, v) = exchange(&server, &id_token, &[("scope", "convox:app:read")]).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let narrow = v["access_token"].as_str().unwrap().to_string();
    let del = server
        .api()
        .delete(server.url("/api/convox/apps/web"))
        .bearer_auth(&narrow)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), StatusCode::FORBIDDEN);
    let (status, v) = exchange(&server, &id_token, &[("scope", "containers:read")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"], "invalid_scope", "{v}");
    // ward-cli may be named; another client must list the grant.
    let (status, v) = exchange(&server, &id_token, &[("client_id", "ward-cli")]).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let ok = audit_events(&server, "token.exchanged").await;
    assert!(
        ok.iter().any(|(o, d)| o == "ok"
            && d["service_account"] == "ci-deploy"
            && d["issuer"] == issuer.as_str()),
        "{ok:?}"
    );

    // Each refusal names what failed, and is audited.
    let (status, v) = exchange(&server, &ci_id_token(&provider, "fork@ci").await, &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    refused_with(
        &v,
        "claim repository is \"evil/api\", which does not match the trust policy's \"acme/api\"",
    );
    let (_, v) = exchange(&server, &ci_id_token(&provider, "tag@ci").await, &[]).await;
    refused_with(&v, "claim ref is \"refs/tags/v1\"");
    let (_, v) = exchange(&server, &ci_id_token(&provider, "none@ci").await, &[]).await;
    refused_with(&v, "the ID token has no ref claim");
    provider
        .post("/__test/mode", json!({"mode": "wrong_aud"}))
        .await;
    let (_, v) = exchange(&server, &ci_id_token(&provider, "main@ci").await, &[]).await;
    refused_with(&v, "wrong audience: the ID token is for some-other-client");
    provider
        .post("/__test/mode", json!({"mode": "expired"}))
        .await;
    let (_, v) = exchange(&server, &ci_id_token(&provider, "main@ci").await, &[]).await;
    refused_with(&v, "the ID token expired");
    provider
        .post("/__test/mode", json!({"mode": "bad_signature"}))
        .await;
    let (_, v) = exchange(&server, &ci_id_token(&provider, "main@ci").await, &[]).await;
    refused_with(&v, "signature does not verify");
    provider.post("/__test/mode", json!({"mode": null})).await;
    // An issuer without a trust entry: ward's own ID token.
    let (_, app) = app_tokens(&server, &server.browser(), "openid").await;
    let (_, v) = exchange(&server, app["id_token"].as_str().unwrap(), &[]).await;
    refused_with(
        &v,
        &format!("no [[trust]] entry for issuer {}", server.state.issuer),
    );
    let (_, v) = exchange(&server, "not.a-jwt", &[]).await;
    refused_with(&v, "subject_token is not a JWT");
    let failed: Vec<Value> = audit_settled(&server, "token.exchanged", |e| {
        e.iter().filter(|(o, _)| o == "failed").count() >= 8
    })
    .await
    .into_iter()
    .filter(|(o, _)| o == "failed")
    .map(|(_, d)| d)
    .collect();
    assert_eq!(failed.len(), 8, "{failed:?}");
    assert!(failed
        .iter()
        .all(|d| d["kind"] == "workload" && d["reason"].is_string()));

    // Deleting the service account stops its exchanged tokens and further exchanges.
    let r = server
        .api()
        .delete(server.url(&format!("/api/admin/service-accounts/{account}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (status, v) = body(get(&server, &token, "/api/convox/apps/web").await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        v["error_description"],
        "the service account no longer exists"
    );
    let (_, v) = exchange(&server, &id_token, &[]).await;
    refused_with(&v, "names service account ci-deploy, which does not exist");
}

/// A second ward is the issuer: its ID token for its client `backend` is trusted by email.
async fn workload_identity_from_a_second_ward(b: Backend) {
    let upstream = TestServer::start(b).await;
    let upstream_issuer = upstream.state.issuer.clone();
    let server = start_with(b, |c| {
        for (audience, service_account) in [(APP_CLIENT, "from-ward"), ("someone-else", "other")] {
            c.trust.push(ward_server::trust::config::RawTrust {
                issuer: upstream_issuer.clone(),
                audience: audience.into(),
                claims: [("email".to_string(), "*@test.example".to_string())].into(),
                service_account: service_account.into(),
            });
        }
    })
    .await;
    let admin = cli_tokens(&server).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let account = create_service_account(&server, &admin, "from-ward", "user").await;
    let (_, tokens) = app_tokens(&upstream, &upstream.browser(), "openid email").await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let (status, v) = exchange(&server, id_token, &[("scope", "containers:read")]).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let token = v["access_token"].as_str().unwrap();
    assert_eq!(claims_of(token)["sub"], account.as_str());
    assert_eq!(
        get(&server, token, "/api/containers/c1").await.status(),
        StatusCode::OK
    );
    // The upstream's access token is not an ID token for this audience.
    let (_, v) = exchange(&server, tokens["access_token"].as_str().unwrap(), &[]).await;
    assert_eq!(v["error"], "invalid_grant", "{v}");
}

async fn delegation_acts_for_the_user_within_their_session(b: Backend) {
    let server = start_with(b, |c| {
        c.clients.push(ward_server::config::RawClient {
            id: AGENT.into(),
            secret: Some(AGENT_SECRET.into()),
            grant_types: vec![EXCHANGE.into()],
            scopes: vec!["containers:read".into(), "containers:write".into()],
            ..Default::default()
        });
    })
    .await;
    let delegate =
        |subject: String, scope: Option<&'static str>, client: (&'static str, &'static str)| {
            let server = &server;
            async move {
                let mut form = vec![
                    ("grant_type", EXCHANGE.to_string()),
                    ("subject_token", subject),
                    ("subject_token_type", ACCESS_TOKEN.to_string()),
                ];
                if let Some(s) = scope {
                    form.push(("scope", s.to_string()));
                }
                let r = server
                    .api()
                    .post(server.url("/oauth/token"))
                    .basic_auth(client.0, Some(client.1))
                    .form(&form)
                    .send()
                    .await
                    .unwrap();
                body(r).await
            }
        };
    let user = cli_tokens(&server).await;
    let user_token = user["access_token"].as_str().unwrap().to_string();
    let (status, v) = delegate(
        user_token.clone(),
        Some("containers:read"),
        (AGENT, AGENT_SECRET),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["issued_token_type"], ACCESS_TOKEN);
    assert!(v.get("refresh_token").is_none());
    let token = v["access_token"].as_str().unwrap().to_string();
    let c = claims_of(&token);
    let u = claims_of(&user_token);
    assert_eq!(c["act"], json!({"sub": AGENT}));
    assert_eq!(c["sub"], u["sub"]);
    assert_eq!(c["sid"], u["sid"]);
    assert_eq!(c["client_id"], AGENT);
    let r = forward_auth(&server, &token, "/api/containers/c1").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-ward-credential"], "delegated");
    assert_eq!(r.headers()["x-ward-client-id"], AGENT);
    assert_eq!(r.headers()["x-ward-scopes"], "containers:read");
    let (status, _) = body(
        get(
            &server,
            &token,
            "/api/auth/validate?permission=containers:write",
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Never account security, never the admin API.
    assert_eq!(
        get(&server, &token, "/api/admin/users").await.status(),
        StatusCode::FORBIDDEN
    );

    // The scope ceiling: what the subject holds, and what the client declares.
    let (_, app) = app_tokens(&server, &server.browser(), "openid containers:read").await;
    let narrow_subject = app["access_token"].as_str().unwrap().to_string();
    let (status, v) = delegate(
        narrow_subject.clone(),
        Some("containers:write"),
        (AGENT, AGENT_SECRET),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"], "invalid_scope");
    assert_eq!(
        v["error_description"],
        "scope containers:write is not held by the subject token"
    );
    let (_, v) = delegate(narrow_subject, None, (AGENT, AGENT_SECRET)).await;
    assert_eq!(v["scope"], "containers:read", "{v}");
    let (status, v) = delegate(
        user_token.clone(),
        Some("admin:write"),
        (AGENT, AGENT_SECRET),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        v["error_description"],
        "scope admin:write is not allowed for this client"
    );
    // A client that does not list the grant; a subject that is not a user's session token.
    let (status, v) = delegate(user_token.clone(), None, (APP_CLIENT, APP_SECRET)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"], "unauthorized_client", "{v}");
    let api = crate::authority::api_token(&server, &user_token, &["containers:read"]).await;
    let (_, v) = delegate(api, None, (AGENT, AGENT_SECRET)).await;
    refused_with(
        &v,
        "subject_token must be a user's access token with a session, not a api_token",
    );
    let (_, v) = delegate("garbage".into(), None, (AGENT, AGENT_SECRET)).await;
    refused_with(&v, "subject_token is not a live access token");
    let failed = audit_settled(&server, "token.exchanged", |e| {
        e.iter().filter(|(o, _)| o == "failed").count() >= 2
    })
    .await;
    assert!(failed
        .iter()
        .any(|(o, d)| o == "failed" && d["kind"] == "delegation"));
    assert!(failed.iter().any(|(o, d)| o == "ok" && d["actor"] == AGENT));

    // Revoked with the subject's session.
    let r = server
        .api()
        .post(server.url("/api/auth/logout"))
        .bearer_auth(&user_token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(
        get(&server, &token, "/api/containers/c1").await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Never longer-lived than the subject's session: a web session 10 minutes from its end.
    let (_, app) = app_tokens(&server, &server.browser(), "openid containers:read").await;
    server.clock.advance(24 * 3600 - 600);
    let r = refresh_grant_as(&server, app["refresh_token"].as_str().unwrap()).await;
    let (status, refreshed) = body(r).await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    let (status, v) = delegate(
        refreshed["access_token"].as_str().unwrap().to_string(),
        None,
        (AGENT, AGENT_SECRET),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(v["expires_in"].as_u64().unwrap() <= 600, "{v}");

    let discovery: Value = server
        .api()
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(discovery["grant_types_supported"]
        .as_array()
        .unwrap()
        .contains(&json!(EXCHANGE)));
}

/// The `backend` client's refresh grant.
async fn refresh_grant_as(server: &TestServer, refresh_token: &str) -> reqwest::Response {
    server
        .api()
        .post(server.url("/oauth/token"))
        .basic_auth(APP_CLIENT, Some(APP_SECRET))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .send()
        .await
        .unwrap()
}

on_both_backends!(
    workload_identity_from_an_oidc_provider,
    workload_identity_from_a_second_ward,
    delegation_acts_for_the_user_within_their_session,
);
