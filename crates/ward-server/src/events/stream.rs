//! One subscriber of `GET /api/admin/events`: a replay from the audit table after the
//! `Last-Event-ID` (if any), then the live events from the [hub](super::hub).
//!
//! Memory per subscriber is bounded: the replay reads a page at a time as the client reads,
//! and the live part holds only a position in the hub's shared ring. A subscriber that falls a
//! whole ring behind gets a final `dropped` event (naming the last id it was sent, to resume
//! from) and the stream ends. The stream also ends when the subscriber's own credential is
//! revoked (its session, API token or account), and when the server shuts down.

use std::collections::{HashSet, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;

use axum::response::sse::Event;
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};
use ward_core::events::wants;

use crate::events::hub::StreamEvent;
use crate::state::AppState;

/// Audit rows read per replay query.
const REPLAY_PAGE: i64 = 200;

/// What ends a subscriber's stream besides the server: its own credential revoked.
#[derive(Debug, Clone, Default)]
pub struct Credential {
    pub user_id: String,
    pub session_id: Option<String>,
    pub api_token_id: Option<String>,
}

impl Credential {
    fn revoked_by(&self, ev: &StreamEvent) -> bool {
        let target = serde_json::from_str::<serde_json::Value>(&ev.json)
            .ok()
            .and_then(|v| v["data"]["target"].as_str().map(str::to_string));
        let Some(target) = target else {
            return false;
        };
        match ev.event_type.as_str() {
            "session.revoked" => self.session_id.as_deref() == Some(target.as_str()),
            "token.revoked" => self.api_token_id.as_deref() == Some(target.as_str()),
            "user.disabled" => self.user_id == target,
            _ => false,
        }
    }
}

enum Phase {
    Replay((i64, i64)),
    Live,
    Done,
}

struct Subscriber {
    state: AppState,
    rx: broadcast::Receiver<Arc<StreamEvent>>,
    closing: watch::Receiver<bool>,
    phase: Phase,
    ready: VecDeque<Event>,
    /// Ids sent by the replay that the live part may carry again.
    replayed: HashSet<String>,
    types: Option<Vec<String>>,
    credential: Credential,
    last_id: Option<String>,
    _gauge: Gauge,
}

/// Counts the subscriber in `ward_event_stream_subscribers` while it lives.
struct Gauge(AppState);

impl Drop for Gauge {
    fn drop(&mut self) {
        self.0.metrics.stream_subscribers.dec();
    }
}

impl Subscriber {
    fn wanted(&self, ev: &StreamEvent) -> bool {
        self.types.as_ref().is_none_or(|t| wants(t, &ev.event_type))
    }

    fn push(&mut self, ev: &StreamEvent) {
        if self.wanted(ev) {
            self.ready.push_back(
                Event::default()
                    .id(ev.id.clone())
                    .event(ev.event_type.clone())
                    .data(ev.json.clone()),
            );
            self.last_id = Some(ev.id.clone());
        }
    }

    fn drop_slow(&mut self, missed: u64) {
        self.state.metrics.stream_dropped.inc();
        let data = serde_json::json!({
            "reason": "the subscriber fell too far behind; reconnect with Last-Event-ID",
            "missed": missed,
            "last_event_id": self.last_id,
        });
        self.ready
            .push_back(Event::default().event("dropped").data(data.to_string()));
        self.phase = Phase::Done;
    }

    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(ev) = self.ready.pop_front() {
                return Some(ev);
            }
            match self.phase {
                Phase::Done => return None,
                Phase::Replay(after) => {
                    let rows = match self
                        .state
                        .store
                        .audit_events_after(after, REPLAY_PAGE)
                        .await
                    {
                        Ok(rows) => rows,
                        Err(e) => {
                            tracing::warn!(target: "ward::events", error = %e, "cannot replay the audit log");
                            return None;
                        }
                    };
                    let newest = rows.last().map(|(_, c)| *c);
                    for (event, cursor) in &rows {
                        let ev = StreamEvent::of(event, *cursor);
                        self.push(&ev);
                        self.replayed.insert(ev.id);
                    }
                    match newest {
                        Some(c) if rows.len() as i64 == REPLAY_PAGE => {
                            self.phase = Phase::Replay(c);
                            // Keep only what the live part can still carry: the last page.
                            if self.replayed.len() > 4 * REPLAY_PAGE as usize {
                                self.replayed.clear();
                                for (event, _) in &rows {
                                    self.replayed.insert(event.id.clone());
                                }
                            }
                        }
                        _ => self.phase = Phase::Live,
                    }
                }
                Phase::Live => {
                    tokio::select! {
                        got = self.rx.recv() => match got {
                            Ok(ev) => {
                                if self.replayed.remove(&ev.id) {
                                    continue;
                                }
                                self.push(&ev);
                                if self.credential.revoked_by(&ev) {
                                    self.phase = Phase::Done;
                                }
                            }
                            Err(RecvError::Lagged(missed)) => self.drop_slow(missed),
                            Err(RecvError::Closed) => return None,
                        },
                        _ = self.closing.changed() => return None,
                    }
                }
            }
        }
    }
}

/// The stream of one subscriber. `after`: the cursor of its `Last-Event-ID` (replay from
/// there), or `None` for live events only. `types`: webhook-style filters, or all events.
pub fn subscribe(
    state: &AppState,
    after: Option<(i64, i64)>,
    types: Option<Vec<String>>,
    credential: Credential,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
    // Subscribe before replaying, so nothing committed in between is missed.
    let rx = state.events.subscribe();
    state.metrics.stream_subscribers.inc();
    let sub = Subscriber {
        state: state.clone(),
        rx,
        closing: state.events.closing(),
        phase: after.map_or(Phase::Live, Phase::Replay),
        ready: VecDeque::new(),
        replayed: HashSet::new(),
        types,
        credential,
        last_id: None,
        _gauge: Gauge(state.clone()),
    };
    futures::stream::unfold(sub, |mut sub| async move {
        let ev = sub.next().await?;
        Some((Ok(ev), sub))
    })
}
