-- ward's schema. Portable SQL: the same text runs on SQLite and PostgreSQL. Times are Unix
-- seconds (BIGINT), flags are 0/1 BIGINTs, ids are random hex TEXT. Secrets are never stored:
-- only SHA-256 hashes of tokens, codes and cookies, and Argon2id hashes of passwords.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    password_hash TEXT,
    role          TEXT NOT NULL,
    disabled      BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL
);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id),
    client_id    TEXT NOT NULL,
    channel      TEXT NOT NULL,
    scope        TEXT NOT NULL,
    device_id    TEXT,
    device_name  TEXT,
    ip           TEXT,
    user_agent   TEXT,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    idle_timeout BIGINT NOT NULL,
    mfa_verified BIGINT NOT NULL DEFAULT 0,
    amr          TEXT NOT NULL,
    revoked_at   BIGINT,
    cookie_hash  TEXT UNIQUE
);
CREATE INDEX sessions_user_id ON sessions (user_id);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    created_at BIGINT NOT NULL,
    rotated_at BIGINT
);
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);

CREATE TABLE auth_codes (
    code_hash      TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    scope          TEXT NOT NULL,
    code_challenge TEXT,
    nonce          TEXT,
    auth_time      BIGINT NOT NULL,
    amr            TEXT NOT NULL,
    device_id      TEXT,
    device_name    TEXT,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    consumed_at    BIGINT,
    session_id     TEXT
);

CREATE TABLE device_grants (
    device_code_hash TEXT PRIMARY KEY,
    user_code        TEXT NOT NULL UNIQUE,
    client_id        TEXT NOT NULL,
    scope            TEXT NOT NULL,
    device_id        TEXT,
    device_name      TEXT,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    poll_interval    BIGINT NOT NULL,
    last_polled_at   BIGINT,
    prev_polled_at   BIGINT,
    status           TEXT NOT NULL,
    user_id          TEXT,
    auth_time        BIGINT,
    amr              TEXT NOT NULL
);

CREATE TABLE signing_keys (
    kid             TEXT PRIMARY KEY,
    alg             TEXT NOT NULL,
    public_jwk      TEXT NOT NULL,
    private_key_enc TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    retired_at      BIGINT
);
