//! The ward API under `/api` (SPEC §2.4).

pub mod account;
pub mod admin;
pub mod admin_accounts;
pub mod auth;
pub mod clients;
pub mod events;
pub mod invitations;
pub mod mfa;
pub mod profile;
pub mod security;
pub mod service_accounts;
pub mod sessions;
pub mod ssh;
pub mod stepup;
pub mod tokens;
pub mod webauthn;
pub mod webhooks;
