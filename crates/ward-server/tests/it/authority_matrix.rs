//! The authority matrix (SPEC §2.11): every route of `src/routes.rs` is in [`TABLE`] with its
//! endpoint group, so a new route fails [`every_route_is_in_the_table`] until someone decides
//! what it needs. Then every credential kind, fresh and stale, is sent to every checked route,
//! and the status must be what [`expected`] says for that group.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::StatusCode;
use serde_json::Value;

use crate::authority::{api_token, app_tokens, start};
use crate::harness::*;
use crate::on_both_backends;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    /// Needs no credential (sign-in, OAuth endpoints, discovery, health).
    Public,
    /// ward's pages: the cookie only (tested in the page tests).
    Page,
    /// Any valid credential: the caller's own identity and lists.
    Identity,
    /// Ends the caller's session: not sent here (it would end the matrix's credentials).
    SelfEnding,
    /// A resource permission (`containers:read` here), as forward-auth and the proxy check it.
    Resource,
    /// Account security: a fresh first-party session.
    AccountSecurity,
    /// Account security with its own fresh proof (a code in the body): a first-party session.
    CodeProof,
    AdminRead,
    AdminWrite,
    /// Resource locks: the route permission of the kind (issue 16).
    Lock,
}

use Group::*;

/// Every route: method, path, group, and a body of the right shape.
const TABLE: &[(&str, &str, Group, &str)] = &[
    ("get", "/", Page, ""),
    ("get", "/login", Public, ""),
    ("post", "/login", Public, ""),
    ("post", "/login/password", Public, ""),
    ("get", "/login/mfa", Public, ""),
    ("post", "/login/mfa", Public, ""),
    ("get", "/login/mfa/enrol", Public, ""),
    ("post", "/login/mfa/enrol", Public, ""),
    ("post", "/logout", Page, ""),
    ("post", "/login/guest", Public, ""),
    ("get", "/signup", Public, ""),
    ("post", "/signup", Public, ""),
    ("get", "/account", Page, ""),
    ("get", "/reauth", Page, ""),
    ("post", "/reauth", Page, ""),
    ("get", "/account/password", Page, ""),
    ("post", "/account/password", Page, ""),
    ("get", "/recover", Public, ""),
    ("post", "/recover", Public, ""),
    ("get", "/reset", Public, ""),
    ("post", "/reset", Public, ""),
    ("get", "/login/forgot", Public, ""),
    ("post", "/login/forgot", Public, ""),
    ("get", "/verify-email", Public, ""),
    ("get", "/admin/mail", Page, ""),
    ("get", "/invite", Public, ""),
    ("post", "/invite", Public, ""),
    ("get", "/admin/invitations", Page, ""),
    ("post", "/admin/invitations", Page, ""),
    ("post", "/admin/requests/{id}/{decision}", Page, ""),
    ("get", "/account/email", Page, ""),
    ("post", "/account/email", Page, ""),
    ("get", "/static/logo", Public, ""),
    ("get", "/static/brand.css", Public, ""),
    ("post", "/account/tokens", Page, ""),
    ("post", "/account/tokens/{id}/revoke", Page, ""),
    ("post", "/account/sessions/{id}/revoke", Page, ""),
    ("get", "/admin/users", Page, ""),
    ("post", "/admin/users", Page, ""),
    ("post", "/admin/users/{id}/{action}", Page, ""),
    ("get", "/admin/sessions", Page, ""),
    ("post", "/admin/sessions/{id}/revoke", Page, ""),
    ("get", "/admin/audit", Page, ""),
    ("get", "/admin/webhooks", Page, ""),
    ("post", "/admin/webhooks/{id}/resend", Page, ""),
    ("get", "/idp/{name}/callback", Public, ""),
    ("get", "/device", Page, ""),
    ("post", "/device", Page, ""),
    ("post", "/device/decision", Page, ""),
    ("get", "/account/mfa", Page, ""),
    ("post", "/account/mfa/totp", Page, ""),
    ("post", "/account/mfa/totp/confirm", Page, ""),
    ("post", "/account/mfa/disable", Page, ""),
    ("post", "/account/mfa/backup-codes", Page, ""),
    ("post", "/account/mfa/keys/{id}/remove", Page, ""),
    ("get", "/static/ward.css", Public, ""),
    ("get", "/static/webauthn.js", Public, ""),
    ("get", "/.well-known/openid-configuration", Public, ""),
    ("get", "/.well-known/oauth-authorization-server", Public, ""),
    ("get", "/.well-known/jwks.json", Public, ""),
    ("get", "/.well-known/oauth-protected-resource", Public, ""),
    (
        "get",
        "/.well-known/oauth-protected-resource/{*prefix}",
        Public,
        "",
    ),
    ("get", "/oauth/authorize", Page, ""),
    ("post", "/oauth/authorize/decision", Page, ""),
    ("get", "/cli-login", Page, ""),
    ("get", "/cli-login/success", Public, ""),
    ("post", "/oauth/token", Public, ""),
    ("post", "/oauth/device/code", Public, ""),
    ("post", "/oauth/revoke", Public, ""),
    ("post", "/oauth/introspect", Public, ""),
    // Off in this server: 404 to everyone, never a refusal of the credential.
    ("post", "/oauth/register", Public, "{}"),
    ("get", "/oauth/logout", SelfEnding, ""),
    ("post", "/oauth/logout", SelfEnding, ""),
    ("get", "/oauth/userinfo", Identity, ""),
    ("post", "/oauth/userinfo", Identity, ""),
    ("get", "/api/openapi.json", Public, ""),
    ("get", "/api/profile", Identity, ""),
    ("get", "/api/auth/validate", Resource, ""),
    ("post", "/api/auth/refresh", Public, ""),
    ("post", "/api/auth/logout", SelfEnding, ""),
    // Needs a DPoP-bound `ward-cli` session, which no credential here is: tests/it/dpop.
    ("post", "/api/auth/tool-token", SelfEnding, ""),
    ("post", "/api/auth/terminal-sign-in", Public, ""),
    (
        "post",
        "/api/auth/reauth",
        CodeProof,
        r#"{"code":"000000"}"#,
    ),
    ("post", "/api/auth/guest", Public, ""),
    ("get", "/api/sessions", Identity, ""),
    ("delete", "/api/sessions/{id}", AccountSecurity, ""),
    ("get", "/api/tokens", Identity, ""),
    (
        "post",
        "/api/tokens",
        AccountSecurity,
        r#"{"name":"matrix","scopes":["containers:read"]}"#,
    ),
    ("get", "/api/tokens/validate", Public, ""),
    ("delete", "/api/tokens/{id}", Identity, ""),
    ("get", "/api/admin/users", AdminRead, ""),
    (
        "post",
        "/api/admin/users",
        AdminWrite,
        r#"{"email":"matrix@test.example","role":"user"}"#,
    ),
    (
        "patch",
        "/api/admin/users/{id}",
        AdminWrite,
        r#"{"role":"user"}"#,
    ),
    ("delete", "/api/admin/users/{id}", AdminWrite, ""),
    ("post", "/api/admin/users/{id}/recovery", AdminWrite, ""),
    ("post", "/api/admin/users/{id}/mfa/reset", AdminWrite, ""),
    ("post", "/api/admin/users/{id}/approve", AdminWrite, ""),
    ("post", "/api/admin/users/{id}/deny", AdminWrite, ""),
    ("get", "/api/admin/invitations", AdminRead, ""),
    // An address with an account: the matrix must not leave an invitation behind.
    (
        "post",
        "/api/admin/invitations",
        AdminWrite,
        r#"{"email":"admin@test.example"}"#,
    ),
    // A wrong current password: the matrix must not change the admin's address.
    (
        "post",
        "/api/account/email",
        CodeProof,
        r#"{"email":"matrix-new@test.example","current_password":"not it"}"#,
    ),
    // A wrong current password: the matrix must not change the admin's password.
    (
        "post",
        "/api/account/password",
        CodeProof,
        r#"{"current_password":"not it","new_password":"violet anchor drizzle 31"}"#,
    ),
    ("get", "/api/admin/service-accounts", AdminRead, ""),
    ("get", "/api/admin/clients", AdminRead, ""),
    ("delete", "/api/admin/clients/{client_id}", AdminWrite, ""),
    ("post", "/api/admin/registration-tokens", AdminWrite, "{}"),
    // The name is taken after the first allowed credential: a 409, not a refusal.
    (
        "post",
        "/api/admin/service-accounts",
        AdminWrite,
        r#"{"name":"matrix","role":"user"}"#,
    ),
    ("delete", "/api/admin/service-accounts/{id}", AdminWrite, ""),
    (
        "post",
        "/api/admin/service-accounts/{id}/tokens",
        AdminWrite,
        r#"{"name":"matrix","scopes":["containers:read"]}"#,
    ),
    (
        "delete",
        "/api/admin/service-accounts/{id}/tokens/{token_id}",
        AdminWrite,
        "",
    ),
    ("get", "/admin/service-accounts", Page, ""),
    ("post", "/admin/service-accounts", Page, ""),
    ("post", "/admin/service-accounts/{id}/{action}", Page, ""),
    ("get", "/api/admin/audit", AdminRead, ""),
    ("get", "/api/admin/events", AdminRead, ""),
    ("get", "/api/admin/webhooks/deliveries", AdminRead, ""),
    (
        "post",
        "/api/admin/webhooks/deliveries/{id}/resend",
        AdminWrite,
        "",
    ),
    ("get", "/api/admin/sessions", AdminRead, ""),
    ("delete", "/api/admin/sessions/{id}", AdminWrite, ""),
    ("get", "/api/mfa", Identity, ""),
    ("post", "/api/mfa/totp/setup", AccountSecurity, "{}"),
    (
        "post",
        "/api/mfa/totp/confirm",
        AccountSecurity,
        r#"{"code":"000000"}"#,
    ),
    ("post", "/api/mfa/verify", Identity, r#"{"code":"000000"}"#),
    (
        "post",
        "/api/mfa/disable",
        CodeProof,
        r#"{"code":"000000"}"#,
    ),
    (
        "post",
        "/api/mfa/backup-codes",
        CodeProof,
        r#"{"code":"000000"}"#,
    ),
    (
        "post",
        "/api/mfa/webauthn/register/start",
        AccountSecurity,
        r#"{"name":"key"}"#,
    ),
    (
        "post",
        "/api/mfa/webauthn/register/finish",
        AccountSecurity,
        r#"{"ceremony":"x","name":"key","credential":{"id":"eA","rawId":"eA","type":"public-key","extensions":{},"response":{"attestationObject":"eA","clientDataJSON":"eA"}}}"#,
    ),
    ("post", "/api/mfa/webauthn/authenticate/start", Public, ""),
    ("post", "/api/mfa/webauthn/authenticate/finish", Public, ""),
    ("get", "/api/mfa/webauthn/credentials", Identity, ""),
    (
        "delete",
        "/api/mfa/webauthn/credentials/{id}",
        AccountSecurity,
        "",
    ),
    ("get", "/api/security/{kind}/{id}", Lock, ""),
    ("post", "/api/security/{kind}/{id}/mfa-lock", Lock, ""),
    ("post", "/api/security/{kind}/{id}/mfa-unlock", Lock, ""),
    ("post", "/api/security/{kind}/{id}/verify", Lock, ""),
    // A passkey check for the caller's own keys (the admin here has none, and WebAuthn is off
    // on an IP address: a 4xx/501 that is not a refusal).
    (
        "post",
        "/api/security/{kind}/{id}/verify/start",
        Identity,
        "",
    ),
    // Approval from another device (SPEC §2.17): any credential that can hold a ticket asks and
    // polls for itself (the admin here has no second factor: a 400, not a refusal).
    (
        "post",
        "/api/security/{kind}/{id}/verify/request",
        Identity,
        "",
    ),
    (
        "post",
        "/api/security/verify/poll",
        Identity,
        r#"{"request_id":"vr_none"}"#,
    ),
    ("get", "/approve/{id}", Page, ""),
    ("post", "/approve/{id}", Page, ""),
    ("post", "/approve/{id}/passkey", Page, ""),
    // SSH certificates are off in this matrix's server: 404 for every credential. The ssh
    // tests check `ssh:write`, principals and host locks.
    ("get", "/api/ssh/ca", Public, ""),
    (
        "post",
        "/api/ssh/certificates",
        Lock,
        r#"{"public_key":"x"}"#,
    ),
    ("get", "/healthz", Public, ""),
    ("get", "/readyz", Public, ""),
    ("get", "/metrics", Public, ""),
];

#[test]
fn every_route_is_in_the_table() {
    let routed: BTreeMap<String, BTreeSet<String>> = crate::openapi::routed();
    let mut in_table: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (method, path, _, _) in TABLE {
        in_table
            .entry(path.to_string())
            .or_default()
            .insert(method.to_string());
    }
    for (path, methods) in &routed {
        for m in methods {
            assert!(
                in_table.get(path).is_some_and(|t| t.contains(m)),
                "{} {path} is routed but missing from the authority TABLE: decide its group",
                m.to_uppercase()
            );
        }
    }
    for (path, methods) in &in_table {
        for m in methods {
            assert!(
                routed.get(path).is_some_and(|r| r.contains(m)),
                "{m} {path} is in the TABLE but not routed"
            );
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cred {
    CookieFresh,
    CookieStale,
    CliFresh,
    CliStale,
    /// The configured client `backend`, consented `openid containers:read`.
    ThirdParty,
    /// An API token with `containers:read`.
    ApiToken,
    ApiAdminRead,
    ApiAdminWrite,
    /// A service account of role `user`, its token scoped `containers:read` (SPEC §2.15).
    ServiceAccount,
    /// A service account of role `admin`, its token scoped `admin:read admin:write`.
    ServiceAccountAdmin,
    /// A `client_credentials` token of a client with role `user`, scope `containers:read`.
    ClientCredentials,
}

#[derive(Debug, PartialEq, Eq)]
enum Expect {
    /// Neither 401 nor 403 (the request itself may still be a 400 or 404).
    Allowed,
    Reauth,
    Forbidden,
}

/// The authority model as a table: group × credential → outcome (the admin is the owner).
fn expected(group: Group, cred: Cred) -> Expect {
    use Cred::*;
    // A machine acts as an API token of its role would (SPEC §2.15).
    let cred = match cred {
        ServiceAccount | ClientCredentials => ApiToken,
        ServiceAccountAdmin => ApiAdminWrite,
        other => other,
    };
    let first_party = matches!(cred, CookieFresh | CookieStale | CliFresh | CliStale);
    let stale = matches!(cred, CookieStale | CliStale);
    match group {
        Identity => Expect::Allowed,
        Resource => match cred {
            ApiAdminRead | ApiAdminWrite => Expect::Forbidden,
            _ => Expect::Allowed,
        },
        AccountSecurity if !first_party => Expect::Forbidden,
        AccountSecurity if stale => Expect::Reauth,
        AccountSecurity => Expect::Allowed,
        CodeProof if first_party => Expect::Allowed,
        CodeProof => Expect::Forbidden,
        AdminRead if first_party || matches!(cred, ApiAdminRead | ApiAdminWrite) => Expect::Allowed,
        AdminWrite if first_party || cred == ApiAdminWrite => Expect::Allowed,
        AdminRead | AdminWrite => Expect::Forbidden,
        Public | Page | SelfEnding | Lock => Expect::Allowed,
    }
}

fn concrete(path: &str) -> String {
    path.replace("{kind}", "terminal")
        .replace("{id}", "no-such-id")
        .replace("{token_id}", "no-such-token")
        .replace("{client_id}", "reg_no-such-client")
        .replace("{name}", "x")
        .replace("{action}", "disable")
        .replace("{decision}", "approve")
}

/// Beside the routes: the same resource permission (`containers:read`) through the built-in
/// proxy and through forward-auth (as nginx asks), which must agree with `/api/auth/validate`.
const EDGES: &[(&str, &str)] = &[
    ("proxy", "/api/containers/c1"),
    ("forward-auth", "/api/auth/validate"),
];

async fn send(
    server: &TestServer,
    browser: &Browser,
    bearer: Option<&str>,
    method: &str,
    path: &str,
    body: &str,
) -> (StatusCode, Value) {
    send_with(server, browser, bearer, method, path, body, &[]).await
}

async fn send_with(
    server: &TestServer,
    browser: &Browser,
    bearer: Option<&str>,
    method: &str,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, Value) {
    let client = match bearer {
        Some(_) => server.api(),
        None => browser.http.clone(),
    };
    let mut url = server.url(&concrete(path));
    if path == "/api/auth/validate" && headers.is_empty() {
        url.push_str("?permission=containers:read");
    }
    let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let mut req = client.request(method, url);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    if !body.is_empty() {
        req = req
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    // The event stream's body never ends: its status is the answer.
    if r.headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"))
    {
        return (status, Value::Null);
    }
    (status, r.json().await.unwrap_or_default())
}

fn token_of(v: &Value) -> String {
    v["access_token"].as_str().unwrap().to_string()
}

async fn credential_kinds_by_endpoint_group(b: Backend) {
    let server = start(b).await;
    // Stale ones first, then eleven minutes (the window is ten), then the fresh ones.
    let stale_browser = server.browser();
    stale_browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let cli_stale = token_of(&cli_tokens(&server).await);
    server.clock.advance(11 * 60);
    let fresh_browser = server.browser();
    fresh_browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let cli_fresh = token_of(&cli_tokens(&server).await);
    let (_, app) = app_tokens(&server, &server.browser(), "openid containers:read").await;
    let third_party = token_of(&app);
    let api = api_token(&server, &cli_fresh, &["containers:read"]).await;
    let api_admin_read = api_token(&server, &cli_fresh, &["admin:read"]).await;
    let api_admin_write = api_token(&server, &cli_fresh, &["admin:read", "admin:write"]).await;
    let service_account =
        crate::machine::service_account_token(&server, &cli_fresh, "user", &["containers:read"])
            .await;
    let service_account_admin = crate::machine::service_account_token(
        &server,
        &cli_fresh,
        "admin",
        &["admin:read", "admin:write"],
    )
    .await;
    let client_credentials = crate::machine::client_credentials_token(
        &server,
        crate::authority::MACHINE_CLIENT,
        crate::authority::MACHINE_SECRET,
        "containers:read",
    )
    .await;

    let creds: Vec<(Cred, Option<&str>, &Browser)> = vec![
        (Cred::CookieFresh, None, &fresh_browser),
        (Cred::CookieStale, None, &stale_browser),
        (Cred::CliFresh, Some(&cli_fresh), &fresh_browser),
        (Cred::CliStale, Some(&cli_stale), &fresh_browser),
        (Cred::ThirdParty, Some(&third_party), &fresh_browser),
        (Cred::ApiToken, Some(&api), &fresh_browser),
        (Cred::ApiAdminRead, Some(&api_admin_read), &fresh_browser),
        (Cred::ApiAdminWrite, Some(&api_admin_write), &fresh_browser),
        (Cred::ServiceAccount, Some(&service_account), &fresh_browser),
        (
            Cred::ServiceAccountAdmin,
            Some(&service_account_admin),
            &fresh_browser,
        ),
        (
            Cred::ClientCredentials,
            Some(&client_credentials),
            &fresh_browser,
        ),
    ];
    let mut failures = Vec::new();
    let mut checked = 0;
    for (method, path, group, body) in TABLE {
        if matches!(group, Public | Page | SelfEnding | Lock) {
            continue;
        }
        for (cred, bearer, browser) in &creds {
            let (status, v) = send(&server, browser, *bearer, method, path, body).await;
            checked += 1;
            let outcome = match status {
                StatusCode::UNAUTHORIZED if v["error"] == "reauth_required" => Expect::Reauth,
                StatusCode::UNAUTHORIZED => {
                    failures.push(format!("{method} {path} {cred:?}: 401 {v}"));
                    continue;
                }
                StatusCode::FORBIDDEN => Expect::Forbidden,
                _ => Expect::Allowed,
            };
            let want = expected(*group, *cred);
            if outcome != want {
                failures.push(format!(
                    "{} {path} with {cred:?} ({group:?}): want {want:?}, got {status} {v}",
                    method.to_uppercase()
                ));
            }
        }
    }
    for (edge, path) in EDGES {
        let headers: &[(&str, &str)] = if *edge == "forward-auth" {
            &[
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "/api/containers/c1"),
            ]
        } else {
            &[]
        };
        for (cred, bearer, browser) in &creds {
            let (status, v) = send_with(&server, browser, *bearer, "get", path, "", headers).await;
            checked += 1;
            let outcome = match status {
                StatusCode::FORBIDDEN => Expect::Forbidden,
                s if s.is_success() => Expect::Allowed,
                _ => {
                    failures.push(format!("{edge} {path} {cred:?}: {status} {v}"));
                    continue;
                }
            };
            let want = expected(Resource, *cred);
            if outcome != want {
                failures.push(format!(
                    "{edge} {path} with {cred:?}: want {want:?}, got {status} {v}"
                ));
            }
        }
    }
    assert!(checked > 200, "{checked}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

on_both_backends!(credential_kinds_by_endpoint_group);
