//! `--auth-flow password` (decision 164): for a box with no browser anywhere, the password and
//! the code are typed in the terminal, like `tsh login` with local users. The library never
//! prompts: the embedding CLI answers through [`TerminalPrompt`].
//!
//! The flow is the device grant with the terminal as the approver: ask for a device code, send
//! the typed password (and code) with its `user_code` to the server's terminal sign-in endpoint,
//! then redeem the device code at the token endpoint (with the profile's DPoP key) as the device
//! flow does.

use url::Url;
use ward_proto::{TerminalSignInRequest, TerminalSignInResponse};

use super::{Client, LoginOptions};
use crate::error::{network_error, Error, Kind, Result};
use crate::oauth::{self, Discovery, OAuthErrorBody, TokenError, TokenResponse};
use crate::progress::Event;
use crate::Secret;

/// How many codes may be typed before the sign-in gives up (the server's budget still rules).
const CODE_TRIES: usize = 3;

/// Asks the person at the terminal. Implemented by the embedding CLI (no echo for secrets);
/// every method may fail (no terminal, input closed), which ends the sign-in.
pub trait TerminalPrompt: Send + Sync {
    /// The account's email, when no `--email` or stored profile gave it.
    ///
    /// # Errors
    /// When nothing can be read.
    fn email(&self) -> Result<String>;
    /// The password for `email`.
    ///
    /// # Errors
    /// When nothing can be read.
    fn password(&self, email: &str) -> Result<Secret>;
    /// A TOTP or backup code for `email`; `retry` is why the previous one was refused.
    ///
    /// # Errors
    /// When nothing can be read.
    fn code(&self, email: &str, retry: Option<&str>) -> Result<String>;
}

impl std::fmt::Debug for dyn TerminalPrompt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TerminalPrompt")
    }
}

/// The server's refusal of a terminal sign-in.
fn refused(body: &OAuthErrorBody, again: &str) -> Error {
    let text = body
        .error_description
        .clone()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| body.error.clone());
    match body.error.as_str() {
        "terminal_sign_in_off"
        | "routed_to_idp"
        | "password_change_required"
        | "mfa_enrolment_required" => Error::new(Kind::AccessDenied, text).with_hint(format!(
            "Sign in with a browser or the device code instead: {again}"
        )),
        _ => Error::new(Kind::AccessDenied, text),
    }
}

impl Client {
    pub(super) async fn password_flow(
        &self,
        discovery: &Discovery,
        opts: &LoginOptions,
        login_hint: Option<&str>,
        device_id: &str,
        device_name: &str,
        key: Option<&crate::dpop::DpopKey>,
    ) -> Result<TokenResponse> {
        let again = format!("{} login {}", self.params.product, opts.alias);
        let Some(endpoint) = discovery.ward_terminal_sign_in_endpoint.as_deref() else {
            return Err(Error::new(
                Kind::AccessDenied,
                format!(
                    "{} does not allow signing in with a password in the terminal",
                    opts.url.as_str().trim_end_matches('/')
                ),
            )
            .with_hint(format!(
                "Sign in with a browser or the device code instead: {again}"
            )));
        };
        let Some(prompt) = opts.prompt.clone() else {
            return Err(Error::usage(
                "--auth-flow password needs a terminal to type the password in",
            ));
        };
        let email = match login_hint {
            Some(e) if !e.trim().is_empty() => e.trim().to_owned(),
            _ => prompt.email()?,
        };
        let password = prompt.password(&email)?;
        let auth = self
            .start_device_authorization(discovery, opts, device_id, device_name)
            .await?;
        let mut request = TerminalSignInRequest {
            user_code: auth.user_code.clone(),
            email: email.clone(),
            password: password.expose().to_owned(),
            code: None,
        };
        let mut codes_typed = 0;
        let approved = loop {
            match self.send_terminal_sign_in(endpoint, &request).await? {
                Ok(approved) => break approved,
                Err(body) if body.error == "mfa_required" && request.code.is_none() => {
                    request.code = Some(prompt.code(&email, None)?);
                    codes_typed += 1;
                }
                Err(body) if body.error == "invalid_code" && codes_typed < CODE_TRIES => {
                    let why = body.error_description.clone().unwrap_or_default();
                    request.code = Some(prompt.code(&email, Some(&why))?);
                    codes_typed += 1;
                }
                Err(body) => return Err(refused(&body, &again)),
            }
        };
        self.progress.report(&Event::Waiting {
            what: format!("the session of {}", approved.email),
        });
        oauth::post_form_signed::<TokenResponse>(
            self.http()?,
            &discovery.token_endpoint,
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", auth.device_code.expose()),
                ("client_id", &self.params.client_id),
            ],
            key.map(|k| (k, self.clock.unix())),
        )
        .await
        .map_err(|e| match e {
            TokenError::OAuth(body) => Error::new(
                Kind::Server,
                format!("the approved sign-in was not redeemed: {}", body.text()),
            ),
            TokenError::Other(e) => e,
        })
    }

    /// One `POST` of the typed credentials: the approval, or the server's refusal to act on.
    async fn send_terminal_sign_in(
        &self,
        endpoint: &str,
        request: &TerminalSignInRequest,
    ) -> Result<std::result::Result<TerminalSignInResponse, OAuthErrorBody>> {
        let url = Url::parse(endpoint).map_err(|e| {
            Error::new(
                Kind::Protocol,
                format!("bad terminal sign-in URL {endpoint}: {e}"),
            )
        })?;
        let resp = self
            .http()?
            .post(url)
            .json(request)
            .send()
            .await
            .map_err(|e| network_error(endpoint, e))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| network_error(endpoint, e))?;
        match oauth::decode_token_answer(endpoint, status, &bytes) {
            Ok(approved) => Ok(Ok(approved)),
            Err(TokenError::OAuth(body)) => Ok(Err(body)),
            Err(TokenError::Other(e)) => Err(e),
        }
    }
}
