//! Branding and location parameters, so a platform's own CLI (`rexec login`) can embed the library
//! with its own names. ward's values are the defaults.

use std::path::PathBuf;

/// Names and places that differ between products built on ward.
#[derive(Debug, Clone)]
pub struct Params {
    /// Product and command name shown in hints (`ward`).
    pub product: String,
    /// Configuration directory; `None` means `$<PREFIX>_CONFIG_DIR`, else
    /// `$XDG_CONFIG_HOME/<product>`, else `~/.config/<product>`.
    pub config_dir: Option<PathBuf>,
    /// OS keyring service name (`ward`).
    pub keyring_service: String,
    /// Prefix of environment variables (`WARD` → `WARD_TOKEN`, `WARD_URL`, …).
    pub env_prefix: String,
    /// Preferred loopback callback port (9876); any free port is used when it is taken.
    pub callback_port: u16,
    /// OAuth client id of the CLI (`ward-cli`).
    pub client_id: String,
    /// Scopes requested at sign-in.
    pub scope: String,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            product: "ward".into(),
            config_dir: None,
            keyring_service: "ward".into(),
            env_prefix: "WARD".into(),
            callback_port: 9876,
            client_id: "ward-cli".into(),
            scope: "openid offline_access".into(),
        }
    }
}

impl Params {
    /// Reads `<PREFIX>_<name>`; empty values count as unset.
    pub fn env(&self, name: &str) -> Option<String> {
        std::env::var(format!("{}_{}", self.env_prefix, name))
            .ok()
            .filter(|v| !v.trim().is_empty())
    }

    /// The configuration directory after applying the environment and the platform default.
    pub fn resolved_config_dir(&self) -> PathBuf {
        if let Some(dir) = &self.config_dir {
            return dir.clone();
        }
        if let Some(dir) = self.env("CONFIG_DIR") {
            return PathBuf::from(dir);
        }
        if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
            return PathBuf::from(x).join(&self.product);
        }
        let home = std::env::var_os("HOME")
            .or_else(|| std::env::var_os("USERPROFILE"))
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        home.join(".config").join(&self.product)
    }
}
