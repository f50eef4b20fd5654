//! DPoP at ward's edges (SPEC §2.16, RFC 9449): the `[dpop]` settings, the request a proof
//! must name, and the one verification every path uses — `ward_core::dpop`'s rules, then the
//! proof id recorded in the shared store so that it is accepted once on all replicas.

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde::{Deserialize, Serialize};
use ward_core::dpop::{self, DpopError, ExpectedRequest, HeaderCache, NonceKey, VerifiedProof};
use ward_core::token::token_hash;

use crate::config::ConfigError;
use crate::error::{ApiError, ApiResult};
use crate::keys::MasterKey;
use crate::state::AppState;

pub const DPOP_HEADER: &str = "dpop";
pub const NONCE_HEADER: &str = "dpop-nonce";

/// `[dpop]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawDpop {
    /// Proofs at `/oauth/token` must carry a nonce from the `DPoP-Nonce` header (RFC 9449 §8).
    pub require_nonce: bool,
    /// `ward token` may print a plain bearer token of a DPoP-bound `ward-cli` session
    /// (decision 153). Default: no; `ward api` and `ward env` are the ways to use a session.
    pub cli_bearer: bool,
    /// Origins other than ward's own that a proof's `htu` may name: the hosts of backends
    /// behind forward-auth (`https://app.example.com`).
    pub origins: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct DpopConfig {
    pub require_nonce: bool,
    pub cli_bearer: bool,
    /// `scheme://host[:port]`, as `url::Origin` serializes it.
    pub origins: Vec<String>,
}

impl RawDpop {
    pub fn validate(&self) -> Result<DpopConfig, ConfigError> {
        let origins = self
            .origins
            .iter()
            .map(|o| {
                url::Url::parse(o)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https") && u.path() == "/")
                    .map(|u| u.origin().ascii_serialization())
                    .ok_or_else(|| ConfigError::Invalid {
                        key: "dpop.origins".into(),
                        value: o.clone(),
                        expected: "an http(s) origin such as https://app.example.com".into(),
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(DpopConfig {
            require_nonce: self.require_nonce,
            cli_bearer: self.cli_bearer,
            origins,
        })
    }
}

/// The request a proof must describe: its method and normalised path, and the origins it may
/// have been sent to.
#[derive(Debug, Clone)]
pub struct Target {
    pub method: String,
    pub path: String,
    pub origins: Vec<String>,
}

impl Target {
    /// A request to ward itself (its API, the proxy, a WebSocket upgrade): the edge already
    /// normalised the path.
    pub fn own(state: &AppState, method: &Method, path: &str) -> Target {
        Target {
            method: method.as_str().to_owned(),
            path: path.to_owned(),
            origins: vec![state.public_url.origin().ascii_serialization()],
        }
    }

    /// The request as the client made it. For forward-auth (`/api/auth/validate` with
    /// `X-Forwarded-Uri`) that is the original request nginx describes, sent to a backend's
    /// host (`[dpop] origins`); otherwise the request itself.
    pub fn of_request(
        state: &AppState,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> Target {
        let forwarded = (path == "/api/auth/validate")
            .then(|| headers.get("x-forwarded-uri")?.to_str().ok())
            .flatten();
        let Some(uri) = forwarded else {
            return Target::own(state, method, path);
        };
        let raw_path = uri.split(['?', '#']).next().unwrap_or_default();
        let path = ward_core::path::normalize(raw_path)
            .map(|p| p.into_owned())
            .unwrap_or_else(|_| raw_path.to_owned());
        let method = headers
            .get("x-forwarded-method")
            .and_then(|m| m.to_str().ok())
            .unwrap_or("GET");
        let mut origins = state.config.dpop.origins.clone();
        origins.push(state.public_url.origin().ascii_serialization());
        Target {
            method: method.to_owned(),
            path,
            origins,
        }
    }
}

/// The one `DPoP` header of a request: `None` without one; more than one is an error
/// (RFC 9449 §4.3 (1)).
pub fn proof_header(headers: &HeaderMap) -> Result<Option<&str>, DpopError> {
    let mut values = headers.get_all(DPOP_HEADER).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(DpopError::Malformed("more than one DPoP header"));
    }
    first
        .to_str()
        .map(Some)
        .map_err(|_| DpopError::Malformed("not ASCII"))
}

/// This process's DPoP state: the headers (client keys) already checked, and the nonce secret.
pub struct Verifier {
    pub headers: HeaderCache,
    pub nonces: NonceKey,
}

impl Verifier {
    /// The nonce secret is derived from the master key: the same on every replica, never stored.
    pub fn new(master_key: &MasterKey) -> Verifier {
        Verifier {
            headers: HeaderCache::default(),
            nonces: NonceKey::new(&master_key.derive("ward dpop nonce v1")),
        }
    }
}

/// The nonce secret (see [`Verifier::new`]).
pub fn nonce_key(state: &AppState) -> &NonceKey {
    &state.dpop.nonces
}

/// Verifies `proof` for `target` (with `ath` of `access_token` at a resource) and records its
/// id: a proof is accepted by exactly one request on any replica (RFC 9449 §11.1).
///
/// # Errors
/// The failed check; a store failure is reported as [`ApiError`] by the caller's mapping.
pub async fn verify(
    state: &AppState,
    proof: &str,
    target: &Target,
    access_token: Option<&str>,
    require_nonce: bool,
) -> Result<VerifiedProof, Refusal> {
    let now = state.clock.now();
    let expected = ExpectedRequest {
        method: &target.method,
        origins: &target.origins,
        path: &target.path,
    };
    let verified = if require_nonce {
        let key = nonce_key(state);
        let accept = |n: &str| key.accepts(n, now);
        (state.dpop.headers).verify(proof, &expected, now, access_token, Some(&accept))?
    } else {
        (state.dpop.headers).verify(proof, &expected, now, access_token, None)?
    };
    // Keyed by the key's thumbprint too: one client's ids never collide with another's.
    let id = token_hash(&format!("{}:{}", verified.jkt, verified.jti));
    let fresh = state
        .store
        .record_dpop_jti(&id, now.plus_secs(dpop::JTI_TTL_SECS))
        .await
        .map_err(|e| Refusal::Store(ApiError::from(e)))?;
    if !fresh {
        return Err(Refusal::Proof(DpopError::Replayed));
    }
    Ok(verified)
}

/// The DPoP proof of a token request (RFC 9449 §5), verified against `POST path` and recorded;
/// `None` without one, unless `required`.
///
/// # Errors
/// 400 `invalid_dpop_proof` (or `use_dpop_nonce`) naming the failed check.
pub async fn token_request_proof(
    state: &AppState,
    headers: &HeaderMap,
    path: &str,
    required: bool,
) -> ApiResult<Option<VerifiedProof>> {
    let header = proof_header(headers).map_err(|e| Refusal::from(e).at_token_endpoint(state))?;
    let Some(proof) = header else {
        if required {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_dpop_proof",
                "this client must send a DPoP proof with every token request",
            ));
        }
        return Ok(None);
    };
    let target = Target::own(state, &Method::POST, path);
    verify(state, proof, &target, None, state.config.dpop.require_nonce)
        .await
        .map(Some)
        .map_err(|e| e.at_token_endpoint(state))
}

/// Why a proof was not accepted: the proof itself, or the store failed.
#[derive(Debug)]
pub enum Refusal {
    Proof(DpopError),
    Store(ApiError),
}

impl From<DpopError> for Refusal {
    fn from(e: DpopError) -> Self {
        Refusal::Proof(e)
    }
}

impl Refusal {
    /// At a resource: 401 with a `DPoP` challenge naming the error (RFC 9449 §7.1).
    pub fn at_resource(self, state: &AppState) -> ApiError {
        match self {
            Refusal::Proof(e) => resource_error(state, &e),
            Refusal::Store(e) => e,
        }
    }

    /// At the token endpoint: 400 `invalid_dpop_proof` or `use_dpop_nonce` (RFC 9449 §5, §8).
    pub fn at_token_endpoint(self, state: &AppState) -> ApiError {
        match self {
            Refusal::Proof(e) => {
                let mut error = ApiError::new(StatusCode::BAD_REQUEST, e.code(), e.to_string());
                if e == DpopError::UseNonce {
                    error.dpop_nonce = Some(nonce_key(state).current(state.clock.now()));
                }
                error
            }
            Refusal::Store(e) => e,
        }
    }
}

/// A 401 at a resource with `WWW-Authenticate: DPoP error=…` (and a fresh nonce when asked).
pub fn resource_error(state: &AppState, e: &DpopError) -> ApiError {
    let mut error = ApiError::new(StatusCode::UNAUTHORIZED, e.code(), e.to_string());
    error.dpop_challenge = true;
    if *e == DpopError::UseNonce {
        error.dpop_nonce = Some(nonce_key(state).current(state.clock.now()));
    }
    error
}

/// `WWW-Authenticate: DPoP algs="ES256 EdDSA", error="…", error_description="…"`.
pub fn challenge(code: &str, description: &str) -> HeaderValue {
    let description: String = description
        .chars()
        .filter(|c| c.is_ascii() && !c.is_ascii_control() && *c != '"' && *c != '\\')
        .collect();
    let algs = dpop::SIGNING_ALGS.join(" ");
    HeaderValue::from_str(&format!(
        "DPoP algs=\"{algs}\", error=\"{code}\", error_description=\"{description}\""
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("DPoP error=\"invalid_token\""))
}
