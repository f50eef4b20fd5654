//! Signing in: the chosen flow, an API token, and saving the profile it made.

use super::*;

impl Client {
    pub(super) async fn discover(&self, url: &Url) -> Result<Discovery> {
        oauth::discover(self.http()?, url).await
    }

    /// Signs in with the chosen flow and stores the session.
    ///
    /// # Errors
    /// Network, timeout, denial, or storage errors.
    ///
    /// # Cancel safety
    /// Nothing is written before the token exchange succeeded; the config and secret writes are
    /// each atomic.
    pub async fn login(&self, mut opts: LoginOptions) -> Result<LoginOutcome> {
        validate_alias(&opts.alias)?;
        let discovery = self.discover(&opts.url).await?;
        let device_available = discovery.device_authorization_endpoint.is_some();
        if opts.flow == AuthFlow::DeviceCode && !device_available {
            return Err(Error::new(
                Kind::DeviceFlowDisabled,
                "the server has switched the device flow off",
            )
            .with_hint(format!(
                "Use --auth-flow pkce, or sign in with an API token: {} login --token …",
                self.params.product
            )));
        }
        let existing = self.load_config()?.profiles.remove(&opts.alias);
        let device_id = existing
            .as_ref()
            .and_then(|p| p.device_id.clone())
            .unwrap_or_else(|| random::hex_id(16));
        let device_name = existing
            .as_ref()
            .and_then(|p| p.device_name.clone())
            .unwrap_or_else(device_hostname);
        let login_hint = opts
            .email
            .clone()
            .or_else(|| existing.as_ref().and_then(|p| p.email.clone()));
        let env = BrowserEnv::detect(opts.no_browser);
        let mut flow = initial_flow(opts.flow, &env, device_available);
        if opts.flow == AuthFlow::Auto && flow == AuthFlow::DeviceCode {
            self.progress.report(&Event::FlowChosen {
                flow: "device_code".into(),
                reason: format!(
                    "no browser can be opened here: {}{}",
                    env.why_not().unwrap_or("unknown"),
                    if discovery.ward_terminal_sign_in_endpoint.is_some() {
                        " (or type your password here instead: --auth-flow password)"
                    } else {
                        ""
                    }
                ),
            });
        }
        // SPEC §2.16: a new key per sign-in, when the server binds tokens to keys; Ed25519
        // when it verifies EdDSA (cheaper for it), else P-256 (decision 181).
        let key = crate::dpop::DpopKey::for_server(&discovery.dpop_signing_alg_values_supported);
        let tokens = loop {
            let attempt = match flow {
                AuthFlow::Password => {
                    self.password_flow(
                        &discovery,
                        &opts,
                        login_hint.as_deref(),
                        &device_id,
                        &device_name,
                        key.as_ref(),
                    )
                    .await
                }
                AuthFlow::DeviceCode => {
                    self.device_flow(
                        &discovery,
                        &opts,
                        &device_id,
                        &device_name,
                        &env,
                        key.as_ref(),
                    )
                    .await
                }
                _ => {
                    self.pkce_flow(
                        &discovery,
                        &mut opts,
                        login_hint.as_deref(),
                        &device_id,
                        &device_name,
                        &env,
                        key.as_ref(),
                    )
                    .await
                }
            };
            match attempt {
                Ok(t) => break t,
                Err(e) if flow == AuthFlow::Pkce => {
                    let reason = fallback_from_pkce(opts.flow, e, device_available)?;
                    self.progress.report(&Event::Fallback {
                        from: "pkce".into(),
                        to: "device_code".into(),
                        reason,
                    });
                    flow = AuthFlow::DeviceCode;
                }
                Err(e) => return Err(e),
            }
        };
        self.progress.report(&Event::Done);
        let now = self.clock.unix();
        // A server that answered with a bearer did not bind: the key is not kept.
        let bound = tokens
            .token_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("dpop"));
        let credential = Credential::Session {
            access_expires_at: now + tokens.expires_in.unwrap_or(3600),
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            dpop_key: key.filter(|_| bound).map(|k| Secret::new(k.to_secret())),
        };
        let first = usable(&credential, 0).ok_or_else(|| {
            Error::new(
                Kind::Protocol,
                "the server answered without a usable access token",
            )
        })?;
        let user = self.fetch_profile(&opts.url, &first).await?;
        let profile = Profile {
            url: opts.url.to_string(),
            email: Some(user.email.clone()).filter(|e| !e.is_empty()),
            user_id: Some(user.id.clone()).filter(|e| !e.is_empty()),
            session_id: user.session.as_ref().map(|s| s.id.clone()),
            expires_at: user.session.as_ref().and_then(|s| s.expires_at.clone()),
            device_id: Some(device_id),
            device_name: Some(device_name),
            mfa_verified: user.session.as_ref().and_then(|s| s.mfa_verified),
            credential_store: None,
        };
        let previous = existing
            .as_ref()
            .filter(|p| p.credential_store.is_some())
            .and_then(|p| self.store_of(p).load(&opts.alias).ok().flatten());
        let store = self
            .save_profile(&opts.alias, existing.as_ref(), profile, &credential)
            .await?;
        // Signing in again replaces the profile's session: revoke the old one (best effort) so
        // it does not linger on the server.
        if let Some(Credential::Session {
            refresh_token: Some(old),
            ..
        }) = previous
        {
            if let Some(rev) = discovery.revocation_endpoint.as_deref() {
                if let Ok(http) = self.http() {
                    let _ = http
                        .post(rev)
                        .form(&[
                            ("token", old.expose().as_str()),
                            ("token_type_hint", "refresh_token"),
                            ("client_id", &self.params.client_id),
                        ])
                        .send()
                        .await;
                }
            }
        }
        Ok(LoginOutcome {
            alias: opts.alias,
            profile: store.0,
            user,
            flow,
            store: store.1,
        })
    }

    /// Checks an API token with `/api/tokens/validate` and stores it.
    ///
    /// # Errors
    /// An invalid-token error when the server rejects it.
    pub async fn login_with_api_token(
        &self,
        alias: &str,
        url: &Url,
        token: &str,
    ) -> Result<LoginOutcome> {
        validate_alias(alias)?;
        let token = token.trim();
        let v = self.validate_api_token(url, token).await?;
        let existing = self.load_config()?.profiles.remove(alias);
        let credential = Credential::ApiToken {
            token: Secret::new(token),
        };
        let profile = Profile {
            url: url.to_string(),
            email: Some(v.email.clone()).filter(|e| !e.is_empty()),
            user_id: Some(v.user_id.clone()).filter(|e| !e.is_empty()),
            session_id: None,
            expires_at: v.expires_at.clone(),
            device_id: existing.as_ref().and_then(|p| p.device_id.clone()),
            device_name: existing.as_ref().and_then(|p| p.device_name.clone()),
            mfa_verified: None,
            credential_store: None,
        };
        let (profile, store) = self
            .save_profile(alias, existing.as_ref(), profile, &credential)
            .await?;
        let user = UserProfile {
            id: v.user_id,
            email: v.email,
            ..UserProfile::default()
        };
        Ok(LoginOutcome {
            alias: alias.to_owned(),
            profile,
            user,
            flow: AuthFlow::Auto,
            store,
        })
    }

    /// `GET /api/tokens/validate` with `token`.
    ///
    /// # Errors
    /// An invalid-token error on 401/403, network or server errors otherwise.
    pub async fn validate_api_token(&self, url: &Url, token: &str) -> Result<TokenValidation> {
        let u = endpoint(url, "api/tokens/validate")?;
        let resp = self
            .http()?
            .get(u.clone())
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| network_error(url.as_str(), e))?;
        let status = resp.status();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            let body: oauth::OAuthErrorBody = resp.json().await.unwrap_or_default();
            return Err(Error::new(
                Kind::InvalidToken,
                format!("the server rejected the API token: {}", body.text()),
            )
            .with_hint("Check the token, or create a new one in the account page"));
        }
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(Error::new(
                Kind::Server,
                format!("the server at {url} does not support API tokens ({u} answered 404)"),
            ));
        }
        if !status.is_success() {
            return Err(Error::new(Kind::Server, format!("{u} answered {status}")));
        }
        resp.json()
            .await
            .map_err(|e| Error::new(Kind::Protocol, format!("malformed answer from {u}: {e}")))
    }

    pub(super) async fn save_profile(
        &self,
        alias: &str,
        existing: Option<&Profile>,
        mut profile: Profile,
        credential: &Credential,
    ) -> Result<(Profile, String)> {
        let store = self.choose_store()?;
        let store = match store.save(alias, credential) {
            Ok(()) => store,
            Err(e) if e.is_keyring() && self.keyring_forced() => {
                return Err(self.keyring_forced_error(&e.to_string()));
            }
            Err(e) if e.is_keyring() => {
                let file = self.store(StoreKind::File);
                self.progress.report(&Event::PlaintextStore {
                    path: self.config.dir().join("credentials.json"),
                    reason: e.to_string(),
                });
                file.save(alias, credential)?;
                file
            }
            Err(e) => return Err(e),
        };
        if let Some(old) = existing {
            let old_store = self.store_of(old);
            if old.credential_store.is_some() && old_store.kind() != store.kind() {
                let _ = old_store.delete(alias);
            }
        }
        profile.credential_store = Some(store.kind().as_str().to_owned());
        let saved = profile.clone();
        self.config.update(|c| {
            c.profiles.insert(alias.to_owned(), profile);
            c.current = Some(alias.to_owned());
        })?;
        Ok((saved, store.describe()))
    }
}
