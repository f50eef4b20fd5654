-- Dynamic client registration (SPEC §2.15, RFC 7591) and resource indicators bound to the
-- authorization code (RFC 8707 §2.2). Same SQL on SQLite and PostgreSQL.

-- Clients that registered themselves at POST /oauth/register. Never in the configuration file;
-- looked up by id when the configuration does not name it. A confidential client's secret is
-- kept as its SHA-256 (like every token ward issues); public clients have none.
CREATE TABLE registered_clients (
    client_id                  TEXT PRIMARY KEY,
    secret_hash                TEXT,
    client_name                TEXT,
    redirect_uris              TEXT NOT NULL,
    grant_types                TEXT NOT NULL,
    scopes                     TEXT NOT NULL,
    token_endpoint_auth_method TEXT NOT NULL,
    created_at                 BIGINT NOT NULL,
    registered_ip              TEXT,
    registration_token_id      TEXT
);

-- Initial access tokens for `[registration] mode = "token"` (RFC 7591 §3): made by an admin,
-- shown once, kept as SHA-256. A single-use token is spent by the one registration that sets
-- `used_at`.
CREATE TABLE registration_tokens (
    id         TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_by TEXT,
    single_use BIGINT NOT NULL,
    used_at    BIGINT,
    uses       BIGINT NOT NULL DEFAULT 0
);

-- RFC 8707 §2.2: the `resource` named at /oauth/authorize travels with the code, so the token
-- request gets that audience (and naming another one is `invalid_target`).
ALTER TABLE auth_codes ADD COLUMN resource TEXT;
