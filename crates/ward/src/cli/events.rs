//! `ward admin events`: prints the live event stream (`GET /api/admin/events`). Like a browser's
//! `EventSource`, it reconnects when the connection drops and resumes after the last event it
//! printed (`Last-Event-ID`), so nothing is skipped.

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use ward_proto::EventPayload;

use super::admin::query as admin_query;
use super::{short_time, CliError, CliResult, Ctx};

/// The wait before reconnecting after the stream ended or broke.
const RECONNECT: Duration = Duration::from_secs(1);

#[derive(clap::Args, Debug)]
pub struct EventsArgs {
    /// Only these event types (repeatable; `session.*` for a family).
    #[arg(long = "type", value_name = "TYPE")]
    types: Vec<String>,
    /// Start after this event id (replays what came after it) instead of from now.
    #[arg(long)]
    last_event_id: Option<String>,
    /// Exit after printing this many events.
    #[arg(long)]
    count: Option<u64>,
}

pub async fn follow(ctx: &Ctx, args: EventsArgs) -> CliResult {
    let client = ctx.client();
    let alias = client.resolve_alias(ctx.global.profile.as_deref())?;
    let types = (!args.types.is_empty()).then(|| args.types.join(","));
    let path = format!(
        "/api/admin/events{}",
        admin_query(&[("types", types.as_deref())])
    );
    let mut last = args.last_event_id.clone();
    let mut printed = 0u64;
    let mut connected_once = false;
    loop {
        let stream = client
            .event_stream(&alias, ctx.global.url.as_deref(), &path, last.as_deref())
            .await;
        let mut stream = match stream {
            Ok(s) => s,
            // A refusal on the first connection is the answer; later, the server may be
            // restarting: try again.
            Err(e) if !connected_once => return Err(CliError::from(e)),
            Err(e) => {
                eprintln!("Warning: {e}; reconnecting");
                tokio::time::sleep(RECONNECT).await;
                continue;
            }
        };
        connected_once = true;
        while let Some(item) = stream.next().await {
            let event = match item {
                Ok(e) => e,
                Err(e) => {
                    eprintln!("Warning: {e}; reconnecting");
                    break;
                }
            };
            if event.event == "dropped" {
                eprintln!("Warning: the server dropped this stream (it fell behind); resuming");
                break;
            }
            if !event.id.is_empty() {
                last = Some(event.id.clone());
            }
            print_event(ctx, &event.event, &event.data);
            printed += 1;
            if args.count.is_some_and(|n| printed >= n) {
                return Ok(());
            }
        }
        tokio::time::sleep(RECONNECT).await;
    }
}

fn print_event(ctx: &Ctx, kind: &str, data: &str) {
    if ctx.json() {
        // One compact object per line, for `jq` and other tools.
        let v: Value = serde_json::from_str(data).unwrap_or(Value::Null);
        println!("{}", serde_json::to_string(&v).unwrap_or_default());
        return;
    }
    let Ok(event) = serde_json::from_str::<EventPayload>(data) else {
        println!("{kind}  (an event this ward version does not understand: {data})");
        return;
    };
    let d = &event.data;
    let mut line = format!("{}  {kind}  {}", short_time(&event.timestamp), d.outcome);
    for (key, value) in [("actor", &d.actor), ("target", &d.target), ("ip", &d.ip)] {
        if let Some(s) = value {
            line.push_str(&format!("  {key}={s}"));
        }
    }
    if let Some(detail) = d.detail.as_object() {
        for (k, v) in detail {
            match v {
                Value::String(s) => line.push_str(&format!("  {k}={s}")),
                other => line.push_str(&format!("  {k}={other}")),
            }
        }
    }
    line.push_str(&format!("  id={}", d.id));
    println!("{line}");
}
