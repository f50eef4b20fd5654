//! A signed-in profile's life: its refreshing access token, status and logout.

use super::*;

impl Client {
    pub(super) fn relogin_hint(&self, alias: &str, url: &str) -> String {
        format!(
            "Please run: {} login {alias} {}",
            self.params.product,
            url.trim_end_matches('/')
        )
    }

    pub(super) fn not_signed_in(&self, alias: &str, url: Option<&str>) -> Error {
        Error::new(Kind::NotSignedIn, "session expired or invalid")
            .with_hint(self.relogin_hint(alias, url.unwrap_or("<url>")))
    }

    /// A valid access token for `alias`: the override, a stored API token, the cached access
    /// token while it has more than [`REFRESH_MARGIN`] left, or a refreshed one. Refreshing
    /// happens under a cross-process lock and re-reads the store after taking it, so concurrent
    /// processes rotate the refresh token exactly once.
    ///
    /// # Errors
    /// Not signed in, session expired (refresh rejected), lock timeout, network errors.
    pub async fn access_token(&self, alias: &str) -> Result<AccessToken> {
        if let Some(t) = &self.token_override {
            return Ok(AccessToken {
                token: t.clone(),
                expires_at: None,
                source: TokenOrigin::Override,
                dpop: None,
            });
        }
        let profile = self
            .load_config()?
            .profiles
            .remove(alias)
            .ok_or_else(|| self.not_signed_in(alias, None))?;
        let store = self.store_of(&profile);
        let now = self.clock.unix();
        match store.load(alias)? {
            None if profile.credential_store.is_none() => {
                return Err(
                    Error::new(Kind::NotSignedIn, format!("signed out of profile {alias}"))
                        .with_hint(self.relogin_hint(alias, &profile.url)),
                )
            }
            None => return Err(self.not_signed_in(alias, Some(&profile.url))),
            Some(c) => {
                if let Some(t) = usable(&c, now) {
                    return Ok(t);
                }
            }
        }
        let lock_path = self
            .config
            .dir()
            .join("locks")
            .join(format!("{alias}.lock"));
        let _lock = fsutil::lock_exclusive(lock_path, LOCK_TIMEOUT).await?;
        // Another process may have refreshed while we waited: re-read under the lock.
        let now = self.clock.unix();
        let Some(Credential::Session {
            refresh_token: Some(refresh),
            dpop_key,
            ..
        }) = (match store.load(alias)? {
            Some(c) => match usable(&c, now) {
                Some(t) => return Ok(t),
                None => Some(c),
            },
            None => None,
        })
        else {
            return Err(self.not_signed_in(alias, Some(&profile.url)));
        };
        let url = oauth::parse_server_url(&profile.url)?;
        let discovery = self.discover(&url).await?;
        let key = dpop_key
            .as_ref()
            .map(|k| crate::dpop::DpopKey::from_secret(k.expose()))
            .transpose()
            .map_err(|e| {
                Error::new(Kind::SessionExpired, e.to_string())
                    .with_hint(self.relogin_hint(alias, &profile.url))
            })?;
        let tokens = oauth::post_form_signed::<TokenResponse>(
            self.http()?,
            &discovery.token_endpoint,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.expose()),
                ("client_id", &self.params.client_id),
            ],
            key.as_ref().map(|k| (k, self.clock.unix())),
        )
        .await
        .map_err(|e| {
            let e = token_error(e, "the stored session");
            if e.is_session_expired() {
                Error::new(Kind::SessionExpired, "session expired or invalid")
                    .with_hint(self.relogin_hint(alias, &profile.url))
            } else {
                e
            }
        })?;
        let now = self.clock.unix();
        let expires_at = now + tokens.expires_in.unwrap_or(3600);
        let credential = Credential::Session {
            access_token: tokens.access_token.clone(),
            access_expires_at: expires_at,
            refresh_token: tokens.refresh_token.or(Some(refresh)),
            dpop_key,
        };
        store.save(alias, &credential)?;
        Ok(AccessToken {
            token: tokens.access_token,
            expires_at: Some(expires_at),
            source: TokenOrigin::Refreshed,
            dpop: key,
        })
    }

    /// Who the stored (or override) credential belongs to, checked with the server.
    ///
    /// # Errors
    /// Not signed in / session expired (with a hint to log in again), network errors.
    pub async fn status(&self, alias: &str, url_flag: Option<&str>) -> Result<Status> {
        let url = self.resolve_url(alias, url_flag).map_err(|e| {
            if !e.is_not_signed_in() {
                e
            } else if self.token_override.is_some() {
                Error::usage("a token was given but no server URL")
                    .with_hint(format!("Pass --url or set {}_URL", self.params.env_prefix))
            } else {
                self.not_signed_in(alias, None)
            }
        })?;
        let token = self.access_token(alias).await?;
        let user = self.fetch_profile(&url, &token).await.map_err(|e| {
            if !e.is_session_expired() {
                e
            } else if token.source == TokenOrigin::Override {
                let reason = std::error::Error::source(&e)
                    .map(ToString::to_string)
                    .filter(|r| !r.is_empty())
                    .unwrap_or_else(|| "invalid token".to_owned());
                self.override_refused(&reason)
            } else {
                Error::new(Kind::SessionExpired, "session expired or invalid")
                    .with_hint(self.relogin_hint(alias, url.as_str()))
            }
        })?;
        let store = if token.source == TokenOrigin::Override {
            format!("{}_TOKEN / --api-token", self.params.env_prefix)
        } else {
            let cfg = self.load_config()?;
            cfg.profiles
                .get(alias)
                .map(|p| self.store_of(p).describe())
                .unwrap_or_default()
        };
        let session_expiry = user
            .session
            .as_ref()
            .and_then(|s| s.expires_at.as_deref())
            .and_then(parse_rfc3339);
        // An override is not the profile's credential: its expiry is its own (an API token's
        // from /api/tokens/validate, an access token's session's), never the profile's.
        let expires_at = if token.source == TokenOrigin::Override {
            match self.validate_api_token(&url, token.token.expose()).await {
                Ok(v) => v.expires_at.as_deref().and_then(parse_rfc3339),
                Err(_) => session_expiry,
            }
        } else {
            session_expiry.or_else(|| {
                self.load_config().ok().and_then(|c| {
                    c.profiles
                        .get(alias)
                        .and_then(|p| p.expires_at.as_deref().and_then(parse_rfc3339))
                })
            })
        };
        let scopes = self.effective_scopes(&url, &token).await;
        Ok(Status {
            alias: alias.to_owned(),
            url,
            user,
            expires_at,
            store,
            origin: token.source,
            scopes,
        })
    }

    /// Revokes the session on the server (best effort, reported as a warning when it fails),
    /// removes the secret locally and keeps the profile's URL and alias. Returns whether a
    /// credential was there to remove (`false`: the profile was already signed out).
    ///
    /// # Errors
    /// When the profile does not exist or local storage fails.
    pub async fn logout(&self, alias: &str) -> Result<bool> {
        let Some(profile) = self.load_config()?.profiles.remove(alias) else {
            return Err(self.unknown_profile(alias)?);
        };
        let store = self.store_of(&profile);
        let credential = store.load(alias)?;
        let had_credential = credential.is_some();
        if let Some(credential) = credential {
            if let Credential::Session { refresh_token, .. } = &credential {
                if let Err(e) = self
                    .revoke_remote(alias, &profile, refresh_token.as_ref())
                    .await
                {
                    self.progress.report(&Event::Warning {
                        message: format!("could not revoke the session on the server: {e}"),
                    });
                }
            }
            store.delete(alias)?;
        }
        self.config.update(|c| {
            if let Some(p) = c.profiles.get_mut(alias) {
                p.session_id = None;
                p.expires_at = None;
                p.mfa_verified = None;
                p.credential_store = None;
            }
        })?;
        Ok(had_credential)
    }

    pub(super) async fn revoke_remote(
        &self,
        alias: &str,
        profile: &Profile,
        refresh: Option<&Secret>,
    ) -> Result<()> {
        let url = oauth::parse_server_url(&profile.url)?;
        // The session: /api/auth/logout with a valid access token (refreshed if needed).
        let first_err = match self.access_token(alias).await {
            Ok(t) => {
                let u = endpoint(&url, "api/auth/logout")?;
                match self
                    .send_authorized(self.http()?.post(u.clone()), "POST", &u, &t)
                    .await
                {
                    Ok(r) if r.status().is_success() => return Ok(()),
                    Ok(r) => Error::new(Kind::Server, format!("logout answered {}", r.status())),
                    Err(e) => e,
                }
            }
            Err(e) if e.is_session_expired() || e.is_not_signed_in() => return Ok(()),
            Err(e) => e,
        };
        // RFC 7009 revocation of the refresh token as the fallback.
        if let Some(refresh) = refresh {
            let discovery = self.discover(&url).await?;
            if let Some(rev) = discovery.revocation_endpoint {
                let r = self
                    .http()?
                    .post(&rev)
                    .form(&[
                        ("token", refresh.expose().as_str()),
                        ("token_type_hint", "refresh_token"),
                        ("client_id", &self.params.client_id),
                    ])
                    .send()
                    .await
                    .map_err(|e| network_error(&rev, e))?;
                if r.status().is_success() {
                    return Ok(());
                }
            }
        }
        Err(first_err)
    }
}
