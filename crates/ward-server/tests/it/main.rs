//! Integration tests: real HTTP against a ward server on 127.0.0.1:0, on SQLite and PostgreSQL.

mod harness;

mod concurrency;
mod negative;
mod sessions;
mod standard_clients;
