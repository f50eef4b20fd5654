//! TLS to `https://` upstreams (SPEC §2.12): rustls with the system's roots, or only the CAs of
//! a route's `ca_file`; a client certificate from `cert_file` and `key_file` when the upstream
//! asks for one. Files are read once, at start-up; a bad file stops start-up naming the key.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

use crate::config::ConfigError;

/// Where a route's TLS settings come from (`routes[i].ca_file`, …).
pub struct TlsFiles<'a> {
    pub key: &'a str,
    pub ca_file: Option<&'a str>,
    pub cert_file: Option<&'a str>,
    pub key_file: Option<&'a str>,
}

fn invalid(key: String, value: &str, expected: &str) -> ConfigError {
    ConfigError::Invalid {
        key,
        value: value.to_string(),
        expected: expected.to_string(),
    }
}

fn certificates(key: String, path: &str) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            invalid(
                key.clone(),
                path,
                &format!("a readable PEM file of certificates ({e})"),
            )
        })?;
    if certs.is_empty() {
        return Err(invalid(
            key,
            path,
            "a PEM file holding at least one certificate",
        ));
    }
    Ok(certs)
}

/// The rustls client configuration of one `https` route.
pub fn client_config(files: &TlsFiles<'_>) -> Result<Arc<ClientConfig>, ConfigError> {
    let mut roots = RootCertStore::empty();
    match files.ca_file {
        Some(path) => {
            let key = format!("{}.ca_file", files.key);
            for cert in certificates(key.clone(), path)? {
                roots
                    .add(cert)
                    .map_err(|e| invalid(key.clone(), path, &format!("CA certificates ({e})")))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                tracing::warn!(error = %e, "cannot read a system root certificate");
            }
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(invalid(
                    format!("{}.ca_file", files.key),
                    "(unset)",
                    "a CA file: the system has no root certificates",
                ));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(files.key.to_string(), "tls", &e.to_string()))?
        .with_root_certificates(roots);
    let config = match (files.cert_file, files.key_file) {
        (None, None) => builder.with_no_client_auth(),
        (Some(cert_path), Some(key_path)) => {
            let chain = certificates(format!("{}.cert_file", files.key), cert_path)?;
            let private = PrivateKeyDer::from_pem_file(key_path).map_err(|e| {
                invalid(
                    format!("{}.key_file", files.key),
                    key_path,
                    &format!("a readable PEM private key ({e})"),
                )
            })?;
            builder.with_client_auth_cert(chain, private).map_err(|e| {
                invalid(
                    format!("{}.key_file", files.key),
                    key_path,
                    &format!("the private key of cert_file ({e})"),
                )
            })?
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(invalid(
                format!("{}.cert_file", files.key),
                files.cert_file.or(files.key_file).unwrap_or_default(),
                "cert_file and key_file together (a client certificate and its key)",
            ))
        }
    };
    Ok(Arc::new(config))
}

/// The causes of an upstream error, outermost first, for a log line that says what failed
/// (hyper's own message is only "client error (Connect)").
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
