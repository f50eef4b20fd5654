//! DPoP against independent implementations (issue 21): proofs made by Python's PyJWT and
//! cryptography are accepted by ward at the token endpoint, the API and the proxy (and one naming
//! another URL is refused), and proofs made by `ward-client`'s signing code are accepted by
//! panva's node-oidc-provider, at its token endpoint and at its UserInfo resource.

use std::path::{Path, PathBuf};

use reqwest::redirect::Policy;
use reqwest::StatusCode;
use serde_json::{json, Value};
use ward_client::dpop::DpopKey;

use super::proxy::{backend, routes};
use super::{claims, refusal};
use crate::harness::*;
use crate::idp::{OidcProvider, PROVIDER_SECRET};
use crate::on_both_backends;

/// The Python packages that sign, pinned; installed from PyPI into a venv under the test
/// target's scratch directory on first use, as `.ci/schemathesis.sh` installs Schemathesis.
const PYTHON_PACKAGES: &[&str] = &["PyJWT==2.10.1", "cryptography==50.0.2"];

fn proof_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/dpop_proofs.py")
}

/// The venv's python with the packages above (`ward_testkit::python`).
fn pyjwt_python(test: &str) -> Option<PathBuf> {
    ward_testkit::python::venv(
        test,
        Path::new(env!("CARGO_TARGET_TMPDIR")),
        PYTHON_PACKAGES,
        "import jwt, cryptography",
    )
}

/// Proofs for `requests` signed by Python with the key in `key_file`: its thumbprint, the proofs.
fn python_proofs(python: &Path, key_file: &Path, requests: &Value) -> (String, Vec<String>) {
    use std::io::Write;
    // The key file's name says its algorithm: `*.ed25519.pem` for EdDSA.
    let alg = if key_file.to_string_lossy().ends_with(".ed25519.pem") {
        "EdDSA"
    } else {
        "ES256"
    };
    let mut child = std::process::Command::new(python)
        .arg(proof_script())
        .arg(key_file)
        .arg(alg)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(requests.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "dpop_proofs.py failed");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let proofs = v["proofs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    (v["jkt"].as_str().unwrap().to_string(), proofs)
}

async fn python_proofs_are_accepted(b: Backend) {
    python_proofs_accepted(b, "key.pem").await;
}

/// The same with Ed25519 keys and EdDSA proofs from PyJWT (decision 180: ward verifies them with
/// `ed25519-dalek`, so another implementation's signatures must pass it).
async fn python_eddsa_proofs_are_accepted(b: Backend) {
    python_proofs_accepted(b, "key.ed25519.pem").await;
}

on_both_backends!(python_proofs_are_accepted, python_eddsa_proofs_are_accepted);

async fn python_proofs_accepted(b: Backend, key_name: &str) {
    let Some(python) = pyjwt_python("python_proofs_are_accepted") else {
        return;
    };
    let upstream = backend().await;
    let server = TestServer::start_with(b, |c| routes(c, &upstream)).await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join(key_name);
    let iat = server.clock_now();

    // The token endpoint binds the token to Python's key.
    let browser = server.browser();
    let (verifier, challenge) = pkce_pair();
    let code = server.cli_code(&browser, &challenge, LOOPBACK).await;
    let (jkt, proofs) = python_proofs(
        &python,
        &key_file,
        &json!([{"htm": "POST", "htu": server.url("/oauth/token"), "iat": iat}]),
    );
    let r = server
        .api()
        .post(server.url("/oauth/token"))
        .header("DPoP", &proofs[0])
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
    let tokens: Value = r.json().await.unwrap();
    assert_eq!(tokens["token_type"], "DPoP");
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(claims(access)["cnf"]["jkt"], jkt.as_str());

    // The API and the proxy accept Python's proofs; one for another URL is refused.
    let (_, proofs) = python_proofs(
        &python,
        &key_file,
        &json!([
            {"htm": "GET", "htu": server.url("/api/profile"), "iat": iat, "token": access},
            {"htm": "GET", "htu": server.url("/api/containers/c1"), "iat": iat, "token": access},
            {"htm": "GET", "htu": server.url("/api/tokens"), "iat": iat, "token": access},
        ]),
    );
    let get = |path: &str, proof: &str| {
        server
            .api()
            .get(server.url(path))
            .header("Authorization", format!("DPoP {access}"))
            .header("DPoP", proof)
            .send()
    };
    let r = get("/api/profile", &proofs[0]).await.unwrap();
    let status = r.status();
    let profile: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{profile}");
    assert_eq!(profile["email"], ADMIN_EMAIL);
    let r = get("/api/containers/c1", &proofs[1]).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (status, error, challenge) = refusal(get("/api/profile", &proofs[2]).await.unwrap()).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_dpop_proof")
    );
    assert!(challenge.contains("htu does not match"), "{challenge}");
}

fn unix_now() -> u64 {
    use ward_core::Clock;
    u64::try_from(ward_core::clock::SystemClock.now().0).unwrap()
}

/// node-oidc-provider (DPoP on, its default) as the verifier of `ward-client`'s proofs: a code
/// exchanged with a proof gives a DPoP-bound token (`token_type`, introspection's `cnf.jkt`),
/// which its UserInfo accepts with a proof of the key (`ath` included) and refuses as a bearer
/// or with another key's proof.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ward_client_proofs_are_accepted_by_node_oidc_provider() {
    node_oidc_provider_accepts(DpopKey::generate(), "ES256").await;
}

/// The same with the Ed25519 key `ward-client` makes when the server lists EdDSA (decision 181).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ward_client_eddsa_proofs_are_accepted_by_node_oidc_provider() {
    node_oidc_provider_accepts(DpopKey::generate_ed25519(), "EdDSA").await;
}

async fn node_oidc_provider_accepts(key: DpopKey, alg: &str) {
    assert_eq!(key.alg(), alg);
    const REDIRECT: &str = "http://127.0.0.1:9/callback";
    let provider = OidcProvider::start(REDIRECT).await;
    let issuer = provider.issuer.clone();
    let http = reqwest::Client::builder()
        .redirect(Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    let meta: Value = http
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let endpoint = |name: &str| meta[name].as_str().unwrap().to_string();
    assert!(meta["dpop_signing_alg_values_supported"]
        .as_array()
        .unwrap()
        .contains(&json!(alg)));

    // The authorization code, through the provider's auto-approving interaction.
    let (verifier, challenge) = pkce_pair();
    let mut url = reqwest::Url::parse_with_params(
        &endpoint("authorization_endpoint"),
        &[
            ("client_id", "ward"),
            ("response_type", "code"),
            ("scope", "openid email"),
            ("redirect_uri", REDIRECT),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("state", "s1"),
            ("nonce", "n1"),
            ("login_hint", "dev@corp.example"),
        ],
    )
    .unwrap();
    let mut code = None;
    for _ in 0..10 {
        let r = http.get(url.clone()).send().await.unwrap();
        assert!(r.status().is_redirection(), "{} at {url}", r.status());
        let location = r.headers()["location"].to_str().unwrap().to_string();
        let next = url.join(&location).unwrap();
        if location.starts_with(REDIRECT) {
            code = next
                .query_pairs()
                .find(|(k, _)| k == "code")
                .map(|(_, v)| v.into_owned());
            break;
        }
        url = next;
    }
    let code = code.expect("the provider redirects back with a code");

    let token_url = reqwest::Url::parse(&endpoint("token_endpoint")).unwrap();
    let proof = key
        .proof("POST", &token_url, None, None, unix_now())
        .unwrap();
    let r = http
        .post(token_url.clone())
        .basic_auth("ward", Some(PROVIDER_SECRET))
        .header("DPoP", proof)
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let status = r.status();
    let tokens: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "DPoP");
    let access = tokens["access_token"].as_str().unwrap();

    let r = http
        .post(endpoint("introspection_endpoint"))
        .basic_auth("ward", Some(PROVIDER_SECRET))
        .form(&[("token", access)])
        .send()
        .await
        .unwrap();
    let introspected: Value = r.json().await.unwrap();
    assert_eq!(introspected["active"], true, "{introspected}");
    assert_eq!(introspected["cnf"]["jkt"], key.thumbprint());

    let userinfo = reqwest::Url::parse(&endpoint("userinfo_endpoint")).unwrap();
    let me = |authorization: String, proof: Option<String>| {
        let mut r = http
            .get(userinfo.clone())
            .header("Authorization", authorization);
        if let Some(p) = proof {
            r = r.header("DPoP", p);
        }
        r.send()
    };
    let proof = key
        .proof("GET", &userinfo, Some(access), None, unix_now())
        .unwrap();
    let r = me(format!("DPoP {access}"), Some(proof)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let claims: Value = r.json().await.unwrap();
    assert_eq!(claims["email"], "dev@corp.example");

    // The provider checks the proof too: as a bearer, or with another key's proof, refused.
    let r = me(format!("Bearer {access}"), None).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let thief = DpopKey::generate();
    let stolen = thief
        .proof("GET", &userinfo, Some(access), None, unix_now())
        .unwrap();
    let r = me(format!("DPoP {access}"), Some(stolen)).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}
