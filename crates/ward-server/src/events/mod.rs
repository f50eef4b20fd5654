//! Events (SPEC §2.18): every audit event, as JSON, to the configured webhooks (signed per
//! Standard Webhooks, from a durable outbox) and to the admins' live stream.
//!
//! - [`config`]: `[[webhooks]]` and `[events]`.
//! - [`outbox`]: the JSON body of an event, and the outbox messages written with it.
//! - [`hub`]: the process's event bus: this process's events as they commit, other replicas'
//!   from a poll of the audit table; the stream's subscribers read from it.
//! - [`deliver`]: the delivery worker (one per replica).
//! - [`stream`]: one subscriber's server-sent-events stream.
//! - [`admin`]: the deliveries list and "send again", for the API and the admin page.

pub mod admin;
pub mod config;
pub mod deliver;
pub mod hub;
pub mod outbox;
pub mod stream;

pub use hub::Hub;
