//! `GET /api/admin/events` (SPEC §2.18): a revocation reaches a subscriber within a second
//! (measured, also across PostgreSQL replicas), resuming with `Last-Event-ID` loses nothing,
//! a subscriber that falls behind is dropped with a final event, and bad requests get 4xx.

use std::pin::Pin;
use std::time::{Duration, Instant};

use eventsource_stream::{Event, Eventsource};
use futures::{Stream, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use ward_server::events::hub::StreamEvent;

use crate::events::admin_token;
use crate::harness::*;
use crate::on_both_backends;

type Events = Pin<Box<dyn Stream<Item = Event> + Send>>;

/// SPEC §2.18 / issue #24.
const WITHIN: Duration = Duration::from_secs(1);

async fn open(
    server: &TestServer,
    token: &str,
    query: &str,
    last: Option<&str>,
) -> reqwest::Response {
    let mut req = server
        .api()
        .get(server.url(&format!("/api/admin/events{query}")))
        .bearer_auth(token);
    if let Some(id) = last {
        req = req.header("last-event-id", id);
    }
    req.send().await.unwrap()
}

async fn subscribe(server: &TestServer, token: &str, query: &str, last: Option<&str>) -> Events {
    let r = open(server, token, query, last).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    Box::pin(
        r.bytes_stream()
            .eventsource()
            .map(|e| e.expect("a well-formed event")),
    )
}

async fn next(events: &mut Events) -> Event {
    tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("an event within 10 s")
        .expect("the stream goes on")
}

fn data(e: &Event) -> Value {
    serde_json::from_str(&e.data).unwrap()
}

async fn session_id(server: &TestServer, token: &str) -> String {
    let v: Value = server
        .api()
        .get(server.url("/api/profile"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["session"]["id"].as_str().unwrap().to_string()
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
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Revokes `victim` through `via` and returns how long until `events` carried it.
async fn measure_revocation(
    via: &TestServer,
    token: &str,
    victim: &str,
    events: &mut Events,
) -> Duration {
    let started = Instant::now();
    let r = via
        .api()
        .delete(via.url(&format!("/api/admin/sessions/{victim}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let e = next(events).await;
    let took = started.elapsed();
    assert_eq!(e.event, "session.revoked");
    let d = data(&e);
    assert_eq!(d["data"]["target"], victim);
    assert_eq!(d["type"], "session.revoked");
    assert_eq!(
        e.id,
        d["data"]["id"].as_str().unwrap(),
        "id: is the audit id"
    );
    took
}

async fn a_revocation_reaches_a_subscriber_within_a_second(b: Backend) {
    let server = TestServer::start(b).await;
    let admin = admin_token(&server).await;
    let mut events = subscribe(&server, &admin, "?types=session.revoked", None).await;
    let mut worst = Duration::ZERO;
    for _ in 0..3 {
        let victim_token = admin_token(&server).await;
        let victim = session_id(&server, &victim_token).await;
        let took = measure_revocation(&server, &admin, &victim, &mut events).await;
        worst = worst.max(took);
    }
    eprintln!("MEASURED {b:?}: session.revoked reached the subscriber in at most {worst:?}");
    assert!(worst < WITHIN, "took {worst:?}");
    // A revocation by refresh-token reuse detection is announced too.
    let victim = cli_tokens(&server).await;
    let victim_session = session_id(&server, victim["access_token"].as_str().unwrap()).await;
    let old = victim["refresh_token"].as_str().unwrap();
    assert_eq!(refresh_grant(&server, old).await.status(), StatusCode::OK);
    assert_eq!(
        refresh_grant(&server, old).await.status(),
        StatusCode::BAD_REQUEST
    );
    let e = next(&mut events).await;
    let d = data(&e);
    assert_eq!(d["data"]["detail"]["via"], "refresh_reuse", "{d}");
    assert_eq!(d["data"]["target"], victim_session.as_str());
    // The subscriber's own session revoked: its stream carries that, then ends.
    let own = session_id(&server, &admin).await;
    let second = admin_token(&server).await;
    measure_revocation(&server, &second, &own, &mut events).await;
    let end = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("the stream ends");
    assert!(end.is_none(), "{end:?}");
}

async fn resuming_after_a_disconnect_loses_nothing(b: Backend) {
    let server = TestServer::start(b).await;
    let admin = admin_token(&server).await;
    let mut events = subscribe(&server, &admin, "?types=user.*", None).await;
    for i in 0..3 {
        create_user(&server, &admin, &format!("before{i}@test.example")).await;
    }
    let mut last = String::new();
    for _ in 0..3 {
        last = next(&mut events).await.id;
    }
    drop(events);
    // While nobody listens.
    let mut missed = Vec::new();
    for i in 0..4 {
        missed.push(create_user(&server, &admin, &format!("during{i}@test.example")).await);
    }
    let mut events = subscribe(&server, &admin, "?types=user.*", Some(&last)).await;
    for id in &missed {
        let e = next(&mut events).await;
        assert_eq!(e.event, "user.created");
        assert_eq!(data(&e)["data"]["target"], id.as_str(), "in order");
    }
    // Then live, without repeating anything.
    let live = create_user(&server, &admin, "after@test.example").await;
    let e = next(&mut events).await;
    assert_eq!(data(&e)["data"]["target"], live.as_str());
    // `?last_event_id=` for clients that cannot set headers.
    let mut again = subscribe(
        &server,
        &admin,
        &format!("?types=user.created&last_event_id={last}"),
        None,
    )
    .await;
    assert_eq!(
        data(&next(&mut again).await)["data"]["target"],
        missed[0].as_str()
    );

    // Bad requests: 4xx naming what was wrong.
    let r = open(&server, &admin, "", Some("no-such-event")).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("Last-Event-ID"));
    let r = open(&server, &admin, "?types=session.revoke", None).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let guest: Value = server
        .api()
        .post(server.url("/api/auth/guest"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = open(&server, guest["access_token"].as_str().unwrap(), "", None).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = server
        .api()
        .get(server.url("/api/admin/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

/// A subscriber that does not read while far more than `events.stream_buffer` events (of 4 KiB
/// each, more than the sockets' buffers hold) are published is dropped with a final `dropped`
/// event naming the last id it got, and its stream ends.
async fn a_subscriber_that_falls_behind_is_dropped(b: Backend) {
    let server = TestServer::start_with(b, |raw| raw.events.stream_buffer = 16).await;
    let admin = admin_token(&server).await;
    let mut events = subscribe(&server, &admin, "", None).await;
    let filler = "x".repeat(4096);
    const SENT: usize = 4000;
    for i in 0..SENT {
        server.state.events.publish(StreamEvent {
            id: format!("synthetic-{i}"),
            cursor: (server.clock_now(), i as i64),
            event_type: "signin".into(),
            json: json!({"type": "signin", "data": {"filler": filler}}).to_string(),
        });
    }
    let mut got = 0;
    let last = loop {
        let e = next(&mut events).await;
        if e.event == "dropped" {
            break data(&e);
        }
        got += 1;
    };
    assert!(got < SENT, "nothing was dropped");
    // The last id it was sent, to resume from (none when it fell behind before the first).
    match last["last_event_id"].as_str() {
        Some(id) => assert!(id.starts_with("synthetic-") && got > 0, "{last}"),
        None => assert_eq!(got, 0, "{last}"),
    }
    assert!(last["missed"].as_u64().unwrap() > 0);
    let end = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("the stream ends");
    assert!(end.is_none());
    let metrics = server.state.metrics.render();
    assert!(
        metrics.contains("ward_event_stream_dropped_total 1"),
        "{metrics}"
    );
    eprintln!(
        "MEASURED {b:?}: a subscriber 16 events behind was dropped after reading {got} of {SENT}"
    );
}

on_both_backends!(
    a_revocation_reaches_a_subscriber_within_a_second,
    resuming_after_a_disconnect_loses_nothing,
    a_subscriber_that_falls_behind_is_dropped
);

/// The subscriber is on replica B; the revocation happens on replica A: it reaches B through
/// the audit table (polled every 250 ms) within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revocation_on_one_replica_reaches_a_subscriber_on_another_within_a_second() {
    let a = TestServer::start(Backend::Postgres).await;
    let b = a.start_replica().await;
    let admin_a = admin_token(&a).await;
    let admin_b = cli_tokens(&b).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut events = subscribe(&b, &admin_b, "?types=session.revoked", None).await;
    let mut worst = Duration::ZERO;
    for _ in 0..5 {
        let victim_token = admin_token(&a).await;
        let victim = session_id(&a, &victim_token).await;
        worst = worst.max(measure_revocation(&a, &admin_a, &victim, &mut events).await);
    }
    eprintln!("MEASURED postgres replicas: session.revoked on A reached a subscriber on B in at most {worst:?}");
    assert!(worst < WITHIN, "took {worst:?}");
}
