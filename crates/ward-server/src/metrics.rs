//! Prometheus metrics (`GET /metrics`), kept in a registry owned by the server (no globals).

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
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

pub struct Metrics {
    registry: Registry,
    pub requests: Family<StatusLabel, Counter>,
    pub auth_events: Family<OutcomeLabel, Counter>,
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
        Metrics {
            registry,
            requests,
            auth_events,
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
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
