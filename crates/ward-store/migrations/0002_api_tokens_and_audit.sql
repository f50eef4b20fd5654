-- API tokens (stored as SHA-256 of the token; the secret exists only in the create response)
-- and the audit log.

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id),
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    scopes       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX api_tokens_user_id ON api_tokens (user_id);

CREATE TABLE audit_events (
    id            TEXT PRIMARY KEY,
    seq           BIGINT NOT NULL,
    at            BIGINT NOT NULL,
    event_type    TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    actor_user_id TEXT,
    actor_ip      TEXT,
    target        TEXT,
    detail        TEXT NOT NULL
);
CREATE INDEX audit_events_at ON audit_events (at, seq);
CREATE INDEX audit_events_actor ON audit_events (actor_user_id, at);
