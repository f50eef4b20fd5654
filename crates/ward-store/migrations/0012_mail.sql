-- Mail (SPEC §2.14): a durable outbox, so that a mail server that is down never blocks a
-- sign-in and nothing is lost when ward restarts. The body (text and HTML, which may hold a
-- single-use link) is sealed under the master key, like TOTP secrets: a database dump cannot
-- replay a link. Delivered mail is deleted by the sweeper after `sessions.retention`.
CREATE TABLE mail_outbox (
    id              TEXT PRIMARY KEY,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    kind            TEXT NOT NULL,
    body_enc        TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    sent_at         BIGINT
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at);
