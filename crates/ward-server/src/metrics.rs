//! Prometheus metrics (`GET /metrics`), kept in a registry owned by the server (no globals).

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub kind: String,
    pub outcome: String,
}

/// A route as the router matched it (`/api/sessions/{id}`), `proxy` for the identity-aware
/// proxy and forward-auth fallbacks: a bounded set, never a raw path.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    pub method: String,
    pub route: String,
}

/// `delivered`, `retry` (failed, tried again later) or `failed` (given up).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabel {
    pub outcome: String,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms to about 16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<StatusLabel, Counter>,
    pub auth_events: Family<OutcomeLabel, Counter>,
    /// Request latency by route (SPEC §2.18: "latency histograms of the main endpoints").
    pub request_seconds: Family<RouteLabel, Histogram, fn() -> Histogram>,
    /// Webhook delivery attempts by outcome, and how long each took.
    pub webhook_deliveries: Family<DeliveryLabel, Counter>,
    pub webhook_delivery_seconds: Histogram,
    /// Event-stream subscribers connected now, and those dropped for reading too slowly.
    pub stream_subscribers: Gauge,
    pub stream_dropped: Counter,
    /// Set when `/metrics` is read: database connections open and idle, and the access tokens
    /// whose signature is remembered as verified (what a process holds that grows with use).
    pub db_connections: Family<StateLabel, Gauge>,
    pub verified_tokens: Gauge,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    pub state: &'static str,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("ward");
        let requests = Family::<StatusLabel, Counter>::default();
        let auth_events = Family::<OutcomeLabel, Counter>::default();
        registry.register("http_requests", "HTTP requests by status", requests.clone());
        registry.register(
            "auth_events",
            "Sign-ins and token grants by kind and outcome",
            auth_events.clone(),
        );
        let request_seconds =
            Family::<RouteLabel, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
        registry.register(
            "http_request_duration_seconds",
            "Request latency by method and matched route",
            request_seconds.clone(),
        );
        let webhook_deliveries = Family::<DeliveryLabel, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Webhook delivery attempts by outcome (delivered, retry, failed)",
            webhook_deliveries.clone(),
        );
        let webhook_delivery_seconds = latency_histogram();
        registry.register(
            "webhook_delivery_duration_seconds",
            "How long webhook delivery attempts took",
            webhook_delivery_seconds.clone(),
        );
        let stream_subscribers = Gauge::default();
        registry.register(
            "event_stream_subscribers",
            "Subscribers of GET /api/admin/events connected now",
            stream_subscribers.clone(),
        );
        let stream_dropped = Counter::default();
        registry.register(
            "event_stream_dropped",
            "Event-stream subscribers dropped for falling behind",
            stream_dropped.clone(),
        );
        let db_connections = Family::<StateLabel, Gauge>::default();
        registry.register(
            "db_connections",
            "Database connections of this process by state (open, idle), when /metrics was read",
            db_connections.clone(),
        );
        let verified_tokens = Gauge::default();
        registry.register(
            "verified_access_tokens",
            "Access tokens whose signature this process remembers as verified",
            verified_tokens.clone(),
        );
        Metrics {
            registry,
            db_connections,
            verified_tokens,
            requests,
            auth_events,
            request_seconds,
            webhook_deliveries,
            webhook_delivery_seconds,
            stream_subscribers,
            stream_dropped,
        }
    }
}

impl Metrics {
    pub fn auth_event(&self, kind: &str, outcome: &str) {
        self.auth_events
            .get_or_create(&OutcomeLabel {
                kind: kind.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }
    pub fn delivery(&self, outcome: &str, seconds: f64) {
        self.webhook_deliveries
            .get_or_create(&DeliveryLabel {
                outcome: outcome.to_string(),
            })
            .inc();
        self.webhook_delivery_seconds.observe(seconds);
    }
    /// The gauges that are read rather than counted, set just before a scrape.
    pub fn observe(&self, pool: ward_core::store::PoolStats, verified_tokens: usize) {
        for (state, n) in [("open", pool.open), ("idle", pool.idle)] {
            self.db_connections
                .get_or_create(&StateLabel { state })
                .set(i64::from(n));
        }
        self.verified_tokens
            .set(i64::try_from(verified_tokens).unwrap_or(i64::MAX));
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
