//! RFC 8707 §2.2 and refresh tokens: the resource a grant was given for is remembered with its
//! session, so a refresh without `resource` keeps the audience, naming the same one is fine and
//! naming another (ward itself included) is `invalid_target`. A token for route A stays refused
//! at route B after any number of refreshes: the code flow with PKCE (resource at the token
//! request, or at authorize and bound to the code), `/api/auth/refresh`, the device grant and
//! DPoP-bound public clients.

use reqwest::StatusCode;
use serde_json::Value;
use ward_client::dpop::DpopKey;

use crate::authority::{get, start};
use crate::dpop::proof_for;
use crate::harness::*;
use crate::on_both_backends;

const ROUTE_A: &str = "/api/containers";
const ROUTE_B: &str = "/api/convox/apps";

async fn body(r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    (status, r.json().await.unwrap_or_default())
}

fn aud(token: &str) -> Value {
    crate::dpop::claims(token)["aud"].clone()
}

/// `POST /oauth/token` for `ward-cli` with `form`, an optional `resource` and DPoP proof.
async fn token_request(
    server: &TestServer,
    form: &[(&str, &str)],
    resource: Option<&str>,
    key: Option<&DpopKey>,
) -> (StatusCode, Value) {
    let mut form: Vec<(&str, &str)> = form.to_vec();
    form.push(("client_id", "ward-cli"));
    if let Some(r) = resource {
        form.push(("resource", r));
    }
    let mut request = server.api().post(server.url("/oauth/token")).form(&form);
    if let Some(k) = key {
        request = request.header("DPoP", proof_for(server, k, "POST", "/oauth/token", None));
    }
    body(request.send().await.unwrap()).await
}

async fn refresh(
    server: &TestServer,
    token: &str,
    resource: Option<&str>,
    key: Option<&DpopKey>,
) -> (StatusCode, Value) {
    token_request(
        server,
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
        resource,
        key,
    )
    .await
}

/// The CLI's code flow with PKCE; `resource` named at the token request.
async fn cli_tokens_for(
    server: &TestServer,
    resource: Option<&str>,
    key: Option<&DpopKey>,
) -> Value {
    let browser = server.browser();
    let (verifier, challenge) = pkce_pair();
    let code = server.cli_code(&browser, &challenge, LOOPBACK).await;
    let (status, v) = token_request(
        server,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", LOOPBACK),
            ("code_verifier", &verifier),
        ],
        resource,
        key,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v
}

/// Route B refuses `token` through the proxy and forward-auth with 401 `invalid_token`;
/// route A accepts it through both.
async fn only_route_a(server: &TestServer, token: &str) {
    assert_eq!(aud(token), server.url(ROUTE_A).as_str());
    assert_eq!(
        get(server, token, "/api/containers/c1").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        forward_auth(server, token, "/api/containers/c1")
            .await
            .status(),
        StatusCode::OK
    );
    let (status, v) = body(get(server, token, "/api/convox/apps/web").await).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_token")),
        "{v}"
    );
    assert_eq!(
        forward_auth(server, token, "/api/convox/apps/web")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
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

fn tokens(v: &Value) -> (String, String) {
    (
        v["access_token"].as_str().unwrap().to_string(),
        v["refresh_token"].as_str().unwrap().to_string(),
    )
}

/// The attack of issue #20's remainder: a token got for route A, refreshed without naming a
/// resource, must not become a token that works at route B (or ward's API); every way of
/// refreshing keeps route A, and naming anything else is `invalid_target`.
async fn refresh_keeps_the_resource(b: Backend) {
    let server = start(b).await;
    let a = server.url(ROUTE_A);
    let v = cli_tokens_for(&server, Some(&a), None).await;
    let (access, mut rt) = tokens(&v);
    only_route_a(&server, &access).await;

    // The attack: refresh without `resource`.
    let (status, v) = refresh(&server, &rt, None, None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let access;
    (access, rt) = tokens(&v);
    only_route_a(&server, &access).await;
    assert_eq!(
        profile_status(&server, &access).await,
        StatusCode::UNAUTHORIZED
    );

    // The same resource again: fine.
    let (status, v) = refresh(&server, &rt, Some(&a), None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let access;
    (access, rt) = tokens(&v);
    only_route_a(&server, &access).await;

    // Another route, or ward itself: refused, naming the bound resource, and the refresh
    // token is not used up by the refusal.
    for other in [server.url(ROUTE_B), server.state.issuer.clone()] {
        let (status, v) = refresh(&server, &rt, Some(&other), None).await;
        assert_eq!(
            (status, v["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_target")),
            "{v}"
        );
        assert_eq!(
            v["error_description"],
            format!(
                "this refresh token was granted for the resource {a}: a refresh may name it or none, not {other}"
            ),
        );
    }

    // ward's own refresh endpoint (no `resource` there) keeps it too.
    let r = server
        .api()
        .post(server.url("/api/auth/refresh"))
        .json(&serde_json::json!({"refresh_token": rt}))
        .send()
        .await
        .unwrap();
    let (status, v) = body(r).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    only_route_a(&server, v["access_token"].as_str().unwrap()).await;
}

/// A `resource` named at `/oauth/authorize` binds the code (decision 223) and now the refresh
/// token too.
async fn refresh_keeps_the_code_bound_resource(b: Backend) {
    let server = crate::registration::start(b, "open").await;
    let scope = "openid offline_access containers:read";
    let client = crate::registration::public_client(&server, scope).await;
    let id = client["client_id"].as_str().unwrap();
    let a = server.url(ROUTE_A);
    let browser = server.browser();
    let (verifier, challenge) = pkce_pair();
    let code =
        crate::registration::code_for(&server, &browser, id, &challenge, scope, Some(&a)).await;
    let (status, v) = crate::registration::redeem(&server, id, &code, &verifier, None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (access, rt) = tokens(&v);
    only_route_a(&server, &access).await;
    let (status, v) = crate::registration::refresh(&server, id, &rt).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (access, rt) = tokens(&v);
    only_route_a(&server, &access).await;
    let b_url = server.url(ROUTE_B);
    let r = server
        .api()
        .post(server.url("/oauth/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", id),
            ("refresh_token", rt.as_str()),
            ("resource", b_url.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let (status, v) = body(r).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_target")),
        "{v}"
    );
}

/// The device grant takes `resource` at its token request: the session remembers it.
async fn device_grant_keeps_the_resource(b: Backend) {
    let server = start(b).await;
    let r = server
        .api()
        .post(server.url("/oauth/device/code"))
        .form(&[
            ("client_id", "ward-cli"),
            ("scope", "openid offline_access"),
        ])
        .send()
        .await
        .unwrap();
    let (status, device) = body(r).await;
    assert_eq!(status, StatusCode::OK, "{device}");
    crate::standard_clients::approve_device(
        &server,
        device["verification_uri_complete"].as_str().unwrap(),
    )
    .await;
    let a = server.url(ROUTE_A);
    let (status, v) = token_request(
        &server,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device["device_code"].as_str().unwrap()),
        ],
        Some(&a),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (access, rt) = tokens(&v);
    only_route_a(&server, &access).await;
    let (status, v) = refresh(&server, &rt, None, None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    only_route_a(&server, v["access_token"].as_str().unwrap()).await;
}

/// A DPoP-bound public client: the refreshed token keeps its key and its audience, and is
/// refused at route B even with a valid proof.
async fn dpop_bound_refresh_keeps_the_resource(b: Backend) {
    let server = start(b).await;
    let key = DpopKey::generate();
    let a = server.url(ROUTE_A);
    let v = cli_tokens_for(&server, Some(&a), Some(&key)).await;
    assert_eq!(v["token_type"], "DPoP");
    let (_, rt) = tokens(&v);
    let (status, v) = refresh(&server, &rt, None, Some(&key)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (access, rt) = tokens(&v);
    let claims = crate::dpop::claims(&access);
    assert_eq!(claims["cnf"]["jkt"], key.thumbprint());
    assert_eq!(claims["aud"], a.as_str());
    let at = |path: &str| {
        let proof = proof_for(&server, &key, "GET", path, Some(&access));
        server
            .api()
            .get(server.url(path))
            .header("Authorization", format!("DPoP {access}"))
            .header("DPoP", proof)
            .send()
    };
    assert_eq!(
        at("/api/containers/c1").await.unwrap().status(),
        StatusCode::OK
    );
    let (status, v) = body(at("/api/convox/apps/web").await.unwrap()).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_token")),
        "{v}"
    );
    let (status, v) = refresh(&server, &rt, Some(&server.url(ROUTE_B)), Some(&key)).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_target")),
        "{v}"
    );
}

/// A session granted for ward itself (no `resource`) may still narrow a refresh to a route,
/// and the next refresh without one is a ward token again (RFC 8707 §2.2: within what was
/// granted).
async fn unbound_session_may_narrow_each_refresh(b: Backend) {
    let server = start(b).await;
    let v = cli_tokens_for(&server, None, None).await;
    let (_, rt) = tokens(&v);
    let (status, v) = refresh(&server, &rt, Some(&server.url(ROUTE_A)), None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (access, rt) = tokens(&v);
    only_route_a(&server, &access).await;
    let (status, v) = refresh(&server, &rt, None, None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let access = v["access_token"].as_str().unwrap();
    assert_eq!(aud(access), server.state.issuer.as_str());
    assert_eq!(profile_status(&server, access).await, StatusCode::OK);
}

/// RFC 8693 delegation keeps the subject token's audience: a token for route A (from a bound
/// session, or narrowed at a refresh of an unbound one) is not exchanged for one that works
/// at route B.
async fn delegation_keeps_the_subject_audience(b: Backend) {
    const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
    let server = crate::authority::start_with(b, |c| {
        c.clients.push(ward_server::config::RawClient {
            id: "agent".into(),
            secret: Some("agent-secret-0123456789".into()),
            grant_types: vec![EXCHANGE.into()],
            scopes: vec!["containers:read".into(), "convox:app:read".into()],
            ..Default::default()
        });
    })
    .await;
    let delegate = |subject: String, resource: Option<String>| {
        let server = &server;
        async move {
            let mut form = vec![
                ("grant_type", EXCHANGE.to_string()),
                ("subject_token", subject),
                (
                    "subject_token_type",
                    "urn:ietf:params:oauth:token-type:access_token".to_string(),
                ),
            ];
            if let Some(r) = resource {
                form.push(("resource", r));
            }
            let r = server
                .api()
                .post(server.url("/oauth/token"))
                .basic_auth("agent", Some("agent-secret-0123456789"))
                .form(&form)
                .send()
                .await
                .unwrap();
            body(r).await
        }
    };
    let a = server.url(ROUTE_A);
    let bound = cli_tokens_for(&server, Some(&a), None).await;
    let unbound = cli_tokens_for(&server, None, None).await;
    let (status, v) = refresh(&server, &tokens(&unbound).1, Some(&a), None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    for subject in [tokens(&bound).0, tokens(&v).0] {
        let (status, v) = delegate(subject.clone(), None).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        only_route_a(&server, v["access_token"].as_str().unwrap()).await;
        let (status, v) = delegate(subject, Some(server.url(ROUTE_B))).await;
        assert_eq!(
            (status, v["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_target")),
            "{v}"
        );
    }
}

on_both_backends!(
    refresh_keeps_the_resource,
    refresh_keeps_the_code_bound_resource,
    device_grant_keeps_the_resource,
    dpop_bound_refresh_keeps_the_resource,
    unbound_session_may_narrow_each_refresh,
    delegation_keeps_the_subject_audience,
);
