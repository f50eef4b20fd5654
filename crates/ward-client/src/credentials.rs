//! Where secrets live: the OS keyring (tried with a short timeout, and not at all on Linux without
//! a session bus, where keyring libraries are known to hang), a 0600 JSON file next to the
//! config, or memory (tests, one-shot tools).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{io_error, Error, Kind, Result};
use crate::fsutil;
use crate::Secret;

/// The secret part of a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Credential {
    /// An interactive session: a short-lived access token and a rotating refresh token.
    Session {
        /// JWT access token.
        access_token: Secret,
        /// When the access token expires, Unix seconds by the local clock (computed from
        /// `expires_in` on receipt, so server clock skew does not matter).
        access_expires_at: u64,
        /// Refresh token, rotated on every use.
        #[serde(default)]
        refresh_token: Option<Secret>,
        /// The profile's DPoP key (RFC 9449) when the session is bound to it: without it the
        /// tokens above are useless ([`crate::dpop::DpopKey::to_secret`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dpop_key: Option<Secret>,
    },
    /// A long-lived API token (`ward_…`).
    ApiToken {
        /// The token.
        token: Secret,
    },
}

/// Which backend holds the secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// The OS keyring (Secret Service, macOS Keychain, Windows Credential Manager).
    Keyring,
    /// A 0600 JSON file in the config directory.
    File,
    /// Process memory only.
    Memory,
}

impl StoreKind {
    /// `keyring`, `file` or `memory`.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::Keyring => "keyring",
            StoreKind::File => "file",
            StoreKind::Memory => "memory",
        }
    }

    /// Parses `keyring`, `file` or `memory`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "keyring" => Some(StoreKind::Keyring),
            "file" => Some(StoreKind::File),
            "memory" => Some(StoreKind::Memory),
            _ => None,
        }
    }
}

/// A place to keep credentials, keyed by profile alias.
pub trait CredentialStore: Send + Sync + std::fmt::Debug {
    /// The backend.
    fn kind(&self) -> StoreKind;
    /// Human description (`file /home/me/.config/ward/credentials.json`).
    fn describe(&self) -> String;
    /// The credential of `profile`, if any.
    ///
    /// # Errors
    /// When the backend fails (unreadable file, keyring timeout).
    fn load(&self, profile: &str) -> Result<Option<Credential>>;
    /// Stores (replaces) the credential of `profile`.
    ///
    /// # Errors
    /// When the backend fails.
    fn save(&self, profile: &str, credential: &Credential) -> Result<()>;
    /// Removes the credential of `profile`; absent is fine.
    ///
    /// # Errors
    /// When the backend fails.
    fn delete(&self, profile: &str) -> Result<()>;
}

/// Credentials in memory; shared between clones.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore(Arc<Mutex<BTreeMap<String, Credential>>>);

impl CredentialStore for MemoryStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Memory
    }
    fn describe(&self) -> String {
        "memory".into()
    }
    fn load(&self, profile: &str) -> Result<Option<Credential>> {
        Ok(self.0.lock().ok().and_then(|m| m.get(profile).cloned()))
    }
    fn save(&self, profile: &str, credential: &Credential) -> Result<()> {
        if let Ok(mut m) = self.0.lock() {
            m.insert(profile.to_owned(), credential.clone());
        }
        Ok(())
    }
    fn delete(&self, profile: &str) -> Result<()> {
        if let Ok(mut m) = self.0.lock() {
            m.remove(profile);
        }
        Ok(())
    }
}

/// Credentials in `<config dir>/credentials.json`, mode 0600, written atomically under a lock.
#[derive(Debug, Clone)]
pub struct FileStore {
    path: PathBuf,
}

impl FileStore {
    /// The file store in `config_dir`.
    pub fn new(config_dir: &Path) -> Self {
        Self {
            path: config_dir.join("credentials.json"),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read_all(&self) -> Result<BTreeMap<String, Credential>> {
        fsutil::repair_mode(&self.path, 0o600)?;
        match std::fs::read(&self.path) {
            Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Ok(BTreeMap::new()),
            Ok(b) => serde_json::from_slice(&b).map_err(|e| {
                Error::new(
                    Kind::Config,
                    format!("credentials file {} is corrupt: {e}", self.path.display()),
                )
                .with_hint(format!(
                    "Remove it with `rm {}` and sign in again",
                    self.path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(io_error(format!("cannot read {}", self.path.display()), e)),
        }
    }

    fn modify(&self, f: impl FnOnce(&mut BTreeMap<String, Credential>)) -> Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fsutil::ensure_private_dir(dir)?;
        let _lock = fsutil::lock_exclusive_blocking(&dir.join(".credentials.lock"))?;
        let mut all = self.read_all()?;
        f(&mut all);
        let mut data = serde_json::to_vec_pretty(&all)
            .map_err(|e| Error::new(Kind::Io, format!("cannot encode credentials: {e}")))?;
        data.push(b'\n');
        fsutil::write_private_atomic(&self.path, &data)
    }
}

impl CredentialStore for FileStore {
    fn kind(&self) -> StoreKind {
        StoreKind::File
    }
    fn describe(&self) -> String {
        format!("file {}", self.path.display())
    }
    fn load(&self, profile: &str) -> Result<Option<Credential>> {
        Ok(self.read_all()?.remove(profile))
    }
    fn save(&self, profile: &str, credential: &Credential) -> Result<()> {
        let c = credential.clone();
        self.modify(|all| {
            all.insert(profile.to_owned(), c);
        })
    }
    fn delete(&self, profile: &str) -> Result<()> {
        if !self.path.exists() {
            return Ok(());
        }
        self.modify(|all| {
            all.remove(profile);
        })
    }
}

/// Credentials in the OS keyring, one entry per profile (service = keyring service, user =
/// alias). Every call runs on its own thread with a timeout, so a keyring daemon that never
/// answers cannot hang the CLI.
#[derive(Debug, Clone)]
pub struct KeyringStore {
    service: String,
    timeout: Duration,
}

enum KrOp {
    Get,
    Set(String),
    Delete,
}

impl KeyringStore {
    /// A keyring store for `service`, each call limited to `timeout`.
    pub fn new(service: impl Into<String>, timeout: Duration) -> Self {
        Self {
            service: service.into(),
            timeout,
        }
    }

    fn call(&self, user: &str, op: KrOp) -> Result<Option<String>> {
        let (tx, rx) = mpsc::channel();
        let service = self.service.clone();
        let user = user.to_owned();
        std::thread::spawn(move || {
            let r = (|| -> std::result::Result<Option<String>, keyring::Error> {
                let entry = keyring::Entry::new(&service, &user)?;
                match op {
                    KrOp::Get => match entry.get_password() {
                        Ok(p) => Ok(Some(p)),
                        Err(keyring::Error::NoEntry) => Ok(None),
                        Err(e) => Err(e),
                    },
                    KrOp::Set(v) => entry.set_password(&v).map(|()| None),
                    KrOp::Delete => match entry.delete_credential() {
                        Ok(()) | Err(keyring::Error::NoEntry) => Ok(None),
                        Err(e) => Err(e),
                    },
                }
            })();
            let _ = tx.send(r.map_err(|e| e.to_string()));
        });
        match rx.recv_timeout(self.timeout) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(Error::new(Kind::Keyring, format!("OS keyring error: {e}"))),
            Err(_) => Err(Error::new(
                Kind::Keyring,
                format!("the OS keyring did not answer within {:?}", self.timeout),
            )
            .with_hint("Set WARD_CREDENTIAL_STORE=file to keep credentials in a 0600 file")),
        }
    }

    /// Whether a keyring answers at all: on Linux only with a D-Bus session bus, and a probe
    /// lookup must come back within the timeout.
    pub fn available(&self) -> bool {
        if cfg!(all(unix, not(target_os = "macos")))
            && std::env::var_os("DBUS_SESSION_BUS_ADDRESS")
                .filter(|v| !v.is_empty())
                .is_none()
        {
            return false;
        }
        self.call("__ward_probe__", KrOp::Get).is_ok()
    }
}

impl CredentialStore for KeyringStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Keyring
    }
    fn describe(&self) -> String {
        format!("keyring (service \"{}\")", self.service)
    }
    fn load(&self, profile: &str) -> Result<Option<Credential>> {
        match self.call(profile, KrOp::Get)? {
            None => Ok(None),
            Some(s) => serde_json::from_str(&s).map(Some).map_err(|e| {
                Error::new(
                    Kind::Keyring,
                    format!("keyring entry for profile {profile} is corrupt: {e}"),
                )
            }),
        }
    }
    fn save(&self, profile: &str, credential: &Credential) -> Result<()> {
        let s = serde_json::to_string(credential)
            .map_err(|e| Error::new(Kind::Keyring, format!("cannot encode credential: {e}")))?;
        self.call(profile, KrOp::Set(s)).map(|_| ())
    }
    fn delete(&self, profile: &str) -> Result<()> {
        self.call(profile, KrOp::Delete).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_store_round_trip_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let s = FileStore::new(dir.path());
        assert_eq!(s.load("a").unwrap(), None);
        let c = Credential::ApiToken {
            token: Secret::new("ward_x"),
        };
        s.save("a", &c).unwrap();
        s.save("b", &c).unwrap();
        assert_eq!(s.load("a").unwrap(), Some(c.clone()));
        s.delete("a").unwrap();
        assert_eq!(s.load("a").unwrap(), None);
        assert_eq!(s.load("b").unwrap(), Some(c));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(s.path()).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let c = Credential::ApiToken {
            token: Secret::new("ward_supersecret"),
        };
        assert!(!format!("{c:?}").contains("supersecret"));
    }
}
