//! ward-client: the embeddable login library behind the `ward` CLI.
//!
//! It signs users in (authorization code + PKCE with a loopback redirect, the device
//! authorization grant, `auto` with fallbacks, API tokens), keeps profiles and secrets (OS keyring,
//! 0600 file, memory), and hands out valid access tokens, refreshing them under a cross-process
//! lock. It never prints: progress goes to a [`Progress`] the embedding CLI implements, and the
//! product name, config directory, keyring service, env prefix and port are [`Params`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), ward_client::Error> {
//! let client = ward_client::Client::new(ward_client::Params::default());
//! let token = client.access_token("default").await?;
//! println!("{}", token.token.expose());
//! # Ok(()) }
//! ```

mod browser;
mod client;
mod clock;
pub mod config;
pub mod credentials;
pub mod device;
pub mod dirprofile;
pub mod dpop;
mod error;
pub mod flow;
mod fsutil;
pub mod oauth;
mod params;
pub mod pkce;
mod progress;
mod random;

pub use browser::open_browser;
pub use client::{
    validate_alias, AccessToken, AliasSource, Client, EventStream, LoginOptions, LoginOutcome,
    ServerEvent, Status, TerminalPrompt, TokenOrigin, REFRESH_MARGIN,
};
pub use clock::{
    format_rfc3339, format_utc, parse_rfc3339, Clock, ManualClock, SystemClock, Timestamp,
};
pub use error::{Error, Result};
pub use flow::AuthFlow;
pub use params::Params;
pub use progress::{Event, Progress, Silent};
pub use ward_proto::secret::Secret;
