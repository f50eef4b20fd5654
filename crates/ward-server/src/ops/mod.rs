//! Operations: what ward does, independent of how it was asked. The HTTP API, the pages and the
//! proxy are thin adapters over these; an operation takes the state and an authenticated
//! [`Caller`](crate::auth::Caller), applies the rules (with [`crate::authz`] and `ward-core`)
//! and returns domain results or an [`ApiError`](crate::error::ApiError).

pub mod approval;
pub mod audience;
pub mod client;
pub mod email;
pub mod invitations;
pub mod locks;
pub mod logout;
pub mod mfa;
pub mod passkey;
pub mod password;
pub mod reauth;
pub mod recovery;
pub mod refresh;
pub mod registration;
pub mod service_accounts;
pub mod sessions;
pub mod signin;
pub mod ssh;
pub mod stepup;
pub mod terminal_sign_in;
pub mod tokens;
pub mod tool_token;
pub mod users;
pub mod web_sign_in;
