//! Independent OAuth/OIDC client libraries (the `oauth2` and `openidconnect` crates) complete
//! every flow, and the signatures of ID and access tokens verify against the published JWKS
//! with the RustCrypto `p256` implementation.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use oauth2::basic::BasicClient;
use oauth2::{
    ClientId, ClientSecret, DeviceAuthorizationUrl, RefreshToken, Scope,
    StandardDeviceAuthorizationResponse, TokenResponse, TokenUrl,
};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge, RedirectUrl,
};
use p256::ecdsa::signature::Verifier;
use reqwest::StatusCode;

use crate::harness::*;
use crate::on_both_backends;

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Verifies a compact JWS (ES256) against the server's JWKS, independently of ward's code.
async fn verify_with_jwks(server: &TestServer, jwt: &str) -> serde_json::Value {
    let jwks: serde_json::Value = http()
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "ES256");
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("kid published in JWKS");
    let x = URL_SAFE_NO_PAD.decode(key["x"].as_str().unwrap()).unwrap();
    let y = URL_SAFE_NO_PAD.decode(key["y"].as_str().unwrap()).unwrap();
    let point = p256::EncodedPoint::from_affine_coordinates(
        x.as_slice().into(),
        y.as_slice().into(),
        false,
    );
    let vk = p256::ecdsa::VerifyingKey::from_encoded_point(&point).unwrap();
    let sig =
        p256::ecdsa::Signature::from_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap()).unwrap();
    vk.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
        .expect("signature verifies against the JWKS");
    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["__typ"] = header["typ"].clone();
    claims
}

async fn openid_code_flow_with_pkce(b: Backend) {
    let server = TestServer::start(b).await;
    let http = http();
    let meta =
        CoreProviderMetadata::discover_async(IssuerUrl::new(server.url.clone()).unwrap(), &http)
            .await
            .expect("discovery document is valid OIDC");
    let client = CoreClient::from_provider_metadata(
        meta,
        openidconnect::ClientId::new("ward-cli".into()),
        None,
    )
    .set_redirect_uri(RedirectUrl::new(LOOPBACK.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(openidconnect::Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();
    let browser = server.browser();
    let q = authorize_in_browser(&browser, auth_url.as_str(), LOOPBACK).await;
    assert_eq!(q.get("state"), Some(csrf.secret()));
    let tokens = client
        .exchange_code(AuthorizationCode::new(q["code"].clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let id_token = openidconnect::TokenResponse::id_token(&tokens).expect("id_token");
    let verifier = client
        .id_token_verifier()
        .set_allowed_algs(vec![CoreJwsSigningAlgorithm::EcdsaP256Sha256]);
    let claims = id_token
        .claims(&verifier, &nonce)
        .expect("ID token verifies");
    assert_eq!(claims.email().map(|e| e.as_str()), Some(ADMIN_EMAIL));

    let access = verify_with_jwks(&server, tokens.access_token().secret()).await;
    assert_eq!(access["__typ"], "at+jwt");
    assert_eq!(access["iss"], server.url);
    assert_eq!(access["client_id"], "ward-cli");
    assert!(access["sid"].is_string());
    assert_eq!(access["email"], ADMIN_EMAIL);
    assert_eq!(access["roles"][0], "admin");
    for claim in ["sub", "aud", "exp", "iat", "jti", "scope", "amr"] {
        assert!(!access[claim].is_null(), "access token has {claim}");
    }
    assert!(tokens
        .refresh_token()
        .unwrap()
        .secret()
        .starts_with("ward_rt_"));

    // The access token works at ward's endpoints, and userinfo agrees.
    let profile: serde_json::Value = http
        .get(server.url("/api/profile"))
        .bearer_auth(tokens.access_token().secret())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(profile["email"], ADMIN_EMAIL);
    assert_eq!(profile["session"]["channel"], "cli");
    assert!(profile["permissions"].as_array().unwrap().len() >= 15);
}

fn oauth2_cli_client(
    server: &TestServer,
) -> oauth2::Client<
    oauth2::basic::BasicErrorResponse,
    oauth2::basic::BasicTokenResponse,
    oauth2::basic::BasicTokenIntrospectionResponse,
    oauth2::StandardRevocableToken,
    oauth2::basic::BasicRevocationErrorResponse,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
> {
    BasicClient::new(ClientId::new("ward-cli".into()))
        .set_token_uri(TokenUrl::new(server.url("/oauth/token")).unwrap())
        .set_device_authorization_url(
            DeviceAuthorizationUrl::new(server.url("/oauth/device/code")).unwrap(),
        )
}

/// Approves a device code through the pages as a signed-in user would.
pub async fn approve_device(server: &TestServer, verification_uri_complete: &str) {
    let browser = server.browser();
    let back = browser
        .sign_in_through(verification_uri_complete, ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    let (status, page, _) = browser.get(&back).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("name=\"user_code\""));
    let r = browser.submit_form(&page, &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let consent = r.text().await.unwrap();
    assert!(consent.contains("Authorize CLI access"), "{consent}");
    let r = browser
        .submit_form(&consent, &[("decision", "allow")])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("Device approved"));
}

async fn device_flow_and_refresh(b: Backend) {
    let server = TestServer::start(b).await;
    let http = http();
    let client = oauth2_cli_client(&server);
    let details: StandardDeviceAuthorizationResponse = client
        .exchange_device_code()
        .add_scope(Scope::new("openid".into()))
        .request_async(&http)
        .await
        .expect("device authorization");
    let user_code = details.user_code().secret().clone();
    assert_eq!(user_code.len(), 9);
    assert_eq!(&user_code[4..5], "-");
    assert!(user_code
        .chars()
        .filter(|c| *c != '-')
        .all(|c| "BCDFGHJKLMNPQRSTVWXZ".contains(c)));
    assert_eq!(details.verification_uri().as_str(), server.url("/device"));
    let complete = details
        .verification_uri_complete()
        .unwrap()
        .secret()
        .clone();
    assert_eq!(
        complete,
        format!("{}?user_code={user_code}", server.url("/device"))
    );
    approve_device(&server, &complete).await;

    // The library sleeps `interval` between polls; here sleeping moves the server's clock.
    let clock = server.clock.clone();
    let tokens = client
        .exchange_device_access_token(&details)
        .request_async(
            &http,
            move |d: Duration| {
                clock.advance(d.as_secs() as i64);
                tokio::time::sleep(Duration::from_millis(1))
            },
            None,
        )
        .await
        .expect("device token");
    verify_with_jwks(&server, tokens.access_token().secret()).await;
    let first_refresh = tokens.refresh_token().unwrap().clone();

    let refreshed = client
        .exchange_refresh_token(&first_refresh)
        .request_async(&http)
        .await
        .expect("refresh");
    let second_refresh = refreshed
        .refresh_token()
        .expect("rotated refresh token")
        .clone();
    assert_ne!(second_refresh.secret(), first_refresh.secret());
    assert_eq!(
        profile_status(&server, refreshed.access_token().secret()).await,
        StatusCode::OK
    );

    // Replaying the rotated token: rejected, and the whole session is revoked.
    let replay = client
        .exchange_refresh_token(&first_refresh)
        .request_async(&http)
        .await;
    assert!(replay.is_err());
    let after = client
        .exchange_refresh_token(&RefreshToken::new(second_refresh.secret().clone()))
        .request_async(&http)
        .await;
    assert!(after.is_err(), "the session died with the replay");
    assert_eq!(
        profile_status(&server, refreshed.access_token().secret()).await,
        StatusCode::UNAUTHORIZED
    );
}

async fn client_credentials_and_introspection(b: Backend) {
    let server = TestServer::start(b).await;
    let http = http();
    let client = BasicClient::new(ClientId::new(APP_CLIENT.into()))
        .set_client_secret(ClientSecret::new(APP_SECRET.into()))
        .set_token_uri(TokenUrl::new(server.url("/oauth/token")).unwrap());
    let tokens = client
        .exchange_client_credentials()
        .add_scope(Scope::new("containers:read".into()))
        .request_async(&http)
        .await
        .expect("client_credentials");
    let claims = verify_with_jwks(&server, tokens.access_token().secret()).await;
    assert_eq!(claims["sub"], APP_CLIENT);
    assert_eq!(claims["scope"], "containers:read");
    assert!(tokens.refresh_token().is_none());

    // A scope the client is not registered for.
    let bad = client
        .exchange_client_credentials()
        .add_scope(Scope::new("containers:delete".into()))
        .request_async(&http)
        .await;
    assert!(bad.is_err());

    // RFC 7662 introspection with client_secret_basic.
    let r: serde_json::Value = http
        .post(server.url("/oauth/introspect"))
        .basic_auth(APP_CLIENT, Some(APP_SECRET))
        .form(&[("token", tokens.access_token().secret().as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["active"], true);
    assert_eq!(r["client_id"], APP_CLIENT);
    let r: serde_json::Value = http
        .post(server.url("/oauth/introspect"))
        .basic_auth(APP_CLIENT, Some(APP_SECRET))
        .form(&[("token", "garbage")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r, serde_json::json!({"active": false}));
    // Wrong secret.
    let r = http
        .post(server.url("/oauth/introspect"))
        .basic_auth(APP_CLIENT, Some("wrong-secret-0123456789"))
        .form(&[("token", "garbage")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::UNAUTHORIZED, "invalid_client".into())
    );

    // Introspecting a CLI user's tokens: active until the session is revoked via RFC 7009.
    let cli = cli_tokens(&server).await;
    let rt = cli["refresh_token"].as_str().unwrap();
    let introspect = |token: String| {
        let http = http.clone();
        let url = server.url("/oauth/introspect");
        async move {
            http.post(url)
                .basic_auth(APP_CLIENT, Some(APP_SECRET))
                .form(&[("token", token)])
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(introspect(rt.to_string()).await["active"], true);
    let r = http
        .post(server.url("/oauth/revoke"))
        .form(&[("token", rt), ("client_id", "ward-cli")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(introspect(rt.to_string()).await["active"], false);
    assert_eq!(
        introspect(cli["access_token"].as_str().unwrap().to_string()).await["active"],
        false
    );
}

on_both_backends!(
    openid_code_flow_with_pkce,
    device_flow_and_refresh,
    client_credentials_and_introspection
);
