-- Machine identities (SPEC §2.15): service accounts and their tokens. Same SQL on SQLite and
-- PostgreSQL. A service account is not a user: it has no row in `users`, so no sign-in path can
-- find it. Its tokens are API tokens (same format, hashed the same way) in their own table, and
-- go with the account when it is deleted.
CREATE TABLE service_accounts (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT
);

CREATE TABLE service_account_tokens (
    id                 TEXT PRIMARY KEY,
    service_account_id TEXT NOT NULL REFERENCES service_accounts(id) ON DELETE CASCADE,
    name               TEXT NOT NULL,
    token_hash         TEXT NOT NULL UNIQUE,
    scopes             TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    expires_at         BIGINT,
    last_used_at       BIGINT,
    revoked_at         BIGINT
);
CREATE INDEX service_account_tokens_account ON service_account_tokens (service_account_id);
