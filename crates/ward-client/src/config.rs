//! The profile configuration file: `<config dir>/config.json`, the exact shape of SPEC §3.
//! The directory is 0700 and the file 0600 (tightened, with a warning, when found looser);
//! writes are atomic; a corrupt file is an error naming the file and how to reset it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{io_error, Error, Kind, Result};
use crate::fsutil;

/// `{"current": ALIAS, "profiles": {ALIAS: Profile}}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// The profile used when none is named.
    #[serde(default)]
    pub current: Option<String>,
    /// Profiles by alias.
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// One account on one server. Holds no secret: those live in the credential store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// Base URL of the ward server.
    pub url: String,
    /// Signed-in email.
    #[serde(default)]
    pub email: Option<String>,
    /// Signed-in user id.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Server-side session id (`None` for API tokens and after logout).
    #[serde(default)]
    pub session_id: Option<String>,
    /// Session (or API token) expiry, RFC 3339 UTC.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// Stable random id of this machine for this profile, sent at sign-in.
    #[serde(default)]
    pub device_id: Option<String>,
    /// Host name sent at sign-in, shown on the consent page and in session lists.
    #[serde(default)]
    pub device_name: Option<String>,
    /// Whether the session passed MFA.
    #[serde(default)]
    pub mfa_verified: Option<bool>,
    /// Where the secret lives: `keyring`, `file` or `memory`.
    #[serde(default)]
    pub credential_store: Option<String>,
}

/// Something the library noticed and fixed while loading, for the embedding CLI to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionRepair {
    /// The file or directory.
    pub path: PathBuf,
    /// Its mode before (e.g. `0o644`).
    pub old_mode: u32,
    /// Its mode now.
    pub new_mode: u32,
}

/// The config file on disk.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    dir: PathBuf,
    path: PathBuf,
    product: String,
}

impl ConfigFile {
    /// The config file in `dir`; `product` is used in hints.
    pub fn new(dir: impl Into<PathBuf>, product: impl Into<String>) -> Self {
        let dir = dir.into();
        let path = dir.join("config.json");
        Self {
            dir,
            path,
            product: product.into(),
        }
    }

    /// `…/config.json`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reads the file (an absent file is an empty config), repairing loose permissions.
    ///
    /// # Errors
    /// A config error naming the file when it is not valid JSON of the right shape.
    pub fn load(&self) -> Result<(Config, Vec<PermissionRepair>)> {
        let mut repairs = Vec::new();
        if let Some(old) = fsutil::repair_mode(&self.dir, 0o700)? {
            repairs.push(PermissionRepair {
                path: self.dir.clone(),
                old_mode: old,
                new_mode: 0o700,
            });
        }
        if let Some(old) = fsutil::repair_mode(&self.path, 0o600)? {
            repairs.push(PermissionRepair {
                path: self.path.clone(),
                old_mode: old,
                new_mode: 0o600,
            });
        }
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((Config::default(), repairs))
            }
            Err(e) => return Err(io_error(format!("cannot read {}", self.path.display()), e)),
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok((Config::default(), repairs));
        }
        let config: Config = serde_json::from_slice(&bytes).map_err(|e| {
            Error::new(
                Kind::Config,
                format!(
                    "config file {} is corrupt: {e}",
                    self.path.display()
                ),
            )
            .with_hint(format!(
                "Fix the file by hand, or reset it with `rm {}` and sign in again with `{} login <alias> <url>`",
                self.path.display(),
                self.product
            ))
        })?;
        Ok((config, repairs))
    }

    /// Writes `config` atomically with mode 0600.
    ///
    /// # Errors
    /// When the directory or file cannot be written.
    pub fn save(&self, config: &Config) -> Result<()> {
        let mut data = serde_json::to_vec_pretty(config)
            .map_err(|e| Error::new(Kind::Config, format!("cannot encode config: {e}")))?;
        data.push(b'\n');
        fsutil::write_private_atomic(&self.path, &data)
    }

    /// Loads, applies `f`, and saves, under a lock so concurrent processes do not lose updates.
    ///
    /// # Errors
    /// As [`ConfigFile::load`] and [`ConfigFile::save`].
    pub fn update<T>(&self, f: impl FnOnce(&mut Config) -> T) -> Result<T> {
        fsutil::ensure_private_dir(&self.dir)?;
        let _lock = fsutil::lock_exclusive_blocking(&self.dir.join(".config.lock"))?;
        let (mut config, _) = self.load()?;
        let out = f(&mut config);
        self.save(&config)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_exact_shape() {
        let dir = tempfile::tempdir().unwrap();
        let cf = ConfigFile::new(dir.path().join("ward"), "ward");
        cf.update(|c| {
            c.current = Some("default".into());
            c.profiles.insert(
                "default".into(),
                Profile {
                    url: "http://127.0.0.1:1".into(),
                    ..Profile::default()
                },
            );
        })
        .unwrap();
        let raw: serde_json::Value =
            serde_json::from_slice(&std::fs::read(cf.path()).unwrap()).unwrap();
        let p = &raw["profiles"]["default"];
        for key in [
            "url",
            "email",
            "user_id",
            "session_id",
            "expires_at",
            "device_id",
            "device_name",
            "mfa_verified",
            "credential_store",
        ] {
            assert!(p.get(key).is_some(), "missing {key}");
        }
        assert_eq!(raw["current"], "default");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(cf.path()).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            let mode = std::fs::metadata(cf.dir()).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700);
        }
    }

    #[cfg(unix)]
    #[test]
    fn repairs_loose_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let cf = ConfigFile::new(dir.path().join("ward"), "ward");
        cf.save(&Config::default()).unwrap();
        std::fs::set_permissions(cf.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(cf.dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let (_, repairs) = cf.load().unwrap();
        assert_eq!(repairs.len(), 2);
        assert_eq!(repairs[1].old_mode, 0o644);
        let mode = std::fs::metadata(cf.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn corrupt_file_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let cf = ConfigFile::new(dir.path(), "ward");
        std::fs::write(cf.path(), b"{not json").unwrap();
        let err = cf.load().unwrap_err();
        assert!(err.is_config());
        assert!(err.to_string().contains("config.json"));
        assert!(err.hint().unwrap().contains("rm "));
    }
}
