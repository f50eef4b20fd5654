//! Loading: built-in defaults < `ward.toml` < `WARD_*` environment < flags (figment).

use super::*;

/// Top-level keys settable as `WARD_<KEY>`, and sections settable as `WARD_<SECTION>__<KEY>`.
const ENV_KEYS: &[&str] = &[
    "listen",
    "public_url",
    "data_dir",
    "database_url",
    "token_prefix",
    "bootstrap_admin_email",
    "bootstrap_admin_password",
    "log_format",
    "master_key",
    "dev",
    "signup",
    "device_flow",
    "terminal_sign_in",
    "default_role",
    "resources",
    "allowed_origins",
    "block_empty_origin",
    "trusted_proxies",
];
const ENV_SECTIONS: &[&str] = &[
    "tokens",
    "security",
    "branding",
    "sessions",
    "rate_limits",
    "mfa",
    "password",
    "smtp",
    "roles",
    "proxy",
    "events",
    "dpop",
    "registration",
];
/// Variables the CLI reads; the server ignores them without a warning.
const CLI_ENV: &[&str] = &[
    "log",
    "test_pg_url",
    "token",
    "url",
    "profile",
    "config_dir",
    "credential_store",
    "ca_file",
];

fn env_key_known(key: &str) -> bool {
    ENV_KEYS.contains(&key)
        || key
            .split_once("__")
            .is_some_and(|(section, _)| ENV_SECTIONS.contains(&section))
}

/// Overrides from the command line (highest precedence).
#[derive(Debug, Default, Clone, Serialize)]
pub struct FlagOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dev: Option<bool>,
}

/// Merges defaults < file < environment < flags. `config_file` is read when given (it must
/// exist then) or when `./ward.toml` exists. Returns the warnings to log once logging is up.
pub fn load(
    config_file: Option<&Path>,
    flags: &FlagOverrides,
) -> Result<(RawConfig, Vec<String>), ConfigError> {
    let mut warnings = Vec::new();
    let mut figment = Figment::from(Serialized::defaults(RawConfig::default()));
    match config_file {
        Some(path) => {
            if !path.exists() {
                return Err(ConfigError::Read {
                    path: path.display().to_string(),
                    reason: "no such file".into(),
                });
            }
            figment = figment.merge(Toml::file(path));
        }
        None if Path::new("ward.toml").exists() => {
            figment = figment.merge(Toml::file("ward.toml"));
        }
        None => {}
    }
    for (name, _) in std::env::vars() {
        if let Some(key) = name.strip_prefix("WARD_") {
            let key = key.to_ascii_lowercase();
            if !env_key_known(&key) && !CLI_ENV.contains(&key.as_str()) {
                warnings.push(format!("ignoring unknown environment variable {name}"));
            }
        }
    }
    figment = figment
        .merge(
            Env::prefixed("WARD_")
                .filter(|k| env_key_known(&k.as_str().to_ascii_lowercase()))
                .split("__"),
        )
        .merge(
            Env::raw()
                .only(&["ALLOWED_ORIGINS", "BLOCK_EMPTY_ORIGIN"])
                .map(|k| k.as_str().to_ascii_lowercase().into()),
        )
        .merge(Serialized::defaults(flags));
    let raw: RawConfig = figment
        .extract()
        .map_err(|e| ConfigError::Parse(e.to_string()))?;
    Ok((raw, warnings))
}
