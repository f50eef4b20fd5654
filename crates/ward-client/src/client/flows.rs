//! The browser (PKCE on a loopback port) and device-code flows, and the profile fetched after them.

use super::*;

impl Client {
    // One private step of `login`; a struct of its locals would only rename them.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn pkce_flow(
        &self,
        discovery: &Discovery,
        opts: &mut LoginOptions,
        login_hint: Option<&str>,
        device_id: &str,
        device_name: &str,
        env: &BrowserEnv,
        key: Option<&crate::dpop::DpopKey>,
    ) -> Result<TokenResponse> {
        let loopback = Loopback::bind(opts.port, self.progress.as_ref()).await?;
        let pkce = Pkce::generate();
        let state = random::token(24);
        let redirect_uri = loopback.redirect_uri();
        let cli_login = endpoint(&opts.url, "cli-login")?;
        let url = AuthorizeRequest {
            cli_login: &cli_login,
            client_id: &self.params.client_id,
            redirect_uri: &redirect_uri,
            code_challenge: &pkce.challenge,
            state: &state,
            scope: opts.scope.as_deref().unwrap_or(&self.params.scope),
            login_hint,
            device_id,
            device_name,
        }
        .url();
        self.progress.report(&Event::OpenUrl {
            url: url.to_string(),
            paste_accepted: opts.paste.is_some(),
        });
        if env.can_open() {
            self.launch_browser(url.as_str());
        }
        self.progress.report(&Event::Waiting {
            what: "browser sign-in".into(),
        });
        let success = endpoint(&opts.url, "cli-login/success")?;
        let code = loopback
            .wait_for_code(
                &CallbackCheck {
                    state: state.clone(),
                    issuer: discovery.issuer.clone(),
                    issuer_required: discovery.authorization_response_iss_parameter_supported,
                },
                success.as_str(),
                opts.paste.as_mut(),
                opts.timeout,
                self.progress.as_ref(),
            )
            .await?;
        oauth::post_form_signed::<TokenResponse>(
            self.http()?,
            &discovery.token_endpoint,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &redirect_uri),
                ("client_id", &self.params.client_id),
                ("code_verifier", pkce.verifier.expose()),
            ],
            key.map(|k| (k, self.clock.unix())),
        )
        .await
        .map_err(|e| token_error(e, "the authorization code"))
    }

    pub(super) fn launch_browser(&self, url: &str) {
        match browser::open_browser(url) {
            Ok(()) => self.progress.report(&Event::BrowserOpened),
            Err(reason) => self.progress.report(&Event::BrowserFailed { reason }),
        }
    }

    /// `POST /oauth/device/code` for this client (RFC 8628 §3.1).
    pub(super) async fn start_device_authorization(
        &self,
        discovery: &Discovery,
        opts: &LoginOptions,
        device_id: &str,
        device_name: &str,
    ) -> Result<DeviceAuthorization> {
        let Some(device_endpoint) = discovery.device_authorization_endpoint.as_deref() else {
            return Err(Error::new(
                Kind::DeviceFlowDisabled,
                "the server has switched the device flow off",
            ));
        };
        post_form(
            self.http()?,
            device_endpoint,
            &[
                ("client_id", &self.params.client_id),
                ("scope", opts.scope.as_deref().unwrap_or(&self.params.scope)),
                ("device_id", device_id),
                ("device_name", device_name),
            ],
        )
        .await
        .map_err(|e| token_error(e, "device authorization"))
    }

    pub(super) async fn device_flow(
        &self,
        discovery: &Discovery,
        opts: &LoginOptions,
        device_id: &str,
        device_name: &str,
        env: &BrowserEnv,
        key: Option<&crate::dpop::DpopKey>,
    ) -> Result<TokenResponse> {
        let auth = self
            .start_device_authorization(discovery, opts, device_id, device_name)
            .await?;
        let http = self.http()?;
        if oauth::is_loopback_url(&opts.url) {
            self.progress.report(&Event::LoopbackServer {
                url: opts.url.as_str().trim_end_matches('/').to_owned(),
                host: opts.url.host_str().unwrap_or("127.0.0.1").to_owned(),
                port: opts.url.port_or_known_default().unwrap_or(80),
            });
        }
        self.progress.report(&Event::DeviceCode {
            user_code: auth.user_code.clone(),
            verification_uri: auth.verification_uri.clone(),
            verification_uri_complete: auth.verification_uri_complete.clone(),
            expires_in: Duration::from_secs(auth.expires_in),
        });
        if env.can_open() {
            let target = auth
                .verification_uri_complete
                .as_deref()
                .unwrap_or(&auth.verification_uri);
            self.launch_browser(target);
        }
        self.progress.report(&Event::Waiting {
            what: "device approval".into(),
        });
        let mut poller = DevicePoller::new(&auth, self.clock.unix(), opts.timeout);
        let mut step = poller.first(self.clock.unix())?;
        loop {
            let delay = match step {
                Step::Wait(d) => d,
                Step::SlowedDown(d) => {
                    self.progress.report(&Event::SlowDown { interval: d });
                    d
                }
            };
            tokio::time::sleep(delay).await;
            let polled = oauth::post_form_signed::<TokenResponse>(
                http,
                &discovery.token_endpoint,
                &[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                    ("device_code", auth.device_code.expose()),
                    ("client_id", &self.params.client_id),
                ],
                key.map(|k| (k, self.clock.unix())),
            )
            .await;
            match polled {
                Ok(t) => return Ok(t),
                Err(TokenError::OAuth(body)) => {
                    step = poller.on_error(&body, self.clock.unix())?;
                }
                Err(TokenError::Other(e)) => return Err(e),
            }
        }
    }

    pub(super) async fn fetch_profile(
        &self,
        url: &Url,
        token: &AccessToken,
    ) -> Result<UserProfile> {
        let u = endpoint(url, "api/profile")?;
        let resp = self
            .send_authorized(self.http()?.get(u.clone()), "GET", &u, token)
            .await?;
        let status = resp.status();
        if status == reqwest::StatusCode::UNAUTHORIZED {
            let body: oauth::OAuthErrorBody = resp.json().await.unwrap_or_default();
            return Err(
                Error::new(Kind::SessionExpired, "session expired or invalid")
                    .with_source(body.error_description.unwrap_or(body.error)),
            );
        }
        if !status.is_success() {
            let body: oauth::OAuthErrorBody = resp.json().await.unwrap_or_default();
            return Err(Error::new(
                Kind::Server,
                format!("{u} answered {status}: {}", body.text()),
            ));
        }
        resp.json()
            .await
            .map_err(|e| Error::new(Kind::Protocol, format!("malformed answer from {u}: {e}")))
    }
}
