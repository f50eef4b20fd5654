//! How the OAuth endpoints refuse: a wrong method gets the JSON error shape, an error redirect
//! names the issuer (RFC 9207), and a grant that is switched off refuses codes issued before.

use reqwest::StatusCode;

use crate::harness::*;
use crate::on_both_backends;

on_both_backends!(
    a_wrong_method_gets_a_json_405,
    error_redirects_name_the_issuer,
    device_flow_off_refuses_old_codes_too,
);

async fn a_wrong_method_gets_a_json_405(b: Backend) {
    let server = TestServer::start(b).await;
    let api = server.api();
    // 405 in the JSON error shape.
    let r = api.delete(server.url("/oauth/token")).send().await.unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed".into())
    );
}

async fn error_redirects_name_the_issuer(b: Backend) {
    let server = TestServer::start(b).await;
    // iss on error redirects (RFC 9207).
    let url = reqwest::Url::parse_with_params(
        &server.url("/oauth/authorize"),
        &[
            ("response_type", "token"),
            ("client_id", "ward-cli"),
            ("redirect_uri", LOOPBACK),
        ],
    )
    .unwrap();
    let (_, _, location) = server.browser().get(url.as_str()).await;
    let q: std::collections::HashMap<_, _> = reqwest::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(q["error"], "invalid_request");
    assert_eq!(q["iss"], server.url);
}

async fn device_flow_off_refuses_old_codes_too(b: Backend) {
    let server = TestServer::start_with(b, |c| c.device_flow = false).await;
    let r = server
        .api()
        .post(server.url("/oauth/token"))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", "x"),
            ("client_id", "ward-cli"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::BAD_REQUEST, "unauthorized_client".into())
    );
}
