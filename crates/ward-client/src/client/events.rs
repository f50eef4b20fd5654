//! Reading a server-sent-events stream of the gateway (`GET /api/admin/events`), with the
//! profile's credentials.

use std::pin::Pin;
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures::{Stream, StreamExt};

use super::Client;
use crate::error::{Error, Kind, Result};
use crate::oauth::endpoint;

/// A stream is one long request; it ends after this at the latest (the caller reconnects with
/// the last id).
const STREAM_LIMIT: Duration = Duration::from_secs(24 * 3600);

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerEvent {
    /// The `id:` line (empty when the event had none).
    pub id: String,
    /// The `event:` line (`message` when absent).
    pub event: String,
    pub data: String,
}

/// The events of one connection, until it ends.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<ServerEvent>> + Send>>;

impl Client {
    /// Opens the server-sent-events stream at `path`, resuming after `last_event_id`.
    ///
    /// # Errors
    /// Not signed in, network errors, or the server's refusal (its `error_description`).
    pub async fn event_stream(
        &self,
        alias: &str,
        url_flag: Option<&str>,
        path: &str,
        last_event_id: Option<&str>,
    ) -> Result<EventStream> {
        let url = self.resolve_url(alias, url_flag)?;
        let token = self.access_token(alias).await?;
        let target = endpoint(&url, path)?;
        let mut request = self
            .http()?
            .get(target.clone())
            .timeout(STREAM_LIMIT)
            .header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let resp = self
            .send_authorized(request, "GET", &target, &token)
            .await?;
        let status = resp.status().as_u16();
        if status >= 400 {
            let body: serde_json::Value = resp.json().await.unwrap_or_default();
            let message = body["error_description"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("GET {path} answered HTTP {status}"));
            let kind = if status == 401 {
                Kind::SessionExpired
            } else {
                Kind::Server
            };
            return Err(Error::new(kind, message));
        }
        let source = url.to_string();
        let events = resp
            .bytes_stream()
            .eventsource()
            .map(move |item| match item {
                Ok(e) => Ok(ServerEvent {
                    id: e.id,
                    event: e.event,
                    data: e.data,
                }),
                Err(e) => Err(Error::new(
                    Kind::Network,
                    format!("the event stream from {source} broke: {e}"),
                )),
            });
        Ok(Box::pin(events))
    }
}
