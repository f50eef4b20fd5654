//! `/admin/webhooks`: webhook deliveries newest first, each with its attempts, and a "Send
//! again" button (SPEC §2.18). The same operations as the admin API (`events::admin`).

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use axum_extra::extract::cookie::CookieJar;
use maud::html;
use serde::Deserialize;

use crate::csrf::CsrfForm;
use crate::events::admin;
use crate::extract::ClientIp;
use crate::pages::admin::{admin_caller, frame};
use crate::pages::PageResult;
use crate::pages::{csrf_field, error_page, human_time, notice};
use crate::state::AppState;

/// Deliveries per page.
const PAGE: i64 = 50;

#[derive(Deserialize, Default)]
pub struct WebhooksQuery {
    done: Option<String>,
    before: Option<String>,
}

/// `GET /admin/webhooks?before=`.
pub async fn page(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<WebhooksQuery>,
) -> PageResult {
    let caller = admin_caller(&state, &jar, "/admin/webhooks", false).await?;
    let page = match admin::list(&state, &caller, q.before.as_deref(), PAGE).await {
        Ok(p) => p,
        Err(e) => return Ok(error_page(&e)),
    };
    let ok = (q.done.as_deref() == Some("resent"))
        .then_some("Queued: the message is sent again now, with the same webhook-id.");
    let hooks: Vec<String> = state
        .config
        .events
        .webhooks
        .iter()
        .map(|w| format!("{} ({})", w.url, w.events.join(", ")))
        .collect();
    Ok(frame(
        &state,
        jar,
        &caller,
        "Webhooks",
        "/admin/webhooks",
        |csrf| {
            html! {
                (notice(ok, None))
                section class="panel" aria-labelledby="hooks-h" {
                    h2 id="hooks-h" { "Configured webhooks " span class="count" { (hooks.len()) } }
                    @if hooks.is_empty() {
                        p class="empty" { "No [[webhooks]] in the configuration." }
                    } @else {
                        ul { @for h in &hooks { li { code { (h) } } } }
                    }
                }
                section class="panel" aria-labelledby="deliveries-h" {
                    h2 id="deliveries-h" { "Deliveries" span class="muted small" { " newest first" } }
                    @if page.deliveries.is_empty() {
                        p class="empty" { "Nothing sent yet." }
                    } @else {
                        div class="table-wrap" {
                            table {
                                thead { tr { th { "Event" } th { "Webhook" } th { "Status" } th { "Attempts" } th { "Last answer" } th { "webhook-id" } th { span class="sr-only" { "Actions" } } } }
                                tbody {
                                    @for d in &page.deliveries {
                                        @let m = &d.message;
                                        tr {
                                            td { code { (m.event_type) } br; span class="muted small" { (human_time(m.created_at)) } }
                                            td { code { (m.webhook) } }
                                            td {
                                                @let class = match m.status.as_str() { "delivered" => "badge ok", "failed" => "badge danger", _ => "badge" };
                                                span class=(class) { (m.status.as_str()) }
                                                @if m.status == ward_core::events::DeliveryStatus::Pending {
                                                    br; span class="muted small" { "next " (human_time(m.next_attempt_at)) }
                                                }
                                            }
                                            td {
                                                (m.attempts)
                                                @if !d.attempts.is_empty() {
                                                    details {
                                                        summary { "history" }
                                                        ol {
                                                            @for a in &d.attempts {
                                                                li {
                                                                    (human_time(a.at)) " — "
                                                                    (a.status_code.map(|s| s.to_string()).unwrap_or_else(|| "no answer".into()))
                                                                    @if let Some(e) = &a.error { " — " (e) }
                                                                    " (" (a.duration_ms) " ms)"
                                                                }
                                                            }
                                                        }
                                                    }
                                                }
                                            }
                                            td {
                                                (m.last_status.map(|s| s.to_string()).unwrap_or_else(|| "—".into()))
                                                @if let Some(e) = &m.last_error { br; span class="muted small" { (e) } }
                                            }
                                            td { code { (m.id) } }
                                            td class="actions-cell" {
                                                form method="post" action={ "/admin/webhooks/" (m.id) "/resend" } {
                                                    (csrf_field(csrf))
                                                    button type="submit" class="secondary small" { "Send again" }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    nav class="pager" aria-label="Pages" {
                        @if q.before.is_some() { a href="/admin/webhooks" { "← Newest" } }
                        @if let Some(n) = &page.next { a href={ "/admin/webhooks?before=" (n) } { "Older →" } }
                    }
                }
            }
        },
    ))
}

/// `POST /admin/webhooks/{id}/resend`.
pub async fn resend_form(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    _csrf: CsrfForm,
) -> PageResult {
    let caller = admin_caller(&state, &jar, "/admin/webhooks", true).await?;
    if let Err(e) = admin::resend(&state, &caller, ip.as_deref(), &id).await {
        return Ok(error_page(&e));
    }
    Ok(Redirect::to("/admin/webhooks?done=resent").into_response())
}
