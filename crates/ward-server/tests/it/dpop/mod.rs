//! Sender-constrained tokens (SPEC §2.16, RFC 9449): binding at the token endpoint, each
//! proof check at the API, the refresh token's key, nonces, replay under real concurrency and
//! across replicas, and the CLI's token exchange. Proofs are made with `ward-client`'s key.

mod attacks;
mod interop;
mod nonce;
mod proxy;

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::Value;
use ward_client::dpop::DpopKey;

use crate::harness::*;
use crate::on_both_backends;

/// A proof for `method` `path` on `server`, at the server's clock.
pub fn proof_for(
    server: &TestServer,
    key: &DpopKey,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> String {
    let url = reqwest::Url::parse(&server.url(path)).unwrap();
    let now = u64::try_from(server.clock_now()).unwrap();
    key.proof(method, &url, token, None, now).unwrap()
}

pub(super) fn claims(jwt: &str) -> Value {
    let payload = URL_SAFE_NO_PAD
        .decode(jwt.split('.').nth(1).unwrap())
        .unwrap();
    serde_json::from_slice(&payload).unwrap()
}

/// The CLI's code flow with a proof on the token request: bound tokens.
pub async fn bound_cli_tokens(server: &TestServer, key: &DpopKey) -> Value {
    let browser = server.browser();
    let (verifier, challenge) = pkce_pair();
    let code = server.cli_code(&browser, &challenge, LOOPBACK).await;
    let r = server
        .api()
        .post(server.url("/oauth/token"))
        .header("DPoP", proof_for(server, key, "POST", "/oauth/token", None))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", LOOPBACK),
            ("client_id", "ward-cli"),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn get_profile(
    server: &TestServer,
    authorization: &str,
    proof: Option<&str>,
) -> reqwest::Response {
    let mut request = server
        .api()
        .get(server.url("/api/profile"))
        .header("Authorization", authorization);
    if let Some(p) = proof {
        request = request.header("DPoP", p);
    }
    request.send().await.unwrap()
}

/// The status, the `error` and the `WWW-Authenticate` of a refusal.
pub(super) async fn refusal(r: reqwest::Response) -> (StatusCode, String, String) {
    let status = r.status();
    let challenge = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body: Value = r.json().await.unwrap_or_default();
    (
        status,
        body["error"].as_str().unwrap_or_default().into(),
        challenge,
    )
}

async fn code_exchange_binds_and_the_api_checks_every_proof(b: Backend) {
    let server = TestServer::start(b).await;
    let key = DpopKey::generate();
    let tokens = bound_cli_tokens(&server, &key).await;
    assert_eq!(tokens["token_type"], "DPoP");
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(claims(access)["cnf"]["jkt"], key.thumbprint());
    let dpop = format!("DPoP {access}");

    let good = proof_for(&server, &key, "GET", "/api/profile", Some(access));
    assert_eq!(
        get_profile(&server, &dpop, Some(&good)).await.status(),
        StatusCode::OK
    );

    // The same proof again: its jti was seen.
    let (status, error, challenge) = refusal(get_profile(&server, &dpop, Some(&good)).await).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_dpop_proof")
    );
    assert!(challenge.starts_with("DPoP algs=\"ES256 EdDSA\", error=\"invalid_dpop_proof\""));
    assert!(challenge.contains("jti was already used"), "{challenge}");

    // Each check on its own, from an otherwise valid proof.
    let other = DpopKey::generate();
    let cases = [
        ("missing", None, "a DPoP proof is required"),
        (
            "wrong method",
            Some(proof_for(
                &server,
                &key,
                "POST",
                "/api/profile",
                Some(access),
            )),
            "htm",
        ),
        (
            "wrong URL",
            Some(proof_for(&server, &key, "GET", "/api/tokens", Some(access))),
            "htu",
        ),
        (
            "wrong ath",
            Some(proof_for(
                &server,
                &key,
                "GET",
                "/api/profile",
                Some("another token"),
            )),
            "ath",
        ),
        (
            "wrong key",
            Some(proof_for(
                &server,
                &other,
                "GET",
                "/api/profile",
                Some(access),
            )),
            "another key",
        ),
        ("garbage", Some("not.a.proof".to_string()), "malformed"),
    ];
    for (what, proof, says) in cases {
        let (status, error, challenge) =
            refusal(get_profile(&server, &dpop, proof.as_deref()).await).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(error, "invalid_dpop_proof", "{what}");
        assert!(challenge.contains(says), "{what}: {challenge}");
    }
    // Too old: made 61 s before the server's clock.
    let stale = {
        let url = reqwest::Url::parse(&server.url("/api/profile")).unwrap();
        let then = u64::try_from(server.clock_now() - 61).unwrap();
        key.proof("GET", &url, Some(access), None, then).unwrap()
    };
    let (_, _, challenge) = refusal(get_profile(&server, &dpop, Some(&stale)).await).await;
    assert!(challenge.contains("iat"), "{challenge}");

    // A stolen bound token as Bearer or Basic: refused with a DPoP challenge.
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("x:{access}"))
    );
    for authorization in [format!("Bearer {access}"), basic] {
        let (status, error, challenge) =
            refusal(get_profile(&server, &authorization, None).await).await;
        assert_eq!(
            (status, error.as_str()),
            (StatusCode::UNAUTHORIZED, "invalid_token")
        );
        assert!(challenge.starts_with("DPoP algs="), "{challenge}");
    }

    // Unbound tokens keep working as Bearer, and are refused as DPoP.
    let plain = cli_tokens(&server).await;
    assert_eq!(plain["token_type"], "Bearer");
    let plain = plain["access_token"].as_str().unwrap();
    assert_eq!(profile_status(&server, plain).await, StatusCode::OK);
    let p = proof_for(&server, &key, "GET", "/api/profile", Some(plain));
    let r = get_profile(&server, &format!("DPoP {plain}"), Some(&p)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

async fn refresh_needs_the_same_key(b: Backend) {
    let server = TestServer::start(b).await;
    let key = DpopKey::generate();
    let tokens = bound_cli_tokens(&server, &key).await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let refresh_with = |proof: Option<String>| {
        let mut request = server.api().post(server.url("/oauth/token")).form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", "ward-cli"),
        ]);
        if let Some(p) = proof {
            request = request.header("DPoP", p);
        }
        request.send()
    };
    // The refresh token alone (copied from a credentials file) and another key are refused,
    // and neither uses the token up.
    let (status, error) = error_code(refresh_with(None).await.unwrap()).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_dpop_proof")
    );
    let thief = DpopKey::generate();
    let proof = proof_for(&server, &thief, "POST", "/oauth/token", None);
    let (status, error) = error_code(refresh_with(Some(proof)).await.unwrap()).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_dpop_proof")
    );

    let proof = proof_for(&server, &key, "POST", "/oauth/token", None);
    let r = refresh_with(Some(proof)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let fresh: Value = r.json().await.unwrap();
    assert_eq!(fresh["token_type"], "DPoP");
    assert_eq!(
        claims(fresh["access_token"].as_str().unwrap())["cnf"]["jkt"],
        key.thumbprint()
    );
}

async fn require_dpop_and_nonces_at_the_token_endpoint(b: Backend) {
    let server = TestServer::start_with(b, |c| {
        c.clients[0].require_dpop = true;
        c.dpop.require_nonce = true;
    })
    .await;
    let key = DpopKey::generate();
    let grant = |proof: Option<String>| {
        let mut request = server
            .api()
            .post(server.url("/oauth/token"))
            .basic_auth(APP_CLIENT, Some(APP_SECRET))
            .form(&[("grant_type", "client_credentials")]);
        if let Some(p) = proof {
            request = request.header("DPoP", p);
        }
        request.send()
    };
    let (status, error) = error_code(grant(None).await.unwrap()).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_dpop_proof")
    );

    // Without a nonce: use_dpop_nonce and the nonce to use.
    let r = grant(Some(proof_for(&server, &key, "POST", "/oauth/token", None)))
        .await
        .unwrap();
    let nonce = r.headers()["dpop-nonce"].to_str().unwrap().to_string();
    let (status, error) = error_code(r).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "use_dpop_nonce")
    );

    let url = reqwest::Url::parse(&server.url("/oauth/token")).unwrap();
    let now = u64::try_from(server.clock_now()).unwrap();
    let with_nonce = key.proof("POST", &url, None, Some(&nonce), now).unwrap();
    let r = grant(Some(with_nonce)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().contains_key("dpop-nonce"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");

    // A nonce from a replica (same master key) is good here; one from long ago is not.
    server.clock.advance(11 * 60);
    let now = u64::try_from(server.clock_now()).unwrap();
    let expired = key.proof("POST", &url, None, Some(&nonce), now).unwrap();
    let (_, error) = error_code(grant(Some(expired)).await.unwrap()).await;
    assert_eq!(error, "use_dpop_nonce");
}

/// SPEC §2.16: one proof, many requests at once: exactly one is accepted.
async fn concurrent_replays_of_one_proof_are_accepted_once(b: Backend) {
    let server = Arc::new(TestServer::start(b).await);
    let key = DpopKey::generate();
    let tokens = bound_cli_tokens(&server, &key).await;
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let proof = proof_for(&server, &key, "GET", "/api/profile", Some(&access));
    let tasks: Vec<_> = (0..24)
        .map(|_| {
            let (server, access, proof) = (server.clone(), access.clone(), proof.clone());
            tokio::spawn(async move {
                get_profile(&server, &format!("DPoP {access}"), Some(&proof))
                    .await
                    .status()
            })
        })
        .collect();
    let mut accepted = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::OK => accepted += 1,
            StatusCode::UNAUTHORIZED => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(accepted, 1);
}

async fn tool_tokens_need_the_key_and_live_five_minutes(b: Backend) {
    let server = TestServer::start(b).await;
    let key = DpopKey::generate();
    let tokens = bound_cli_tokens(&server, &key).await;
    let access = tokens["access_token"].as_str().unwrap();
    let ask = |authorization: String, proof: Option<String>| {
        let mut request = server
            .api()
            .post(server.url("/api/auth/tool-token"))
            .header("Authorization", authorization);
        if let Some(p) = proof {
            request = request.header("DPoP", p);
        }
        request.send()
    };
    // The copied access token alone cannot get one, nor with another key.
    let r = ask(format!("Bearer {access}"), None).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let thief = DpopKey::generate();
    let p = proof_for(
        &server,
        &thief,
        "POST",
        "/api/auth/tool-token",
        Some(access),
    );
    let r = ask(format!("DPoP {access}"), Some(p)).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // An unbound session's token is refused (it can be used as it is).
    let plain = cli_tokens(&server).await;
    let r = ask(
        format!("Bearer {}", plain["access_token"].as_str().unwrap()),
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let p = proof_for(&server, &key, "POST", "/api/auth/tool-token", Some(access));
    let r = ask(format!("DPoP {access}"), Some(p)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_u64().unwrap() <= 300);
    assert!(body.get("refresh_token").is_none());
    let bearer = body["access_token"].as_str().unwrap();
    assert!(claims(bearer).get("cnf").is_none());
    assert_eq!(profile_status(&server, bearer).await, StatusCode::OK);
    // It lives five minutes.
    server.clock.advance(301);
    assert_eq!(
        profile_status(&server, bearer).await,
        StatusCode::UNAUTHORIZED
    );
}

async fn discovery_lists_the_algorithms_and_the_sweeper_forgets_old_ids(b: Backend) {
    let server = TestServer::start(b).await;
    let doc: Value = server
        .api()
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["dpop_signing_alg_values_supported"],
        serde_json::json!(["ES256", "EdDSA"])
    );
    let key = DpopKey::generate();
    let tokens = bound_cli_tokens(&server, &key).await;
    let access = tokens["access_token"].as_str().unwrap();
    let p = proof_for(&server, &key, "GET", "/api/profile", Some(access));
    assert_eq!(
        get_profile(&server, &format!("DPoP {access}"), Some(&p))
            .await
            .status(),
        StatusCode::OK
    );
    server.clock.advance(ward_core::dpop::JTI_TTL_SECS + 1);
    let report = ward_server::sweeper::sweep(&server.state).await.unwrap();
    assert!(report.dpop_jtis >= 2, "{report:?}");
}

on_both_backends!(
    code_exchange_binds_and_the_api_checks_every_proof,
    refresh_needs_the_same_key,
    require_dpop_and_nonces_at_the_token_endpoint,
    concurrent_replays_of_one_proof_are_accepted_once,
    tool_tokens_need_the_key_and_live_five_minutes,
    discovery_lists_the_algorithms_and_the_sweeper_forgets_old_ids,
);

/// Two replicas on one PostgreSQL database: a proof used at one is refused at the other, and
/// concurrent use at both is accepted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_proof_is_accepted_once_across_replicas() {
    let a = TestServer::start_postgres_with_cache_ttl(std::time::Duration::from_secs(1)).await;
    let b = a.start_replica().await;
    let key = DpopKey::generate();
    let tokens = bound_cli_tokens(&a, &key).await;
    let access = tokens["access_token"].as_str().unwrap();
    let dpop = format!("DPoP {access}");
    // Both replicas have one issuer: the proof names it, whichever replica receives it.
    let p = proof_for(&a, &key, "GET", "/api/profile", Some(access));
    assert_eq!(
        get_profile(&a, &dpop, Some(&p)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        get_profile(&b, &dpop, Some(&p)).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let p = proof_for(&a, &key, "GET", "/api/profile", Some(access));
    let (ra, rb) = tokio::join!(
        get_profile(&a, &dpop, Some(&p)),
        get_profile(&b, &dpop, Some(&p))
    );
    let accepted = [ra.status(), rb.status()]
        .iter()
        .filter(|s| **s == StatusCode::OK)
        .count();
    assert_eq!(accepted, 1);
}
