//! `ward status` / `ward whoami`.

use serde_json::json;
use ward_client::{format_rfc3339, format_utc, AliasSource, TokenOrigin};

use super::{print_json, CliResult, Ctx};

pub async fn run(ctx: &Ctx) -> CliResult {
    let client = ctx.client();
    let (alias, source) = client.resolve_alias_with_source(ctx.global.profile.as_deref())?;
    let s = match client.status(&alias, ctx.global.url.as_deref()).await {
        Ok(s) => s,
        Err(e) => {
            // Scripts get an answer on stdout too, not only the error on stderr.
            if ctx.json() {
                let state = if e.is_not_signed_in() {
                    "signed_out"
                } else if e.is_session_expired() {
                    "session_expired"
                } else if e.is_invalid_token() {
                    "token_refused"
                } else {
                    "error"
                };
                print_json(&json!({
                    "authenticated": false,
                    "state": state,
                    "profile": alias,
                    "error": e.to_string(),
                    "hint": e.hint(),
                }));
            }
            return Err(e.into());
        }
    };
    let role = if s.user.roles.is_empty() {
        "(none)".to_owned()
    } else {
        s.user.roles.join(", ")
    };
    let expires = match (s.expires_at, s.origin) {
        (Some(t), _) => format_utc(t),
        (None, TokenOrigin::ApiToken | TokenOrigin::Override) => "never (API token)".to_owned(),
        (None, _) => "unknown".to_owned(),
    };
    let url = s.url.as_str().trim_end_matches('/');
    if ctx.json() {
        print_json(&json!({
            "authenticated": true,
            "email": s.user.email,
            "user_id": s.user.id,
            "roles": s.user.roles,
            "permissions": s.user.permissions,
            "session": s.user.session,
            "expires_at": s.expires_at.map(format_rfc3339),
            "profile": s.alias,
            "url": url,
            "credential_store": s.store,
            "mfa": s.user.mfa,
            "guest": s.user.guest,
            "scopes": s.scopes,
        }));
        return Ok(());
    }
    println!("Authenticated as {}", s.user.email);
    println!("Role: {role}");
    println!("Session expires: {expires}");
    match &source {
        AliasSource::Directory(file) => println!("Profile: {} (from {})", s.alias, file.display()),
        _ => println!("Profile: {}", s.alias),
    }
    println!("URL: {url}");
    println!("Credential store: {}", s.store);
    if let Some(scopes) = &s.scopes {
        let scopes = if scopes.is_empty() {
            "(none)".to_owned()
        } else {
            scopes.join(", ")
        };
        println!("Scopes: {scopes}");
    }
    Ok(())
}
