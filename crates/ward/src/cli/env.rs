//! `ward env [--format env|json]`: the profile's server and a valid access token as environment
//! variables (`WARD_URL`, `WARD_TOKEN`, `WARD_TOKEN_EXPIRES_AT`), for scripts and containers:
//! `export $(ward env)`, `docker run --env-file <(ward env) …`. The names are the ones `ward`
//! itself reads, so a `ward` inside the container uses the token.

use std::io::Write;

use clap::ValueEnum;
use serde_json::json;
use ward_client::format_rfc3339;

use super::credential::Target;
use super::{CliError, CliResult, Ctx};

#[derive(clap::Args, Debug)]
pub struct EnvArgs {
    /// `env`: KEY=VALUE lines; `json`: one object with the same keys (also `--output json`).
    #[arg(long, value_enum, default_value_t = EnvFormat::Env)]
    pub format: EnvFormat,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvFormat {
    Env,
    Json,
}

pub async fn run(ctx: &Ctx, args: EnvArgs) -> CliResult {
    let target = Target::resolve(ctx)?;
    let token = target.token().await?;
    let url = target.url.as_str().trim_end_matches('/').to_owned();
    let expires = token.expires_at.map(format_rfc3339);
    let prefix = &target.client.params().env_prefix;
    let vars = [
        (format!("{prefix}_URL"), Some(url)),
        (
            format!("{prefix}_TOKEN"),
            Some(token.token.expose().to_owned()),
        ),
        (format!("{prefix}_TOKEN_EXPIRES_AT"), expires),
    ];
    let text = if args.format == EnvFormat::Json || ctx.json() {
        let map: serde_json::Map<String, serde_json::Value> =
            vars.into_iter().map(|(k, v)| (k, json!(v))).collect();
        format!("{}\n", serde_json::Value::Object(map))
    } else {
        vars.iter()
            .map(|(k, v)| format!("{k}={}\n", shell_word(v.as_deref().unwrap_or_default())))
            .collect()
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .map_err(|e| CliError::new(format!("cannot write: {e}")))
}

/// `value` as one shell word: as it is when it holds only safe characters (URLs, JWTs and
/// ward tokens do), else single-quoted.
fn shell_word(value: &str) -> String {
    let safe = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.:/+=@%,".contains(c));
    if safe {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        assert_eq!(
            shell_word("https://ward.example.com"),
            "https://ward.example.com"
        );
        assert_eq!(shell_word("eyJ.a-b_c"), "eyJ.a-b_c");
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }
}
