//! `[[idps]]`: the identity providers' validated form and its checks.

use super::*;

// Built once at start-up; boxing the GitHub URLs would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdpKind {
    /// Any OpenID Connect provider, found by discovery from its issuer. Kept as written: the
    /// discovery document's `issuer` must match it exactly (OIDC Discovery §4.3), trailing slash
    /// included.
    Oidc { issuer: String },
    /// GitHub's OAuth apps (not OIDC): `/user` and `/user/emails` give the identity.
    Github {
        authorize_url: Url,
        token_url: Url,
        api_url: Url,
    },
}

impl IdpKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            IdpKind::Oidc { .. } => "oidc",
            IdpKind::Github { .. } => "github",
        }
    }
}

/// A validated `[[idp]]`.
#[derive(Debug, Clone)]
pub struct IdpConfig {
    pub name: String,
    pub kind: IdpKind,
    pub client_id: String,
    pub client_secret: ward_core::Secret<String>,
    pub scopes: Vec<String>,
    /// Lowercased.
    pub domains: Vec<String>,
    /// Lowercased; `*` allows any domain.
    pub allowed_domains: Vec<String>,
    pub link_existing_accounts: bool,
}

impl IdpConfig {
    /// Whether this IdP may sign in an email at `domain`.
    pub fn allows_domain(&self, domain: &str) -> bool {
        let domain = domain.to_ascii_lowercase();
        self.allowed_domains
            .iter()
            .any(|d| d == "*" || *d == domain)
    }
}

/// The IdP an email's domain is routed to, if any.
pub fn idp_for_email<'a>(idps: &'a [IdpConfig], email: &str) -> Option<&'a IdpConfig> {
    let domain = email.rsplit_once('@')?.1.to_ascii_lowercase();
    idps.iter().find(|i| i.domains.contains(&domain))
}

pub(super) fn is_domain(d: &str) -> bool {
    !d.is_empty()
        && d.len() <= 253
        && !d.starts_with('.')
        && !d.ends_with('.')
        && d.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

pub(super) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// An https URL (http only on loopback, for development and tests).
pub(super) fn endpoint(key: &str, value: &str, expected: &str) -> Result<Url, ConfigError> {
    Url::parse(value)
        .ok()
        .filter(|u| {
            u.host().is_some()
                && (u.scheme() == "https" || (u.scheme() == "http" && is_loopback(u)))
        })
        .ok_or_else(|| invalid(key, value, expected))
}

pub(super) fn validate_idps(raw: &[RawIdp]) -> Result<Vec<IdpConfig>, ConfigError> {
    let mut idps: Vec<IdpConfig> = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        let key = format!("idp[{i}]");
        if r.name.is_empty()
            || r.name.len() > 32
            || !r
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            || idps.iter().any(|seen| seen.name == r.name)
        {
            return Err(invalid(
                &format!("{key}.name"),
                &r.name,
                "a unique name of 1 to 32 lowercase letters, digits, - or _ (it is part of the callback URL)",
            ));
        }
        let key = format!("idp.{}", r.name);
        let github_default = |field: &str, value: &Option<String>, default: &str| {
            endpoint(
                &format!("{key}.{field}"),
                value.as_deref().unwrap_or(default),
                "an https URL",
            )
        };
        let kind = match r.kind.as_str() {
            "oidc" => {
                for (field, v) in [
                    ("authorize_url", &r.authorize_url),
                    ("token_url", &r.token_url),
                    ("api_url", &r.api_url),
                ] {
                    if let Some(v) = v {
                        return Err(invalid(
                            &format!("{key}.{field}"),
                            v,
                            "nothing: an oidc IdP's endpoints come from discovery (set issuer)",
                        ));
                    }
                }
                let issuer = r.issuer.as_deref().ok_or_else(|| {
                    invalid(
                        &format!("{key}.issuer"),
                        "",
                        "the IdP's issuer URL, such as https://accounts.google.com",
                    )
                })?;
                endpoint(
                    &format!("{key}.issuer"),
                    issuer,
                    "an https issuer URL, such as https://accounts.google.com",
                )?;
                IdpKind::Oidc {
                    issuer: issuer.trim().to_string(),
                }
            }
            "github" => {
                if let Some(v) = &r.issuer {
                    return Err(invalid(
                        &format!("{key}.issuer"),
                        v,
                        "nothing: GitHub is not an OIDC provider (use authorize_url, token_url, api_url)",
                    ));
                }
                IdpKind::Github {
                    authorize_url: github_default(
                        "authorize_url",
                        &r.authorize_url,
                        "https://github.com/login/oauth/authorize",
                    )?,
                    token_url: github_default(
                        "token_url",
                        &r.token_url,
                        "https://github.com/login/oauth/access_token",
                    )?,
                    api_url: github_default("api_url", &r.api_url, "https://api.github.com")?,
                }
            }
            other => return Err(invalid(&format!("{key}.kind"), other, "oidc or github")),
        };
        if r.client_id.is_empty() {
            return Err(invalid(
                &format!("{key}.client_id"),
                "",
                "the client id registered at the IdP",
            ));
        }
        let client_secret = super::inline_or_file(
            &key,
            "client_secret",
            &r.client_secret,
            &r.client_secret_file,
            "the client secret registered at the IdP (or client_secret_file)",
        )?;
        if client_secret.is_empty() {
            return Err(invalid(
                &format!("{key}.client_secret"),
                "",
                "a non-empty client secret",
            ));
        }
        let domain_list = |field: &str, list: &[String], star: bool| {
            list.iter()
                .map(|d| {
                    let d = d.trim().to_ascii_lowercase();
                    if is_domain(&d) || (star && d == "*") {
                        Ok(d)
                    } else {
                        Err(invalid(
                            &format!("{key}.{field}"),
                            &d,
                            if star {
                                "email domains such as example.com, or \"*\" for any"
                            } else {
                                "email domains such as example.com"
                            },
                        ))
                    }
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let domains = domain_list("domains", &r.domains, false)?;
        for d in &domains {
            if let Some(other) = idps.iter().find(|o| o.domains.contains(d)) {
                return Err(invalid(
                    &format!("{key}.domains"),
                    d,
                    &format!(
                        "a domain routed to one IdP only (it is routed to {} already)",
                        other.name
                    ),
                ));
            }
        }
        let allowed_domains = match &r.allowed_domains {
            Some(list) => domain_list("allowed_domains", list, true)?,
            None => domains.clone(),
        };
        if allowed_domains.is_empty() {
            return Err(invalid(
                &format!("{key}.allowed_domains"),
                "[]",
                "at least one email domain this IdP may sign in (or list them under domains)",
            ));
        }
        let scopes = match (&r.scopes, &kind) {
            (Some(s), IdpKind::Oidc { .. }) => {
                let mut s = s.clone();
                if !s.iter().any(|x| x == "openid") {
                    s.insert(0, "openid".into());
                }
                s
            }
            (Some(s), IdpKind::Github { .. }) => s.clone(),
            (None, IdpKind::Oidc { .. }) => vec!["openid".into(), "email".into(), "profile".into()],
            (None, IdpKind::Github { .. }) => vec!["read:user".into(), "user:email".into()],
        };
        idps.push(IdpConfig {
            name: r.name.clone(),
            kind,
            client_id: r.client_id.clone(),
            client_secret: ward_core::Secret::new(client_secret),
            scopes,
            domains,
            allowed_domains,
            link_existing_accounts: r.link_existing_accounts,
        });
    }
    Ok(idps)
}
