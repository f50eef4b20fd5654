//! The attacks DPoP exists for, one per test so that each fails on its own when its check is
//! taken out (issue 21): a stolen bound token used with the thief's own key, a proof whose
//! `ath` names another token, and a bound token presented as a plain bearer. (A proof replayed
//! at a second replica: `a_proof_is_accepted_once_across_replicas`.)

use reqwest::StatusCode;
use ward_client::dpop::DpopKey;

use super::proxy::{backend, routes};
use super::{bound_cli_tokens, proof_for, refusal};
use crate::harness::*;
use crate::on_both_backends;

struct Victim {
    server: TestServer,
    key: DpopKey,
    access: String,
}

async fn victim(b: Backend) -> Victim {
    let upstream = backend().await;
    let server = TestServer::start_with(b, |c| routes(c, &upstream)).await;
    let key = DpopKey::generate();
    let tokens = bound_cli_tokens(&server, &key).await;
    let access = tokens["access_token"].as_str().unwrap().to_string();
    Victim {
        server,
        key,
        access,
    }
}

async fn get(
    v: &Victim,
    path: &str,
    authorization: String,
    proof: Option<String>,
) -> (StatusCode, String, String) {
    let mut r = v
        .server
        .api()
        .get(v.server.url(path))
        .header("Authorization", authorization);
    if let Some(p) = proof {
        r = r.header("DPoP", p);
    }
    refusal(r.send().await.unwrap()).await
}

/// A thief with the token but not the key signs with a key of their own.
async fn stolen_token_with_the_thiefs_key_is_refused(b: Backend) {
    let v = victim(b).await;
    let thief = DpopKey::generate();
    for path in ["/api/profile", "/api/containers/c1"] {
        let proof = proof_for(&v.server, &thief, "GET", path, Some(&v.access));
        let (status, error, challenge) =
            get(&v, path, format!("DPoP {}", v.access), Some(proof)).await;
        assert_eq!(
            (status, error.as_str()),
            (StatusCode::UNAUTHORIZED, "invalid_dpop_proof"),
            "the thief got in at {path}"
        );
        assert!(challenge.contains("another key"), "{challenge}");
    }
}

/// A proof of the right key made for another token (`ath`) does not carry this one.
async fn proof_for_another_token_is_refused(b: Backend) {
    let v = victim(b).await;
    let path = "/api/profile";
    let proof = proof_for(&v.server, &v.key, "GET", path, Some("another access token"));
    let (status, error, challenge) = get(&v, path, format!("DPoP {}", v.access), Some(proof)).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_dpop_proof"),
        "a proof with a wrong ath was accepted"
    );
    assert!(challenge.contains("ath does not match"), "{challenge}");
}

/// The bound token alone, as `Authorization: Bearer` (or Basic), is useless.
async fn bound_token_as_bearer_is_refused(b: Backend) {
    let v = victim(b).await;
    for path in ["/api/profile", "/api/containers/c1"] {
        let (status, _, _) = get(&v, path, format!("Bearer {}", v.access), None).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "the bound token worked as a bearer at {path}"
        );
    }
}

on_both_backends!(
    stolen_token_with_the_thiefs_key_is_refused,
    proof_for_another_token_is_refused,
    bound_token_as_bearer_is_refused,
);
