//! The process's event bus. Events written by this process are published the moment their
//! transaction commits (so a revocation reaches a subscriber here at once); a poll of the audit
//! table every [`POLL_EVERY`] picks up those written by other replicas (SPEC §2.10: replicas
//! share only the database). Each event is published once per process, whichever way it came.
//!
//! The bus is a `tokio::sync::broadcast` channel of `events.stream_buffer` slots shared by all
//! subscribers: memory is bounded however slowly a subscriber reads, and a subscriber that
//! falls further behind than the buffer learns it on its next read (and is dropped).

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, watch, Notify};
use ward_core::model::AuditEvent;

use crate::events::outbox::payload;
use crate::state::AppState;

/// How often other replicas' events are looked for.
pub const POLL_EVERY: Duration = Duration::from_millis(250);

/// How far (in seconds of event time) behind the newest event the poll looks again: an event
/// whose transaction committed late (it took its time and sequence number before it waited)
/// is still found. Ids seen are remembered for twice this.
const WINDOW_SECS: i64 = 5;

/// Events read per query.
const PAGE: i64 = 500;

/// One event, ready to send.
#[derive(Debug, Clone)]
pub struct StreamEvent {
    /// The audit id (the stream's `id:`).
    pub id: String,
    /// `(at, seq)`: its position in the audit log.
    pub cursor: (i64, i64),
    pub event_type: String,
    /// The JSON body (see [`payload`]).
    pub json: String,
}

impl StreamEvent {
    pub fn of(event: &AuditEvent, cursor: (i64, i64)) -> StreamEvent {
        StreamEvent {
            id: event.id.clone(),
            cursor,
            event_type: event.event_type.clone(),
            json: payload(event),
        }
    }
}

#[derive(Default)]
struct Seen {
    ids: HashSet<String>,
    order: VecDeque<(i64, String)>,
    /// The newest event time seen.
    newest: i64,
}

impl Seen {
    /// Records `id`; false when it was seen already.
    fn insert(&mut self, at: i64, id: &str) -> bool {
        if !self.ids.insert(id.to_string()) {
            return false;
        }
        self.order.push_back((at, id.to_string()));
        self.newest = self.newest.max(at);
        let horizon = self.newest - 2 * WINDOW_SECS;
        while self.order.front().is_some_and(|(t, _)| *t < horizon) {
            if let Some((_, old)) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
        true
    }
}

/// The bus, the worker's doorbell and the poll's memory. One per process (in the state).
pub struct Hub {
    tx: broadcast::Sender<Arc<StreamEvent>>,
    seen: Mutex<Seen>,
    outbox: Notify,
    closing: watch::Sender<bool>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hub")
    }
}

impl Hub {
    pub fn new(buffer: usize) -> Hub {
        Hub {
            tx: broadcast::channel(buffer.max(1)).0,
            seen: Mutex::new(Seen::default()),
            outbox: Notify::new(),
            closing: watch::channel(false).0,
        }
    }

    /// Publishes an event once: false when it was published before.
    pub fn publish(&self, event: StreamEvent) -> bool {
        let fresh = match self.seen.lock() {
            Ok(mut seen) => seen.insert(event.cursor.0, &event.id),
            Err(_) => true,
        };
        if fresh {
            // No subscriber is not an error.
            let _ = self.tx.send(Arc::new(event));
        }
        fresh
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<StreamEvent>> {
        self.tx.subscribe()
    }

    /// Ends every stream: the server is shutting down (a graceful shutdown waits for open
    /// connections, and a stream would never close on its own).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Changes when [`Hub::close`] is called.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }

    /// Rings the delivery worker: messages were written to the outbox.
    pub fn outbox_written(&self) {
        self.outbox.notify_one();
    }

    /// Waits for [`Hub::outbox_written`] (a ring while nobody waits is kept for the next call).
    pub async fn outbox_rung(&self) {
        self.outbox.notified().await;
    }

    fn newest(&self) -> Option<i64> {
        self.seen.lock().ok().map(|s| s.newest).filter(|n| *n > 0)
    }
}

/// Polls the audit table for events this process did not write, until the task is aborted.
pub(crate) async fn poll_forever(state: AppState) {
    // Start at the newest event: the stream replays older ones from the table itself.
    let start = match state
        .store
        .audit_events(&ward_core::model::AuditQuery {
            limit: 1,
            ..Default::default()
        })
        .await
    {
        Ok(rows) => rows.first().map(|(_, c)| c.0),
        Err(_) => None,
    };
    let mut newest = start.unwrap_or_else(|| state.clock.now().0);
    let mut tick = tokio::time::interval(POLL_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Some(n) = state.events.newest() {
            newest = newest.max(n);
        }
        if let Err(e) = poll_once(&state, newest - WINDOW_SECS).await {
            tracing::warn!(target: "ward::events", error = %e, "cannot read the audit log");
        }
    }
}

async fn poll_once(state: &AppState, from_at: i64) -> Result<(), ward_core::StoreError> {
    let mut after = (from_at, i64::MIN);
    loop {
        let rows = state.store.audit_events_after(after, PAGE).await?;
        for (event, cursor) in &rows {
            state.events.publish(StreamEvent::of(event, *cursor));
        }
        match rows.last() {
            Some((_, c)) if rows.len() as i64 == PAGE => after = *c,
            _ => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_forgets_old_ids_and_dedupes_new_ones() {
        let mut s = Seen::default();
        assert!(s.insert(100, "a"));
        assert!(!s.insert(100, "a"));
        assert!(s.insert(100 + 2 * WINDOW_SECS + 1, "b"));
        assert!(s.ids.len() == 1, "a is past the horizon");
    }
}
