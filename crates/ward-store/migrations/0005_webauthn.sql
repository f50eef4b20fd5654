-- WebAuthn: registered credentials (public keys and counters, as webauthn-rs serializes them;
-- nothing secret) and the short-lived state of ceremonies in progress.

CREATE TABLE webauthn_credentials (
    credential_id TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id),
    name          TEXT NOT NULL,
    passkey       TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT
);
CREATE INDEX webauthn_credentials_user_id ON webauthn_credentials (user_id);

CREATE TABLE webauthn_ceremonies (
    id          TEXT PRIMARY KEY,
    user_id     TEXT,
    kind        TEXT NOT NULL,
    state       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    consumed_at BIGINT
);
