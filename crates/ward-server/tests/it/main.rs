//! Integration tests: real HTTP against a ward server on 127.0.0.1:0, on SQLite and PostgreSQL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::field_reassign_with_default
)]

mod harness;

mod abuse;
mod accounts;
mod apache_oidc;
mod authority;
mod authority_matrix;
mod basic_auth;
mod concurrency;
mod dpop;
mod edge;
mod end_session;
mod events;
mod events_stream;
mod exchange;
mod first_hour;
mod idp;
mod key_rotation;
mod machine;
mod mfa;
mod negative;
mod oauth_errors;
mod openapi;
mod pages_browser;
mod proxy;
mod proxy_latency;
mod receiver;
mod registration;
mod replicas;
mod resource_refresh;
mod scale;
mod schema_fixes;
mod sessions;
mod sessions_api;
mod signup;
mod ssh;
mod sshd;
mod standard_clients;
mod stepup;
mod stepup_passkey;
mod sweeper;
mod terminal_sign_in;
mod token_bounds;
mod tokens;
mod tunnel;
mod webauthn_browser;
mod webdriver;
