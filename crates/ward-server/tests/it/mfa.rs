//! MFA end to end: TOTP enrolment checked by an independent implementation (Python's hmac),
//! sign-in with a second factor in the browser, CLI PKCE and device flows, lockout, backup
//! codes raced 50 times, policy, step-up and per-resource locks with single-use tickets.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::*;
use crate::on_both_backends;

/// RFC 6238 computed by Python's standard library: an implementation independent of ward's.
pub fn python_totp(secret_b32: &str, unix_time: i64) -> String {
    let script = "import base64,hmac,hashlib,struct,sys\n\
s=sys.argv[1]; key=base64.b32decode(s+'='*(-len(s)%8))\n\
h=hmac.new(key, struct.pack('>Q', int(sys.argv[2])//30), hashlib.sha1).digest(); o=h[-1]&15\n\
print('%06d' % ((struct.unpack('>I', h[o:o+4])[0] & 0x7fffffff) % 1000000))";
    let out = std::process::Command::new("python3")
        .args(["-c", script, secret_b32, &unix_time.to_string()])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// POSTs `body` as JSON to `path` with the bearer.
pub async fn post(server: &TestServer, bearer: &str, path: &str, body: Value) -> reqwest::Response {
    server
        .api()
        .post(server.url(path))
        .bearer_auth(bearer)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Enrols the bearer's user in TOTP; returns (secret, backup codes). Leaves the clock one step
/// later so the next code is fresh.
pub async fn enrol(server: &TestServer, bearer: &str) -> (String, Vec<String>) {
    let setup: Value = post(server, bearer, "/api/mfa/totp/setup", json!({}))
        .await
        .json()
        .await
        .unwrap();
    let secret = setup["secret"].as_str().unwrap().to_string();
    assert!(setup["otpauth_url"]
        .as_str()
        .unwrap()
        .starts_with("otpauth://totp/"));
    assert!(setup["qr_svg"].as_str().unwrap().contains("<svg"));
    let code = python_totp(&secret, server.clock_now());
    let r = post(
        server,
        bearer,
        "/api/mfa/totp/confirm",
        json!({"code": code}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let codes: Vec<String> = r.json::<Value>().await.unwrap()["backup_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    server.clock.advance(30);
    (secret, codes)
}

/// Signs a browser in with password + TOTP, starting from `url`; returns where it lands.
pub async fn sign_in_with_totp(
    server: &TestServer,
    browser: &Browser,
    url: &str,
    secret: &str,
) -> String {
    let (_, _, login) = browser.get(url).await;
    let (_, page, _) = browser.get(&login).await;
    let page = browser
        .submit_form(&page, &[("email", ADMIN_EMAIL)])
        .await
        .text()
        .await
        .unwrap();
    let r = browser
        .submit_form(
            &page,
            &[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location_of(&r),
        "/login/mfa",
        "a second factor is asked before any session"
    );
    let (status, page, _) = browser.get("/login/mfa").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("autocomplete=\"one-time-code\""));
    let r = browser
        .submit_form(&page, &[("code", &python_totp(secret, server.clock_now()))])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    server.clock.advance(30);
    location_of(&r)
}

async fn totp_enrolment_signin_and_replay(b: Backend) {
    let server = TestServer::start(b).await;
    let admin = cli_tokens(&server).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (secret, codes) = enrol(&server, &admin).await;
    assert_eq!(codes.len(), 10);
    for c in &codes {
        assert!(c.len() == 9 && &c[4..5] == "-", "{c}");
    }
    let p: Value = server
        .api()
        .get(server.url("/api/profile"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(p["mfa"]["enabled"], true);

    // Sign-in: password, then the code; before the code there is no session.
    let browser = server.browser();
    let (_, page, _) = browser.get("/login").await;
    let page = browser
        .submit_form(&page, &[("email", ADMIN_EMAIL)])
        .await
        .text()
        .await
        .unwrap();
    let r = browser
        .submit_form(
            &page,
            &[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)],
        )
        .await;
    assert_eq!(location_of(&r), "/login/mfa");
    assert_eq!(
        browser
            .http
            .get(server.url("/api/profile"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let (_, page, _) = browser.get("/login/mfa").await;
    let code = python_totp(&secret, server.clock_now());
    let r = browser.submit_form(&page, &[("code", &code)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let p: Value = browser
        .http
        .get(server.url("/api/profile"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(p["email"], ADMIN_EMAIL);

    // The same code again (same 30 s step), in another sign-in: refused as a replay.
    let other = server.browser();
    let (_, page, _) = other.get("/login").await;
    let page = other
        .submit_form(&page, &[("email", ADMIN_EMAIL)])
        .await
        .text()
        .await
        .unwrap();
    other
        .submit_form(
            &page,
            &[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)],
        )
        .await;
    let (_, page, _) = other.get("/login/mfa").await;
    let r = other.submit_form(&page, &[("code", &code)]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().await.unwrap().contains("That code is not valid"));
    // Skew: the next step's code is accepted (±1 step) when not used before.
    let next = python_totp(&secret, server.clock_now() + 30);
    let (_, page, _) = other.get("/login/mfa").await;
    let r = other.submit_form(&page, &[("code", &next)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // Two steps old: refused.
    server.clock.advance(30);
    let r = post(
        &server,
        &admin,
        "/api/mfa/verify",
        json!({"code": python_totp(&secret, server.clock_now() - 60)}),
    )
    .await;
    assert_eq!(
        error_code(r).await,
        (StatusCode::BAD_REQUEST, "invalid_code".into())
    );
}

async fn cli_flows_go_through_mfa(b: Backend) {
    let server = TestServer::start(b).await;
    let admin = cli_tokens(&server).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (secret, _) = enrol(&server, &admin).await;

    // PKCE (the /cli-login entry the CLI opens).
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
            ("scope", "openid"),
        ],
    )
    .unwrap();
    let back = sign_in_with_totp(&server, &browser, url.as_str(), &secret).await;
    let (_, consent, _) = browser.get(&back).await;
    let r = browser
        .submit_form(&consent, &[("decision", "allow")])
        .await;
    let code = reqwest::Url::parse(&location_of(&r))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .to_string();
    let tokens: Value = exchange_cli_code(&server, &code, &verifier)
        .await
        .json()
        .await
        .unwrap();
    let claims = jwt_claims(tokens["access_token"].as_str().unwrap());
    assert!(
        claims["amr"].as_array().unwrap().contains(&json!("otp")),
        "{claims}"
    );
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert!(id["amr"].as_array().unwrap().contains(&json!("otp")));

    // Device flow.
    let start: Value = server
        .api()
        .post(server.url("/oauth/device/code"))
        .form(&[("client_id", "ward-cli")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let browser = server.browser();
    let back = sign_in_with_totp(
        &server,
        &browser,
        start["verification_uri_complete"].as_str().unwrap(),
        &secret,
    )
    .await;
    let (_, page, _) = browser.get(&back).await;
    let consent = browser.submit_form(&page, &[]).await.text().await.unwrap();
    browser
        .submit_form(&consent, &[("decision", "allow")])
        .await;
    let r = server
        .api()
        .post(server.url("/oauth/token"))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", start["device_code"].as_str().unwrap()),
            ("client_id", "ward-cli"),
        ])
        .send()
        .await
        .unwrap();
    let tokens: Value = r.json().await.unwrap();
    assert!(jwt_claims(tokens["access_token"].as_str().unwrap())["amr"]
        .as_array()
        .unwrap()
        .contains(&json!("otp")));
}

fn jwt_claims(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

async fn lockout_after_five_failures(b: Backend) {
    let server = TestServer::start(b).await;
    let admin = cli_tokens(&server).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (secret, _) = enrol(&server, &admin).await;
    for _ in 0..5 {
        let r = post(
            &server,
            &admin,
            "/api/mfa/verify",
            json!({"code": "000000"}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }
    let good = python_totp(&secret, server.clock_now());
    let r = post(&server, &admin, "/api/mfa/verify", json!({"code": good})).await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "locked even with a good code"
    );
    // The budget is per window (`rate_limits.window`, 5 min), shared with every place a code
    // is accepted (SPEC §2.13).
    let retry: i64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=300).contains(&retry), "{retry}");
    assert_eq!(r.headers()["ratelimit-remaining"], "0");
    server.clock.advance(retry);
    let r = post(
        &server,
        &admin,
        "/api/mfa/verify",
        json!({"code": python_totp(&secret, server.clock_now())}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
}

async fn backup_code_raced_fifty_times(b: Backend) {
    let server = TestServer::start(b).await;
    let admin = cli_tokens(&server).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, codes) = enrol(&server, &admin).await;
    let responses = join_all((0..50).map(|_| {
        post(
            &server,
            &admin,
            "/api/mfa/verify",
            json!({"code": codes[0]}),
        )
    }))
    .await;
    let mut ok = Vec::new();
    for r in responses {
        if r.status() == StatusCode::OK {
            ok.push(r.json::<Value>().await.unwrap());
        } else {
            assert!(
                matches!(
                    r.status(),
                    StatusCode::BAD_REQUEST | StatusCode::TOO_MANY_REQUESTS
                ),
                "{}",
                r.status()
            );
        }
    }
    assert_eq!(ok.len(), 1, "exactly one success");
    assert_eq!(ok[0]["message"], "9 remaining");
    assert_eq!(ok[0]["backup_codes_remaining"], 9);
}

async fn backup_codes_regenerate_and_disable(b: Backend) {
    let server = TestServer::start(b).await;
    let admin = cli_tokens(&server).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (secret, old) = enrol(&server, &admin).await;
    // Lower case and without the dash works too.
    let typed = old[1].to_lowercase().replace('-', "");
    let r: Value = post(&server, &admin, "/api/mfa/verify", json!({"code": typed}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["backup_codes_remaining"], 9);
    let r = post(
        &server,
        &admin,
        "/api/mfa/backup-codes",
        json!({"code": python_totp(&secret, server.clock_now())}),
    )
    .await;
    let new: Vec<String> = r.json::<Value>().await.unwrap()["backup_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(new.len(), 10);
    let r = post(&server, &admin, "/api/mfa/verify", json!({"code": old[2]})).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "the old set is void");
    let r: Value = post(&server, &admin, "/api/mfa/verify", json!({"code": new[0]}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["backup_codes_remaining"], 9);
    // Disabling needs a valid code.
    let r = post(
        &server,
        &admin,
        "/api/mfa/disable",
        json!({"code": "123456"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    server.clock.advance(30);
    let r = post(
        &server,
        &admin,
        "/api/mfa/disable",
        json!({"code": python_totp(&secret, server.clock_now())}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let s: Value = server
        .api()
        .get(server.url("/api/mfa"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(s["enabled"], false);
    // Bad input.
    let r = post(
        &server,
        &admin,
        "/api/mfa/totp/confirm",
        json!({"code": "123456"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = post(&server, &admin, "/api/mfa/verify", json!({"nope": 1})).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

async fn policy_requires_enrolment_and_invalidates_old_sessions(b: Backend) {
    let first = TestServer::start(b).await;
    let tokens = cli_tokens(&first).await;
    let access = tokens["access_token"].as_str().unwrap().to_string();
    // The same database, restarted with a stricter policy.
    let server = first
        .restart_with(|c| c.mfa.required_roles = vec!["admin".into()])
        .await;
    assert_eq!(
        profile_status(&server, &access).await,
        StatusCode::UNAUTHORIZED,
        "sessions without MFA stop working"
    );
    let r = refresh_grant(&server, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(error_code(r).await.1, "invalid_grant");

    // Signing in now leads to enrolment before any session.
    let browser = server.browser();
    let (_, page, _) = browser.get("/login").await;
    let page = browser
        .submit_form(&page, &[("email", ADMIN_EMAIL)])
        .await
        .text()
        .await
        .unwrap();
    let r = browser
        .submit_form(
            &page,
            &[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)],
        )
        .await;
    assert_eq!(location_of(&r), "/login/mfa");
    let (_, _, to) = browser.get("/login/mfa").await;
    assert_eq!(to, "/login/mfa/enrol");
    let (status, page, _) = browser.get("/login/mfa/enrol").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<svg"));
    let secret = page
        .split("Enter this key: <code>")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(
        browser
            .http
            .get(server.url("/api/profile"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let r = browser
        .submit_form(
            &page,
            &[("code", &python_totp(&secret, server.clock_now()))],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("Save your backup codes"));
    let p: Value = browser
        .http
        .get(server.url("/api/profile"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(p["mfa"]["enabled"], true);
}

async fn resource_locks_and_tickets(b: Backend) {
    let server = TestServer::start(b).await;
    let admin = cli_tokens(&server).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let other_session = cli_tokens(&server).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (secret, _) = enrol(&server, &admin).await;
    let code = |s: &TestServer| python_totp(&secret, s.clock_now());
    let admit = |bearer: String, resource: &'static str, headers: Vec<(&'static str, String)>| {
        let api = server.api();
        let url = server.url("/api/auth/validate");
        async move {
            let mut req = api
                .get(url)
                .bearer_auth(bearer)
                .query(&[("lock_kind", "terminal"), ("resource", resource)]);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            req.send().await.unwrap()
        }
    };
    // Not locked: anyone with access connects.
    assert_eq!(
        admit(admin.clone(), "t1", vec![]).await.status(),
        StatusCode::OK
    );
    // Lock needs a code.
    let r = post(
        &server,
        &admin,
        "/api/security/terminal/t1/mfa-lock",
        json!({"code": "000000"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = post(
        &server,
        &admin,
        "/api/security/terminal/t1/mfa-lock",
        json!({"code": code(&server)}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    server.clock.advance(30);
    post(
        &server,
        &admin,
        "/api/security/terminal/t2/mfa-lock",
        json!({"code": code(&server)}),
    )
    .await;
    server.clock.advance(30);
    let r = admit(admin.clone(), "t1", vec![]).await;
    assert_eq!(
        error_code(r).await,
        (StatusCode::FORBIDDEN, "mfa_required".into())
    );
    // A ticket opens one connection, for this session and resource only.
    let ticket: Value = post(
        &server,
        &admin,
        "/api/security/terminal/t1/verify",
        json!({"code": code(&server)}),
    )
    .await
    .json()
    .await
    .unwrap();
    server.clock.advance(30);
    let t = ticket["ticket"].as_str().unwrap().to_string();
    assert_eq!(ticket["expires_in"], 60);
    assert_eq!(
        admit(
            other_session.clone(),
            "t1",
            vec![("x-ward-ticket", t.clone())]
        )
        .await
        .status(),
        StatusCode::FORBIDDEN,
        "another session"
    );
    assert_eq!(
        admit(admin.clone(), "t2", vec![("x-ward-ticket", t.clone())])
            .await
            .status(),
        StatusCode::FORBIDDEN,
        "another resource"
    );
    assert_eq!(
        admit(admin.clone(), "t1", vec![("x-ward-ticket", t.clone())])
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        admit(admin.clone(), "t1", vec![("x-ward-ticket", t.clone())])
            .await
            .status(),
        StatusCode::FORBIDDEN,
        "single use"
    );
    // Expired tickets fail.
    let ticket: Value = post(
        &server,
        &admin,
        "/api/security/terminal/t1/verify",
        json!({"code": code(&server)}),
    )
    .await
    .json()
    .await
    .unwrap();
    server.clock.advance(61);
    assert_eq!(
        admit(
            admin.clone(),
            "t1",
            vec![(
                "x-ward-ticket",
                ticket["ticket"].as_str().unwrap().to_string()
            )]
        )
        .await
        .status(),
        StatusCode::FORBIDDEN
    );
    // A code in the connection request works too.
    let r = admit(
        admin.clone(),
        "t1",
        vec![("x-ward-mfa-code", code(&server))],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    server.clock.advance(30);
    // Unknown kind, bad id, already locked.
    assert_eq!(
        post(
            &server,
            &admin,
            "/api/security/boat/t1/mfa-lock",
            json!({"code": code(&server)})
        )
        .await
        .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        post(
            &server,
            &admin,
            "/api/security/terminal/a%20b/mfa-lock",
            json!({"code": code(&server)})
        )
        .await
        .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        post(
            &server,
            &admin,
            "/api/security/terminal/t1/mfa-lock",
            json!({"code": code(&server)})
        )
        .await
        .status(),
        StatusCode::CONFLICT
    );
    server.clock.advance(30);
    // Unlock with a code: connections need nothing again.
    let r = post(
        &server,
        &admin,
        "/api/security/terminal/t1/mfa-unlock",
        json!({"code": code(&server)}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        admit(admin.clone(), "t1", vec![]).await.status(),
        StatusCode::OK
    );
    let status: Value = server
        .api()
        .get(server.url("/api/security/terminal/t2"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["locked"], true);
}

on_both_backends!(
    totp_enrolment_signin_and_replay,
    cli_flows_go_through_mfa,
    lockout_after_five_failures,
    backup_code_raced_fifty_times,
    backup_codes_regenerate_and_disable,
    policy_requires_enrolment_and_invalidates_old_sessions,
    resource_locks_and_tickets,
);
