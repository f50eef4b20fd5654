//! `ward api [-X METHOD] PATH [-d BODY]`: the gateway's API with the profile's credentials.

use std::io::{Read, Write};

use super::{CliError, CliResult, Ctx};

#[derive(clap::Args, Debug)]
pub struct ApiArgs {
    /// HTTP method (default GET, or POST with -d).
    #[arg(short = 'X', long = "method")]
    pub method: Option<String>,
    /// Path on the server, e.g. /api/profile.
    pub path: String,
    /// JSON body; `@FILE` reads a file, `-` reads stdin.
    #[arg(short = 'd', long = "data")]
    pub data: Option<String>,
}

pub async fn run(ctx: &Ctx, args: ApiArgs) -> CliResult {
    let client = ctx.client();
    let alias = client.resolve_alias(ctx.global.profile.as_deref())?;
    let body = match args.data.as_deref() {
        None => None,
        Some("-") => {
            let mut b = Vec::new();
            std::io::stdin()
                .read_to_end(&mut b)
                .map_err(|e| CliError::new(format!("cannot read stdin: {e}")))?;
            Some(b)
        }
        Some(d) if d.starts_with('@') => Some(
            std::fs::read(&d[1..])
                .map_err(|e| CliError::new(format!("cannot read {}: {e}", &d[1..])))?,
        ),
        Some(d) => Some(d.as_bytes().to_vec()),
    };
    let method = args
        .method
        .unwrap_or_else(|| if body.is_some() { "POST" } else { "GET" }.to_owned());
    let path = if args.path.starts_with('/') {
        args.path.clone()
    } else {
        format!("/{}", args.path)
    };
    let (status, bytes) = client
        .api(&alias, ctx.global.url.as_deref(), &method, &path, body)
        .await?;
    let mut out = std::io::stdout().lock();
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(v) => {
            let _ = serde_json::to_writer_pretty(&mut out, &v);
            let _ = writeln!(out);
        }
        Err(_) => {
            let _ = out.write_all(&bytes);
        }
    }
    if status >= 400 {
        let error = CliError::new(format!("{method} {path} answered HTTP {status}"));
        return Err(match client.token_override_source() {
            Some(source) if status == 401 => super::token_refused(source, &error.message),
            _ => error,
        });
    }
    Ok(())
}
