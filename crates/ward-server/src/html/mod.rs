//! ward's HTML kit: the page frames, the shared pieces of markup (CSRF field, notices, passkey
//! buttons, backup codes, times) and the consent view. Rendering only: no handler, no store.
//! `pages/` and the two HTML endpoints of `oauth/` (consent, sign-out) both draw with it, so
//! neither adapter imports the other.

pub mod consent;

use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};
use ward_core::clock::Timestamp;
use ward_core::model::CeremonyKind;

use crate::error::ApiError;

pub const STYLESHEET: &str = include_str!("../pages/ward.css");
/// The only script: WebAuthn needs the browser's `navigator.credentials` API.
pub const WEBAUTHN_SCRIPT: &str = include_str!("../pages/webauthn.js");

/// The `<head>` every page shares: the title under the product's name, the stylesheet and the
/// branding's accent colour over it.
fn head(title: &str, brand: &crate::branding::Branding) -> Markup {
    html! {
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        meta name="referrer" content="no-referrer";
        title { (title) " · " (brand.product_name) }
        link rel="stylesheet" href="/static/ward.css";
        @if brand.accent_color.is_some() {
            link rel="stylesheet" href=(crate::branding::BRAND_CSS_PATH);
        }
    }
}

/// The product's mark: its logo when one is configured (named by `alt`), else its name.
fn brand_mark(brand: &crate::branding::Branding) -> Markup {
    html! {
        @if brand.logo.is_some() {
            img class="logo" src=(crate::branding::LOGO_PATH) alt=(brand.product_name);
        } @else {
            (brand.product_name)
        }
    }
}

/// The support link under every page, when `[branding] support_url` is set.
fn support(brand: &crate::branding::Branding) -> Markup {
    html! {
        @if let Some(url) = &brand.support_url {
            p class="support muted small" { "Need help? " a href=(url.as_str()) { "Contact support" } }
        }
    }
}

/// The page frame shared by every page.
pub fn page(title: &str, body: Markup) -> Html<String> {
    let brand = crate::branding::current();
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head { (head(title, &brand)) }
            body {
                main class="card" {
                    p class="brand" { (brand_mark(&brand)) }
                    (body)
                    (support(&brand))
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

/// "Sign in with a passkey" (WebAuthn, discoverable credential; needs JavaScript).
pub fn passkey_signin(return_to: &str) -> Markup {
    webauthn_button(CeremonyKind::Signin, "Sign in with a passkey", return_to)
}

/// "Use your security key" for the second step of a sign-in.
pub fn security_key_button(return_to: &str) -> Markup {
    webauthn_button(CeremonyKind::Mfa, "Use your security key", return_to)
}

/// A button that runs a WebAuthn ceremony of `kind` in `webauthn.js`, with its status line.
fn webauthn_button(kind: CeremonyKind, label: &str, return_to: &str) -> Markup {
    html! {
        div class="alt-signin" {
            button type="button" class="secondary" data-webauthn=(kind.as_str()) data-return-to=(return_to) { (label) }
            p id="webauthn-status" class="muted" role="status" {}
        }
        script src="/static/webauthn.js" defer {}
    }
}

/// An SVG document (such as the TOTP QR code) inlined in a page, without the XML declaration
/// the renderer puts first.
pub fn inline_svg(svg: &str) -> maud::PreEscaped<String> {
    let start = svg.find("<svg").unwrap_or(0);
    maud::PreEscaped(svg.get(start..).unwrap_or_default().to_string())
}

/// The page that shows freshly made backup codes, once, with a link onwards.
pub fn backup_codes_page(codes: &[String], next_href: &str, next_label: &str) -> Response {
    no_store(page(
        "Save your backup codes",
        html! {
            h1 { "Save your backup codes" }
            p { "Two-step verification is on. Each of these codes signs you in once if you lose your authenticator. They are shown only now." }
            ul class="backup-codes" { @for c in codes { li { code { (c) } } } }
            p { a class="button" href=(next_href) { (next_label) } }
        },
    ))
}

pub fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="csrf_token" value=(token); }
}

/// Pages are never cached (they carry CSRF tokens and personal data).
pub fn no_store(body: Html<String>) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], body).into_response()
}

/// What the navigation bar of the account and admin pages needs.
pub struct Nav<'a> {
    pub email: &'a str,
    pub admin: bool,
    pub csrf: &'a str,
    /// The path of the page shown, marked `aria-current`.
    pub active: &'a str,
}

/// The frame of the account and admin pages: a top bar with navigation and sign-out, and a
/// wide main column of panels.
pub fn app_page(title: &str, nav: &Nav<'_>, body: Markup) -> Html<String> {
    let link = |href: &'static str, label: &'static str| {
        html! {
            @if nav.active == href {
                a href=(href) aria-current="page" { (label) }
            } @else {
                a href=(href) { (label) }
            }
        }
    };
    let brand = crate::branding::current();
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head { (head(title, &brand)) }
            body class="app" {
                header class="topbar" {
                    div class="topbar-inner" {
                        a class="brand" href="/" { (brand_mark(&brand)) }
                        nav aria-label="Main" {
                            (link("/account", "Account"))
                            @if nav.admin {
                                (link("/admin/users", "Users"))
                                (link("/admin/invitations", "Invitations"))
                                (link("/admin/service-accounts", "Service accounts"))
                                (link("/admin/sessions", "Sessions"))
                                (link("/admin/audit", "Audit log"))
                                (link("/admin/webhooks", "Webhooks"))
                                (link("/admin/mail", "Mail"))
                            }
                        }
                        div class="who" {
                            span class="muted" { (nav.email) }
                            form method="post" action="/logout" {
                                (csrf_field(nav.csrf))
                                button type="submit" class="secondary small" { "Sign out" }
                            }
                        }
                    }
                }
                main class="wide" {
                    h1 { (title) }
                    (body)
                    (support(&brand))
                }
            }
        }
    };
    Html(markup.into_string())
}

/// A flash line above a page's panels: what just happened, or what went wrong.
pub fn notice(ok: Option<&str>, error: Option<&str>) -> Markup {
    html! {
        @if let Some(e) = error { p class="error" role="alert" { (e) } }
        @if let Some(m) = ok { p class="ok" role="status" { (m) } }
    }
}

/// `2026-11-25 10:31 UTC`.
pub fn human_time(t: Timestamp) -> String {
    let full = crate::time::rfc3339(t);
    match (full.get(..10), full.get(11..16)) {
        (Some(day), Some(hm)) => format!("{day} {hm} UTC"),
        _ => full,
    }
}

/// A page for an error from the shared API functions, keeping its status.
pub fn error_page(e: &ApiError) -> Response {
    let title = match e.status {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::TOO_MANY_REQUESTS => "Too many requests",
        s if s.is_server_error() => "Something went wrong",
        _ => "Cannot do that",
    };
    let shown = if e.status.is_server_error() {
        format!(
            "{} could not complete the request. Try again in a moment.",
            crate::branding::product()
        )
    } else {
        e.description.clone()
    };
    let mut response = message_page(e.status, title, &shown);
    if let Some(secs) = e.retry_after {
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, secs.into());
    }
    response
}

/// The sign-in page's address, coming back to `return_to` (and suggesting `login_hint`).
pub fn login_url(return_to: &str, login_hint: Option<&str>) -> String {
    let mut url = String::from("/login?");
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("return_to", return_to);
    if let Some(hint) = login_hint {
        q.append_pair("login_hint", hint);
    }
    url.push_str(&q.finish());
    url
}
