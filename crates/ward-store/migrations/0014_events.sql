-- Events (SPEC §2.18): the webhook outbox, written in the same transaction as the audit event
-- it carries, and one row per delivery attempt (listed for admins).

CREATE TABLE webhook_outbox (
    id              TEXT PRIMARY KEY,
    seq             BIGINT NOT NULL,
    webhook         TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    give_up_at      BIGINT NOT NULL,
    claim           TEXT,
    lease_until     BIGINT,
    last_status     BIGINT,
    last_error      TEXT,
    delivered_at    BIGINT
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (status, next_attempt_at);
CREATE INDEX webhook_outbox_created ON webhook_outbox (created_at, seq);

CREATE TABLE webhook_attempts (
    message_id  TEXT NOT NULL REFERENCES webhook_outbox(id) ON DELETE CASCADE,
    attempt     BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    status_code BIGINT,
    error       TEXT,
    duration_ms BIGINT NOT NULL,
    PRIMARY KEY (message_id, attempt)
);
