//! The mails ward sends, each as plain text and HTML with the same words, under the product's
//! name. HTML is built with maud (every value escaped) and inline styles (mail clients drop
//! stylesheets).

use maud::{html, Markup, DOCTYPE};
use ward_core::model::User;

use super::Notice;
use crate::state::AppState;

/// A rendered mail.
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The product name shown in mail (`[branding] product_name`).
pub fn product(state: &AppState) -> &str {
    &state.config.branding.product_name
}

/// One mail: a greeting, paragraphs, an optional button with its link, and a footer.
fn layout(
    state: &AppState,
    subject: String,
    paragraphs: &[String],
    action: Option<(&str, &str)>,
    footer: &str,
) -> Rendered {
    let name = product(state);
    let brand = &state.config.branding;
    let accent = brand.accent_color.as_deref().unwrap_or("#3451d1");
    let logo = brand
        .logo
        .as_ref()
        .map(|_| state.url(crate::branding::LOGO_PATH));
    let support = brand.support_url.as_ref().map(|u| u.to_string());
    let mut text = String::new();
    for p in paragraphs {
        text.push_str(p);
        text.push_str("\n\n");
    }
    if let Some((label, url)) = action {
        text.push_str(&format!("{label}:\n{url}\n\n"));
    }
    text.push_str(&format!("-- \n{footer}\n{name}\n"));
    if let Some(url) = &support {
        text.push_str(&format!("Help: {url}\n"));
    }
    let body: Markup = html! {
        (DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { (subject) } }
            body style="margin:0;padding:24px;background:#f3f4f8;font-family:system-ui,-apple-system,Segoe UI,sans-serif;color:#1b1f2a" {
                div style="max-width:520px;margin:0 auto;background:#fff;border:1px solid #e2e4ea;border-radius:12px;padding:28px" {
                    @if let Some(src) = &logo {
                        p style="margin:0 0 16px" { img src=(src) alt=(name) style="max-height:36px;max-width:200px"; }
                    } @else {
                        p style=(format!("margin:0 0 16px;font-weight:700;letter-spacing:.08em;text-transform:uppercase;font-size:13px;color:{accent}")) { (name) }
                    }
                    @for p in paragraphs { p style="line-height:1.5" { (p) } }
                    @if let Some((label, url)) = action {
                        p style="margin:24px 0" {
                            a href=(url) style=(format!("display:inline-block;background:{accent};color:#fff;text-decoration:none;padding:10px 18px;border-radius:8px;font-weight:600")) { (label) }
                        }
                        p style="font-size:13px;color:#5b6275;word-break:break-all" { "Or open this link: " a href=(url) { (url) } }
                    }
                    p style="font-size:13px;color:#5b6275;border-top:1px solid #e2e4ea;padding-top:12px;margin-top:24px" {
                        (footer)
                        @if let Some(url) = &support { " " a href=(url) { "Contact support" } }
                    }
                }
            }
        }
    };
    Rendered {
        subject,
        text,
        html: body.into_string(),
    }
}

const NOT_YOU: &str =
    "If this was not you, change your password and check your sessions on your account page.";

/// "Forgot password?": the reset link.
pub fn password_reset(state: &AppState, user: &User, url: &str) -> Rendered {
    let name = product(state);
    layout(
        state,
        format!("Choose a new {name} password"),
        &[
            format!("Someone (we hope you) asked to choose a new password for {} at {name}.", user.email),
            "The link works once, for 30 minutes. Choosing a new password signs out every session of yours; your two-step verification stays as it is.".into(),
        ],
        Some(("Choose a new password", url)),
        "If you did not ask for this, ignore this mail: your password stays as it is.",
    )
}

/// Sign-up: the verification link.
pub fn verify_email(state: &AppState, user: &User, url: &str) -> Rendered {
    let name = product(state);
    layout(
        state,
        format!("Verify your email address for {name}"),
        &[
            format!("Confirm that {} is your address at {name}.", user.email),
            "The link works once, for 24 hours.".into(),
        ],
        Some(("Verify my address", url)),
        "If you did not create this account, ignore this mail.",
    )
}

/// An invitation (`signup = "invite"`).
pub fn invitation(state: &AppState, inviter: &User, url: &str) -> Rendered {
    let name = product(state);
    layout(
        state,
        format!("You are invited to {name}"),
        &[
            format!("{} invited you to {name}.", inviter.name),
            "Open the link to choose your password. It works once, for 7 days.".into(),
        ],
        Some(("Accept the invitation", url)),
        "If you did not expect this, ignore this mail: no account is made without you.",
    )
}

/// An admin's decision on a request for an account (`signup = "approval"`).
pub fn access_decided(state: &AppState, user: &User, approved: bool) -> Rendered {
    let name = product(state);
    let sign_in = state.url("/login");
    if approved {
        layout(
            state,
            format!("Your {name} account is ready"),
            &[format!(
                "An administrator approved your request: {} can sign in to {name} now.",
                user.email
            )],
            Some(("Sign in", &sign_in)),
            "You asked for this account on the sign-up page.",
        )
    } else {
        layout(
            state,
            format!("Your request for a {name} account"),
            &[format!(
                "An administrator declined the request for an account for {}, and it was removed.",
                user.email
            )],
            None,
            "If you think this is a mistake, ask the people who run it.",
        )
    }
}

/// Email change: the link to the new address.
pub fn verify_new_email(state: &AppState, user: &User, url: &str) -> Rendered {
    let name = product(state);
    layout(
        state,
        format!("Confirm your new email address for {name}"),
        &[
            format!("Confirm that {} is your new address at {name}.", user.email),
            "Until you do, apps see it as unverified. The link works once, for 24 hours.".into(),
        ],
        Some(("Confirm my address", url)),
        "If you did not change your address, ignore this mail.",
    )
}

/// Email change: the notice to the old address.
pub fn email_changed(state: &AppState, old: &str, new: &str) -> Rendered {
    let name = product(state);
    let account = state.url("/account");
    layout(
        state,
        format!("Your {name} email address was changed"),
        &[format!(
            "The email address of your {name} account was changed from {old} to {new}. Sign in with the new address from now on."
        )],
        Some(("Review your account", &account)),
        NOT_YOU,
    )
}

/// A security notice.
pub fn notice(state: &AppState, user: &User, notice: &Notice) -> Rendered {
    let name = product(state);
    let account = state.url("/account");
    let (subject, lines) = match notice {
        Notice::NewSignIn { device, ip } => (
            format!("New sign-in to your {name} account"),
            vec![
                format!(
                    "Your account {} was just signed in to from a device it had not used before: {device}{}.",
                    user.email,
                    ip.as_deref().map(|i| format!(", address {i}")).unwrap_or_default()
                ),
            ],
        ),
        Notice::PasswordChanged => (
            format!("Your {name} password was changed"),
            vec![format!(
                "The password of {} was changed, and your other sessions were signed out.",
                user.email
            )],
        ),
        Notice::MfaDisabled => (
            format!("Two-step verification was turned off for {name}"),
            vec![format!(
                "Your authenticator app and backup codes no longer protect {}.",
                user.email
            )],
        ),
        Notice::MfaReset => (
            format!("An administrator reset your {name} two-step verification"),
            vec![format!(
                "Every second factor of {} was removed by an administrator, and your sessions were signed out.",
                user.email
            )],
        ),
        Notice::TokenCreated { name: token } => (
            format!("A new {name} API token was created"),
            vec![format!(
                "An API token named \u{201c}{token}\u{201d} was created for {}.",
                user.email
            )],
        ),
    };
    layout(
        state,
        subject,
        &lines,
        Some(("Review your account", &account)),
        NOT_YOU,
    )
}
