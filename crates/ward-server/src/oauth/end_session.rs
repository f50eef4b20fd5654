//! `/oauth/logout`: OpenID Connect RP-Initiated Logout 1.0. A relying party (Apache
//! `mod_auth_openidc`, an SPA) sends the browser here to end the ward session it signed in
//! with. With an `id_token_hint` for the signed-in user the sign-out is immediate, and the
//! relying party's own session ends too; without one the user confirms first (a bare link must
//! not sign people out). Afterwards the browser
//! goes to the client's registered `post_logout_redirect_uri`, or sees a "signed out" page.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar};
use maud::html;
use serde::Deserialize;

use crate::auth::{web_session, SESSION_COOKIE};
use crate::csrf;
use crate::error::ApiError;
use crate::extract::{ClientIp, FormParams};
use crate::html::{csrf_field, error_page, message_page, no_store, page};
use crate::ops::logout::{
    self as logout, check_end_session, end_hinted_session, EndSessionRequest, Via,
};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EndSessionQuery {
    /// An ID token ward issued to the relying party (expired is fine); when its `sid` is the
    /// browser's session, no confirmation is asked.
    pub id_token_hint: Option<String>,
    /// The relying party; must match the hint's audience when both are given.
    pub client_id: Option<String>,
    /// One of the client's `post_logout_redirect_uris`, exactly.
    pub post_logout_redirect_uri: Option<String>,
    /// Given back on the redirect.
    pub state: Option<String>,
}

impl From<EndSessionQuery> for EndSessionRequest {
    fn from(q: EndSessionQuery) -> Self {
        EndSessionRequest {
            id_token_hint: q.id_token_hint,
            client_id: q.client_id,
            post_logout_redirect_uri: q.post_logout_redirect_uri,
            state: q.state,
        }
    }
}

/// `GET /oauth/logout`.
#[utoipa::path(
    get,
    path = "/oauth/logout",
    operation_id = "oauth_end_session",
    tag = "oauth",
    security((), ("session_cookie" = [])),
    params(EndSessionQuery),
    responses(
        (status = 200, description = "A confirmation page, or \"signed out\" (HTML)", content_type = "text/html"),
        (status = 303, description = "Signed out; to `post_logout_redirect_uri` with `state`"),
        (status = 400, description = "An HTML page naming the bad parameter (unregistered redirect, a hint not from this server, client mismatch)", content_type = "text/html"),
    )
)]
pub async fn end_session(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientIp(ip): ClientIp,
    query: Result<Query<EndSessionQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return error_page(&ApiError::bad_request(
            "the sign-out request's parameters are malformed",
        ));
    };
    let request = EndSessionRequest::from(query);
    match respond(&state, jar, ip.as_deref(), &request, false).await {
        Ok(r) => r,
        Err(e) => error_page(&e),
    }
}

/// `POST /oauth/logout`: the confirmation form, or a relying party posting the request.
#[utoipa::path(
    post,
    path = "/oauth/logout",
    operation_id = "oauth_end_session_post",
    tag = "oauth",
    security((), ("session_cookie" = [])),
    request_body(content_type = "application/x-www-form-urlencoded", description = "The same parameters as the GET, and `csrf_token` from the confirmation page"),
    responses(
        (status = 200, description = "A confirmation page, or \"signed out\" (HTML)", content_type = "text/html"),
        (status = 303, description = "Signed out; to `post_logout_redirect_uri` with `state`"),
        (status = 400, description = "An HTML page naming the bad parameter", content_type = "text/html"),
        (status = 403, description = "A bad CSRF token (HTML)", content_type = "text/html"),
    )
)]
pub async fn end_session_post(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientIp(ip): ClientIp,
    form: Result<FormParams, ApiError>,
) -> Response {
    let form = match form {
        Ok(f) => f,
        Err(e) => return error_page(&e),
    };
    let get = |k: &str| form.get(k).map(str::to_string);
    let request = EndSessionRequest {
        id_token_hint: get("id_token_hint"),
        client_id: get("client_id"),
        post_logout_redirect_uri: get("post_logout_redirect_uri"),
        state: get("state"),
    };
    // Only ward's own confirmation form carries a CSRF token; it is what confirms.
    let confirmed = match form.get("csrf_token") {
        Some(token) => match csrf::verify(&state, &jar, token) {
            Ok(()) => true,
            Err(e) => return error_page(&e),
        },
        None => false,
    };
    match respond(&state, jar, ip.as_deref(), &request, confirmed).await {
        Ok(r) => r,
        Err(e) => error_page(&e),
    }
}

async fn respond(
    state: &AppState,
    jar: CookieJar,
    ip: Option<&str>,
    request: &EndSessionRequest,
    confirmed: bool,
) -> Result<Response, ApiError> {
    let plan = check_end_session(state, request).await?;
    let session = web_session(state, &jar).await?;
    if let Some((session, user)) = &session {
        if !confirmed && !plan.names_user(user.id.as_str()) {
            return Ok(confirm_page(state, jar, request));
        }
        logout::end_session(
            state,
            session,
            user.id.as_str(),
            ip,
            Via::EndSession,
            plan.client_id.as_deref(),
        )
        .await?;
    }
    end_hinted_session(state, &plan, ip).await?;
    let jar = jar.remove(Cookie::build(SESSION_COOKIE).path("/").build());
    Ok(match plan.redirect {
        Some(to) => (jar, Redirect::to(&to)).into_response(),
        None => (
            jar,
            message_page(
                StatusCode::OK,
                "Signed out",
                "You are signed out. You can close this window.",
            ),
        )
            .into_response(),
    })
}

/// "Sign out?": asked when the request does not name the browser's session.
fn confirm_page(state: &AppState, jar: CookieJar, request: &EndSessionRequest) -> Response {
    let (jar, token) = csrf::token(state, jar);
    let hidden = [
        ("id_token_hint", &request.id_token_hint),
        ("client_id", &request.client_id),
        (
            "post_logout_redirect_uri",
            &request.post_logout_redirect_uri,
        ),
        ("state", &request.state),
    ];
    let body = html! {
        h1 { "Sign out?" }
        p { "An application asked to sign you out of this browser." }
        form method="post" action="/oauth/logout" {
            (csrf_field(&token))
            @for (name, value) in hidden {
                @if let Some(v) = value {
                    input type="hidden" name=(name) value=(v);
                }
            }
            button type="submit" { "Sign out" }
        }
        p { a href="/account" { "Stay signed in" } }
    };
    (jar, no_store(page("Sign out?", body))).into_response()
}
