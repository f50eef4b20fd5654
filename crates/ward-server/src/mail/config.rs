//! `[smtp]` (SPEC §2.14): `url = "smtp://host:port"` (STARTTLS when the server offers it) or
//! `"smtps://host:port"` (TLS from the first byte), `from`, optional `username`/`password`, and
//! an optional `ca_file` of PEM roots trusted besides the system's.

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSmtp {
    pub url: Option<String>,
    pub from: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub ca_file: Option<String>,
}

/// How the connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// `smtp://`: STARTTLS when the server offers it (opportunistic).
    Starttls,
    /// `smtps://`: implicit TLS.
    Wrapper,
}

#[derive(Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// `Name <address>` or an address.
    pub from: lettre::message::Mailbox,
    pub credentials: Option<(String, String)>,
    /// Extra trusted roots (PEM), read at start-up.
    pub ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("from", &self.from.to_string())
            .field(
                "credentials",
                &self.credentials.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

fn invalid(key: &str, value: &str, expected: &str) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        value: value.into(),
        expected: expected.into(),
    }
}

impl RawSmtp {
    pub fn validate(&self) -> Result<Option<SmtpConfig>, ConfigError> {
        let Some(raw_url) = self.url.as_deref().filter(|u| !u.trim().is_empty()) else {
            return Ok(None);
        };
        let expected = "smtp://HOST:PORT (STARTTLS when offered) or smtps://HOST:PORT";
        let url = url::Url::parse(raw_url).map_err(|_| invalid("smtp.url", raw_url, expected))?;
        let tls = match url.scheme() {
            "smtp" => SmtpTls::Starttls,
            "smtps" => SmtpTls::Wrapper,
            _ => return Err(invalid("smtp.url", raw_url, expected)),
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| invalid("smtp.url", raw_url, expected))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = url.port().unwrap_or(match tls {
            SmtpTls::Starttls => 587,
            SmtpTls::Wrapper => 465,
        });
        let from_text = self.from.as_deref().unwrap_or_default();
        let from = from_text.parse().map_err(|_| {
            invalid(
                "smtp.from",
                from_text,
                "the sender, e.g. \"ward <noreply@example.com>\" (required with smtp.url)",
            )
        })?;
        let credentials = match (&self.username, &self.password) {
            (Some(u), Some(p)) => Some((u.clone(), p.clone())),
            (None, None) => None,
            (Some(u), None) => {
                return Err(invalid("smtp.password", "", &format!("a password for {u}")))
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "smtp.username",
                    "",
                    "a user name for smtp.password",
                ))
            }
        };
        let ca_pem = match self.ca_file.as_deref() {
            Some(path) => Some(std::fs::read(path).map_err(|e| ConfigError::Read {
                path: path.to_string(),
                reason: e.to_string(),
            })?),
            None => None,
        };
        Ok(Some(SmtpConfig {
            host,
            port,
            tls,
            from,
            credentials,
            ca_pem,
        }))
    }
}
