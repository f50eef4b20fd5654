//! What Schemathesis (`.ci/schemathesis.sh`) found against `/api/openapi.json`, each kept fixed:
//! the server's real answer for a client mistake is a 4xx the document declares.

use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::*;
use crate::on_both_backends;

on_both_backends!(
    edge_path_refusals_are_documented,
    validate_unknown_resource_kind_is_documented,
    webauthn_register_start_without_json_is_documented,
    api_token_refused_at_account_security_is_documented,
);

async fn document(server: &TestServer) -> Value {
    server
        .api()
        .get(server.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The real answer's status is one the document lists for the operation.
async fn assert_documented(server: &TestServer, method: &str, path: &str, status: StatusCode) {
    let doc = document(server).await;
    let responses = &doc["paths"][path][method]["responses"];
    assert!(
        responses.get(status.as_str()).is_some(),
        "{method} {path}: {status} is not documented: {responses}"
    );
}

async fn admin_token(server: &TestServer) -> String {
    cli_tokens(server).await["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The edge refuses a path with an encoded `\` or a control character (400 `invalid_path`)
/// before any handler: every operation with a path parameter documents that 400.
async fn edge_path_refusals_are_documented(b: Backend) {
    let server = TestServer::start(b).await;
    let token = admin_token(&server).await;
    for (method, template, raw) in [
        (
            "delete",
            "/api/mfa/webauthn/credentials/{id}",
            "/api/mfa/webauthn/credentials/v%5C",
        ),
        (
            "delete",
            "/api/admin/sessions/{id}",
            "/api/admin/sessions/%2B%26%12",
        ),
    ] {
        let r = server
            .api()
            .delete(server.url(raw))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_code(r).await,
            (StatusCode::BAD_REQUEST, "invalid_path".into()),
            "{raw}"
        );
        assert_documented(&server, method, template, StatusCode::BAD_REQUEST).await;
    }
    // Every operation whose path takes a parameter.
    let doc = document(&server).await;
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.contains('{') {
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            assert!(
                op["responses"].get("400").is_some(),
                "{method} {path} lacks the edge's 400"
            );
        }
    }
}

/// `/api/auth/validate` with a resource of an unknown kind answers 404 `not_found`, documented.
async fn validate_unknown_resource_kind_is_documented(b: Backend) {
    let server = TestServer::start(b).await;
    let token = admin_token(&server).await;
    let r = server
        .api()
        .get(server.url("/api/auth/validate?permission=&lock_kind=&resource="))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::NOT_FOUND, "not_found".into())
    );
    assert_documented(&server, "get", "/api/auth/validate", StatusCode::NOT_FOUND).await;
}

/// `POST /api/mfa/webauthn/register/start` without a JSON body answers 400, documented.
async fn webauthn_register_start_without_json_is_documented(b: Backend) {
    let server = TestServer::start(b).await;
    let token = admin_token(&server).await;
    let r = server
        .api()
        .post(server.url("/api/mfa/webauthn/register/start"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::BAD_REQUEST, "invalid_request".into())
    );
    assert_documented(
        &server,
        "post",
        "/api/mfa/webauthn/register/start",
        StatusCode::BAD_REQUEST,
    )
    .await;
}

/// An API token at an account-security operation gets 403 (it is not a signed-in session): every
/// such operation documents that 403.
async fn api_token_refused_at_account_security_is_documented(b: Backend) {
    let server = TestServer::start(b).await;
    let admin = admin_token(&server).await;
    let r = server
        .api()
        .post(server.url("/api/tokens"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"name": "schema", "scopes": ["containers:read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    let api_token = created["token"].as_str().unwrap().to_string();
    for (method, template, path, body) in [
        (
            "post",
            "/api/mfa/disable",
            "/api/mfa/disable",
            Some(serde_json::json!({"code": "000000"})),
        ),
        (
            "post",
            "/api/mfa/backup-codes",
            "/api/mfa/backup-codes",
            Some(serde_json::json!({"code": "000000"})),
        ),
        ("post", "/api/mfa/totp/setup", "/api/mfa/totp/setup", None),
        (
            "post",
            "/api/mfa/webauthn/register/start",
            "/api/mfa/webauthn/register/start",
            Some(serde_json::json!({})),
        ),
        (
            "delete",
            "/api/mfa/webauthn/credentials/{id}",
            "/api/mfa/webauthn/credentials/0",
            None,
        ),
        ("delete", "/api/sessions/{id}", "/api/sessions/0", None),
    ] {
        let mut req = server
            .api()
            .request(method.to_uppercase().parse().unwrap(), server.url(path))
            .bearer_auth(&api_token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let r = req.send().await.unwrap();
        assert_eq!(
            error_code(r).await,
            (StatusCode::FORBIDDEN, "forbidden".into()),
            "{method} {path}"
        );
        assert_documented(&server, method, template, StatusCode::FORBIDDEN).await;
    }
}
