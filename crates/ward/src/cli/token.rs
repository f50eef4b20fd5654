//! `ward token`: a valid access token on stdout, for scripts.

use std::io::Write;

use serde_json::json;
use ward_client::format_rfc3339;

use super::{print_json, CliResult, Ctx};

pub async fn run(ctx: &Ctx) -> CliResult {
    let client = ctx.client();
    let alias = if client.has_token_override() {
        "default".to_owned()
    } else {
        client.resolve_alias(ctx.global.profile.as_deref())?
    };
    // A DPoP-bound session's token is useless as a bearer: printed only when the server allows
    // an exchanged bearer for scripts (`[dpop] cli_bearer`), otherwise an error naming the ways.
    let t = client.printable_token(&alias).await?;
    if ctx.json() {
        print_json(&json!({
            "access_token": t.token.expose(),
            "expires_at": t.expires_at.map(format_rfc3339),
        }));
    } else {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", t.token.expose());
    }
    Ok(())
}
