-- MFA: TOTP secrets (encrypted under the master key: they must be read back to check codes),
-- backup codes (keyed hashes), sign-in challenges waiting for a second factor, resource locks
-- and the single-use tickets that open a locked resource.

CREATE TABLE mfa_totp (
    user_id    TEXT PRIMARY KEY REFERENCES users(id),
    secret_enc TEXT NOT NULL,
    confirmed  BIGINT NOT NULL DEFAULT 0,
    last_step  BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE mfa_backup_codes (
    user_id   TEXT NOT NULL REFERENCES users(id),
    code_hash TEXT NOT NULL,
    used_at   BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE mfa_challenges (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id),
    purpose     TEXT NOT NULL,
    return_to   TEXT NOT NULL,
    amr         TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    consumed_at BIGINT
);

CREATE TABLE resource_locks (
    kind        TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    locked_by   TEXT NOT NULL,
    locked_at   BIGINT NOT NULL,
    PRIMARY KEY (kind, resource_id)
);

CREATE TABLE lock_tickets (
    ticket_hash TEXT PRIMARY KEY,
    session_id  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
