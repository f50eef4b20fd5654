//! Server-rendered pages: plain semantic HTML (maud escapes every value) and one stylesheet.
//! Forms use the stable field names of SPEC §2.9 (`email`, `password`, `code`, `user_code`,
//! `decision`) with matching `autocomplete` attributes.

pub mod consent;
pub mod device;
pub mod idp;
pub mod login;
pub mod mfa_login;

use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

pub const STYLESHEET: &str = include_str!("ward.css");

pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// The page frame shared by every page.
pub fn page(title: &str, body: Markup) -> Html<String> {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " · ward" }
                link rel="stylesheet" href="/static/ward.css";
            }
            body {
                main class="card" {
                    p class="brand" { "ward" }
                    (body)
                }
            }
        }
    };
    Html(markup.into_string())
}

/// A page that explains a problem; never a stack trace, never a 500 for a client mistake.
pub fn message_page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = html! {
        h1 { (title) }
        p { (message) }
    };
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        page(title, body),
    )
        .into_response()
}

pub fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="csrf_token" value=(token); }
}

/// Pages are never cached (they carry CSRF tokens and personal data).
pub fn no_store(body: Html<String>) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], body).into_response()
}
