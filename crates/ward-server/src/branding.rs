//! `[branding]` (SPEC §2.14): the product's name, logo, accent colour and support link on every
//! page and every mail, so a platform can put its own name on the sign-in page ("Rexec").
//!
//! Pages are rendered in many places, several without the application state (the error page
//! of an `ApiError`), so the frame reads the branding from a task-local that [`scope`] sets
//! for each request from the configuration; outside a request (a test rendering a page) the
//! defaults apply. Mail templates read it from the configuration directly.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::config::ConfigError;
use crate::state::AppState;

/// The name pages and mail use when `product_name` is not set.
pub const DEFAULT_PRODUCT: &str = "ward";
/// Where the logo is served.
pub const LOGO_PATH: &str = "/static/logo";
/// Where the accent colour's stylesheet is served.
pub const BRAND_CSS_PATH: &str = "/static/brand.css";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawBranding {
    pub product_name: Option<String>,
    pub logo_file: Option<String>,
    pub accent_color: Option<String>,
    pub support_url: Option<String>,
}

/// A logo read at start-up.
#[derive(Clone)]
pub struct Logo {
    pub content_type: &'static str,
    pub bytes: Arc<Vec<u8>>,
}

impl std::fmt::Debug for Logo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logo")
            .field("content_type", &self.content_type)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// The validated `[branding]`.
#[derive(Debug, Clone)]
pub struct Branding {
    pub product_name: String,
    pub logo: Option<Logo>,
    /// `#rrggbb` (a 3-digit colour is expanded).
    pub accent_color: Option<String>,
    pub support_url: Option<url::Url>,
}

impl Default for Branding {
    fn default() -> Self {
        Branding {
            product_name: DEFAULT_PRODUCT.into(),
            logo: None,
            accent_color: None,
            support_url: None,
        }
    }
}

fn invalid(key: &str, value: &str, expected: &str) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        value: value.into(),
        expected: expected.into(),
    }
}

/// `#abc` or `#aabbcc` → `#aabbcc`; anything else is refused (the value goes into a
/// stylesheet, so only a colour may).
fn colour(value: &str) -> Option<String> {
    let hex = value.strip_prefix('#')?;
    if !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    match hex.len() {
        6 => Some(format!("#{}", hex.to_ascii_lowercase())),
        3 => Some(format!(
            "#{}",
            hex.chars()
                .flat_map(|c| [c, c])
                .collect::<String>()
                .to_ascii_lowercase()
        )),
        _ => None,
    }
}

impl RawBranding {
    /// # Errors
    /// An empty or over-long name, a logo that cannot be read or is not PNG, SVG, JPEG or WebP,
    /// an accent colour that is not `#rgb`/`#rrggbb`, a support link that is not http(s).
    pub fn validate(&self) -> Result<Branding, ConfigError> {
        let product_name = match self.product_name.as_deref().map(str::trim) {
            None => DEFAULT_PRODUCT.to_string(),
            Some(n)
                if !n.is_empty() && n.chars().count() <= 40 && !n.chars().any(char::is_control) =>
            {
                n.to_string()
            }
            Some(n) => {
                return Err(invalid(
                    "branding.product_name",
                    n,
                    "the product's name, 1 to 40 characters",
                ))
            }
        };
        let logo = match self.logo_file.as_deref() {
            None => None,
            Some(path) => {
                let lower = path.to_ascii_lowercase();
                let content_type = [
                    (".png", "image/png"),
                    (".svg", "image/svg+xml"),
                    (".jpg", "image/jpeg"),
                    (".jpeg", "image/jpeg"),
                    (".webp", "image/webp"),
                ]
                .iter()
                .find(|(ext, _)| lower.ends_with(ext))
                .map(|(_, t)| *t)
                .ok_or_else(|| {
                    invalid(
                        "branding.logo_file",
                        path,
                        "a .png, .svg, .jpg or .webp file",
                    )
                })?;
                let bytes = std::fs::read(path).map_err(|e| ConfigError::Read {
                    path: path.to_string(),
                    reason: e.to_string(),
                })?;
                Some(Logo {
                    content_type,
                    bytes: Arc::new(bytes),
                })
            }
        };
        let accent_color = match self.accent_color.as_deref() {
            None => None,
            Some(c) => Some(colour(c.trim()).ok_or_else(|| {
                invalid(
                    "branding.accent_color",
                    c,
                    "a colour as #rgb or #rrggbb, e.g. \"#0f766e\"",
                )
            })?),
        };
        let support_url = match self.support_url.as_deref() {
            None => None,
            Some(u) => Some(
                url::Url::parse(u)
                    .ok()
                    .filter(|p| matches!(p.scheme(), "https" | "http" | "mailto"))
                    .ok_or_else(|| {
                        invalid(
                            "branding.support_url",
                            u,
                            "an https://, http:// or mailto: link",
                        )
                    })?,
            ),
        };
        Ok(Branding {
            product_name,
            logo,
            accent_color,
            support_url,
        })
    }
}

tokio::task_local! {
    static CURRENT: Arc<Branding>;
}

/// The layer that makes the configured branding the current one while a request is handled.
pub async fn scope(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let branding = state.config.branding.clone();
    CURRENT.scope(branding, next.run(request)).await
}

/// The branding of the request being handled (the defaults outside one).
pub fn current() -> Arc<Branding> {
    CURRENT
        .try_with(Arc::clone)
        .unwrap_or_else(|_| Arc::new(Branding::default()))
}

/// The product's name for the request being handled.
pub fn product() -> String {
    CURRENT
        .try_with(|b| b.product_name.clone())
        .unwrap_or_else(|_| DEFAULT_PRODUCT.to_string())
}

/// `GET /static/logo`.
pub async fn logo(State(state): State<AppState>) -> Response {
    match &state.config.branding.logo {
        Some(logo) => (
            [
                (header::CONTENT_TYPE, logo.content_type),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            logo.bytes.as_ref().clone(),
        )
            .into_response(),
        None => crate::error::ApiError::not_found("no logo is configured").into_response(),
    }
}

/// `GET /static/brand.css`: the accent colour over the stylesheet's default.
pub async fn stylesheet(State(state): State<AppState>) -> Response {
    let css = match &state.config.branding.accent_color {
        Some(c) => format!(":root {{ --accent: {c}; }}\n"),
        None => String::new(),
    };
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        css,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_only_colours() {
        assert_eq!(colour("#0F766E").as_deref(), Some("#0f766e"));
        assert_eq!(colour("#abc").as_deref(), Some("#aabbcc"));
        for bad in ["red", "#12345", "#12g", "#fff;}body{", ""] {
            assert_eq!(colour(bad), None, "{bad}");
        }
    }
}
