//! The OAuth 2.0 / OpenID Connect endpoints.

pub mod authorize;
pub mod device;
pub mod discovery;
pub mod end_session;
pub mod exchange;
pub mod introspect;
pub mod register;
pub mod revoke;
pub mod token;
pub mod userinfo;
