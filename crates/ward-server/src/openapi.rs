//! `GET /api/openapi.json`: the OpenAPI 3.1 document of every `/api/…` and `/oauth/…` route,
//! generated from the handlers' `#[utoipa::path]` annotations and the wire types' `ToSchema`.
//! The paths come from the router itself ([`crate::routes::api_routes`], `utoipa-axum`): a
//! route is documented because it is served. This module holds what is not per route: the
//! document's head, the security schemes, and the edge's answers every operation can get.

use std::sync::OnceLock;

use axum::extract::State;
use axum::Json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::server::Server;
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::auth::SESSION_COOKIE;
use crate::state::AppState;

/// The document's head; [`crate::routes::api_routes`] adds every path.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "ward",
        description = "ward's OAuth 2.0 / OpenID Connect endpoints and the ward API. Every error \
                       body is `{\"error\", \"error_description\"}` (RFC 6749 §5.2).",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(schemas(ward_proto::ErrorBody)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "oauth", description = "OAuth 2.0 / OpenID Connect"),
        (name = "auth", description = "Validation (also forward-auth), refresh, logout, guests"),
        (name = "profile", description = "Who the caller is"),
        (name = "sessions", description = "The caller's sessions"),
        (name = "tokens", description = "API tokens"),
        (name = "admin", description = "Users, sessions and the audit log, for admins"),
        (name = "mfa", description = "TOTP and backup codes"),
        (name = "webauthn", description = "Security keys and passkeys"),
        (name = "security", description = "Per-resource MFA locks"),
        (name = "ssh", description = "SSH user certificates"),
        (name = "meta", description = "This document"),
    )
)]
pub struct ApiDoc;

/// The three ways to call ward: an access token or API token as a bearer, the pages' session
/// cookie, and (OAuth endpoints) HTTP Basic client authentication.
struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An access token (JWT) from /oauth/token or /api/auth/*, or an API token",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                SESSION_COOKIE,
                "The session cookie set by the sign-in pages",
            ))),
        );
        components.add_security_scheme(
            "client_basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "client_secret_basic (RFC 6749 §2.3.1); or client_id and client_secret \
                         in the form (client_secret_post); public clients send client_id alone",
                    ))
                    .build(),
            ),
        );
    }
}

/// The request edge refuses a path that holds a control character, an encoded `/` or `\\`, or a
/// dot segment (`invalid_path`, 400) before any handler runs; an operation whose path takes a
/// parameter documents that 400 too. Every operation with a body documents the 413 of the body
/// limit.
struct PathEdge;

impl utoipa::Modify for PathEdge {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for operation in [&mut item.post, &mut item.put, &mut item.patch]
                .into_iter()
                .flatten()
            {
                operation
                    .responses
                    .responses
                    .entry("413".to_string())
                    .or_insert_with(|| {
                        ResponseBuilder::new()
                            .description("The request body is over 64 KiB")
                            .content(
                                "application/json",
                                ContentBuilder::new()
                                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                                    .build(),
                            )
                            .build()
                            .into()
                    });
            }
        }
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.contains('{') {
                continue;
            }
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                operation
                    .responses
                    .responses
                    .entry("400".to_string())
                    .or_insert_with(|| {
                        ResponseBuilder::new()
                            .description(
                                "The path holds a character the edge refuses (`invalid_path`)",
                            )
                            .content(
                                "application/json",
                                ContentBuilder::new()
                                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                                    .build(),
                            )
                            .build()
                            .into()
                    });
            }
        }
    }
}

/// The document, with the configured public URL as its server.
pub fn document_for(public_url: &str) -> utoipa::openapi::OpenApi {
    static DOCUMENT: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    let mut doc = DOCUMENT
        .get_or_init(|| {
            let mut doc = crate::routes::api_routes().into_openapi();
            PathEdge.modify(&mut doc);
            doc
        })
        .clone();
    doc.servers = Some(vec![Server::new(public_url)]);
    doc
}

/// `GET /api/openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    operation_id = "openapi_document",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")),
)]
pub async fn document(State(state): State<AppState>) -> Json<utoipa::openapi::OpenApi> {
    Json(document_for(&state.issuer))
}
