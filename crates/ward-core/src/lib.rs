//! ward's domain: accounts, sessions, grants (code + PKCE, device, refresh), token formats, roles
//! and scopes. No IO: time and randomness are parameters, storage is reached through the traits in
//! [`store`], implemented by `ward-store`.

pub mod account;
pub mod agent;
pub mod audit;
pub mod authority;
/// Shared with `ward-client` through the wire crate: one clock, one secret type.
pub use ward_proto::{clock, secret};
pub mod device;
pub mod dpop;
pub mod email;
pub mod error;
pub mod events;
pub mod exchange;
pub mod ids;
pub mod machine;
pub mod mfa;
pub mod model;
pub mod password;
pub mod path;
pub mod pkce;
pub mod random;
pub mod redirect;
pub mod registration;
pub mod roles;
pub mod scope;
pub mod stepup;
pub mod store;
pub mod token;

pub use clock::{Clock, Timestamp};
pub use error::{OAuthError, OAuthErrorCode, StoreError};
pub use ids::{SessionId, UserId};
pub use random::Random;
pub use secret::Secret;
