//! `GET /api/admin/events`: the live event stream (SPEC §2.18), as server-sent events.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use ward_proto::ErrorBody;

use crate::auth::Caller;
use crate::authz;
use crate::error::{ApiError, ApiResult};
use crate::events::config::event_filter;
use crate::events::stream::{subscribe, Credential};
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamParams {
    /// Comma-separated event types, families (`session.*`) or `*`; all events when absent.
    pub types: Option<String>,
    /// Resume after this event id, like the `Last-Event-ID` header (which wins when both are
    /// given); for clients that cannot set headers.
    pub last_event_id: Option<String>,
}

/// `GET /api/admin/events`: every audit event as it happens (admins only). Each SSE event has
/// `id:` the audit id, `event:` its type and `data:` the same JSON a webhook receives. With
/// `Last-Event-ID`, the events after that one are sent first (from the audit log). A comment
/// line keeps an idle stream open; a subscriber that falls too far behind gets a final
/// `dropped` event. The stream ends when the caller's own session, token or account is revoked.
#[utoipa::path(
    get,
    path = "/api/admin/events",
    operation_id = "admin_events",
    tag = "admin",
    security(("bearer" = []), ("session_cookie" = [])),
    params(
        StreamParams,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id"),
    ),
    responses(
        (status = 200, description = "The event stream", content_type = "text/event-stream", body = String),
        (status = 400, description = "Unknown Last-Event-ID or event type", body = ErrorBody),
        (status = 401, description = "No valid credential", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    )
)]
pub async fn stream(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Query(params): Query<StreamParams>,
) -> ApiResult<Response> {
    authz::require_admin(&state, &caller, false)?;
    let types = match params.types.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(list) => Some(
            list.split(',')
                .map(|t| {
                    event_filter("types", t.trim())
                        .map_err(|e| ApiError::bad_request(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let last = match headers.get("last-event-id") {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ApiError::bad_request("Last-Event-ID is not text"))?
                .trim()
                .to_string(),
        ),
        None => params.last_event_id.map(|s| s.trim().to_string()),
    }
    .filter(|s| !s.is_empty());
    let after = match last {
        Some(id) => Some(state.store.audit_cursor(&id).await?.ok_or_else(|| {
            ApiError::bad_request(format!("unknown Last-Event-ID {id:?}: no such event"))
        })?),
        None => None,
    };
    let credential = Credential {
        user_id: caller.user.id.to_string(),
        session_id: caller.session.as_ref().map(|s| s.id.to_string()),
        api_token_id: caller.api_token.as_ref().map(|t| t.id.clone()),
    };
    let events = subscribe(&state, after, types, credential);
    let keep_alive = KeepAlive::new().interval(state.config.events.keep_alive);
    let mut response = Sse::new(events).keep_alive(keep_alive).into_response();
    // Proxies (nginx) must pass events through at once rather than buffer them.
    response.headers_mut().insert(
        "x-accel-buffering",
        axum::http::HeaderValue::from_static("no"),
    );
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}
