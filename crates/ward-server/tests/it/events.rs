//! Webhooks (SPEC §2.18) against a real receiver (`webhook_receiver.py`, which checks every
//! signature with Python's own HMAC): every event type arrives signed; a failing receiver gets
//! retries with backoff and the same `webhook-id`; "send again"; giving up after
//! `events.retry_for`; two PostgreSQL replicas never attempt one message at once.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use ward_server::audit::{self, Audit};
use ward_server::config::RawConfig;
use ward_server::events::config::{RawWebhook, EVENT_TYPES};

use crate::harness::*;
use crate::on_both_backends;
use crate::receiver::{Receiver, SECRET};

pub fn webhook(raw: &mut RawConfig, url: &str, events: &[&str]) {
    raw.webhooks.push(RawWebhook {
        url: url.to_string(),
        secret: Some(SECRET.to_string()),
        secret_file: None,
        events: events.iter().map(|s| s.to_string()).collect(),
    });
}

/// Polls `done` every 50 ms until it holds, or panics after `limit` with `what`.
pub async fn wait_for(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn admin_token(server: &TestServer) -> String {
    cli_tokens(server).await["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn create_user(server: &TestServer, token: &str, email: &str) -> String {
    let r = server
        .api()
        .post(server.url("/api/admin/users"))
        .bearer_auth(token)
        .json(&json!({"email": email, "role": "user"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn deliveries(server: &TestServer, token: &str) -> Vec<Value> {
    // More than one default page (50): every event type is delivered once.
    let r = server
        .api()
        .get(server.url("/api/admin/webhooks/deliveries?limit=500"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json::<Value>().await.unwrap()["deliveries"]
        .as_array()
        .unwrap()
        .clone()
}

async fn patch_user(server: &TestServer, token: &str, id: &str, body: Value) {
    let r = server
        .api()
        .patch(server.url(&format!("/api/admin/users/{id}")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
}

async fn every_event_type_arrives_signed(b: Backend) {
    let all = Receiver::start(0);
    let sessions_only = Receiver::start(0);
    let server = TestServer::start_with(b, |raw| {
        webhook(raw, &all.url(), &["*"]);
        webhook(raw, &sessions_only.url(), &["session.revoked"]);
    })
    .await;
    // Real flows first: sign-in and consent, API tokens, users, roles, guests, a denial, a
    // sign-out.
    let tokens = cli_tokens(&server).await;
    let token = tokens["access_token"].as_str().unwrap().to_string();
    let api = server.api();
    let created = api
        .post(server.url("/api/tokens"))
        .bearer_auth(&token)
        .json(&json!({"name": "ci", "scopes": ["containers:read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let token_id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = api
        .delete(server.url(&format!("/api/tokens/{token_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let user = create_user(&server, &token, "hooked@test.example").await;
    patch_user(&server, &token, &user, json!({"role": "admin"})).await;
    patch_user(&server, &token, &user, json!({"disabled": true})).await;
    patch_user(&server, &token, &user, json!({"disabled": false})).await;
    let guest: Value = api
        .post(server.url("/api/auth/guest"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let denied = api
        .get(server.url("/api/admin/users"))
        .bearer_auth(guest["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    let r = api
        .post(server.url("/api/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    // Then every other type ward writes, through the same audit call the flows use.
    let seen_by_flows: HashSet<String> = ["signin", "consent.granted", "token.created"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for t in EVENT_TYPES {
        if !seen_by_flows.contains(*t) {
            audit::record(
                &server.state,
                Audit::new(t, ward_core::audit::Outcome::Ok).target("synthetic"),
            )
            .await;
        }
    }
    wait_for(
        Duration::from_secs(30),
        "every event type delivered",
        || {
            let got: HashSet<String> = all
                .delivered()
                .iter()
                .map(|r| r["body"]["type"].as_str().unwrap_or_default().to_string())
                .collect();
            EVENT_TYPES.iter().all(|t| got.contains(*t))
        },
    )
    .await;
    let records = all.records();
    let mut ids = HashSet::new();
    for r in &records {
        assert_eq!(r["sig_ok"], true, "signature checked by Python: {r}");
        assert_eq!(r["status"], 200, "{r}");
        assert_eq!(r["content_type"], "application/json");
        assert!(r["id"].as_str().unwrap().starts_with("msg_"), "{r}");
        assert!(
            ids.insert(r["id"].as_str().unwrap().to_string()),
            "one delivery per message: {r}"
        );
        let body = &r["body"];
        assert!(body["timestamp"].as_str().unwrap().ends_with('Z'), "{body}");
        assert!(body["data"]["id"].is_string() && body["data"]["outcome"].is_string());
    }
    // The flows' events carry what they are about.
    let of_type = |t: &str| -> Vec<Value> {
        records
            .iter()
            .filter(|r| r["body"]["type"] == t)
            .map(|r| r["body"].clone())
            .collect()
    };
    assert!(of_type("user.disabled")
        .iter()
        .any(|b| b["data"]["target"] == user.as_str()));
    assert!(of_type("token.revoked")
        .iter()
        .any(|b| b["data"]["target"] == token_id.as_str()));
    assert!(of_type("role.changed")
        .iter()
        .any(|b| b["data"]["detail"]["to"] == "admin"));
    assert!(!of_type("policy.denied").is_empty());
    // A filtered webhook gets only its type.
    wait_for(Duration::from_secs(10), "session.revoked delivered", || {
        sessions_only.delivered().len() >= 2
    })
    .await;
    for r in sessions_only.records() {
        assert_eq!(r["body"]["type"], "session.revoked", "{r}");
        assert_eq!(r["sig_ok"], true);
    }
    // The deliveries list (a fresh admin session: the old one signed out).
    let token = admin_token(&server).await;
    let list = deliveries(&server, &token).await;
    assert!(list.len() >= EVENT_TYPES.len(), "{}", list.len());
    let delivered = list.iter().find(|d| d["status"] == "delivered").unwrap();
    assert_eq!(delivered["history"][0]["status"], 200, "{delivered}");
    assert_eq!(delivered["history"][0]["attempt"], 1);
    assert!(delivered["id"].as_str().unwrap().starts_with("msg_"));
    // Metrics: delivery counters and latency histograms.
    let metrics = api
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("ward_webhook_deliveries_total{outcome=\"delivered\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("ward_webhook_delivery_duration_seconds_bucket"));
    assert!(
        metrics.contains(
            "ward_http_request_duration_seconds_count{method=\"POST\",route=\"/oauth/token\"}"
        ),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("request_duration"))
            .take(5)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

async fn a_failing_receiver_gets_retries_with_the_same_id(b: Backend) {
    let receiver = Receiver::start(0);
    receiver.answer(false);
    let server = TestServer::start_with(b, |raw| {
        webhook(raw, &receiver.url(), &["user.created"]);
        raw.events.retry_first = "10s".into();
        raw.events.retry_max = "40s".into();
        raw.events.retry_for = "100s".into();
    })
    .await;
    let token = admin_token(&server).await;
    let user = create_user(&server, &token, "retry@test.example").await;
    wait_for(Duration::from_secs(10), "first attempt", || {
        receiver.records().len() == 1
    })
    .await;
    let first = receiver.records()[0].clone();
    assert_eq!(first["status"], 503);
    assert_eq!(first["body"]["data"]["target"], user.as_str());
    let id = first["id"].as_str().unwrap().to_string();
    let list = deliveries(&server, &token).await;
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["status"], "pending");
    assert_eq!(list[0]["last_status"], 503);
    assert_eq!(list[0]["history"][0]["status"], 503);
    // Backoff: the first retry waits 5 to 10 s (10 s with equal jitter); not before.
    server.clock.advance(4);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(receiver.records().len(), 1, "retried before the backoff");
    server.clock.advance(6);
    wait_for(Duration::from_secs(10), "second attempt", || {
        receiver.records().len() == 2
    })
    .await;
    // The receiver is back: the next retry (10 to 20 s later) is delivered.
    receiver.answer(true);
    server.clock.advance(20);
    wait_for(Duration::from_secs(10), "delivered", || {
        receiver.delivered().len() == 1
    })
    .await;
    let records = receiver.records();
    assert_eq!(records.len(), 3);
    for r in &records {
        assert_eq!(
            r["id"],
            id.as_str(),
            "the webhook-id is stable across retries"
        );
        assert_eq!(r["body"], first["body"], "the same body every time");
        assert_eq!(r["sig_ok"], true);
    }
    assert!(
        records[2]["ts"].as_i64() > records[0]["ts"].as_i64(),
        "each attempt is signed at its own time"
    );
    // The receiver answers 200 before the worker records it: wait for the record.
    let mut list = deliveries(&server, &token).await;
    for _ in 0..100 {
        if list[0]["status"] == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        list = deliveries(&server, &token).await;
    }
    assert_eq!(list[0]["status"], "delivered");
    assert_eq!(list[0]["attempts"], 3);
    let statuses: Vec<i64> = list[0]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, vec![503, 503, 200]);

    // "Send again": same id, same body, now.
    let r = server
        .api()
        .post(server.url(&format!("/api/admin/webhooks/deliveries/{id}/resend")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    wait_for(Duration::from_secs(10), "sent again", || {
        receiver.delivered().len() == 2
    })
    .await;
    let again = receiver.delivered()[1].clone();
    assert_eq!(again["id"], id.as_str());
    assert_eq!(again["body"], first["body"]);
    let r = server
        .api()
        .post(server.url("/api/admin/webhooks/deliveries/msg_nope/resend"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Giving up: retried until `retry_for` after the event, then failed.
    receiver.answer(false);
    create_user(&server, &token, "never@test.example").await;
    let failed = |list: &[Value]| {
        list.iter()
            .any(|d| d["status"] == "failed" && d["type"] == "user.created")
    };
    let mut rounds = 0;
    loop {
        let list = deliveries(&server, &token).await;
        if failed(&list) {
            break;
        }
        rounds += 1;
        assert!(rounds < 40, "never gave up: {list:?}");
        server.clock.advance(40);
        tokio::time::sleep(Duration::from_millis(1200)).await;
    }
    let list = deliveries(&server, &token).await;
    let gave_up = list.iter().find(|d| d["status"] == "failed").unwrap();
    let attempts = gave_up["attempts"].as_i64().unwrap();
    assert!((3..=12).contains(&attempts), "{gave_up}");
    assert!(gave_up["next_attempt_at"].is_null());

    // The sweeper deletes finished messages `events.keep_deliveries` (7 days) after the event.
    server.clock.advance(6 * 24 * 3600);
    assert_eq!(
        ward_server::sweeper::sweep(&server.state)
            .await
            .unwrap()
            .webhook_messages,
        0
    );
    server.clock.advance(2 * 24 * 3600);
    let report = ward_server::sweeper::sweep(&server.state).await.unwrap();
    assert_eq!(report.webhook_messages, 2);
    let token = admin_token(&server).await;
    assert!(deliveries(&server, &token)
        .await
        .iter()
        .all(|d| d["type"] != "user.created"));
}

/// `/admin/webhooks` lists the deliveries with their attempts, and its "Send again" button
/// sends a message again with the same `webhook-id`.
async fn the_admin_page_lists_deliveries_and_sends_again(b: Backend) {
    let receiver = Receiver::start(0);
    let server = TestServer::start_with(b, |raw| {
        webhook(raw, &receiver.url(), &["user.*"]);
    })
    .await;
    let token = admin_token(&server).await;
    create_user(&server, &token, "paged@test.example").await;
    wait_for(Duration::from_secs(10), "delivered", || {
        receiver.delivered().len() == 1
    })
    .await;
    let id = receiver.delivered()[0]["id"].as_str().unwrap().to_string();
    let browser = server.browser();
    let r = browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, page, _) = browser.get("/admin/webhooks").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&id), "{page}");
    assert!(page.contains("user.created") && page.contains("delivered"));
    assert!(page.contains(&receiver.url()));
    let action = format!("/admin/webhooks/{id}/resend");
    assert!(page.contains(&format!("action=\"{action}\"")), "{page}");
    assert!(page.contains("Send again"));
    let csrf = input_value(&page, "csrf_token").unwrap();
    let r = browser
        .http
        .post(server.url(&action))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location_of(&r), "/admin/webhooks?done=resent");
    wait_for(Duration::from_secs(10), "sent again", || {
        receiver.delivered().len() == 2
    })
    .await;
    assert_eq!(receiver.delivered()[1]["id"], id.as_str());
    // Without the CSRF token: refused, nothing sent.
    let r = browser.http.post(server.url(&action)).send().await.unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
}

on_both_backends!(
    every_event_type_arrives_signed,
    a_failing_receiver_gets_retries_with_the_same_id,
    the_admin_page_lists_deliveries_and_sends_again
);

/// Two replicas on one PostgreSQL database, each with its delivery worker, and a receiver that
/// takes 200 ms per answer: no message is ever being attempted by both at once (the receiver
/// notes an id arriving while it is still answering it), and each is delivered exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_postgres_replicas_never_attempt_one_message_at_once() {
    let receiver = Receiver::start(200);
    let url = receiver.url();
    let a = TestServer::start_with(Backend::Postgres, |raw| {
        webhook(raw, &url, &["user.created"]);
    })
    .await;
    let b = a
        .start_replica_with(|raw| webhook(raw, &url, &["user.created"]))
        .await;
    let token_a = admin_token(&a).await;
    let token_b = cli_tokens(&b).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    const N: usize = 60;
    let mut jobs = Vec::new();
    for i in 0..N {
        let (server_url, token) = if i % 2 == 0 {
            (a.url.clone(), token_a.clone())
        } else {
            (b.url.clone(), token_b.clone())
        };
        jobs.push(tokio::spawn(async move {
            let r = reqwest::Client::new()
                .post(format!("{server_url}/api/admin/users"))
                .bearer_auth(token)
                .json(&json!({"email": format!("r{i}@test.example"), "role": "user"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::CREATED);
        }));
    }
    for j in jobs {
        j.await.unwrap();
    }
    wait_for(Duration::from_secs(60), "every message delivered", || {
        receiver
            .delivered()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect::<HashSet<_>>()
            .len()
            == N
    })
    .await;
    // Give a double delivery time to show up.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let records = receiver.records();
    let mut per_id: HashMap<String, usize> = HashMap::new();
    for r in &records {
        assert_eq!(
            r["overlap"], false,
            "one message attempted twice at once: {r}"
        );
        assert_eq!(r["sig_ok"], true);
        *per_id
            .entry(r["id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(per_id.len(), N);
    assert!(
        per_id.values().all(|n| *n == 1),
        "a message was delivered more than once: {per_id:?}"
    );
    // Both workers took part.
    for (name, server) in [("a", &a), ("b", &b)] {
        let metrics = server.state.metrics.render();
        assert!(
            metrics.contains("ward_webhook_deliveries_total{outcome=\"delivered\"}"),
            "replica {name} delivered nothing"
        );
    }
}
