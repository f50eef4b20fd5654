-- Authority (SPEC §2.11).
-- When the session's owner last proved a second factor (or, without MFA, the password): sign-in,
-- step-up or re-authentication. Account-security operations need it recent.
ALTER TABLE sessions ADD COLUMN verified_at BIGINT;
UPDATE sessions SET verified_at = created_at;
-- Whether the address was verified (by an IdP that said so, an emailed link, or an admin).
ALTER TABLE users ADD COLUMN email_verified BIGINT NOT NULL DEFAULT 0;
-- What each user consented to give each client: its resource and OIDC scopes. A client asking
-- for more than it was granted is asked for consent again.
CREATE TABLE consents (
    user_id    TEXT NOT NULL REFERENCES users(id),
    client_id  TEXT NOT NULL,
    scope      TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
