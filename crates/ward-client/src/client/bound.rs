//! DPoP-bound sessions (SPEC §2.16): signing each request with the profile's key, and the
//! short-lived bearers handed to tools that cannot sign (git, kubectl, docker, `ward env`) from
//! `POST /api/auth/tool-token` (decision 153).

use url::Url;

use super::{AccessToken, Client, TokenOrigin};
use crate::error::{network_error, Error, Kind, Result};
use crate::oauth::{self, TokenResponse};

impl Client {
    /// Adds `token` to `request` for `method` `url`: `Authorization: DPoP` and a fresh proof
    /// for a bound token, `Bearer` otherwise.
    ///
    /// # Errors
    /// Signing failures.
    pub fn authorize(
        &self,
        mut request: reqwest::RequestBuilder,
        method: &str,
        url: &Url,
        token: &AccessToken,
    ) -> Result<reqwest::RequestBuilder> {
        for (name, value) in self.authorization_headers(method, url, token)? {
            request = request.header(name, value);
        }
        Ok(request)
    }

    /// Sends `request` (built without credentials) for `method` `url`, presenting `token` as
    /// [`Client::authorize`] does. A bound token's proof carries the nonce the server last sent
    /// (`DPoP-Nonce`); a `use_dpop_nonce` refusal is retried once with the new nonce
    /// (RFC 9449 §9), as the token endpoint's is. A request whose body cannot be replayed (a
    /// stream) is not retried.
    ///
    /// # Errors
    /// Signing failures and network errors.
    pub async fn send_authorized(
        &self,
        request: reqwest::RequestBuilder,
        method: &str,
        url: &Url,
        token: &AccessToken,
    ) -> Result<reqwest::Response> {
        let again = token.dpop.as_ref().and_then(|_| request.try_clone());
        let send = |request: reqwest::RequestBuilder| async move {
            let response = self
                .authorize(request, method, url, token)?
                .send()
                .await
                .map_err(|e| network_error(url.as_str(), e))?;
            let asked = self.note_dpop_nonce(url, &response);
            Ok::<_, Error>((response, asked))
        };
        let (response, asked) = send(request).await?;
        match again {
            Some(request) if asked => Ok(send(request).await?.0),
            _ => Ok(response),
        }
    }

    /// Remembers `response`'s `DPoP-Nonce` for its origin; `true` when the response is a
    /// `use_dpop_nonce` refusal that brought a new one (worth one retry).
    fn note_dpop_nonce(&self, url: &Url, response: &reqwest::Response) -> bool {
        let asked = response.status() == reqwest::StatusCode::UNAUTHORIZED
            && response
                .headers()
                .get_all("www-authenticate")
                .iter()
                .any(|v| v.to_str().is_ok_and(|v| v.contains("use_dpop_nonce")));
        let nonce = response
            .headers()
            .get("dpop-nonce")
            .and_then(|v| v.to_str().ok());
        self.remember_dpop_nonce(url, nonce) && asked
    }

    /// Remembers `nonce`, a `DPoP-Nonce` that `url`'s server sent, for the next proofs there;
    /// `true` when it is new (a refusal that brought it is worth one retry). For requests not
    /// made through [`Client::send_authorized`], such as a WebSocket upgrade.
    pub fn remember_dpop_nonce(&self, url: &Url, nonce: Option<&str>) -> bool {
        let Some(nonce) = nonce else {
            return false;
        };
        let mut nonces = self.dpop_nonces.lock().unwrap_or_else(|e| e.into_inner());
        let origin = http_origin(url);
        let changed = nonces.get(&origin).map(String::as_str) != Some(nonce);
        nonces.insert(origin, nonce.to_owned());
        changed
    }

    /// The nonce `url`'s origin sent last, if any.
    fn dpop_nonce(&self, url: &Url) -> Option<String> {
        let nonces = self.dpop_nonces.lock().unwrap_or_else(|e| e.into_inner());
        nonces.get(&http_origin(url)).cloned()
    }

    /// The headers that present `token` for `method` `url`, for a request not made with
    /// reqwest (a WebSocket upgrade): `Authorization: DPoP <token>` and `DPoP: <proof>` for a
    /// bound token, `Authorization: Bearer <token>` otherwise. A proof names the `http(s)`
    /// URL, also for a `ws(s)` upgrade (RFC 9449 §4.2: the HTTP request it is sent with).
    ///
    /// # Errors
    /// Signing failures.
    pub fn authorization_headers(
        &self,
        method: &str,
        url: &Url,
        token: &AccessToken,
    ) -> Result<Vec<(&'static str, String)>> {
        let Some(key) = &token.dpop else {
            return Ok(vec![(
                "authorization",
                format!("Bearer {}", token.token.expose()),
            )]);
        };
        let mut htu = url.clone();
        let http_scheme = match url.scheme() {
            "ws" => Some("http"),
            "wss" => Some("https"),
            _ => None,
        };
        if let Some(scheme) = http_scheme {
            // `set_scheme` refuses only changes between special and non-special schemes.
            let _ = htu.set_scheme(scheme);
        }
        let nonce = self.dpop_nonce(url);
        let proof = key
            .proof(
                method,
                &htu,
                Some(token.token.expose()),
                nonce.as_deref(),
                self.clock.unix(),
            )
            .map_err(|e| Error::new(Kind::Protocol, e.to_string()))?;
        Ok(vec![
            ("authorization", format!("DPoP {}", token.token.expose())),
            ("DPoP", proof),
        ])
    }

    /// A token for a tool that sends it as it is (a credential helper, `ward env`): the
    /// profile's token when it is a bearer, otherwise a short-lived bearer exchanged for it
    /// with a proof of the key at `/api/auth/tool-token` (at most 5 minutes, no refresh token).
    ///
    /// # Errors
    /// Those of [`Client::access_token`], and the server's refusal of the exchange.
    pub async fn tool_token(&self, alias: &str) -> Result<AccessToken> {
        let token = self.access_token(alias).await?;
        if token.dpop.is_none() {
            return Ok(token);
        }
        let profile = self
            .load_config()?
            .profiles
            .remove(alias)
            .ok_or_else(|| self.not_signed_in(alias, None))?;
        let url = oauth::parse_server_url(&profile.url)?;
        let target = oauth::endpoint(&url, "api/auth/tool-token")?;
        let request = self.http()?.post(target.clone());
        let response = self
            .send_authorized(request, "POST", &target, &token)
            .await?;
        let status = response.status();
        if !status.is_success() {
            let body: oauth::OAuthErrorBody = response.json().await.unwrap_or_default();
            let kind = if status == reqwest::StatusCode::UNAUTHORIZED {
                Kind::SessionExpired
            } else {
                Kind::Server
            };
            return Err(Error::new(
                kind,
                format!("a token for tools was refused: {}", body.text()),
            )
            .with_hint(self.relogin_hint(alias, &profile.url)));
        }
        let answer: TokenResponse = response.json().await.map_err(|e| {
            Error::new(
                Kind::Protocol,
                format!("malformed answer from {target}: {e}"),
            )
        })?;
        Ok(AccessToken {
            token: answer.access_token,
            expires_at: Some(self.clock.unix() + answer.expires_in.unwrap_or(300)),
            source: TokenOrigin::Exchanged,
            dpop: None,
        })
    }

    /// What `ward token` prints: the profile's bearer, or for a bound session a short-lived
    /// exchanged bearer when the server allows it (`[dpop] cli_bearer`).
    ///
    /// # Errors
    /// A usage error saying what to use instead when the server keeps sessions bound.
    pub async fn printable_token(&self, alias: &str) -> Result<AccessToken> {
        let token = self.access_token(alias).await?;
        if token.dpop.is_none() {
            return Ok(token);
        }
        let profile = self
            .load_config()?
            .profiles
            .remove(alias)
            .ok_or_else(|| self.not_signed_in(alias, None))?;
        let url = oauth::parse_server_url(&profile.url)?;
        if !self.discover(&url).await?.ward_cli_bearer {
            let p = &self.params.product;
            return Err(Error::usage(format!(
                "profile {alias}'s session is bound to a key (DPoP) and {} does not allow printing it as a bearer token",
                url.as_str().trim_end_matches('/')
            ))
            .with_hint(format!(
                "Use `{p} api` to call the API, or `{p} env` for a short-lived token for other tools"
            )));
        }
        self.tool_token(alias).await
    }
}

/// `url`'s origin, a WebSocket URL as its http(s) form: the same server.
fn http_origin(url: &Url) -> String {
    let mut origin = url.clone();
    let scheme = match url.scheme() {
        "ws" => Some("http"),
        "wss" => Some("https"),
        _ => None,
    };
    if let Some(s) = scheme {
        // `set_scheme` refuses only changes between special and non-special schemes.
        let _ = origin.set_scheme(s);
    }
    origin.origin().ascii_serialization()
}
