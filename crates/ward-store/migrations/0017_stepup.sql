-- Step-up from anywhere (SPEC §2.17): grace windows after a resource verification, approval
-- requests answered on another device, and the SSH user CA's keys.

CREATE TABLE lock_graces (
    holder      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (holder, kind, resource_id)
);
CREATE INDEX lock_graces_resource ON lock_graces (kind, resource_id);
CREATE INDEX lock_graces_expiry ON lock_graces (expires_at);

CREATE TABLE verify_requests (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL,
    holder         TEXT NOT NULL,
    kind           TEXT NOT NULL,
    resource_id    TEXT NOT NULL,
    device_name    TEXT,
    ip             TEXT,
    user_agent     TEXT,
    status         TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    interval_secs  BIGINT NOT NULL,
    last_polled_at BIGINT,
    decided_at     BIGINT
);
CREATE INDEX verify_requests_user ON verify_requests (user_id);
CREATE INDEX verify_requests_expiry ON verify_requests (expires_at);

-- The SSH user CA (Ed25519): the private key sealed under the master key like the signing
-- keys. The newest unretired key signs; a retired key stays published for `ssh.ttl`.
CREATE TABLE ssh_ca_keys (
    id          TEXT PRIMARY KEY,
    public_key  TEXT NOT NULL,
    private_enc TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT
);
