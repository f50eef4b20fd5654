//! [`RawConfig::validate`]: from what serde read to [`Config`], one message per bad key.

use super::*;

pub(super) fn duration(key: &str, value: &str) -> Result<i64, ConfigError> {
    let d: Duration = humantime::parse_duration(value)
        .map_err(|_| invalid(key, value, "a duration such as 90s, 1h or 30d"))?;
    let secs = i64::try_from(d.as_secs()).map_err(|_| invalid(key, value, "a shorter duration"))?;
    if secs == 0 {
        return Err(invalid(key, value, "a duration longer than 0s"));
    }
    Ok(secs)
}

impl RawConfig {
    pub fn validate(self) -> Result<Config, ConfigError> {
        let listen: SocketAddr = self
            .listen
            .parse()
            .map_err(|_| invalid("listen", &self.listen, "an address such as 127.0.0.1:8080"))?;
        let public_url = match &self.public_url {
            Some(u) => {
                let url = Url::parse(u)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                    .ok_or_else(|| {
                        invalid(
                            "public_url",
                            u,
                            "an http(s) URL such as https://ward.example.com",
                        )
                    })?;
                Some(url)
            }
            None => None,
        };
        if self.terminal_sign_in && !self.device_flow {
            // Terminal sign-in approves the CLI's own device code (decision 164).
            return Err(invalid(
                "terminal_sign_in",
                "true",
                "false while device_flow = false (terminal sign-in approves a device code)",
            ));
        }
        let data_dir = PathBuf::from(&self.data_dir);
        let database_url = self
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("ward.db").display()));
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres:")
            || database_url.starts_with("postgresql:"))
        {
            return Err(invalid(
                "database_url",
                &database_url,
                "sqlite://PATH or postgres://USER@HOST/DB",
            ));
        }
        if self.token_prefix.is_empty()
            || self.token_prefix.len() > 16
            || !self
                .token_prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Err(invalid(
                "token_prefix",
                &self.token_prefix,
                "1 to 16 lowercase letters or digits",
            ));
        }
        let bootstrap_admin = match (self.bootstrap_admin_email, self.bootstrap_admin_password) {
            (Some(e), Some(p)) => Some((e, p)),
            (Some(e), None) => {
                return Err(invalid(
                    "bootstrap_admin_password",
                    "",
                    &format!("a password for the bootstrap admin {e}"),
                ))
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "bootstrap_admin_email",
                    "",
                    "an email for the bootstrap admin",
                ))
            }
            (None, None) => None,
        };
        let log_format = match self.log_format.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => return Err(invalid("log_format", other, "text or json")),
        };
        for r in &self.resources {
            let segments_ok = r.split(':').all(|seg| {
                !seg.is_empty()
                    && seg
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            });
            if !segments_ok || r == ward_core::scope::ADMIN_RESOURCE {
                return Err(invalid(
                    "resources",
                    r,
                    "resource names of letters, digits, '-', '_' or '.', optionally namespaced with ':' (convox:app), other than the reserved \"admin\"",
                ));
            }
        }
        let mut roles = Vec::new();
        for (name, raw) in &self.roles {
            for p in &raw.permissions {
                if p != "*" && ward_core::scope::Permission::parse(p, &self.resources).is_none() {
                    return Err(invalid(
                        &format!("roles.{name}.permissions"),
                        p,
                        "\"*\" or resource:action with a configured resource and read|write|delete",
                    ));
                }
            }
            roles.push(Role {
                name: name.clone(),
                permissions: raw.permissions.clone(),
                limits: raw.limits.clone(),
            });
        }
        let roles = RoleMap::new(roles);
        if !roles.contains(&self.default_role) {
            return Err(invalid(
                "default_role",
                &self.default_role,
                "the name of a configured role",
            ));
        }
        if !roles.contains("admin") {
            return Err(invalid("roles", "(no admin)", "an `admin` role"));
        }
        let mut clients: Vec<ClientConfig> = Vec::new();
        for (i, c) in self.clients.iter().enumerate() {
            let key = format!("clients[{i}]");
            if c.id.is_empty()
                || c.id == ward_proto::CLI_CLIENT_ID
                || clients.iter().any(|seen| seen.id == c.id)
            {
                return Err(invalid(
                    &format!("{key}.id"),
                    &c.id,
                    "a unique client id other than ward-cli",
                ));
            }
            let secret = match (&c.secret, &c.secret_file) {
                (Some(s), None) => Some(s.clone()),
                (None, Some(f)) => Some(
                    std::fs::read_to_string(f)
                        .map_err(|e| ConfigError::Read {
                            path: f.clone(),
                            reason: e.to_string(),
                        })?
                        .trim()
                        .to_string(),
                ),
                (None, None) => None,
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        &format!("{key}.secret_file"),
                        f_or(&c.secret_file),
                        "either secret or secret_file, not both",
                    ))
                }
            };
            if secret.as_ref().is_some_and(|s| s.len() < 16) {
                return Err(invalid(
                    &format!("{key}.secret"),
                    "[redacted]",
                    "a secret of at least 16 characters",
                ));
            }
            for g in &c.grant_types {
                if ![
                    "authorization_code",
                    "refresh_token",
                    "client_credentials",
                    ward_core::exchange::TOKEN_EXCHANGE_GRANT,
                ]
                .contains(&g.as_str())
                {
                    return Err(invalid(
                        &format!("{key}.grant_types"),
                        g,
                        "authorization_code, refresh_token, client_credentials or urn:ietf:params:oauth:grant-type:token-exchange",
                    ));
                }
            }
            for sc in &c.scopes {
                if !ward_core::scope::is_oidc_scope(sc)
                    && ward_core::scope::Permission::parse(sc, &self.resources).is_none()
                {
                    return Err(invalid(
                        &format!("{key}.scopes"),
                        sc,
                        "an OIDC scope (openid, profile, email, offline_access) or resource:action with a configured resource",
                    ));
                }
            }
            if c.grant_types.iter().any(|g| g == "client_credentials") && secret.is_none() {
                return Err(invalid(
                    &format!("{key}.secret"),
                    "",
                    "a secret: client_credentials needs a confidential client",
                ));
            }
            for u in &c.redirect_uris {
                if Url::parse(u).is_err() {
                    return Err(invalid(&format!("{key}.redirect_uris"), u, "absolute URLs"));
                }
            }
            for u in &c.post_logout_redirect_uris {
                if Url::parse(u).is_err() {
                    return Err(invalid(
                        &format!("{key}.post_logout_redirect_uris"),
                        u,
                        "absolute URLs",
                    ));
                }
            }
            if let Some(role) = &c.role {
                if !roles.contains(role) || role == crate::guest::GUEST_ROLE {
                    return Err(invalid(
                        &format!("{key}.role"),
                        role,
                        "the name of a configured role (not guest)",
                    ));
                }
                if !c.grant_types.iter().any(|g| g == "client_credentials") {
                    return Err(invalid(
                        &format!("{key}.role"),
                        role,
                        "a client whose grant_types include client_credentials",
                    ));
                }
            }
            clients.push(ClientConfig {
                role: c.role.clone(),
                id: c.id.clone(),
                secret,
                redirect_uris: c.redirect_uris.clone(),
                grant_types: c.grant_types.clone(),
                scopes: c.scopes.clone(),
                introspect: c.introspect,
                post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
                require_dpop: c.require_dpop,
            });
        }
        for (i, r) in self.mfa.required_roles.iter().enumerate() {
            if !roles.contains(r) {
                return Err(invalid(
                    &format!("mfa.required_roles[{i}]"),
                    r,
                    "the name of a configured role",
                ));
            }
        }
        for (i, k) in self.mfa.lock_kinds.iter().enumerate() {
            if k.is_empty()
                || !k
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(invalid(
                    &format!("mfa.lock_kinds[{i}]"),
                    k,
                    "letters, digits, - or _",
                ));
            }
        }
        let mut lock_grace = BTreeMap::new();
        for (kind, value) in &self.mfa.lock_grace {
            let key = format!("mfa.lock_grace.{kind}");
            if !self.mfa.lock_kinds.contains(kind) {
                return Err(invalid(
                    &key,
                    value,
                    "a grace for a kind listed in mfa.lock_kinds",
                ));
            }
            let d: Duration = humantime::parse_duration(value)
                .map_err(|_| invalid(&key, value, "a duration such as 0s, 90s or 10m"))?;
            let secs = i64::try_from(d.as_secs())
                .ok()
                .filter(|s| *s <= 86_400)
                .ok_or_else(|| invalid(&key, value, "a duration of at most 24h"))?;
            if secs > 0 {
                lock_grace.insert(kind.clone(), secs);
            }
        }
        let mfa = MfaConfig {
            required_roles: self.mfa.required_roles.clone(),
            lock_kinds: self.mfa.lock_kinds.clone(),
            ticket_ttl: duration("mfa.ticket_ttl", &self.mfa.ticket_ttl)?,
            // The authenticator app names the account by the product when the issuer is left
            // at its default.
            totp_issuer: match self.branding.product_name.as_deref() {
                Some(name) if self.mfa.totp_issuer == "ward" && !name.trim().is_empty() => {
                    name.trim().to_string()
                }
                _ => self.mfa.totp_issuer.clone(),
            },
            lock_grace,
        };
        let idps = validate_idps(&self.idp)?;
        let s = &self.sessions;
        let rl = &self.rate_limits;
        Ok(Config {
            store_cache_ttl: ward_store::DEFAULT_CACHE_TTL,
            listen,
            public_url,
            data_dir,
            database_url,
            token_prefix: self.token_prefix.clone(),
            bootstrap_admin,
            log_format,
            master_key: self.master_key.clone(),
            dev: self.dev,
            signup: self.signup.validate()?,
            device_flow: self.device_flow,
            terminal_sign_in: self.terminal_sign_in,
            default_role: self.default_role.clone(),
            resources: self.resources.clone(),
            allowed_origins: self.allowed_origins.items(),
            block_empty_origin: self.block_empty_origin,
            access_token_ttl: duration("tokens.access_token_ttl", &self.tokens.access_token_ttl)?,
            security: SecurityConfig {
                reauth_window: duration("security.reauth_window", &self.security.reauth_window)?,
            },
            smtp: self.smtp.validate()?,
            branding: std::sync::Arc::new(self.branding.validate()?),
            password: PasswordPolicy {
                min_score: match self.password.min_score {
                    s @ 0..=4 => s,
                    s => {
                        return Err(invalid(
                            "password.min_score",
                            s,
                            "a zxcvbn score from 0 to 4",
                        ))
                    }
                },
            },
            sessions: SessionLifetimes {
                cli: duration("sessions.cli_ttl", &s.cli_ttl)?,
                web: duration("sessions.web_ttl", &s.web_ttl)?,
                api: duration("sessions.api_ttl", &s.api_ttl)?,
                guest: duration("sessions.guest_ttl", &s.guest_ttl)?,
                idle_timeout: duration("sessions.idle_timeout", &s.idle_timeout)?,
                guests: s.guests,
                sweep_interval: duration("sessions.sweep_interval", &s.sweep_interval)?,
                retention: duration("sessions.retention", &s.retention)?,
            },
            rate_limits: RateLimits {
                window_secs: duration("rate_limits.window", &rl.window)?,
                signin_per_ip: rl.signin_per_ip,
                signin_failures_per_account: rl.signin_failures_per_account,
                user_code_per_ip: rl.user_code_per_ip,
                guests_per_ip: rl.guests_per_ip,
                signups_per_ip: rl.signups_per_ip,
                token_failures_per_client: rl.token_failures_per_client,
                mfa_failures_per_account: rl.mfa_failures_per_account,
                user_code_failures_per_account: rl.user_code_failures_per_account,
                device_codes_per_ip: rl.device_codes_per_ip,
                passkey_starts_per_ip: rl.passkey_starts_per_ip,
            },
            routes: crate::proxy::config::validate_routes(
                &self.routes,
                &self.resources,
                &mfa.lock_kinds,
            )?,
            proxy: self.proxy.validate()?,
            trusted_proxies: validate_trusted_proxies(&self.trusted_proxies.items())?,
            events: crate::events::config::validate(&self.webhooks, &self.events)?,
            dpop: self.dpop.validate()?,
            trust: crate::trust::config::validate(&self.trust)?,
            registration: self.registration.validate(&self.resources)?,
            ssh: crate::ssh::config::validate(
                &self.ssh,
                &self.roles.keys().cloned().collect::<Vec<_>>(),
                &self.mfa.lock_kinds,
            )?,
            mfa,
            roles,
            clients,
            idps,
        })
    }
}

/// `10.0.0.0/8`, `2001:db8::/32`, or a single address (`192.0.2.7`, taken as `/32` or `/128`).
pub(super) fn validate_trusted_proxies(items: &[String]) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            item.parse::<ipnet::IpNet>()
                .or_else(|_| item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map(|net| net.trunc())
                .map_err(|_| {
                    invalid(
                        &format!("trusted_proxies[{i}]"),
                        item,
                        "a CIDR such as 10.0.0.0/8 or an IP address",
                    )
                })
        })
        .collect()
}

pub(super) fn f_or(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}
