//! Issue 18, "the first hour", on the server: safe defaults (item 14) and an audit log that sees
//! every sign-in, approval and denial of every channel (item 17).

use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::*;
use crate::idp::audit_events;
use crate::on_both_backends;
use crate::standard_clients::approve_device;

fn channels(events: &[(String, Value)]) -> Vec<String> {
    events
        .iter()
        .filter_map(|(_, d)| d["channel"].as_str().map(str::to_string))
        .collect()
}

async fn cli_sign_ins_and_device_approvals_are_audited(b: Backend) {
    let server = TestServer::start(b).await;
    // PKCE: the browser's password sign-in, its consent, then the CLI's own session.
    cli_tokens(&server).await;
    let signins = audit_events(&server, "signin").await;
    assert!(
        channels(&signins).contains(&"cli".to_string()),
        "{signins:?}"
    );
    // Device flow: the approval and the session it starts.
    let d: Value = server
        .api()
        .post(server.url("/oauth/device/code"))
        .form(&[("client_id", "ward-cli"), ("scope", "openid")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    approve_device(&server, d["verification_uri_complete"].as_str().unwrap()).await;
    let approved = audit_events(&server, "device.approved").await;
    assert_eq!(approved.len(), 1, "{approved:?}");
    let r = server
        .api()
        .post(server.url("/oauth/token"))
        .form(&[
            ("grant_type", ward_proto::DEVICE_CODE_GRANT_TYPE),
            ("device_code", d["device_code"].as_str().unwrap()),
            ("client_id", "ward-cli"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cli: Vec<_> = channels(&audit_events(&server, "signin").await)
        .into_iter()
        .filter(|c| c == "cli")
        .collect();
    assert_eq!(cli.len(), 2, "one per CLI session: {cli:?}");
    // A guest from the API is a sign-in of channel guest.
    let r = server
        .api()
        .post(server.url("/api/auth/guest"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(channels(&audit_events(&server, "signin").await).contains(&"guest".to_string()));
}

/// Issue 18 item 14: guest mode is off unless the operator turns it on.
async fn guests_are_off_by_default(b: Backend) {
    let server = TestServer::start_with(b, |c| c.sessions.guests = false).await;
    let r = server
        .api()
        .post(server.url("/api/auth/guest"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (_, page, _) = server.browser().get("/login").await;
    assert!(!page.contains("/login/guest"), "{page}");
}

on_both_backends!(
    cli_sign_ins_and_device_approvals_are_audited,
    guests_are_off_by_default
);
