-- Accounts a person can live with (SPEC §2.14). Same SQL on SQLite and PostgreSQL.
-- 1 while the user must choose a new password before anything else (the generated bootstrap
-- admin's printed password).
ALTER TABLE users ADD COLUMN password_change_required BIGINT NOT NULL DEFAULT 0;
-- Single-use links: an admin's recovery link (and later password reset, email verification,
-- invitations). Only the SHA-256 hash of the secret in the link is stored; used and expired
-- links are kept until the sweeper deletes them, so the page can say which it was.
CREATE TABLE account_links (
    token_hash TEXT PRIMARY KEY,
    purpose    TEXT NOT NULL,
    user_id    TEXT REFERENCES users(id),
    email      TEXT,
    role       TEXT,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX account_links_user_id ON account_links (user_id);
CREATE INDEX account_links_expires_at ON account_links (expires_at);
