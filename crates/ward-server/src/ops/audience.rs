//! Resource indicators (RFC 8707, SPEC §2.15) and audiences. A token's `aud` is ward itself (the
//! issuer, decision 3) unless the client named a `resource` (at the token endpoint, or at
//! `/oauth/authorize` for a code): then it is that resource, which must be ward or a proxied
//! route's public URL (`<public_url><prefix>`). A session remembers the resource its grant was
//! given for, and its refreshes keep it ([`refreshed_audience`]).
//! Such a token is accepted only where its audience names the target: the route's proxy and
//! forward-auth, never another route and never ward's own API ([`check`]). The audience is
//! minted into the token ([`crate::issue::AccessGrant::audience`]), never re-signed afterwards.

use ward_core::{OAuthError, OAuthErrorCode};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The audience `resource` names: `None` for ward itself (the issuer), else the route's URL.
///
/// # Errors
/// `invalid_target` naming the resource, for anything else.
pub fn audience(state: &AppState, resource: &str) -> Result<Option<String>, OAuthError> {
    let trimmed = resource.strip_suffix('/').unwrap_or(resource);
    if trimmed == state.issuer {
        return Ok(None);
    }
    if is_route_resource(state, resource) {
        return Ok(Some(resource.to_string()));
    }
    Err(OAuthError::new(
        OAuthErrorCode::InvalidTarget,
        format!(
            "unknown resource {resource}: use {} or a route's URL, such as {}",
            state.issuer,
            state
                .config
                .routes
                .first()
                .map_or_else(|| state.url("/<prefix>"), |r| state.url(&r.prefix))
        ),
    ))
}

/// Whether `aud` is a route's public URL. No allocation: asked on every request that carries
/// a token with an audience.
pub fn is_route_resource(state: &AppState, aud: &str) -> bool {
    aud.strip_prefix(state.issuer.as_str())
        .is_some_and(|prefix| state.config.routes.iter().any(|r| r.prefix == prefix))
}

/// The token request's `resource` (at most one), validated.
///
/// # Errors
/// `invalid_target` for an unknown resource or more than one.
pub fn requested(state: &AppState, form: &crate::extract::FormParams) -> ApiResult<Option<String>> {
    match form.get("resource") {
        None => Ok(None),
        Some(r) => audience(state, r).map_err(ApiError::from),
    }
}

/// RFC 8707 §2.2 at a refresh: the audience of the refreshed access token. A session granted
/// for a resource (`bound`) keeps it: the refresh may name it again or name none, and naming
/// another (ward itself included) is `invalid_target`. A session granted for ward may narrow
/// each refresh to `named` (an audience only narrows where a token works, decision 212).
///
/// # Errors
/// `invalid_target` naming both resources, or an unknown `named` one.
pub fn refreshed_audience(
    state: &AppState,
    bound: Option<&str>,
    named: Option<&str>,
) -> Result<Option<String>, OAuthError> {
    kept_audience(state, bound, named, |b, n| {
        format!(
            "this refresh token was granted for the resource {b}: a refresh may name it or none, not {n}"
        )
    })
}

/// [`refreshed_audience`] for a delegation (RFC 8693): the new token keeps the audience of
/// the subject token, or narrows a ward one.
///
/// # Errors
/// `invalid_target` naming both resources, or an unknown `named` one.
pub fn delegated_audience(
    state: &AppState,
    subject: Option<&str>,
    named: Option<&str>,
) -> Result<Option<String>, OAuthError> {
    kept_audience(state, subject, named, |b, n| {
        format!(
            "the subject token's audience is {b}: a token exchange may name it or none, not {n}"
        )
    })
}

fn kept_audience(
    state: &AppState,
    bound: Option<&str>,
    named: Option<&str>,
    refusal: impl FnOnce(&str, &str) -> String,
) -> Result<Option<String>, OAuthError> {
    let Some(named) = named else {
        return Ok(bound.map(str::to_string));
    };
    let asked = audience(state, named)?;
    match bound {
        None => Ok(asked),
        Some(b) if asked.as_deref() == Some(b) => Ok(asked),
        Some(b) => Err(OAuthError::new(
            OAuthErrorCode::InvalidTarget,
            refusal(b, named),
        )),
    }
}

/// Whether a token whose audience is `aud` (`None`: ward itself) may be used at the route with
/// `route_prefix` (`None`: ward's own API).
///
/// # Errors
/// 401 `invalid_token` naming the audience.
pub fn check(state: &AppState, aud: Option<&str>, route_prefix: Option<&str>) -> ApiResult<()> {
    let Some(aud) = aud else {
        return Ok(());
    };
    let here = route_prefix.map(|p| state.url(p));
    if here.as_deref() == Some(aud) {
        return Ok(());
    }
    Err(ApiError::unauthorized(format!(
        "this token's audience is {aud}: it is not accepted at {}",
        here.unwrap_or_else(|| format!("{}'s own API", state.issuer))
    )))
}

/// Where a route's RFC 9728 metadata is: `/.well-known/oauth-protected-resource<prefix>`
/// (§3.1: the well-known segment goes between the host and the resource's path).
pub fn resource_metadata_url(state: &AppState, prefix: &str) -> String {
    let path = if prefix == "/" { "" } else { prefix };
    state.url(&format!("/.well-known/oauth-protected-resource{path}"))
}
