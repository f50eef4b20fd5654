//! `GET /api/openapi.json` (SPEC §1, §2.4): the document covers every `/api/…` and `/oauth/…`
//! route, with the right methods and nothing more; its schemas resolve; and what the server
//! really answers matches the schemas it declares.
//!
//! The API's routes and the document come from one list (`routes::api_routes`, `utoipa-axum`),
//! so they agree by construction; these tests check that the hand-written part of the route
//! table (pages, discovery, operations) holds no API route that would escape the document, and
//! that every documented operation is really served.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::*;
use crate::on_both_backends;

const ROUTES_RS: &str = include_str!("../../src/routes.rs");
const METHODS: [&str; 8] = [
    "get", "post", "put", "delete", "patch", "head", "options", "trace",
];

/// Every route the server serves, with its methods: the documented API operations and the
/// hand-written `.route("path", …)` calls of `routes.rs`.
pub fn routed() -> BTreeMap<String, BTreeSet<String>> {
    let mut routes = hand_routed();
    for (path, methods) in documented_api(&document()) {
        assert!(
            routes.insert(path.clone(), methods).is_none(),
            "{path} is both in the API's routes! list and routed by hand"
        );
    }
    routes
}

/// The document as the library builds it (the served one adds only its `servers`).
fn document() -> Value {
    serde_json::to_value(ward_server::openapi::document_for("http://127.0.0.1:1"))
        .expect("the document serialises")
}

/// Every hand-written `.route("path", …)` of `routes.rs`, with its methods.
fn hand_routed() -> BTreeMap<String, BTreeSet<String>> {
    let code: String = ROUTES_RS
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut routes = BTreeMap::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find(".route(") {
        let call = &rest[at + ".route(".len()..];
        // The call's arguments, up to its closing parenthesis.
        let mut depth = 1;
        let end = call
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map(|(i, _)| i)
            .expect("a .route( call closes");
        let args = &call[..end];
        rest = &call[end..];
        let path = args
            .split('"')
            .nth(1)
            .expect("a .route( call starts with a path literal");
        // Method routers: `get(`, `.post(`, … not preceded by an identifier character.
        let methods: BTreeSet<String> = METHODS
            .iter()
            .filter(|m| {
                let needle = format!("{m}(");
                args.match_indices(&needle).any(|(i, _)| {
                    i == 0
                        || !args[..i]
                            .chars()
                            .next_back()
                            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
                })
            })
            .map(|m| m.to_string())
            .collect();
        assert!(!methods.is_empty(), "no method router found for {path}");
        assert!(
            routes.insert(path.to_string(), methods).is_none(),
            "{path} routed twice"
        );
    }
    routes
}

#[test]
fn the_route_table_is_read_whole() {
    let hand = hand_routed();
    // A parser that silently found nothing would make the route coverage tests vacuous.
    assert!(hand.len() >= 50, "only {} hand routes found", hand.len());
    let methods = |routes: &BTreeMap<String, BTreeSet<String>>, p: &str| -> Vec<String> {
        routes[p].iter().cloned().collect()
    };
    assert_eq!(methods(&hand, "/login"), ["get", "post"]);
    assert_eq!(methods(&hand, "/cli-login"), ["get"]);
    // An API route written by hand would be served without being documented.
    for path in hand.keys() {
        assert!(
            !path.starts_with("/api/") && !path.starts_with("/oauth/"),
            "{path} is routed by hand: register it with routes! in routes::api_routes"
        );
    }
    let all = routed();
    assert!(all.len() >= hand.len() + 50, "{} routes", all.len());
    assert_eq!(methods(&all, "/oauth/token"), ["post"]);
    assert_eq!(methods(&all, "/oauth/userinfo"), ["get", "post"]);
    assert_eq!(methods(&all, "/api/tokens"), ["get", "post"]);
    assert_eq!(methods(&all, "/api/admin/users/{id}"), ["delete", "patch"]);
    assert_eq!(methods(&all, "/api/openapi.json"), ["get"]);
}

/// The document's operations under `/api/` and `/oauth/`.
fn documented_api(doc: &Value) -> BTreeMap<String, BTreeSet<String>> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .filter(|(p, _)| p.starts_with("/api/") || p.starts_with("/oauth/"))
        .map(|(p, item)| {
            let methods = item
                .as_object()
                .expect("path item")
                .keys()
                .filter(|k| METHODS.contains(&k.as_str()))
                .cloned()
                .collect();
            (p.clone(), methods)
        })
        .collect()
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    let s = &doc["components"]["schemas"][name];
    assert!(s.is_object(), "no schema {name}");
    s
}

fn resolve<'a>(doc: &'a Value, s: &'a Value) -> &'a Value {
    match s["$ref"].as_str() {
        Some(r) => schema(
            doc,
            r.strip_prefix("#/components/schemas/")
                .expect("local schema ref"),
        ),
        None => s,
    }
}

/// The properties and required names of an object schema, through `$ref` and `allOf`.
fn fields(doc: &Value, s: &Value) -> (BTreeSet<String>, BTreeSet<String>) {
    let s = resolve(doc, s);
    let mut props: BTreeSet<String> = s["properties"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let mut required: BTreeSet<String> = s["required"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    for part in s["allOf"].as_array().into_iter().flatten() {
        let (p, r) = fields(doc, part);
        props.extend(p);
        required.extend(r);
    }
    (props, required)
}

/// `value`'s top-level keys are what `schema_name` declares: every required one present,
/// none undeclared.
fn assert_conforms(doc: &Value, schema_name: &str, value: &Value) {
    let (props, required) = fields(doc, schema(doc, schema_name));
    let keys: BTreeSet<String> = value
        .as_object()
        .unwrap_or_else(|| panic!("{schema_name}: not an object: {value}"))
        .keys()
        .cloned()
        .collect();
    let missing: Vec<_> = required.difference(&keys).collect();
    let undeclared: Vec<_> = keys.difference(&props).collect();
    assert!(
        missing.is_empty() && undeclared.is_empty(),
        "{schema_name}: missing {missing:?}, undeclared {undeclared:?} in {value}"
    );
}

/// The schema of a JSON response of an operation.
fn response_schema<'a>(doc: &'a Value, path: &str, method: &str, status: &str) -> &'a Value {
    let s =
        &doc["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"];
    assert!(
        s.is_object(),
        "{method} {path} has no JSON {status} response"
    );
    s
}

fn collect_refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                out.insert(r.to_string());
            }
            m.values().for_each(|x| collect_refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

async fn openapi_document_covers_every_route(b: Backend) {
    let server = TestServer::start(b).await;
    // No credential: the document is public.
    let r = server
        .api()
        .get(server.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let content_type = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let doc: Value = r.json().await.unwrap();

    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."));
    assert_eq!(doc["info"]["title"], "ward");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(doc["servers"][0]["url"], server.url.as_str());

    // The served document is the library's, and every operation in it is served: no
    // documented operation falls through to the JSON 404 or answers 405, and a method the
    // document does not list for a path is a 405.
    let mut library = document();
    library["servers"] = doc["servers"].clone();
    assert_eq!(
        doc, library,
        "the served document differs from the router's"
    );
    let routed = documented_api(&doc);
    assert!(routed.len() >= 50, "only {} documented paths", routed.len());
    let http = reqwest::Client::new();
    for (path, methods) in &routed {
        let url = server.url(&path.replace('{', "x").replace('}', ""));
        for method in METHODS
            .iter()
            .filter(|m| ["get", "post", "delete", "patch"].contains(m))
        {
            let r = http
                .request(method.to_uppercase().parse().unwrap(), &url)
                .send()
                .await
                .unwrap();
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            if methods.contains(*method) {
                assert!(
                    status != StatusCode::METHOD_NOT_ALLOWED && !body.contains("no such route"),
                    "{method} {path} is documented but answered {status}: {body}"
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is not documented but answered {status}: {body}"
                );
            }
        }
    }

    // Every reference resolves; every security requirement names a declared scheme.
    let mut refs = BTreeSet::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in &refs {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("non-local $ref {r}"));
        schema(&doc, name);
    }
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    for name in ["bearer", "session_cookie", "client_basic"] {
        assert!(schemes.contains_key(name), "no security scheme {name}");
    }
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["client_basic"]["scheme"], "basic");
    assert_eq!(schemes["session_cookie"]["in"], "cookie");
    assert_eq!(schemes["session_cookie"]["name"], "ward_session");

    // Each operation: a unique id; a response; a JSON error shape wherever it can fail with one.
    let error_ref = json!("#/components/schemas/ErrorBody");
    let mut operation_ids = BTreeSet::new();
    for (path, methods) in &routed {
        for method in methods {
            let op = &doc["paths"][path][method];
            let id = op["operationId"].as_str().unwrap_or_default();
            assert!(
                !id.is_empty() && operation_ids.insert(id.to_string()),
                "{method} {path}: operationId {id:?} is missing or not unique"
            );
            let responses = op["responses"].as_object().unwrap();
            assert!(!responses.is_empty(), "{method} {path}: no responses");
            // Browser endpoints answer with pages, not JSON errors.
            if path == "/api/openapi.json" || path == "/oauth/authorize" || path == "/oauth/logout"
            {
                continue;
            }
            let has_error_body = responses.iter().any(|(status, r)| {
                status.starts_with('4')
                    && r["content"]["application/json"]["schema"]["$ref"] == error_ref
            });
            assert!(has_error_body, "{method} {path}: no 4xx with ErrorBody");
            for req in op["security"].as_array().into_iter().flatten() {
                for name in req.as_object().unwrap().keys() {
                    assert!(schemes.contains_key(name), "{method} {path}: scheme {name}");
                }
            }
        }
    }

    // Schemas that are real: the error shape and the token response.
    let (props, required) = fields(&doc, schema(&doc, "ErrorBody"));
    assert_eq!(props, required);
    assert_eq!(
        props,
        BTreeSet::from(["error".to_string(), "error_description".to_string()])
    );
    let (props, required) = fields(&doc, response_schema(&doc, "/oauth/token", "post", "200"));
    for p in [
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "scope",
        "id_token",
    ] {
        assert!(props.contains(p), "TokenResponse lacks {p}");
    }
    for p in ["access_token", "token_type", "expires_in"] {
        assert!(required.contains(p), "TokenResponse: {p} not required");
    }
    let form = &doc["paths"]["/oauth/token"]["post"]["requestBody"]["content"]
        ["application/x-www-form-urlencoded"]["schema"];
    let (props, _) = fields(&doc, form);
    assert!(props.contains("grant_type") && props.contains("code_verifier"));

    // What the server answers matches what the document says it answers.
    let tokens = cli_tokens(&server).await;
    assert_conforms(&doc, "TokenResponse", &tokens);
    let admin = tokens["access_token"].as_str().unwrap();
    let get = |path: &str| {
        let request = server.api().get(server.url(path)).bearer_auth(admin);
        async move {
            let r = request.send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<Value>().await.unwrap()
        }
    };
    assert_conforms(&doc, "Profile", &get("/api/profile").await);
    assert_conforms(&doc, "ValidateResponse", &get("/api/auth/validate").await);
    assert_conforms(&doc, "MfaStatus", &get("/api/mfa").await);
    let r = server
        .api()
        .post(server.url("/api/tokens"))
        .bearer_auth(admin)
        .json(&json!({"name": "docs", "scopes": ["containers:read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    assert_conforms(&doc, "CreatedToken", &created);
    let secret = created["token"].as_str().unwrap();
    let r = server
        .api()
        .get(server.url("/api/tokens/validate"))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap();
    assert_conforms(&doc, "TokenValidation", &r.json().await.unwrap());
    let list = get("/api/tokens").await;
    assert_conforms(&doc, "TokenList", &list);
    assert_conforms(&doc, "TokenInfo", &list["tokens"][0]);
    let users = get("/api/admin/users").await;
    assert_conforms(&doc, "UserList", &users);
    assert_conforms(&doc, "UserInfo", &users["users"][0]);
    let sessions = get("/api/sessions").await;
    assert_conforms(&doc, "SessionList", &sessions);
    assert_conforms(&doc, "SessionInfo", &sessions["sessions"][0]);
    let audit = get("/api/admin/audit").await;
    assert_conforms(&doc, "AuditPage", &audit);
    assert_conforms(&doc, "AuditEvent", &audit["events"][0]);
    let r = server
        .api()
        .get(server.url("/api/profile"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_conforms(&doc, "ErrorBody", &r.json().await.unwrap());
}

on_both_backends!(openapi_document_covers_every_route);
