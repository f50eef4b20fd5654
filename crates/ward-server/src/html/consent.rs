//! The consent page ("Authorize CLI access"), shared by the code flow and the device flow.

use axum::response::Response;
use maud::html;
use ward_core::model::User;

use super::{csrf_field, no_store, page};

/// Guests cannot approve a CLI or device sign-in (SPEC §2.13): its session would outlive the
/// guest's hard limit. `Some(page)` saying why, for a guest.
pub fn refuse_guest(user: &User) -> Option<Response> {
    (user.role == crate::guest::GUEST_ROLE).then(|| {
        super::message_page(
            axum::http::StatusCode::FORBIDDEN,
            "Guests cannot sign in devices",
            "You are signed in as a guest. A guest session cannot approve a command-line or \
             device sign-in, because that sign-in would outlive the guest session. Sign in \
             with an account to continue.",
        )
    })
}

pub struct Consent<'a> {
    pub user: &'a User,
    pub client_id: &'a str,
    /// A client that registered itself (RFC 7591), with the name it gave, if any: the page
    /// says it is unverified (SPEC §2.15).
    pub unverified: Option<Option<&'a str>>,
    pub device_name: Option<&'a str>,
    pub scopes: Vec<String>,
    /// Where the decision is posted.
    pub action: &'a str,
    /// Hidden fields identifying the request.
    pub hidden: Vec<(&'a str, String)>,
    pub csrf: &'a str,
    /// For a device sign-in: where and when it was requested (SPEC §2.13).
    pub device: Option<DeviceRequest>,
}

/// What the consent page shows of a device sign-in, so that the person can tell it is theirs.
pub struct DeviceRequest {
    /// `XXXX-XXXX`, to compare with the terminal.
    pub user_code: String,
    /// The client address that asked; `None` when unknown.
    pub requested_ip: Option<String>,
    /// RFC 3339.
    pub requested_at: String,
    pub minutes_ago: i64,
    /// Old and from another network: Allow needs the extra checkbox `confirm_other_network`.
    pub confirm: bool,
}

fn device_request(d: &DeviceRequest) -> maud::Markup {
    html! {
        dl class="device-request" {
            dt { "Code" } dd { code { (d.user_code) } " — it must match the code in your terminal." }
            dt { "Requested from" } dd { (d.requested_ip.as_deref().unwrap_or("an unknown address")) }
            dt { "Requested" } dd {
                @if d.minutes_ago < 1 { "less than a minute ago" }
                @else if d.minutes_ago == 1 { "1 minute ago" }
                @else { (d.minutes_ago) " minutes ago" }
                " (" (d.requested_at) ")"
            }
        }
        @if d.confirm {
            p class="error" role="alert" {
                "This sign-in was requested " (d.minutes_ago) " minutes ago from another network than yours. "
                "If someone sent you this link or code, deny it: approving signs them in as you."
            }
        }
    }
}

fn describe(scope: &str) -> String {
    match scope {
        "openid" => "Confirm your identity".into(),
        "profile" => "See your name".into(),
        "email" => "See your email address".into(),
        "offline_access" => "Stay signed in (refresh tokens)".into(),
        other => match other.rsplit_once(':') {
            Some((resource, action)) => format!("{} {resource}", capitalize(action)),
            None => other.to_string(),
        },
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

pub fn render(c: Consent<'_>) -> Response {
    let title = if c.client_id == ward_proto::CLI_CLIENT_ID {
        "Authorize CLI access".to_string()
    } else if c.unverified.is_some() {
        "Authorize an unverified application".to_string()
    } else {
        format!("Authorize {}", c.client_id)
    };
    no_store(page(
        &title,
        html! {
            h1 { (title) }
            p {
                @if let Some(device) = c.device_name {
                    "The command-line client on " strong { (device) } " wants to act as "
                } @else if c.client_id == ward_proto::CLI_CLIENT_ID {
                    "The command-line client wants to act as "
                } @else if let Some(name) = c.unverified {
                    "An " strong { "unverified application" }
                    @if let Some(name) = name { " calling itself " q { (name) } }
                    " (client " code { (c.client_id) } ") wants to act as "
                } @else {
                    strong { (c.client_id) } " wants to act as "
                }
                strong { (c.user.email) } "."
            }
            @if !c.scopes.is_empty() {
                p { "It will be able to:" }
                ul class="scopes" {
                    @for s in &c.scopes { li { (describe(s)) } }
                }
            }
            @if c.unverified.is_some() {
                p class="error" role="alert" {
                    "This application registered itself with this server. Nobody has checked who "
                    "made it or whether its name is true: allow it only if you know it and "
                    "started this sign-in yourself."
                }
            }
            @if let Some(d) = &c.device { (device_request(d)) }
            p class="muted" { "Only allow this if you started the sign-in yourself." }
            form method="post" action=(c.action) {
                (csrf_field(c.csrf))
                @for (name, value) in &c.hidden {
                    input type="hidden" name=(name) value=(value);
                }
                @if c.device.as_ref().is_some_and(|d| d.confirm) {
                    label {
                        input type="checkbox" name="confirm_other_network" value="yes";
                        " I started this sign-in myself on the device at " (c.device.as_ref().and_then(|d| d.requested_ip.as_deref()).unwrap_or("an unknown address"))
                    }
                }
                div class="actions" {
                    button type="submit" name="decision" value="deny" class="secondary" { "Deny" }
                    button type="submit" name="decision" value="allow" { "Allow" }
                }
            }
        },
    ))
}
