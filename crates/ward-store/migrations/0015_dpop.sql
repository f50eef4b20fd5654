-- Sender-constrained tokens (SPEC §2.16, RFC 9449). One portable schema for both backends.

-- The RFC 7638 thumbprint of the key a public client's session (its refresh token) is bound
-- to; NULL for an unbound session.
ALTER TABLE sessions ADD COLUMN dpop_jkt TEXT;

-- Proof ids seen recently, shared by every replica: a proof is accepted only by the request
-- that inserts its row. Rows are dead once `expires_at` passes (a proof that old is refused by
-- its `iat`) and the sweeper deletes them.
CREATE TABLE dpop_jtis (
    jti_hash   TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX dpop_jtis_expires_at ON dpop_jtis (expires_at);
